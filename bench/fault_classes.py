"""Each fault class at a given rate: a 500-document backup through the fault proxy.

Prints, per class, the faults injected (each one a retry the client had to make), the
documents backed up, and the wall time against the fault-free run in the same process.

    .venv/bin/python bench/fault_classes.py [--rate 0.18]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tests.faultproxy import KINDS, FaultProxy
from tests.treebuilder import write

from docbackup.sandbox.server import LocalAWS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=0.18)
    args = parser.parse_args()
    aws = LocalAWS().start()
    rows = []
    with tempfile.TemporaryDirectory() as src:
        for i in range(500):
            write(src, f"dept{i % 7}/doc-{i:03d}.pdf", os.urandom(600 + (i * 37) % 3000))
        for n, kind in enumerate(("none", *KINDS)):
            bucket = f"faults-{n}"
            key = aws.create_backup_bucket(bucket)
            proxy = FaultProxy(
                aws.endpoint,
                rate=0.0 if kind == "none" else args.rate,
                kinds=(kind,) if kind != "none" else KINDS,
                seed=n,
                ca_file=aws.ca_file,
            ).start()
            env = {
                **os.environ,
                **aws.environment,
                "AWS_ENDPOINT_URL": proxy.url,
                "DOCBACKUP_READ_TIMEOUT": "1",
            }
            cmd = [
                os.path.join(os.path.dirname(sys.executable), "docbackup"),
                "backup",
                src,
                "--bucket",
                bucket,
                "--kms-key-id",
                key,
                "--json",
            ]
            t0 = time.perf_counter()
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            proxy.stop()
            summary = json.loads(done.stdout)
            rows.append((kind, proxy.requests, sum(proxy.faults.values()), summary, wall))
    aws.stop()
    base = rows[0][4]
    print(f"500 documents through the fault proxy, fault rate {args.rate:.0%}, moto on loopback\n")
    print(
        "| fault | requests seen | faults injected (= retries) | status | documents | wall s | "
        "x fault-free |"
    )
    print("|---|---|---|---|---|---|---|")
    for kind, requests, faults, s, wall in rows:
        print(
            f"| {kind} | {requests} | {faults} | {s['status']} | {s['documents']} | "
            f"{wall:.1f} | {wall / base:.2f} |"
        )


if __name__ == "__main__":
    main()
