"""docbackup side by side with aws s3 sync, rclone copy, restic and a plain boto3 loop.

Every tool backs up the same generated tree to the same loopback S3 endpoint (a moto server,
or `rclone serve s3` over a temporary folder), each run its own process timed with os.wait4:
wall time, client CPU (user + system) and peak RSS of the client alone, and the S3 requests the
server logged during the run (moto only, unless --rclone-requests). Cases: first backup,
no-change rerun, rerun after 1 % of the documents changed, restore of the whole snapshot
(checked byte for byte against the source) and docbackup's `verify --deep`. Each round starts a
fresh server with fresh buckets and rotates the order of the tools; figures are medians over
the rounds. The report goes to bench/results.md and to stdout.

    .venv/bin/python bench/compare.py                       # docs on moto, many on both
    .venv/bin/python bench/compare.py --docs 40 --many 200 --rounds 1     # a quick pass
    .venv/bin/python bench/compare.py --only many --endpoint rclone --rounds 5
    .venv/bin/python bench/compare.py --scaling [--scaling-max 10000]     # see bench/scaling.py

Needs .venv (make test), .venv-bench with awscli, and restic on PATH.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import corpora
import latency
import report
import scaling
from backup_scale import free_port
from endpoints import ROOT, Endpoint, running, s3_total
from peers import TOOLS, AwsSync, Docbackup, Peer, Place, all_peers
from report import CHANGED, DOCBACKUP, FIRST, NO_CHANGE, RESTORE, VERIFY, Section
from timing import Command, Run, measure

from docbackup.sandbox import sample

ENDPOINTS = ("moto", "rclone")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=corpora.COUNTS["docs"], metavar="N")
    parser.add_argument("--many", type=int, default=corpora.COUNTS["many"], metavar="N")
    parser.add_argument("--only", choices=("docs", "many"))
    parser.add_argument(
        "--endpoint",
        choices=("moto", "rclone", "both"),
        help="default: docs on moto, many on both",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--rclone-requests",
        action="store_true",
        help="count requests on rclone serve s3 from its debug log (slows that server)",
    )
    parser.add_argument(
        "--rtt-ms",
        type=float,
        default=0,
        metavar="MS",
        help="put this round trip between the tools and the server (bench/latency.py); "
        "rclone then runs with --transfers 32",
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="docbackup's --workers (default: its own)"
    )
    parser.add_argument(
        "--tools",
        default=",".join(TOOLS),
        help=f"the peers to run beside docbackup, comma-separated (default: {','.join(TOOLS)})",
    )
    parser.add_argument("--scaling", action="store_true", help="only the no-change scaling run")
    parser.add_argument("--scaling-max", type=int, default=100_000, metavar="N")
    parser.add_argument("--out", help="default: bench/results.md (bench/scaling.md for --scaling)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    args.tools = tuple(t.strip() for t in args.tools.split(",") if t.strip())
    if unknown := set(args.tools) - set(TOOLS):
        parser.error(f"--tools: unknown {', '.join(sorted(unknown))} (choose from {TOOLS})")
    return args


def plan(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(corpus, endpoint) pairs, in the order they run."""
    pairs = []
    for corpus in ("docs", "many"):
        if args.only and corpus != args.only:
            continue
        if args.endpoint == "both":
            endpoints = list(ENDPOINTS)
        elif args.endpoint:
            endpoints = [args.endpoint]
        else:
            endpoints = ["moto"] if corpus == "docs" else list(ENDPOINTS)
        pairs += [(corpus, endpoint) for endpoint in endpoints]
    return pairs


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def check_tree(tool: str, root: str, expected: dict[str, str]) -> None:
    got = sample.tree_hashes(root) if os.path.isdir(root) else {}
    if got == expected:
        return
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    differ = sorted(p for p in set(got) & set(expected) if got[p] != expected[p])
    raise SystemExit(
        f"{tool}: the restored tree is NOT the source: {len(missing)} missing {missing[:5]}, "
        f"{len(extra)} extra {extra[:5]}, {len(differ)} different {differ[:5]}"
    )


