"""Backing up: `docbackup backup`, one source into one set, tonight or on a given date."""

from __future__ import annotations

import os

import click

from docbackup import compose, layout
from docbackup.cli import config as cfg
from docbackup.cli import interrupt, render
from docbackup.cli.options import (
    State,
    bucket_option,
    fail,
    finish,
    json_option,
    kms_key_option,
    limit_upload_option,
    open_store,
    reporter,
    retention_option,
    set_option,
    sse_option,
    timezone_option,
    workers_option,
)
from docbackup.engine import BackupOptions, backup
from docbackup.errors import ConfigError, DocbackupError
from docbackup.storage.base import Encryption


@click.command("backup")
@click.argument("source", required=False)
@bucket_option
@set_option
@click.option("--date", help="Snapshot date YYYY-MM-DD (default: today in --timezone).")
@kms_key_option("SSE-KMS")
@sse_option("Server-side encryption; AES256 or none only for servers without KMS.")
@timezone_option("the snapshot date")
@retention_option
@workers_option
@click.option("--dry-run", is_flag=True, help="Plan and report; store nothing.")
@click.option("--allow-empty", is_flag=True, help="Accept a source with no documents.")
@click.option(
    "--allow-unversioned",
    is_flag=True,
    envvar="DOCBACKUP_ALLOW_UNVERSIONED",
    help="Back up into a bucket without versioning (refused otherwise).",
)
@click.option(
    "--allow-new-source",
    is_flag=True,
    help="Back up a SOURCE other than the one the set's last night came from.",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Leave out paths matching this gitignore-style pattern (repeatable).",
)
@click.option(
    "--no-default-excludes",
    is_flag=True,
    help="Also back up office lock and temporary files (~$*, .~lock.*#, *.tmp).",
)
@click.option(
    "--read-back",
    "read_back",
    default="0",
    envvar="DOCBACKUP_READ_BACK",
    metavar="SIZE",
    help="Read back and re-hash up to SIZE (500MB, 2GiB) of stored copies tonight, each copy "
    "once per retention period; a damaged one is sent again [default: 0, none].",
)
@limit_upload_option
@json_option
@click.pass_context
def backup_cmd(
    ctx: click.Context,
    source: str | None,
    bucket: str | None,
    set_name: str,
    date: str | None,
    kms_key_id: str | None,
    sse: str,
    timezone: str,
    retention_days: int,
    workers: int,
    dry_run: bool,
    allow_empty: bool,
    allow_unversioned: bool,
    allow_new_source: bool,
    exclude: tuple[str, ...],
    no_default_excludes: bool,
    read_back: str,
    limit_upload: str | None,
    as_json: bool,
) -> None:
    """Back up SOURCE (a folder or s3://bucket/prefix) as tonight's snapshot.

    Without SOURCE, the set's folder comes from the config file; the set's excludes apply
    whenever the folder is its own."""
    state: State = ctx.obj
    counter = compose.RequestCounter()
    interrupt.track("requests", lambda: counter.total)
    try:
        default_excludes = not no_default_excludes
        if source is None:
            if state.config is None:
                raise ConfigError("no SOURCE given and no config file (see `docbackup init`)")
            own = state.config.set_named(set_name)
            configured: cfg.SetConfig | None = own
            source = own.source
        else:
            configured = _same_set(state.config, set_name, source)
        if configured is not None:
            exclude = configured.exclude + exclude
            default_excludes = default_excludes and configured.default_excludes
        if sse != "aws:kms" and _from_config(ctx, "kms_key_id"):
            kms_key_id = None  # the stack's key, from the config file: not asked for here
        if sse != "aws:kms" and kms_key_id:
            raise ConfigError(f"--kms-key-id goes with --sse aws:kms, not --sse {sse}")
        options = BackupOptions(
            set_name=layout.check_set_name(set_name),
            date=layout.parse_date(date) if date else None,
            timezone=timezone,
            encryption=Encryption(sse, kms_key_id),  # type: ignore[arg-type]
            retention_days=retention_days,
            workers=workers,
            dry_run=dry_run,
            allow_empty=allow_empty,
            allow_unversioned=allow_unversioned,
            allow_new_source=allow_new_source,
            check_clock=True,
            read_back_bytes=cfg.read_back_bytes(read_back),
        )
        store = open_store(bucket, workers, counter, limit_upload=cfg.upload_rate(limit_upload))
        result = backup(
            store,
            compose.source_for(source, store, exclude=exclude, default_excludes=default_excludes),
            options,
            reporter=reporter(as_json),
        )
    except DocbackupError as exc:
        fail(exc, as_json, requests=counter.total)
    finish(
        result.summary() | {"requests": counter.total},
        # A damaged copy with no good twin is a failed check (exit 1), as in `verify`.
        "mismatch" if result.damaged else result.status,
        as_json,
        lambda: render.backup_text(result),
    )


def _same_set(config: cfg.Config | None, set_name: str, source: str) -> cfg.SetConfig | None:
    """The config's set when SOURCE is that set's own source given again: its excludes still
    apply then, as they do on the nightly `run`."""
    known = config.sets.get(set_name) if config else None
    if known is None or known.source.startswith("s3://") != source.startswith("s3://"):
        return None
    if source.startswith("s3://"):
        same = known.source.rstrip("/") == source.rstrip("/")
    else:
        same = _folder(source) == _folder(known.source)
    return known if same else None


def _folder(path: str) -> str:
    # The same folder however it is typed: ~, a symlink, or another case on Windows.
    return os.path.normcase(os.path.realpath(os.path.expanduser(path)))


def _from_config(ctx: click.Context, param: str) -> bool:
    return ctx.get_parameter_source(param) is click.ParameterSource.DEFAULT_MAP
