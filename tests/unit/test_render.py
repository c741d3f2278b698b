"""The terminal chart of `status`: every day shown, failed nights marked, bars to scale."""

from __future__ import annotations

import datetime as dt

from docbackup.cli.render import nights_chart
from docbackup.engine.results import SnapshotInfo

TODAY = dt.date(2026, 11, 22)


def night(days_ago: int, documents: int, uploaded: int, status: str = "complete") -> SnapshotInfo:
    failed = 0 if status == "complete" else 2
    return SnapshotInfo(
        TODAY - dt.timedelta(days=days_ago),
        "office",
        status,
        documents,
        documents * 1000,
        failed,
        status == "complete",
        None,
        bytes_uploaded=uploaded,
    )


def test_thirty_days_newest_first_with_gaps_and_failures_said() -> None:
    lines = nights_chart(
        [night(0, 500, 2_000_000), night(1, 250, 1_000_000, "partial"), night(3, 5, 0)],
        today=TODAY,
    )

    days = lines[1:]
    assert len(days) == 30
    assert days[0].startswith("2026-11-22") and days[-1].startswith("2026-10-24")
    assert "no run" in days[2] and "no run" not in days[3]
    assert "✗ partial" in days[1] and "2 not stored" in days[1]
    assert "✗" not in days[0]
    # The biggest night fills the bar; half the documents, half the bar.
    assert days[0].count("█") == 24 + 12
    assert days[1].count("█") == 12 + 6
    # A night too small to fill a cell still shows a sliver; nothing uploaded shows none.
    assert "[green]▎ " in days[3] and " 0 B" in days[3]


def test_a_shorter_chart_scales_to_its_own_nights() -> None:
    # GIVEN a huge first night long ago, and a week of ordinary ones
    nights = [night(d, 100, 50_000) for d in range(7)] + [night(20, 5000, 9_000_000)]

    lines = nights_chart(nights, today=TODAY, days=7)

    # THEN seven days, and the week's own biggest night fills the bar
    assert len(lines[1:]) == 7
    assert lines[1].count("█") == 24 + 12
