"""`docbackup cost`: an itemised monthly estimate, and the same workload on AWS Backup."""

from __future__ import annotations

import sys

import click

from docbackup.cli import exitcodes, render
from docbackup.cli.options import fail, json_option
from docbackup.cost.model import Estimate, LineItem, estimate
from docbackup.cost.prices import PRICES_CHECKED, REGION
from docbackup.cost.workload import REFERENCE, Workload, parse_size
from docbackup.errors import ConfigError


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


@click.command("cost")
@click.option(
    "--documents-per-day",
    type=int,
    default=REFERENCE.documents_per_day,
    show_default=True,
    help="New or changed documents stored each night.",
)
@click.option(
    "--average-size",
    default="200KB",
    show_default=True,
    help="Average document size: bytes, or a number with KB, MB, GB, TB (powers of 1,000) or "
    "KiB, MiB, GiB, TiB (powers of 1,024).",
)
@click.option(
    "--retention-days",
    "retention_days",
    type=int,
    default=REFERENCE.retention_days,
    show_default=True,
    help="Days each stored copy is kept (backup's --retention-days).",
)
# The name this option had before it took backup's: kept so that a script written for it runs.
@click.option("--retention", "retention_alias", type=int, hidden=True)
@click.option(
    "--live-documents",
    type=int,
    help="Documents kept at the source (default: documents per day x retention); unchanged "
    "ones are refreshed before they expire.",
)
@json_option
def cost_cmd(
    documents_per_day: int,
    average_size: str,
    retention_days: int,
    retention_alias: int | None,
    live_documents: int | None,
    as_json: bool,
) -> None:
    """What a month of docbackup costs on AWS, item by item, beside AWS Backup for S3."""
    if retention_alias is not None:
        retention_days = retention_alias
    try:
        workload = Workload(
            documents_per_day, parse_size(average_size), retention_days, live_documents
        )
        est = estimate(workload)
    except ConfigError as exc:
        fail(exc, as_json)
    if as_json:
        render.emit_json(_as_json(est))
    else:
        _text(est)
    sys.exit(exitcodes.OK)


def _as_json(est: Estimate) -> dict[str, object]:
    def line(i: LineItem) -> dict[str, object]:
        return {
            "service": i.service,
            "item": i.item,
            "quantity": round(i.quantity, 6),
            "unit": i.unit,
            "unit_price": i.unit_price,
            "source": i.price.source,
            "monthly_usd": round(i.monthly_usd, 6),
        }

    return {
        "prices_checked": PRICES_CHECKED,
        "region": REGION,
        "workload": {
            "documents_per_day": est.workload.documents_per_day,
            "average_size": est.workload.average_size,
            "retention_days": est.workload.retention_days,
            "live_documents": est.workload.live,
        },
        "items": [line(i) for i in est.items],
        "total_usd": round(est.total, 4),
        "total_in_free_tier_usd": round(est.total_in_free_tier, 4),
        "aws_backup": {
            "items": [line(i) for i in est.aws_backup],
            "total_usd": round(est.aws_backup_total, 4),
        },
        "notes": list(est.notes),
    }


def _text(est: Estimate) -> None:
    from rich.console import Console
    from rich.table import Table

    w = est.workload
    console = Console()
    title = (
        f"docbackup, a month of {w.documents_per_day:,} documents a day of "
        f"{render.human_bytes(w.average_size)}, kept {w.retention_days} days "
        f"({REGION} list prices of {PRICES_CHECKED})"
    )
    for heading, items, total in (
        (title, est.items, est.total),
        ("The same workload on AWS Backup for S3", est.aws_backup, est.aws_backup_total),
    ):
        table = Table(title=heading, title_justify="left")
        for col in ("service", "item", "quantity", "unit price", "per month"):
            table.add_column(col, justify="right" if col in ("quantity", "per month") else "left")
        for i in items:
            table.add_row(
                i.service, i.item, f"{i.quantity:,.2f} {i.unit}", i.unit_price, _usd(i.monthly_usd)
            )
        table.add_row("", "[bold]total[/bold]", "", "", f"[bold]{_usd(total)}[/bold]")
        console.print(table)
    console.print(
        f"Within an account's unused always-free tiers docbackup's total would be "
        f"{_usd(est.total_in_free_tier)}."
    )
    for note in est.notes:
        console.print(f"- {note}", markup=False, highlight=False)
