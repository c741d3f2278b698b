"""The snapshots of a set: listing them, restoring one, verifying what they promise."""

from __future__ import annotations

import sys
import time

import click

from docbackup import layout
from docbackup.cli import render
from docbackup.cli.options import (
    bucket_option,
    fail,
    finish,
    json_option,
    open_store,
    reporter,
    set_option,
    workers_option,
)
from docbackup.engine import Catalog, restore, verify
from docbackup.engine.archive import ThawPlan
from docbackup.engine.options import utc_now
from docbackup.engine.results import RestoreResult
from docbackup.errors import ConfigError, DocbackupError
from docbackup.storage.base import RestoreTier


@click.command("list")
@bucket_option
@set_option
@json_option
def list_cmd(bucket: str | None, set_name: str, as_json: bool) -> None:
    """List the snapshots of a set: status, size, and whether each restores fully."""
    try:
        store = open_store(bucket, workers=4)
        store.check_access()
        infos = Catalog(store, set_name).snapshots(now=utc_now())
    except DocbackupError as exc:
        fail(exc, as_json)
    if as_json:
        render.emit_json(
            {"bucket": store.bucket, "set": set_name, "snapshots": [i.summary() for i in infos]}
        )
    else:
        render.snapshots_table(infos, store.bucket, set_name)


@click.command("restore")
@click.argument("when", metavar="DATE|latest")
@click.option(
    "--to",
    "target",
    required=True,
    # Checked by the engine, which says in one line why a target cannot be used.
    type=click.Path(),
    help="Folder to restore into.",
)
@bucket_option
@set_option
@click.option(
    "--include",
    multiple=True,
    metavar="GLOB",
    help="Only documents whose path matches (repeatable).",
)
@click.option("--overwrite", is_flag=True, help="Replace files that already exist in --to.")
@click.option(
    "--tier",
    type=click.Choice(["bulk", "standard", "expedited"]),
    default=None,
    help="Ask S3 to restore copies held in Glacier or Deep Archive, with this retrieval tier, "
    "after showing how many, the wait and the cost; run the restore again once they are back.",
)
@click.option("--yes", is_flag=True, help="With --tier: ask S3 without asking first.")
@click.option(
    "--wait",
    is_flag=True,
    help="With --tier: stay until the copies are back from the archive, then finish.",
)
# How often --wait looks again; hidden, for the tests (S3 takes minutes to hours).
@click.option("--wait-poll", type=click.FloatRange(0), default=900.0, hidden=True)
@workers_option
@json_option
def restore_cmd(
    when: str,
    target: str,
    bucket: str | None,
    set_name: str,
    include: tuple[str, ...],
    overwrite: bool,
    tier: RestoreTier | None,
    yes: bool,
    wait: bool,
    wait_poll: float,
    workers: int,
    as_json: bool,
) -> None:
    """Rebuild the documents of night DATE (or the latest) in a folder, SHA-256 verified.

    Run again into the same folder, it keeps what an earlier run put there (same SHA-256) and
    restores the rest: so a restore that met archived copies finishes once they are back."""

    answers: list[bool] = []  # one answer a command: --wait's later passes do not ask again

    def confirm(plan: ThawPlan, chosen: RestoreTier) -> bool:
        if yes:
            return True
        if answers:
            return answers[0]
        for line in plan.describe(chosen):
            click.echo(line, err=True)
        if not sys.stdin.isatty():
            click.echo("not asked for: pass --yes to ask S3 without a question", err=True)
            answers.append(False)
        else:
            answers.append(click.confirm(f"Ask S3 for them with the {chosen} tier?", err=True))
        return answers[0]

    try:
        if wait and tier is None:
            raise ConfigError("--wait needs --tier: the copies must be asked for first")
        store = open_store(bucket, workers)

        def once() -> RestoreResult:
            return restore(
                store,
                layout.check_set_name(set_name),
                when,
                target,
                include=include,
                overwrite=overwrite,
                workers=workers,
                reporter=reporter(as_json),
                tier=tier,
                confirm=confirm,
            )

        result = once()
        deadline = time.monotonic() + WAIT_LIMIT_S
        while wait and result.coming_back and time.monotonic() < deadline:
            click.echo(
                f"{result.coming_back} copies are coming back from the archive; looking again "
                f"in {wait_poll:.0f} s (Ctrl-C stops; what is restored stays)",
                err=True,
            )
            time.sleep(wait_poll)
            result = once()
    except DocbackupError as exc:
        fail(exc, as_json)
    finish(result.summary(), result.status, as_json, lambda: render.restore_text(result, target))


# Deep Archive's bulk tier takes up to 48 hours; --wait gives up a day after that.
WAIT_LIMIT_S = 72 * 3600


@click.command("verify")
@click.argument("when", metavar="[DATE|latest]", required=False)
@click.option("--all", "all_dates", is_flag=True, help="Every snapshot of the set.")
@click.option("--deep", is_flag=True, help="Download and re-hash every stored copy.")
@bucket_option
@set_option
@workers_option
@json_option
def verify_cmd(
    when: str | None,
    all_dates: bool,
    deep: bool,
    bucket: str | None,
    set_name: str,
    workers: int,
    as_json: bool,
) -> None:
    """Check that a snapshot's stored copies exist, encrypted, with the right size and hash."""
    try:
        if when and all_dates:
            raise ConfigError("give a DATE or --all, not both")
        store = open_store(bucket, workers)
        result = verify(
            store,
            layout.check_set_name(set_name),
            when,
            all_dates=all_dates,
            deep=deep,
            workers=workers,
            reporter=reporter(as_json),
        )
    except DocbackupError as exc:
        fail(exc, as_json)
    finish(result.summary(), result.status, as_json, lambda: render.verify_text(result))
