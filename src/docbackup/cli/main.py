"""`docbackup`: a thin click group; each command parses, calls the engine and renders."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from docbackup import __version__, compose, layout
from docbackup.cli import exitcodes, render
from docbackup.engine import BackupOptions, Catalog, backup, restore, verify
from docbackup.engine.backup import utc_now
from docbackup.errors import ConfigError, DocbackupError
from docbackup.storage.base import Encryption
from docbackup.storage.s3 import S3Store

F = TypeVar("F", bound=Callable[..., Any])


def fail(exc: BaseException, as_json: bool = False, **extra: object) -> NoReturn:
    """One line on stderr; with --json also the one JSON object, saying the run failed."""
    click.echo(f"docbackup: error: {exc}", err=True)
    if as_json:
        render.emit_json({"status": "failed", "error": str(exc), **extra})
    sys.exit(exitcodes.for_error(exc))


def bucket_option(f: F) -> F:
    return click.option(
        "--bucket", envvar="DOCBACKUP_BUCKET", help="Backup bucket (default: $DOCBACKUP_BUCKET)."
    )(f)


def set_option(f: F) -> F:
    return click.option(
        "--set",
        "set_name",
        envvar="DOCBACKUP_SET",
        default=layout.DEFAULT_SET,
        show_default=True,
        help="Which set of documents.",
    )(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(f)


def workers_option(f: F) -> F:
    return click.option(
        "--workers",
        type=click.IntRange(1, 256),
        envvar="DOCBACKUP_WORKERS",
        default=16,
        show_default=True,
        help="Documents transferred at once.",
    )(f)


def retention_option(f: F) -> F:
    return click.option(
        "--retention-days",
        type=click.IntRange(1, 36500),
        envvar="DOCBACKUP_RETENTION_DAYS",
        default=30,
        show_default=True,
        help="How long the bucket keeps each stored copy (its lifecycle rule).",
    )(f)


def need_bucket(bucket: str | None) -> str:
    if not bucket:
        raise ConfigError("no bucket given: pass --bucket NAME or set DOCBACKUP_BUCKET")
    return bucket


def open_store(
    bucket: str | None, workers: int, counter: compose.RequestCounter | None = None
) -> S3Store:
    return compose.backup_store(need_bucket(bucket), workers=workers, counter=counter)


def finish(
    summary: dict[str, object], status: str, as_json: bool, text: Callable[[], None]
) -> NoReturn:
    """Print the result (one JSON object, or text) and exit with its status's code."""
    if as_json:
        render.emit_json(summary)
    else:
        text()
    sys.exit(exitcodes.for_status(status))


def reporter(as_json: bool) -> render.BarReporter | None:
    return render.BarReporter() if render.wants_bar(as_json) else None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="docbackup")
def cli() -> None:
    """Nightly, verified, encrypted backups of documents into S3 as dated snapshots."""


@cli.command("backup")
@click.argument("source")
@bucket_option
@set_option
@click.option("--date", help="Snapshot date YYYY-MM-DD (default: today in --timezone).")
@click.option(
    "--kms-key-id",
    envvar="DOCBACKUP_KMS_KEY_ID",
    help="KMS key for SSE-KMS (default: the bucket's default key).",
)
@click.option(
    "--sse",
    type=click.Choice(["aws:kms", "AES256", "none"]),
    envvar="DOCBACKUP_SSE",
    default="aws:kms",
    show_default=True,
    help="Server-side encryption; AES256 or none only for servers without KMS.",
)
@click.option(
    "--timezone",
    envvar="DOCBACKUP_TIMEZONE",
    default="UTC",
    show_default=True,
    help="Time zone that decides the snapshot date.",
)
@retention_option
@workers_option
@click.option("--dry-run", is_flag=True, help="Plan and report; store nothing.")
@click.option("--allow-empty", is_flag=True, help="Accept a source with no documents.")
@json_option
def backup_cmd(
    source: str,
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
    as_json: bool,
) -> None:
    """Back up SOURCE (a folder or s3://bucket/prefix) as tonight's snapshot."""
    counter = compose.RequestCounter()
    try:
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
        )
        store = open_store(bucket, workers, counter)
        result = backup(
            store, compose.source_for(source, store), options, reporter=reporter(as_json)
        )
    except DocbackupError as exc:
        fail(exc, as_json, requests=counter.total)
    finish(
        result.summary() | {"requests": counter.total},
        result.status,
        as_json,
        lambda: render.backup_text(result),
    )


