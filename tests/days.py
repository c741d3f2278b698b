"""Dates read when a test runs, not when its module is imported: the suite may cross midnight,
and a night computed at import would then be yesterday's."""

from __future__ import annotations

import datetime as dt


def today() -> dt.date:
    """Tonight by the UTC clock, as the backups date an undated run."""
    return dt.datetime.now(dt.UTC).date()


def tonight() -> str:
    return today().isoformat()


def yesterday() -> str:
    return (today() - dt.timedelta(days=1)).isoformat()
