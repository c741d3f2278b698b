"""What one item of a fanned-out night costs (README, "Past one machine"), measured in the sandbox.

The stack is deployed with FanOut=top-level-prefixes; the source has FOLDERS top-level folders
of DOCS generated documents each, and a few documents beside them (an item of their own). Its
deployed definition is run by docbackup.sandbox.fan_out (moto's Step Functions cannot invoke
the function without Docker), both roles asked of AWS's rules and the handler running in this
process as the function's role. Two nights: a first one (every document new) and a no-change
one. Per item: the state transitions billed to it (its child execution started, its Night
state, any retry), the function's duration (its wall time here, FanOutConcurrency=4 at a time
on this machine's cores beside moto: Lambda's own differs) and the requests it made. The
transitions, the function's time and its invocation are priced at us-east-1's list prices; the
S3 requests are the night's own, as without the fan-out. Written to bench/fan_out_cost.md.

    .venv/bin/python bench/fan_out_cost.py [--folders 8] [--docs 50] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import threading
import time
from typing import Any

from docbackup.sandbox import demo, sample
from docbackup.sandbox.moto_gaps import MotoGaps
from docbackup.sandbox.rules import actors
from docbackup.sandbox.rules.state import ACCOUNT
from docbackup.sandbox.server import local_aws
from docbackup.stack.deploy import DeployRequest, deploy

# us-east-1 list prices (2026): Step Functions Standard, per state transition; Lambda arm64,
# per GB-second and per request.
TRANSITION = 0.025 / 1000
GB_SECOND = 0.0000133334
INVOCATION = 0.20 / 1_000_000
MEMORY_GB = 0.5
ROOT = f"arn:aws:iam::{ACCOUNT}:root"  # the harness's own requests, not the function's


def night(aws: Any, name: str, outputs: dict[str, str], crew: Any, date: dt.date) -> str:
    durations: dict[str, float] = {}  # per item (its set) or plan/watch, every attempt summed
    lock = threading.Lock()  # the map's items run side by side
    requests_before = aws.requests.by_principal.copy()

    def timed(event: dict[str, Any]) -> dict[str, Any]:
        start = time.perf_counter()
        try:
            return demo._invoke(aws, outputs["BackupLambdaArn"], event, crew.function)
        finally:
            what = str(event.get("set") or event.get("trigger"))
            with lock:
                durations[what] = durations.get(what, 0.0) + time.perf_counter() - start

    event = {"trigger": "schedule", "scheduled_time": f"{date}T02:00:00Z"}
    execution = demo.run_fan_out(aws, name, outputs, event, crew.function, timed)
    if execution.status != "SUCCEEDED" or aws.requests.denied:
        raise SystemExit(f"{execution.status} {execution.cause} {aws.requests.denied}")
    items = len(execution.items)
    grown = aws.requests.by_principal - requests_before
    made = sum(n for who, n in grown.items() if who != ROOT)
    per_item = sorted(v for k, v in durations.items() if k not in ("plan", "watch"))
    seconds = statistics.median(per_item)
    per_transitions = execution.item_transitions / items
    parent = execution.transitions - execution.item_transitions
    cost_item = per_transitions * TRANSITION + seconds * MEMORY_GB * GB_SECOND + INVOCATION
    return (
        f"| {items} | {per_transitions:.1f} | {parent} | {seconds:.2f} | {max(per_item):.2f} "
        f"| {durations['plan'] + durations['watch']:.2f} "
        f"| {made / len(execution.invocations):.0f} | ${cost_item * 1000:.4f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folders", type=int, default=8)
    parser.add_argument("--docs", type=int, default=50, help="documents per folder")
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out", default=os.path.join(here, "fan_out_cost.md"))
    args = parser.parse_args()
    name = "fan-cost"
    rows = []
    with local_aws() as aws, tempfile.TemporaryDirectory() as folder:
        s3 = aws.client("s3")
        s3.create_bucket(Bucket=f"{name}-office")
        sample.generate(folder, args.docs, seed=11)
        files = sorted(sample.tree_hashes(folder))
        uploads = [(f"docs/folder {n}/{rel}", rel) for n in range(args.folders) for rel in files]
        # The documents beside the folders: an item of their own.
        uploads += [(f"docs/{rel.replace('/', ' ')}", rel) for rel in files[:5]]
        for key, rel in uploads:
            with open(os.path.join(folder, rel), "rb") as f:
                s3.put_object(Bucket=f"{name}-office", Key=key, Body=f.read())
        outputs = deploy(
            DeployRequest(
                name,
                environment="dev",
                source_bucket=f"{name}-office",
                source_prefix="docs",
                extra_parameters={"FanOut": "top-level-prefixes", "FanOutConcurrency": "4"},
            ),
            hooks=MotoGaps(),
        ).outputs
        crew = actors.stack_actors(aws, name, outputs)
        aws.requests.reset()
        today = dt.date.today()
        for label, date in (("first", today - dt.timedelta(days=1)), ("no-change", today)):
            rows.append(f"| {label} " + night(aws, name, outputs, crew, date))
    lines = [
        "# docbackup: what one item of a fanned-out night costs",
        "",
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- {args.folders} top-level folders of {len(files)} documents each, and 5 beside them; "
        "FanOutConcurrency 4; the sandbox (moto on 127.0.0.1, the handler in this process)",
        "",
        "| night | items | transitions per item | parent transitions | function s per item "
        "(median) | slowest | plan + watch s | requests per invocation | cost per 1,000 items |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Cost per item: its transitions at $0.025 per 1,000, the function's median duration at "
        "512 MB arm64 ($0.0000133334 per GB-s, the wall time measured here) and one invocation "
        "($0.20 per million); the S3 requests are the night's own, as without the fan-out.",
    ]
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    # The sandbox's invocations run side by side, each redirecting sys.stdout for its logs:
    # the report goes to the process's own stdout.
    print("\n".join(lines), f"\nwritten to {args.out}", file=sys.__stdout__)


if __name__ == "__main__":
    main()