def check_docbackup(run: Run, section: Section, changed: int | None = None) -> None:
    """Stop on a docbackup run that did not complete; note counts that look wrong."""
    result = json.loads(run.stdout)
    status = result.get("status")
    if status not in ("complete", "ok"):
        raise SystemExit(f"docbackup, {run.case}: status {status!r}\n{run.stdout[-2000:]}")
    if run.case == NO_CHANGE and (result.get("new") or result.get("changed")):
        section.notes.append(f"- docbackup's no-change rerun stored documents: {run.stdout[:300]}")
    if changed is not None and run.case == CHANGED and result.get("changed") != changed:
        section.notes.append(
            f"- docbackup saw {result.get('changed')} changed documents, {changed} were changed."
        )
    own = result.get("requests")
    if run.requests is not None and isinstance(own, int) and own != s3_total(run.requests):
        section.notes.append(
            f"- docbackup, {run.case}: it counted {own} S3 requests, the server log "
            f"{s3_total(run.requests)}."
        )


@contextmanager
def through(server: Endpoint, rtt_ms: float) -> Iterator[Endpoint]:
    """The server as the tools see it: behind the latency proxy when `rtt_ms` is set."""
    if not rtt_ms:
        yield server
        return
    port = free_port()
    with latency.delayed(server.port, port, rtt_ms):
        yield Endpoint(server.kind, server.process, port, server.env, server.log)


