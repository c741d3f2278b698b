"""How docbackup's no-change night grows with the number of documents: `compare.py --scaling`.

At 1,000, 20,000 and 100,000 tiny documents (median 2,000 bytes; --scaling-max lowers the
largest size): wall time, peak RSS and S3 requests of three no-change reruns on distinct dates.
Seeding 100,000 uploads through moto would take too long, so each size is seeded with a real
docbackup first backup against `rclone serve s3` (--sse none), which then also serves the reruns.
Requests are docbackup's own count (the `requests` of its --json summary: every HTTP request it
made, retries included), which the side-by-side run checks against moto's access log.

    .venv/bin/python bench/compare.py --scaling [--scaling-max 100000] [--out bench/scaling.md]
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass

import corpora
import report
from endpoints import running
from peers import NIGHTS, Docbackup, Place
from timing import Run, measure

SIZES = (1_000, 20_000, 100_000)
# Every copy a rerun carries was stored by the seeding night: D = 1 in the request budget.
SEEDED_NIGHTS = 1
RERUNS = 3


def budget(documents: int) -> int:
    return math.ceil(documents / 1000) + SEEDED_NIGHTS + 5


def sizes_up_to(maximum: int) -> list[int]:
    return [n for n in SIZES if n < maximum] + [maximum]


@dataclass
class Row:
    documents: int
    generate_s: float
    seed: Run
    reruns: list[Run]

    @property
    def wall_s(self) -> float:
        return statistics.median(r.wall_s for r in self.reruns)

    @property
    def cpu_s(self) -> float:
        return statistics.median(r.cpu_s for r in self.reruns)

    @property
    def rss_mb(self) -> float:
        return statistics.median(r.rss_mb for r in self.reruns)

    @property
    def requests(self) -> int:
        return round(statistics.median(int(json.loads(r.stdout)["requests"]) for r in self.reruns))


def _checked(run: Run, documents: int, *, quiet: bool) -> Run:
    result = json.loads(run.stdout)
    if result.get("status") != "complete" or result.get("documents") != documents:
        raise SystemExit(f"docbackup, {run.case}: unexpected summary\n{run.stdout[-2000:]}")
    if quiet and (result.get("new") or result.get("changed")):
        raise SystemExit(f"docbackup stored documents on a no-change night\n{run.stdout[:2000]}")
    return run


def measure_size(ours: Docbackup, documents: int, work: str) -> Row:
    source = os.path.join(work, f"scaling-{documents}")
    server_dir = tempfile.mkdtemp(prefix="rclone-", dir=work)
    try:
        t0 = time.perf_counter()
        corpora.generate("scaling", source, documents)
        generate_s = time.perf_counter() - t0
        print(f"[scaling {documents}] generated in {generate_s:.1f} s", file=sys.stderr)
        with running("rclone", server_dir) as endpoint:
            bucket = f"scaling-{documents}"
            place = Place(endpoint, bucket, endpoint.make_bucket(bucket), source)
            first = ours.backup_on(place, NIGHTS[0] - dt.timedelta(days=1))
            seed = _checked(measure("docbackup", "seed", first, endpoint), documents, quiet=False)
            print(f"[scaling {documents}] seeded in {seed.wall_s:.1f} s", file=sys.stderr)
            reruns = []
            for night in range(RERUNS):
                command = ours.backup(place, night)
                run = measure("docbackup", report.NO_CHANGE, command, endpoint)
                reruns.append(_checked(run, documents, quiet=True))
                print(
                    f"[scaling {documents}] no-change rerun {night + 1}: {run.wall_s:.2f} s, "
                    f"{run.rss_mb:.0f} MB",
                    file=sys.stderr,
                )
    finally:
        shutil.rmtree(source, ignore_errors=True)
        shutil.rmtree(server_dir, ignore_errors=True)
    return Row(documents, generate_s, seed, reruns)


def render(rows: list[Row], versions: dict[str, str]) -> str:
    base = rows[0]
    lines = report.header("docbackup: the no-change night at scale", versions)
    lines += [
        f"Sizes run: {', '.join(f'{r.documents:,}' for r in rows)} documents (median 2,000 "
        f"bytes, seed {corpora.SEED}). Each seeded by a docbackup first backup against rclone "
        f"serve s3 with `--sse none`, then {RERUNS} no-change reruns on distinct dates against "
        "the same server; medians of those reruns. Requests: docbackup's own count (its --json "
        "`requests`). Bytes per tracked document beyond the base: (RSS(n) - RSS("
        f"{base.documents:,})) / (n - {base.documents:,}).",
        "",
        "| documents | seeding s | rerun wall s | rerun client CPU s | peak RSS MB | requests "
        "| bytes per tracked document beyond the base |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        extra = "-"
        if row.documents > base.documents:
            per = (row.rss_mb - base.rss_mb) * 1024 * 1024 / (row.documents - base.documents)
            extra = f"{per:,.0f}"
        lines.append(
            f"| {row.documents:,} | {row.seed.wall_s:.1f} | {row.wall_s:.2f} | {row.cpu_s:.2f} "
            f"| {row.rss_mb:.1f} | {row.requests} | {extra} |"
        )
    lines.append("")
    # Five fixed requests, and the listings that confirm every copy the night points at
    # (a page of 1,000 under each night that stored some).
    targets = [
        report.Target(
            f"requests of a no-change night, {row.documents:,} documents",
            f"<= ceil(N/1000) + D + 5 = {budget(row.documents)}",
            str(row.requests),
            row.requests <= budget(row.documents),
        )
        for row in rows
    ]
    for row in rows[1:]:
        per = (row.rss_mb - base.rss_mb) * 1024 * 1024 / (row.documents - base.documents)
        targets.append(
            report.Target(
                f"memory per tracked document, {row.documents:,} documents",
                "<= 300 bytes beyond the base",
                f"{per:,.0f} bytes",
                per <= 300,
            )
        )
    lines += report.targets_table(targets)
    return "\n".join(lines) + "\n"


def run(maximum: int, work: str, versions: dict[str, str]) -> str:
    ours = Docbackup()
    rows = [measure_size(ours, n, work) for n in sizes_up_to(maximum)]
    return render(rows, versions)
