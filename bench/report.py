"""The markdown report of bench/compare.py: machine, corpora, targets, one table per section."""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from corpora import Stats
from endpoints import KMS, TYPES, s3_total
from timing import Run

FIRST = "first backup"
NO_CHANGE = "no-change rerun"
CHANGED = "rerun after 1 % changed"
RESTORE = "restore"
VERIFY = "verify --deep"
CASES = (FIRST, NO_CHANGE, CHANGED, RESTORE, VERIFY)
DOCBACKUP = "docbackup"
ENDPOINT_NAMES = {"moto": "moto server", "rclone": "rclone serve s3"}


@dataclass
class Summary:
    """The medians of one tool's runs of one case."""

    runs: list[Run]

    @property
    def wall_s(self) -> float:
        return statistics.median(r.wall_s for r in self.runs)

    @property
    def cpu_s(self) -> float:
        return statistics.median(r.cpu_s for r in self.runs)

    @property
    def rss_mb(self) -> float:
        return statistics.median(r.rss_mb for r in self.runs)

    @property
    def requests(self) -> Counter[str] | None:
        counted = [r.requests for r in self.runs if r.requests is not None]
        if not counted:
            return None
        kinds = {kind for c in counted for kind in c}
        return Counter({k: round(statistics.median(c[k] for c in counted)) for k in kinds})


@dataclass
class Section:
    """Every run of one corpus on one endpoint, all rounds."""

    corpus: str
    endpoint: str
    rounds: int = 0
    runs: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)  # per round: the documents rewritten
    rtt_ms: float = 0  # the round trip put between the tools and the server (bench/latency.py)

    def summary(self, case: str, tool: str) -> Summary | None:
        runs = [r for r in self.runs if r.case == case and r.tool == tool]
        return Summary(runs) if runs else None

    def tools(self, case: str) -> list[str]:
        return list(dict.fromkeys(r.tool for r in self.runs if r.case == case))

    @property
    def title(self) -> str:
        shown = f"{self.corpus} on {ENDPOINT_NAMES[self.endpoint]}"
        return shown + (f", {self.rtt_ms:g} ms round trip" if self.rtt_ms else "")


def by_type(requests: Counter[str] | None) -> str:
    if requests is None:
        return "not counted"
    parts = [f"{kind} {requests[kind]}" for kind in (*TYPES, KMS) if requests.get(kind)]
    return ", ".join(parts) or "none"


def total(requests: Counter[str] | None) -> str:
    return "n/a" if requests is None else str(s3_total(requests))


def machine_lines(versions: dict[str, str]) -> list[str]:
    memory = "?"
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    tools = ", ".join(f"{name} {version}" for name, version in versions.items())
    return [
        f"- Machine: {os.cpu_count()} cores, {memory} memory (MemTotal), "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        f"- Versions: {tools}",
    ]


def header(title: str, versions: dict[str, str]) -> list[str]:
    now = dt.datetime.now(dt.UTC)
    return [f"# {title}", "", f"- Date: {now:%Y-%m-%d %H:%M} UTC", *machine_lines(versions), ""]


