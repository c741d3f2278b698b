"""`docbackup set`: what a person says about a set as a whole (today: that it is meant to stop)."""

from __future__ import annotations

import click

from docbackup import layout
from docbackup.cli import render
from docbackup.cli.options import (
    bucket_option,
    fail,
    json_option,
    kms_key_option,
    open_store,
    retention_option,
    sse_option,
    timezone_option,
)
from docbackup.engine.options import BackupOptions, run_date, utc_now
from docbackup.engine.watch import retire
from docbackup.errors import DocbackupError
from docbackup.storage.base import Encryption


@click.group("set")
def set_group() -> None:
    """Sets as a whole: retire one that is meant to stop."""


@set_group.command("retire")
@click.argument("name")
@bucket_option
@kms_key_option("the marker")
@sse_option("Server-side encryption of the marker, as `backup` stores its copies.")
@timezone_option("the marker's date")
@retention_option
@json_option
def retire_cmd(
    name: str,
    bucket: str | None,
    kms_key_id: str | None,
    sse: str,
    timezone: str,
    retention_days: int,
    as_json: bool,
) -> None:
    """Retire set NAME: the nightly function stops counting it as stale (StaleSets).

    Writes a marker under today's date, beside the set's nights; nothing stored is changed.
    A set that backs up again after it is watched again."""
    try:
        layout.check_set_name(name)
        now = utc_now()
        date = run_date(BackupOptions(timezone=timezone), now)
        store = open_store(bucket, workers=1)
        key = retire(
            store,
            name,
            now=now,
            date=date,
            retention_days=retention_days,
            encryption=Encryption(sse, kms_key_id if sse == "aws:kms" else None),  # type: ignore[arg-type]
        )
    except DocbackupError as exc:
        fail(exc, as_json)
    if as_json:
        render.emit_json({"status": "retired", "set": name, "bucket": store.bucket, "marker": key})
    else:
        click.echo(
            f"set {name} retired in bucket {store.bucket} ({key}); nightly checks leave it out"
        )