def floor_lines(peers: list[Peer]) -> list[str]:
    """What a no-change night cannot go below: the interpreter's start and the command's
    imports, with no request at all (medians of 5, beside aws's own start)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DOCBACKUP_"))}
    ours = next(p for p in peers if isinstance(p, Docbackup))
    starts = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "docbackup backup --help": [ours.bin, "backup", "--help"],
    }
    aws = next((p for p in peers if isinstance(p, AwsSync)), None)
    if aws is not None:
        starts["aws --version"] = [aws.bin, "--version"]
    shown = []
    for label, argv in starts.items():
        walls = sorted(measure("floor", label, Command(argv, env), None).wall_s for _ in range(5))
        shown.append(f"{label} {walls[2]:.2f} s")
    return [
        "## Start-up floor",
        "",
        "No request at all, medians of 5: " + "; ".join(shown) + ". A no-change night is this "
        "plus its requests (see the requests column: ceil(N/1000) + D + 5 of them).",
        "",
    ]


def set_aside(path: str, work: str) -> None:
    """Move a finished tree out of the way, to be removed when the whole run ends.

    Removed at once, it would slow whatever creates files next: ext4 without a journal
    (this machine's root file system) skips inodes freed in the last minute when it allocates,
    reading their table blocks, so a restore right after another tool's restored tree was
    deleted spent most of its time in the kernel (sys 5.2 s instead of 2.3 s for 3,000
    files). A rename frees nothing."""
    if os.path.lexists(path):
        aside = os.path.join(work, "set-aside")
        os.makedirs(aside, exist_ok=True)
        os.replace(path, tempfile.mkdtemp(dir=aside))


def run_round(
    corpus: str,
    section: Section,
    endpoint: Endpoint,
    peers: list[Peer],
    source: str,
    work: str,
    round_no: int,
) -> None:
    shift = round_no % len(peers)
    order = peers[shift:] + peers[:shift]
    tag = f"[{section.title}, round {round_no + 1}]"
    places: dict[str, Place] = {}
    for peer in order:
        bucket = f"cmp-{corpus}-{peer.slug}-r{round_no}"
        places[peer.name] = Place(endpoint, bucket, endpoint.make_bucket(bucket), source)
        setup = peer.setup(places[peer.name])
        if setup is not None:
            measure(peer.name, "setup", setup, None)

    def timed(peer: Peer, case: str, night: int, changed: int | None = None) -> None:
        run = measure(peer.name, case, peer.backup(places[peer.name], night), endpoint)
        if peer.name == DOCBACKUP:
            check_docbackup(run, section, changed)
        section.runs.append(run)
        progress(f"{tag} {peer.name}, {case}: {run.wall_s:.2f} s, {run.rss_mb:.0f} MB")

    for peer in order:
        timed(peer, FIRST, 0)
    for peer in order:
        if peer.reruns:
            timed(peer, NO_CHANGE, 1)
    changed = corpora.change_one_percent(source, f"{corpus}-{endpoint.kind}-{round_no}")
    progress(f"{tag} changed {len(changed)} documents, e.g. {changed[0]}")
    shown = ", ".join(changed[:3]) + (", ..." if len(changed) > 3 else "")
    section.changes.append(f"round {round_no + 1}: {len(changed)} ({shown})")
    for peer in order:
        if peer.reruns:
            timed(peer, CHANGED, 2, len(changed))
    expected = sample.tree_hashes(source)
    for peer in order:
        if not peer.restores:
            continue
        into = tempfile.mkdtemp(prefix=f"restore-{peer.slug}-", dir=work)
        try:
            command, root = peer.restore(places[peer.name], os.path.join(into, "tree"))
            run = measure(peer.name, RESTORE, command, endpoint)
            check_tree(peer.name, root, expected)
            if peer.name == DOCBACKUP:
                check_docbackup(run, section)
        finally:
            set_aside(into, work)
        section.runs.append(run)
        progress(f"{tag} {peer.name}, {RESTORE}: {run.wall_s:.2f} s, identical")
    ours = next(p for p in peers if isinstance(p, Docbackup))
    run = measure(DOCBACKUP, VERIFY, ours.verify(places[DOCBACKUP]), endpoint)
    check_docbackup(run, section)
    section.runs.append(run)
    progress(f"{tag} docbackup, {VERIFY}: {run.wall_s:.2f} s")


def versions(peers: list[Peer]) -> dict[str, str]:
    found = {peer.name: peer.version() for peer in peers}
    named = {"awscli": "aws s3 sync", "rclone": "rclone copy", "restic": "restic"}
    return {
        "docbackup": found[DOCBACKUP],
        "moto": importlib.metadata.version("moto"),
        "boto3": importlib.metadata.version("boto3"),
        **{shown: found[tool] for shown, tool in named.items() if tool in found},
    }


def method_lines(args: argparse.Namespace, peers: list[Peer]) -> list[str]:
    rounds = args.rounds
    order = ", ".join(p.name for p in peers)
    return [
        "## Method",
        "",
        f"- {rounds} round(s) per corpus and endpoint; figures are medians. Each round starts a "
        "fresh server (moto server or rclone serve s3, its own process on 127.0.0.1) and gives "
        "each tool a fresh bucket, so a first backup is really first.",
        f"- Within a round each case runs every tool in turn, in the order {order}, rotated by "
        "one tool per round so that none is always first. The 1 % change is made once per "
        "round, after every first backup and no-change rerun.",
        "- Each run is its own process, timed with os.wait4: wall time (perf_counter), client "
        "CPU (ru_utime + ru_stime), peak RSS (ru_maxrss). Server CPU is not counted. Each "
        "command is started by a small launcher (bench/spawn.py, about 5 MB) that forks and "
        "waits for it, because Linux carries the parent's peak RSS into a child across fork "
        "and exec: started straight from the harness, every tool would report at least the "
        "harness's own peak.",
        "- docbackup: `backup --json` with a distinct `--date` per night (today-2, today-1, "
        "today), `restore` and `verify --deep` of today's night"
        + (f", all with --workers {args.workers}" if args.workers else "")
        + ". aws: `aws s3 sync` and `aws s3 cp --recursive` back. rclone: `rclone copy` with "
        f"its default checkers and {'32' if args.rtt_ms else 'its default'} transfers. "
        "restic: `restic backup .` and `restic restore latest`, with `--no-cache` on every "
        "command (no local cache, like docbackup; `restic init` untimed). boto3 loop: "
        "bench/raw_put.py, 32 threads, put_object per file, first backup only.",
        "- On moto every tool but restic asks for SSE-KMS under the bucket's own key (restic "
        "encrypts on the client and sends no SSE header); on rclone serve s3 nobody asks for "
        "SSE (docbackup with `--sse none`). rclone serve s3 keeps no versions.",
        "- S3 requests: counted from moto's access log (one werkzeug line per request, written "
        "by the server anyway), lines between a run's start and end. A server-side copy is "
        "logged as a PUT. KMS requests are listed apart and not in the total. "
        + (
            "On rclone serve s3, counted from its debug log (operations, not HTTP requests; "
            "ListBuckets is not logged; debug logging slows that server)."
            if args.rclone_requests
            else "On rclone serve s3 requests are not counted: it has no access log, and its "
            "debug log (which names most operations) would slow the server on the timed path "
            "(--rclone-requests turns it on)."
        ),
        *(
            [
                f"- A {args.rtt_ms:g} ms round trip between every tool and the server: "
                "bench/latency.py, a TCP proxy in its own process that hands every byte on "
                "half a round trip later each way and makes a new connection wait one round "
                "trip (it needs neither root nor netem); bandwidth is not limited. rclone runs "
                "with --transfers 32 here."
            ]
            if args.rtt_ms
            else []
        ),
        "- After every restore the restored tree is compared file by file (SHA-256) with the "
        "source as it is then; a difference stops the run. Restored trees and server folders "
        "are set aside, and removed only when the whole run ends: on a file system without a "
        "journal, freshly freed inodes slow the next tool's file creation several-fold.",
        "",
    ]


def _stop(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds through every finally: servers, dirs


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    args = parse_args()
    default_out = "scaling.md" if args.scaling else "results.md"
    out = args.out or os.path.join(ROOT, "bench", default_out)
    # Every tool installed, checked before anything starts. Over a round trip rclone keeps
    # 32 transfers in flight, as docbackup's workers do: its default 4 would only measure that.
    peers = all_peers(32 if args.rtt_ms else None, args.workers, args.tools)
    work = tempfile.mkdtemp(prefix="docbackup-compare-")
    try:
        if args.scaling:
            text = scaling.run(args.scaling_max, work, versions(peers))
        else:
            text = compare(args, peers, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)
    print(text)
    progress(f"written to {os.path.relpath(out)}")


def compare(args: argparse.Namespace, peers: list[Peer], work: str) -> str:
    started = time.perf_counter()
    pairs = plan(args)
    sources: dict[str, str] = {}
    stats: dict[str, corpora.Stats] = {}
    for corpus in dict.fromkeys(corpus for corpus, _ in pairs):
        sources[corpus] = os.path.join(work, f"source-{corpus}")
        progress(f"generating {corpus} ({getattr(args, corpus)} documents)")
        corpora.generate(corpus, sources[corpus], getattr(args, corpus))
        stats[corpus] = corpora.stats(sources[corpus])
    sections: list[Section] = []
    for corpus, kind in pairs:
        section = Section(corpus, kind, rounds=args.rounds, rtt_ms=args.rtt_ms)
        sections.append(section)
        for round_no in range(args.rounds):
            server_dir = tempfile.mkdtemp(prefix=f"{kind}-", dir=work)
            try:
                with (
                    running(kind, server_dir, rclone_requests=args.rclone_requests) as server,
                    through(server, args.rtt_ms) as endpoint,
                ):
                    run_round(corpus, section, endpoint, peers, sources[corpus], work, round_no)
            finally:
                set_aside(server_dir, work)
    display = {RESTORE: {p.name: p.restore_name for p in peers if p.restore_name}}
    lines = report.header("docbackup side by side", versions(peers))
    lines += ["## Corpora (as generated)", "", *report.corpora_table(stats)]
    counts = {corpus: found.documents for corpus, found in stats.items()}
    lines += report.targets_table(report.evaluate(sections, counts))
    for section in sections:
        lines += report.section_table(section, display)
    lines += floor_lines(peers)
    lines += method_lines(args, peers)
    lines.append(f"Whole run: {(time.perf_counter() - started) / 60:.1f} min.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt as stopped:
        raise SystemExit(
            f"interrupted ({stopped or 'Ctrl-C'}): servers stopped, files removed"
        ) from None