def corpora_table(stats: dict[str, Stats]) -> list[str]:
    lines = [
        "| corpus | documents | bytes | median size | largest | above 20 MB |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in stats.items():
        lines.append(
            f"| {name} | {s.documents:,} | {s.bytes / 1e6:,.1f} MB | {s.median:,} B "
            f"| {s.largest / 1e6:,.2f} MB | {s.above_20mb} |"
        )
    return [*lines, ""]


def section_table(section: Section, display: dict[str, dict[str, str]]) -> list[str]:
    """display[case][tool] renames a tool in one case (aws s3 sync restores with aws s3 cp)."""
    lines = [
        f"## {section.title}",
        "",
        f'Medians of {section.rounds} round(s). "docbackup vs" is docbackup\'s median wall '
        "time divided by the tool's, in the same run.",
        "",
        "| case | tool | wall s | client CPU s | peak RSS MB | S3 requests | by type "
        "| docbackup vs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in CASES:
        ours = section.summary(case, DOCBACKUP)
        for tool in section.tools(case):
            s = section.summary(case, tool)
            assert s is not None
            name = display.get(case, {}).get(tool, tool)
            versus = "-"
            if ours is not None and tool != DOCBACKUP and s.wall_s > 0:
                versus = f"{ours.wall_s / s.wall_s:.2f} x {name}"
            lines.append(
                f"| {case} | {name} | {s.wall_s:.2f} | {s.cpu_s:.2f} | {s.rss_mb:.0f} "
                f"| {total(s.requests)} | {by_type(s.requests)} | {versus} |"
            )
    lines += ["", f"Documents changed before the reruns: {'; '.join(section.changes)}.", ""]
    return [*lines, *section.notes, ""] if section.notes else lines


@dataclass(frozen=True)
class Target:
    case: str
    goal: str
    figure: str
    met: bool


def _pair(
    sections: Sequence[Section], corpus: str, endpoint: str, case: str, peer: str
) -> tuple[float, float] | None:
    """docbackup's and the peer's median wall time in one case, if both ran."""
    for s in sections:
        if s.corpus == corpus and s.endpoint == endpoint:
            ours, theirs = s.summary(case, DOCBACKUP), s.summary(case, peer)
            if ours and theirs and theirs.wall_s > 0:
                return ours.wall_s, theirs.wall_s
    return None


def evaluate(sections: Sequence[Section], documents: dict[str, int] | None = None) -> list[Target]:
    """The targets whose cases ran, from this run's own medians; `documents`: each corpus's
    count, for the per-document figures."""
    found: list[Target] = []

    def ratio_target(
        label: str, corpus: str, endpoint: str, case: str, peer: str, limit: float, shown: str
    ) -> None:
        pair = _pair(sections, corpus, endpoint, case, peer)
        if pair is not None:
            r = pair[0] / pair[1]
            figure = f"{r:.2f} x ({pair[0]:.2f} s vs {pair[1]:.2f} s)"
            found.append(Target(label, f"<= {limit:.2f} x {shown}", figure, r <= limit))

    ratio_target("docs, first backup, moto", "docs", "moto", FIRST, "aws s3 sync", 0.80, "aws")
    ratio_target("docs, first backup, moto", "docs", "moto", FIRST, "boto3 loop", 1.10, "boto3")
    ratio_target(
        "docs, no-change rerun, moto", "docs", "moto", NO_CHANGE, "aws s3 sync", 0.50, "aws"
    )
    ratio_target("many, first backup, moto", "many", "moto", FIRST, "aws s3 sync", 0.70, "aws")
    ratio_target(
        "many, first backup, rclone serve s3", "many", "rclone", FIRST, "aws s3 sync", 0.50, "aws"
    )
    for endpoint in ("moto", "rclone"):
        label = f"many, no-change rerun, {endpoint}"
        ratio_target(label, "many", endpoint, NO_CHANGE, "restic", 1.00, "restic")
        ratio_target(label, "many", endpoint, NO_CHANGE, "aws s3 sync", 0.15, "aws")
    for s in sections:
        quiet = s.summary(NO_CHANGE, DOCBACKUP)
        if quiet is not None and quiet.requests is not None:
            n = s3_total(quiet.requests)
            kms = quiet.requests.get(KMS, 0)
            figure = f"{n} S3 requests" + (f" (+ {kms} KMS)" if kms else "")
            # The README's budget (Speed): six fixed requests and the versions listings that
            # confirm the copies, at most ceil(N/1000) + D + 5 for N copies stored over D
            # nights (here D = 1: every copy was stored by the first night).
            count = (documents or {}).get(s.corpus)
            limit = math.ceil(count / 1000) + 1 + 5 if count else 5
            shown = f"<= ceil(N/1000) + D + 5 = {limit}" if count else "<= 5"
            found.append(
                Target(f"requests of a no-change night, {s.title}", shown, figure, n <= limit)
            )
    worst: tuple[float, str] | None = None
    for s in sections:
        if s.corpus != "many":
            continue
        for case in CASES:
            ours = s.summary(case, DOCBACKUP)
            if ours is not None and (worst is None or ours.rss_mb > worst[0]):
                worst = (ours.rss_mb, f"{case}, {ENDPOINT_NAMES[s.endpoint]}")
    if worst is not None:
        found.append(
            Target(
                "peak memory, many (docbackup's largest median)",
                "<= 100 MB",
                f"{worst[0]:.0f} MB ({worst[1]})",
                worst[0] <= 100,
            )
        )
    ratio_target("restore docs, moto", "docs", "moto", RESTORE, "aws s3 sync", 0.90, "aws s3 cp")
    latency = {s.rtt_ms for s in sections}
    for endpoint in ("moto", "rclone"):
        label = f"restore many, {ENDPOINT_NAMES[endpoint]}"
        if latency == {0}:
            ratio_target(label, "many", endpoint, RESTORE, "restic", 3.00, "restic")
            ratio_target(label, "many", endpoint, RESTORE, "rclone copy", 1.20, "rclone")
        else:  # over a real link's round trip, against its nearest peers
            label += f", {max(latency):g} ms round trip"
            ratio_target(label, "many", endpoint, RESTORE, "aws s3 sync", 0.50, "aws s3 cp")
            ratio_target(label, "many", endpoint, RESTORE, "rclone copy", 1.20, "rclone")
    for s in sections:
        ours = s.summary(RESTORE, DOCBACKUP)
        count = (documents or {}).get(s.corpus)
        if s.corpus == "many" and ours is not None and count:
            per = ours.cpu_s / count * 1000
            found.append(
                Target(
                    f"client CPU per restored document, {s.title}",
                    "<= 1.00 ms",
                    f"{per:.2f} ms ({ours.cpu_s:.1f} s for {count:,})",
                    per <= 1.0,
                )
            )
    return found


def targets_table(found: Iterable[Target]) -> list[str]:
    rows = list(found)
    if not rows:
        return []
    lines = ["## Targets", "", "| case | target | figure | |", "|---|---|---|---|"]
    for t in rows:
        lines.append(f"| {t.case} | {t.goal} | {t.figure} | {'met' if t.met else 'NOT met'} |")
    return [*lines, ""]
