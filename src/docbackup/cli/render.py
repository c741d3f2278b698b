"""How results look: one JSON object with --json, otherwise short human text and tables."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from docbackup.cli.timeleft import TimeLeft
from docbackup.engine.results import (
    BackupResult,
    Problem,
    RestoreResult,
    SnapshotInfo,
    VerifyResult,
)

# rich is imported where it draws: a --json or unattended run never pays for loading it.
if TYPE_CHECKING:
    from rich.progress import TaskID

    from docbackup.stack.status import StatusReport


def emit_json(doc: dict[str, Any]) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, sort_keys=True))


def fit(text: str, width: int) -> str:
    """`text` with each line wrapped at spaces to `width` columns (continuations indented), a
    word never cut: a path longer than the line stays whole."""
    return "\n".join(
        textwrap.fill(
            line,
            width=max(20, width),
            subsequent_indent="  ",
            break_long_words=False,
            break_on_hyphens=False,
        )
        or line
        for line in text.split("\n")
    )


def say(text: str, *, err: bool = False) -> None:
    """A line for a person: fitted to the terminal's width when it goes to one, as it is when
    it goes to a file or a pipe (a script reads whole lines)."""
    stream = sys.stderr if err else sys.stdout
    if stream.isatty():
        text = fit(text, shutil.get_terminal_size().columns)
    click.echo(text, err=err)


def human_bytes(n: float) -> str:
    """Bytes in powers of 1,000, as the rest of the output and AWS's prices count them."""
    from rich.filesize import pick_unit_and_suffix

    unit, suffix = pick_unit_and_suffix(int(abs(n)), ["B", "KB", "MB", "GB", "TB"], 1000)
    return f"{n:.0f} B" if unit == 1 else f"{n / unit:.1f} {suffix}"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class BarReporter:
    """A rich progress bar on stderr (files, bytes, rate, ETA); only on a terminal."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            # Smoothed over files and bytes (cli/timeleft), not rich's bytes-only rate.
            TextColumn("{task.fields[left]}"),
            console=Console(stderr=True),
            transient=True,
        )
        self._task: TaskID | None = None
        self._files = 0
        self._bytes = 0
        self._lock = threading.Lock()
        self._left = TimeLeft(0, 0)
        self._t0 = time.monotonic()

    def start(self, phase: str, documents: int, total_bytes: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task(phase, total=total_bytes or None, left="-:--:--")
        self._total_files = documents
        self._left = TimeLeft(documents, total_bytes)
        self._t0 = time.monotonic()

    def advance(self, path: str, nbytes: int) -> None:
        with self._lock:
            self._files += 1
            self._bytes += nbytes
            left = self._left.update(time.monotonic() - self._t0, self._files, self._bytes)
            if self._task is not None:
                self._progress.update(
                    self._task,
                    advance=nbytes,
                    description=f"{self._files}/{self._total_files} files",
                    left=_clock(left),
                )

    def finish(self) -> None:
        self._progress.stop()


def wants_bar(as_json: bool) -> bool:
    return not as_json and sys.stderr.isatty()


@dataclass(frozen=True)
class _Said:
    path: str
    reason: str


def _problems(title: str, problems: Sequence[Any], limit: int = 20) -> None:
    if not problems:
        return
    say(f"{title} ({len(problems)}):", err=True)
    for p in problems[:limit]:
        say(f"  {p.path}: {p.reason}", err=True)
    if len(problems) > limit:
        say(f"  ... and {len(problems) - limit} more (--json lists all)", err=True)


def backup_text(r: BackupResult) -> None:
    verb = "would upload" if r.dry_run else "uploaded"
    say(
        f"{r.date} {r.set}: {r.status}: {r.documents} documents ({r.new} new, {r.changed} changed, "
        f"{r.unchanged} unchanged, {r.refreshed} refreshed, "
        + (f"{r.healed} healed, " if r.healed else "")
        + f"{r.failed} failed), "
        f"{human_bytes(r.bytes_uploaded)} {verb} in {r.duration_s:.1f} s"
    )
    if r.resent:
        say(
            f"{r.resent} due for a refresh sent again from the source: their copies are in "
            "Glacier or Deep Archive, which S3 does not copy"
        )
    if r.lost:
        again = "to be sent again" if r.dry_run else "sent again"
        _problems(
            f"copies gone from the bucket or not as their manifests say, their documents "
            f"{again} from the source ({r.healed} healed)",
            r.lost,
        )
    if r.read_back is not None:
        rb = r.read_back
        say(
            f"read back {rb['read']} of {rb['due']} stored copies due tonight "
            f"({human_bytes(int(str(rb['bytes_read'])))})"
            + (f", {rb['left']} left for want of budget or time" if rb.get("left") else "")
        )
        unread = rb.get("unread")
        if isinstance(unread, list) and unread:
            _problems("stored copies that could not be read back", [_Said(**u) for u in unread])
    _problems("DAMAGED stored copies, no good copy of their bytes left", r.damaged)
    for night in r.manifests_archived:
        say(
            f"passed over the {night.path}, which is in an archive class: documents only "
            "that night listed were sent again",
            err=True,
        )
    for future in r.future_nights:
        say(
            f"warning: passed over the night of {future}, dated after today (a run whose clock "
            "was ahead wrote it); it is kept as it is",
            err=True,
        )
    if r.excluded:
        say(f"{r.excluded} left out by exclude patterns (lock and temporary files, ...)")
    if r.manifest_key:
        say(f"manifest: {r.manifest_key}")
    if r.error:
        say(f"stopped: {r.error}", err=True)
    # Documents left unstored by the stop repeat its reason: one line for all of them.
    stopped = [f for f in r.failures if r.error and r.error in f.reason]
    _problems("not stored", [f for f in r.failures if not (r.error and r.error in f.reason)])
    if stopped:
        say(
            f"not stored ({len(stopped)}): the run stopped before them (--json lists all)",
            err=True,
        )
    _problems("skipped (not documents)", r.skipped, limit=5)


def restore_text(r: RestoreResult, target: str) -> None:
    if r.manifest_archived:
        say(f"{r.date} {r.set}: nothing restored: {r.manifest_archived}")
        return
    say(
        f"{r.date} {r.set}: {r.status}: restored {r.restored} documents "
        f"({human_bytes(r.bytes)}) into {target}, SHA-256 verified; {r.failed} failed"
        + (f", {len(r.not_stored)} not in this night" if r.not_stored else "")
    )
    if r.latest_note:
        say(r.latest_note, err=True)
    if r.stale_removed:
        say(f"removed {r.stale_removed} temporary files an interrupted restore left")
    if r.already_there:
        say(f"{r.already_there} of them were already in place from an earlier run (same SHA-256)")
    _problems("not restored", r.failures)
    _problems("not in this night (its backup could not store them)", r.not_stored)
    if r.restores_requested:
        say(
            f"asked S3 to restore {r.restores_requested} copies from the archive: once they "
            "are back, run the same restore again (what is already in place is kept) or "
            "pass --wait",
            err=True,
        )
    elif r.archived:
        say(
            f"{r.archived} not restored because Glacier or Deep Archive holds their copy "
            "(see each reason above)",
            err=True,
        )
        if r.thaw and r.thaw.to_ask:
            for line in r.thaw.describe():
                say("  " + line, err=True)


def verify_text(r: VerifyResult) -> None:
    """The headline counts what was found: copies that are as their manifest says, and the
    ones that are not, never only how many were looked at."""
    depth = "read back and re-hashed" if r.deep else "present with size and encryption"
    dates = ", ".join(d.isoformat() for d in r.dates)
    found = f"{r.checked} stored copies {depth}"
    if r.bad_copies:
        found = (
            f"{r.checked - r.bad_copies} of {r.checked} stored copies {depth}, "
            f"{r.bad_copies} missing or not as the manifest says"
        )
    say(f"{r.status}: {found} ({dates})")
    shown = [Problem(m.shown(), m.reason) for m in r.mismatches]
    _problems("mismatches", shown, limit=50)


def snapshots_table(infos: Sequence[SnapshotInfo], bucket: str, set_name: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not infos:
        console.print(f"no snapshots of set {set_name!r} in bucket {bucket!r}")
        return
    table = Table(title=f"{bucket}: set {set_name}")
    numbers = ("documents", "size", "failed", "missing")
    # A missing column only when a night lacks copies: the table must fit a terminal.
    missing = any(i.missing for i in infos)
    columns = ["date", "status", "documents", "size", "failed"]
    columns += ["missing"] if missing else []
    for col in [*columns, "checked", "restorable"]:
        table.add_column(
            col, justify="right" if col in numbers else "left", no_wrap=col in ("date", "checked")
        )
    for i in infos:
        cells = [
            i.date.isoformat(),
            i.status,
            str(i.documents),
            human_bytes(i.bytes),
            str(i.failed),
        ]
        cells += [str(i.missing)] if missing else []
        cells += [
            i.checked_at.astimezone(dt.UTC).date().isoformat() if i.checked_at else "never",
            "yes" if i.restorable else f"no: {i.note}",
        ]
        table.add_row(*cells)
    console.print(table)


def checked(i: SnapshotInfo) -> str:
    """When every copy the night points at was last confirmed in the bucket, in UTC."""
    if i.checked_at is None:
        return "never"
    return i.checked_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _bar(value: float, top: float, width: int) -> str:
    if top <= 0 or value <= 0:
        return ""
    # Eighths of a cell, so small nights still show a sliver rather than nothing.
    eighths = max(1, round(value / top * width * 8))
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def nights_chart(
    nights: Sequence[SnapshotInfo], *, today: dt.date, days: int = 30, width: int = 24
) -> list[str]:
    """One line per calendar day, newest first: documents kept and bytes uploaded as bars,
    failed or partial nights marked, days without a run said. Rich markup."""
    shown = [n for n in nights if 0 <= (today - n.date).days < days]
    by_date = {n.date: n for n in shown}
    # Bars scale to the nights on the chart, not to older ones beyond it.
    top_docs = max((n.documents for n in shown), default=0)
    top_up = max((n.bytes_uploaded for n in shown), default=0)
    lines = [f"[bold]{'night':<10}  {'documents':<{width + 8}}  uploaded[/bold]"]
    for back in range(days):
        day = today - dt.timedelta(days=back)
        n = by_date.get(day)
        if n is None:
            lines.append(f"{day}  [dim]no run[/dim]")
            continue
        docs = f"{_bar(n.documents, top_docs, width):<{width}} {n.documents:>7}"
        half = width // 2
        up = f"{_bar(n.bytes_uploaded, top_up, half):<{half}} {human_bytes(n.bytes_uploaded):>9}"
        mark = ""
        if n.status != "complete":
            mark = f"  [bold red]✗ {n.status}[/bold red]"
            if n.failed:
                mark += f"[red], {n.failed} not stored[/red]"
        if n.missing:
            mark += f"  [bold red]✗ {n.missing} copies missing[/bold red]"
        if n.healed:
            mark += f"  [yellow]{n.healed} healed[/yellow]"
        if n.checked_at is None and n.status in ("complete", "partial"):
            mark += "  [dim]copies not checked[/dim]"
        style = "red" if n.status != "complete" or n.missing else "green"
        lines.append(f"{day}  [{style}]{docs}[/{style}]  [cyan]{up}[/cyan]{mark}")
    return lines


def checked_line(nights: Sequence[SnapshotInfo]) -> str:
    """When the newest night that recorded it confirmed every copy it points at."""
    last = next((n for n in nights if n.checked_at is not None), None)
    if last is None:
        return "no night has recorded a check of the copies it points at"
    return f"every copy of the night of {last.date} confirmed in the bucket {checked(last)}"


def status_text(report: StatusReport, *, today: dt.date | None = None) -> None:
    from rich.console import Console

    console = Console()
    today = today or dt.datetime.now().astimezone().date()
    console.print(
        f"[bold]stack {report.stack}, set {report.set_name}: the last {report.days} nights[/bold]"
    )
    for line in nights_chart(report.nights, today=today, days=report.days):
        console.print(line, highlight=False)
    if report.nights:
        console.print(checked_line(report.nights), highlight=False)
    console.print()
    for name, state in sorted(report.alarms.items()):
        style = "red" if state == "ALARM" else "green" if state == "OK" else "yellow"
        console.print(f"alarm {name}: [{style}]{state}[/{style}]", highlight=False)
    console.print()
    for c in report.checks:
        console.print(f"{'pass' if c.ok else 'FAIL'}  {c.item}: {c.detail}", markup=False)
