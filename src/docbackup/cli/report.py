"""`docbackup report --html FILE`: the last 30 nights and the retention timeline, one page."""

from __future__ import annotations

import datetime as dt

import click

from docbackup import atomic, compose, layout
from docbackup.cli.options import (
    bucket_option,
    config_region,
    fail,
    open_store,
    retention_option,
    set_option,
)
from docbackup.cli.report_html import CHART_DAYS, render
from docbackup.engine import Catalog
from docbackup.engine.watch import watch
from docbackup.errors import ConfigError, DocbackupError
from docbackup.stack.status import stack_alarms


@click.command("report")
@click.option(
    "--html",
    "html_file",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    help="Write the page here.",
)
@bucket_option
@set_option
@retention_option
@click.option("--stack-name", help="Also show the stack's alarm states.")
def report_cmd(
    html_file: str, bucket: str | None, set_name: str, retention_days: int, stack_name: str | None
) -> None:
    """One self-contained HTML page: charts of the last 30 nights and which dates restore."""
    try:
        store = open_store(bucket, workers=4)
        store.check_access()
        now = dt.datetime.now(dt.UTC)
        days = max(CHART_DAYS, retention_days)
        nights = Catalog(store, layout.check_set_name(set_name)).snapshots(now=now, limit=days)
        alarms = _alarms(stack_name) if stack_name else None
        # Every set of the bucket, as the function watches them: the report's reader learns
        # that an office machine stopped even where no alarm reaches them.
        watched = watch(store, now=now, retention_days=retention_days)
        page = render(
            nights,
            bucket=store.bucket,
            set_name=set_name,
            retention_days=retention_days,
            today=now.astimezone().date(),
            generated_at=now.astimezone(),
            alarms=alarms,
            watched=watched,
        )
        atomic.write_text(html_file, page)
    except OSError as exc:
        fail(ConfigError(f"cannot write {html_file}: {exc.strerror}"))
    except DocbackupError as exc:
        fail(exc)
    click.echo(f"wrote {html_file}: {len(nights)} night(s) of set {set_name}")


def _alarms(stack_name: str) -> dict[str, str] | None:
    """The alarm states, or None (said on stderr) when these credentials may not read them:
    the office machine's policy does not include CloudWatch, and the page is still useful."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return stack_alarms(compose.session(config_region()), stack_name)
    except (BotoCoreError, ClientError) as exc:
        click.echo(f"docbackup: warning: alarm states not shown: {exc}", err=True)
        return None
