"""`ls`, `find`, `diff` and `cat`: looking into the snapshots without restoring them."""

from __future__ import annotations

import datetime as dt
import sys

import click

from docbackup import layout
from docbackup.cli import exitcodes, render
from docbackup.cli.options import bucket_option, fail, json_option, open_store, set_option
from docbackup.engine import browse
from docbackup.errors import DocbackupError


def _when(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).astimezone().strftime("%Y-%m-%d %H:%M")


@click.command("ls")
@click.argument("when", metavar="DATE|latest")
@click.argument("path", default="")
@bucket_option
@set_option
@json_option
def ls_cmd(when: str, path: str, bucket: str | None, set_name: str, as_json: bool) -> None:
    """Browse night DATE like a folder: what is under PATH, with sizes and dates."""
    try:
        store = open_store(bucket, workers=4)
        date, rows, unreadable = browse.ls(store, layout.check_set_name(set_name), when, path)
    except DocbackupError as exc:
        fail(exc, as_json)
    for problem in unreadable:
        click.echo(f"docbackup: warning: {problem}", err=True)
    missing = sum(r.missing for r in rows)
    if missing:
        click.echo(
            f"docbackup: warning: {missing} document(s) listed here have a copy a later night "
            f"found gone or damaged: the {date} night does not restore them",
            err=True,
        )
    if as_json:
        render.emit_json(
            {
                "date": date.isoformat(),
                "set": set_name,
                "path": path.strip("/"),
                "unreadable": unreadable,
                "entries": [
                    {
                        "name": r.name,
                        "folder": r.folder,
                        "size": r.size,
                        "mtime": _when(r.mtime_ns),
                        "documents": r.documents,
                        "missing": r.missing,
                    }
                    for r in rows
                ],
            }
        )
    else:
        _ls_text(date, set_name, path, rows)
    # Entries left out because they cannot be trusted: the listing is not the whole night.
    sys.exit(exitcodes.FAILED if unreadable else exitcodes.OK)


def _ls_text(date: dt.date, set_name: str, path: str, rows: list[browse.Row]) -> None:
    click.echo(f"{date} {set_name}:/{path.strip('/')}")
    for r in rows:
        name = f"{r.name}/" if r.folder else r.name
        plural = "" if r.documents == 1 else "s"
        count = f"{r.documents} document{plural}" if r.folder else ""
        if r.missing:
            # A later night found the copy gone or damaged: this night does not restore it.
            count += f" ({r.missing} missing)" if r.folder else "MISSING (copy gone or damaged)"
        click.echo(
            f"{render.human_bytes(r.size):>10}  {_when(r.mtime_ns)}  {name}  {count}".rstrip()
        )


@click.command("find")
@click.argument("pattern")
@bucket_option
@set_option
@json_option
def find_cmd(pattern: str, bucket: str | None, set_name: str, as_json: bool) -> None:
    """Which nights hold a document matching PATTERN (a name glob, or a path glob with '/'),
    and its versions."""
    try:
        store = open_store(bucket, workers=4)
        found, unreadable = browse.find(store, layout.check_set_name(set_name), pattern)
    except DocbackupError as exc:
        fail(exc, as_json)
    for problem in unreadable:
        click.echo(f"docbackup: warning: {problem}", err=True)
    if as_json:
        render.emit_json(
            {
                "pattern": pattern,
                "set": set_name,
                "unreadable": unreadable,
                "documents": [
                    {
                        "path": f.path,
                        "versions": [
                            {
                                "sha256": v.sha256,
                                "size": v.size,
                                "mtime": _when(v.mtime_ns),
                                "nights": [d.isoformat() for d in v.nights],
                            }
                            for v in f.versions
                        ],
                    }
                    for f in found
                ],
            }
        )
    else:
        if not found:
            click.echo(f"no document matching {pattern!r} in any night of set {set_name!r}")
        for f in found:
            click.echo(f.path)
            for i, v in enumerate(f.versions, 1):
                first, last = v.nights[0], v.nights[-1]
                span = f"{first}" if first == last else f"{first} .. {last}"
                click.echo(
                    f"  version {i}: {render.human_bytes(v.size)}, modified {_when(v.mtime_ns)}, "
                    f"in {len(v.nights)} night(s): {span}"
                )
    # A search that could not read every night may have missed something: say so in the code.
    sys.exit(exitcodes.FAILED if unreadable else exitcodes.OK)


@click.command("diff")
@click.argument("before", metavar="DATE1")
@click.argument("after", metavar="[DATE2]", default="latest")
@bucket_option
@set_option
@json_option
def diff_cmd(before: str, after: str, bucket: str | None, set_name: str, as_json: bool) -> None:
    """Documents added, changed and removed between night DATE1 and night DATE2 (or latest)."""
    try:
        store = open_store(bucket, workers=4)
        d1, d2, changes, unreadable = browse.diff(
            store, layout.check_set_name(set_name), before, after
        )
    except DocbackupError as exc:
        fail(exc, as_json)
    for problem in unreadable:
        click.echo(f"docbackup: warning: {problem}", err=True)
    counts = {k: sum(1 for c in changes if c.kind == k) for k in ("added", "changed", "removed")}
    if as_json:
        render.emit_json(
            {
                "before": d1.isoformat(),
                "after": d2.isoformat(),
                "set": set_name,
                **counts,
                "changes": [
                    {"path": c.path, "kind": c.kind, "before": c.size_before, "after": c.size_after}
                    for c in changes
                ],
                "unreadable": unreadable,
            }
        )
    else:
        mark = {"added": "+", "changed": "M", "removed": "-"}
        for c in changes:
            click.echo(f"{mark[c.kind]} {c.path}")
        click.echo(
            f"{d1} -> {d2}: {counts['added']} added, {counts['changed']} changed, "
            f"{counts['removed']} removed"
        )
    # An entry left out may be the change that matters: the comparison is not the whole story.
    sys.exit(exitcodes.FAILED if unreadable else exitcodes.OK)


@click.command("cat")
@click.argument("when", metavar="DATE|latest")
@click.argument("path")
@bucket_option
@set_option
def cat_cmd(when: str, path: str, bucket: str | None, set_name: str) -> None:
    """Write one document of night DATE to standard output, SHA-256 verified first."""
    try:
        store = open_store(bucket, workers=1)
        browse.cat(store, layout.check_set_name(set_name), when, path, sys.stdout.buffer)
    except DocbackupError as exc:
        fail(exc)
