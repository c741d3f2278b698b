"""Output for people: a summary that fits the terminal without cutting words, and a time left
that does not jump about."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from docbackup.cli.render import fit
from docbackup.cli.timeleft import TimeLeft

SUMMARY = (
    f"{dt.date(2026, 12, 2)} documents: partial: 5,000 documents (12 new, 3 changed, 4,980 "
    "unchanged, 0 refreshed, 5 failed), 14.2 MB uploaded in 21.3 s; see "
    "Clients/Acme-Holdings-International/Contracts/2026/Master-Services-Agreement-final.pdf"
)


@pytest.mark.parametrize("width", [80, 120])
def test_the_summary_fits_the_terminal_and_keeps_every_word_whole(width: int) -> None:
    fitted = fit(SUMMARY, width)
    lines = fitted.split("\n")
    long_path = SUMMARY.rsplit(" ", 1)[1]
    assert all(len(line) <= width or line.strip() == long_path for line in lines)
    assert fitted.split() == SUMMARY.split()  # the same words, none cut in two
    assert len(lines) > 1


def test_a_short_line_is_left_as_it_is() -> None:
    assert fit("complete: 3 documents", 80) == "complete: 3 documents"


def recorded_run() -> list[tuple[float, int, int]]:
    """A 21 s night of 500 files: small ones at a steady pace, and one 60 MB file whose bytes
    all count when it finishes at 6 s, as a bar fed per finished file sees it."""
    files, total, samples = 500, 60_000_000 + 499 * 20_000, []
    for tick in range(1, 211):  # every 0.1 s
        t = tick / 10
        small = min(499, round(t / 21 * 499))
        big = 1 if t >= 6 else 0
        done_files, done_bytes = small + big, small * 20_000 + big * 60_000_000
        samples.append((t, done_files, done_bytes))
    assert done_bytes == total and done_files == files
    return samples


def test_the_time_left_counts_down_without_jumps() -> None:
    run = recorded_run()
    left = TimeLeft(500, 60_000_000 + 499 * 20_000)
    shown = [(t, left.update(t, f, b)) for t, f, b in run]
    seconds = [(t, s) for t, s in shown if s is not None and t == int(t)]
    assert len(seconds) >= 15
    for (t0, a), (t1, b) in itertools.pairwise(seconds):
        # one second later: about one second less, never a swing of more than a quarter
        assert abs(b - (a - (t1 - t0))) <= 0.25 * a + 1.0, (t0, a, t1, b)
    assert shown[-1][1] == 0.0


def test_the_time_left_of_a_steady_run_is_about_right() -> None:
    left = TimeLeft(1000, 1000 * 50_000)
    estimate = None
    for tick in range(1, 101):  # 10 files a second for 10 s
        estimate = left.update(tick / 10, tick, tick * 50_000)
    assert estimate is not None and 85 <= estimate <= 95  # 90 s left