@cli.command("list")
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


@cli.command("restore")
@click.argument("when", metavar="DATE|latest")
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Path(file_okay=False),
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
@workers_option
@json_option
def restore_cmd(
    when: str,
    target: str,
    bucket: str | None,
    set_name: str,
    include: tuple[str, ...],
    overwrite: bool,
    workers: int,
    as_json: bool,
) -> None:
    """Rebuild the documents of night DATE (or the latest) in a folder, SHA-256 verified."""
    try:
        store = open_store(bucket, workers)
        result = restore(
            store,
            layout.check_set_name(set_name),
            when,
            target,
            include=include,
            overwrite=overwrite,
            workers=workers,
            reporter=reporter(as_json),
        )
    except DocbackupError as exc:
        fail(exc, as_json)
    finish(result.summary(), result.status, as_json, lambda: render.restore_text(result, target))


@cli.command("verify")
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


@cli.command("deploy")
@click.option("--stack-name", required=True, help="CloudFormation stack to create or update.")
@click.option(
    "--environment",
    type=click.Choice(["dev", "staging", "prod"]),
    help="Sets retention (7/14/30 days); default prod on create, unchanged on update.",
)
@click.option("--bucket-name", help="Base name of the buckets (default: from the stack name).")
@click.option(
    "--source-bucket", help="The bucket whose documents are backed up (needed to create)."
)
@click.option("--source-prefix", help="Only documents under this prefix.")
@click.option("--alert-email", help="Address that receives alarms.")
@click.option(
    "--artifact-bucket",
    help="Bucket for the function package (default: docbackup-artifacts-ACCOUNT-REGION).",
)
def deploy_cmd(
    stack_name: str,
    environment: str | None,
    bucket_name: str | None,
    source_bucket: str | None,
    source_prefix: str | None,
    alert_email: str | None,
    artifact_bucket: str | None,
) -> None:
    """Package the function and create or update the stack through a change set."""
    from docbackup.stack.deploy import DeployRequest, deploy

    request = DeployRequest(
        stack_name,
        environment=environment,
        bucket_name=bucket_name,
        source_bucket=source_bucket,
        source_prefix=source_prefix,
        alert_email=alert_email,
        artifact_bucket=artifact_bucket,
    )
    try:
        result = deploy(request, say=lambda m: click.echo(m, err=True))
    except DocbackupError as exc:
        fail(exc)
    click.echo(f"stack {result.stack_name}: {result.action}")
    for key, value in sorted(result.outputs.items()):
        click.echo(f"  {key}: {value}")
    click.echo(f"outputs written to {request.outputs_file}")


@cli.command("status")
@click.option("--stack-name", required=True, help="The deployed docbackup stack.")
@click.option(
    "--nights",
    type=click.IntRange(1, 400),
    default=7,
    show_default=True,
    help="How many recent nights to show.",
)
@json_option
def status_cmd(stack_name: str, nights: int, as_json: bool) -> None:
    """The last nights, the alarm states, and the live configuration read back."""
    from docbackup.stack.status import status

    try:
        report = status(stack_name, nights=nights)
    except DocbackupError as exc:
        fail(exc, as_json)
    summary = report.summary()
    finish(
        summary, "complete" if report.ok else "failed", as_json, lambda: render.status_text(report)
    )


@cli.command("demo")
@click.option(
    "--documents",
    type=click.IntRange(1, 100_000),
    default=500,
    show_default=True,
    help="How many sample documents to generate.",
)
@json_option
def demo_cmd(documents: int, as_json: bool) -> None:
    """Run a night end to end on an embedded local AWS (no account needed)."""
    try:
        from docbackup.sandbox import demo
    except ImportError as exc:
        fail(
            ConfigError(
                f"the demo needs the sandbox extra: pip install 'docbackup[sandbox]' ({exc})"
            )
        )
    try:
        report = demo.run(documents=documents, say=None if as_json else click.echo)
    except DocbackupError as exc:
        fail(exc, as_json)
    if as_json:
        render.emit_json(report)
    sys.exit(exitcodes.OK if report["status"] == "ok" else exitcodes.FAILED)


def main() -> None:
    cli(prog_name="docbackup")
