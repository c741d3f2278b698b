"""The options and helpers every command shares: one place, so they read the same everywhere."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import click

from docbackup import compose, layout, tuning
from docbackup.cli import config as cfg
from docbackup.cli import exitcodes, interrupt, render
from docbackup.engine.options import DEFAULT_RETENTION_DAYS, MIN_RETENTION_DAYS
from docbackup.engine.progress import Reporter
from docbackup.errors import ConfigError
from docbackup.storage.s3 import S3Store

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class State:
    """What the group hands every command (`ctx.obj`): the config file, read once."""

    config_path: str | None
    config: cfg.Config | None


def config_region() -> str | None:
    """The config file's region, which every command passes to the clients it builds (the
    environment's AWS_REGION still wins, see compose.resolve_region)."""
    ctx = click.get_current_context(silent=True)
    state = ctx.find_object(State) if ctx else None
    return state.config.region if state and state.config else None


def fail(exc: BaseException, as_json: bool = False, **extra: object) -> NoReturn:
    """One line on stderr; with --json also the one JSON object, saying the run failed."""
    click.echo(f"docbackup: error: {exc}", err=True)
    if as_json:
        render.emit_json({"status": "failed", "error": str(exc), **extra})
    sys.exit(exitcodes.for_error(exc))


def bucket_option(f: F) -> F:
    return click.option("--bucket", envvar="DOCBACKUP_BUCKET", help="Backup bucket.")(f)


def kms_key_option(what: str) -> Callable[[F], F]:
    return click.option(
        "--kms-key-id",
        envvar="DOCBACKUP_KMS_KEY_ID",
        help=f"KMS key for {what} (default: the bucket's default key).",
    )


def sse_option(help_text: str) -> Callable[[F], F]:
    return click.option(
        "--sse",
        type=click.Choice(["aws:kms", "AES256", "none"]),
        envvar="DOCBACKUP_SSE",
        default="aws:kms",
        show_default=True,
        help=help_text,
    )


def timezone_option(what: str) -> Callable[[F], F]:
    return click.option(
        "--timezone",
        envvar="DOCBACKUP_TIMEZONE",
        default="UTC",
        show_default=True,
        help=f"Time zone that decides {what}.",
    )


def set_option(f: F) -> F:
    return click.option(
        "--set",
        "set_name",
        envvar="DOCBACKUP_SET",
        default=layout.DEFAULT_SET,
        show_default=True,
        help="Which set of documents.",
    )(f)


def _remember_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    interrupt.want_json(value)  # a signal must still get its answer in JSON
    return value


def json_option(f: F) -> F:
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        callback=_remember_json,
        help="Print one JSON object.",
    )(f)


def workers_option(f: F) -> F:
    return click.option(
        "--workers",
        type=click.IntRange(1, 256),
        envvar="DOCBACKUP_WORKERS",
        default=tuning.WORKERS,
        show_default=True,
        help="Documents transferred at once.",
    )(f)


MAX_RETENTION_DAYS = 36500


def _check_retention(ctx: click.Context, param: click.Parameter, value: int) -> int:
    """The engine's own bound, checked as the value comes in, in one line that says where it
    came from: a value it would refuse later must not pass here (exit 2, nothing written)."""
    if MIN_RETENTION_DAYS <= value <= MAX_RETENTION_DAYS:
        return value
    where = {
        click.ParameterSource.ENVIRONMENT: "DOCBACKUP_RETENTION_DAYS",
        click.ParameterSource.DEFAULT_MAP: "retention_days in the config file",
    }.get(ctx.get_parameter_source("retention_days"), "--retention-days")  # type: ignore[arg-type]
    fail(
        ConfigError(
            f"{where} is {value}: retention must be {MIN_RETENTION_DAYS} to "
            f"{MAX_RETENTION_DAYS} days (a copy is refreshed at least a day before it expires)"
        )
    )


def retention_option(f: F) -> F:
    return click.option(
        "--retention-days",
        type=int,
        callback=_check_retention,
        envvar="DOCBACKUP_RETENTION_DAYS",
        default=DEFAULT_RETENTION_DAYS,
        show_default=True,
        help=f"How long the bucket keeps each stored copy (its lifecycle rule); "
        f"{MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS}.",
    )(f)


def need_bucket(bucket: str | None) -> str:
    if not bucket:
        raise ConfigError("no bucket given: pass --bucket NAME or set DOCBACKUP_BUCKET")
    return bucket


def open_store(
    bucket: str | None,
    workers: int,
    counter: compose.RequestCounter | None = None,
    *,
    limit_upload: float | None = None,
) -> S3Store:
    return compose.backup_store(
        need_bucket(bucket),
        workers=workers,
        counter=counter,
        region=config_region(),
        limit_upload=limit_upload,
    )


def limit_upload_option(f: F) -> F:
    return click.option(
        "--limit-upload",
        envvar="DOCBACKUP_LIMIT_UPLOAD",
        metavar="RATE",
        help="Send at most RATE (500KB/s, 2MB/s, 10Mbit/s) in all, so the office's uplink "
        "stays usable; config: [stack] limit_upload [default: no limit].",
    )(f)


def finish(
    summary: dict[str, object], status: str, as_json: bool, text: Callable[[], None]
) -> NoReturn:
    """Print the result (one JSON object, or text) and exit with its status's code."""
    if as_json:
        render.emit_json(summary)
    else:
        text()
    sys.exit(exitcodes.for_status(status))


def reporter(as_json: bool) -> Reporter:
    """The progress bar on a terminal; otherwise a count, for the report after a signal."""
    if render.wants_bar(as_json):
        return render.BarReporter()
    tally = interrupt.Tally()
    interrupt.track("done", tally.summary)
    return tally
