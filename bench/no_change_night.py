"""The requests and time of a no-change night at 1,000, 20,000 and 100,000 documents, in process.

Each size: tiny files on disk, stored by a first night into the in-memory store (which pages its
listings as S3 does, 1,000 to a request, and counts every request by operation), then a night
with nothing changed, timed, its requests counted. No server, so the time is the engine's own
(planning, the manifest streamed, the copies confirmed); on S3 each listing page adds a round
trip. `bench/scaling.py` measures the same against `rclone serve s3` where rclone is installed.

The request budget the issue sets: with N documents over D nights, at most
ceil(N / 1000) + D + 5. Here D = 1 (every copy stored by the first night).

    .venv/bin/python bench/no_change_night.py [--sizes 1000,20000,100000]

Only engine API that has not changed since before the nightly check (backup, BackupOptions,
LocalSource, MemoryBackend): the same script measures an older checkout for a before/after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import statistics
import sys
import tempfile
import time

from docbackup.engine import BackupOptions, backup
from docbackup.sources import LocalSource
from docbackup.storage import Encryption, MemoryBackend

KEY = "bench-key"
RERUNS = 3


def tree(root: str, documents: int) -> None:
    for i in range(documents):
        folder = os.path.join(root, f"f{i // 1000:03d}")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{i:06d}.txt"), "wb") as f:
            f.write(f"document {i}\n".encode() * 8)


def measure(documents: int) -> tuple[int, float, dict[str, int]]:
    with tempfile.TemporaryDirectory(prefix="docbackup-bench-") as root:
        tree(root, documents)
        backend = MemoryBackend(known_kms_keys=(KEY,))
        backend.create_bucket("b", default_encryption=Encryption("aws:kms", KEY))
        store = backend.store("b")
        first = dt.date(2026, 11, 1)

        def night(n: int) -> float:
            options = BackupOptions(
                date=first + dt.timedelta(days=n), encryption=Encryption("aws:kms", KEY)
            )
            t0 = time.monotonic()
            result = backup(store, LocalSource(root), options)
            took = time.monotonic() - t0
            if result.status != "complete":
                raise SystemExit(f"night {n}: {result.status}")
            return took

        night(0)
        times, counts = [], []
        for n in range(1, RERUNS + 1):
            backend.requests.clear()
            times.append(night(n))
            counts.append(dict(backend.requests))
        total = [sum(c.values()) for c in counts]
        median = sorted(range(RERUNS), key=lambda i: total[i])[RERUNS // 2]
        return total[median], statistics.median(times), counts[median]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,20000,100000")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, in-memory store")
    print("| documents | requests | budget ceil(N/1000)+D+5 | time (median of 3) | by operation |")
    print("|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        requests, took, by_op = measure(size)
        budget = math.ceil(size / 1000) + 1 + 5
        ops = ", ".join(f"{k} {v}" for k, v in sorted(by_op.items()))
        print(f"| {size:,} | {requests} | {budget} | {took:.2f} s | {ops} |", flush=True)


if __name__ == "__main__":
    main()
