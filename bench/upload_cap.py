"""`--limit-upload` as a run sees it: the rate a first backup achieves under a cap, on both
upload paths, against rclone serve s3 on 127.0.0.1.

- small documents: 120 of 100 KB (12 MB), each one PUT through the CRT fast path;
- one large document of 12 MB: botocore's managed transfer, in multipart parts.

Each case is a first backup into a fresh bucket, run as its own process, timed from start to
exit. The achieved rate is the bytes uploaded over that whole wall time (start-up, listing and
the manifest included, so it sits a little under the cap); the target is a rate within 5 %
above the cap at most (a run never sends faster than asked) and at least 75 % of it (the cap
does not starve the link). Written to bench/upload_cap.md.

    .venv/bin/python bench/upload_cap.py [--cap 2MB/s] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

from endpoints import VENV_BIN, running

from docbackup.storage.throttle import parse_rate

CASES = {
    "small documents (CRT fast path)": [
        (f"letters/letter-{n:03}.docx", 100_000) for n in range(120)
    ],
    "one large document (botocore, multipart)": [("scans/archive.pdf", 12_000_000)],
}


def backup(env: dict[str, str], source: str, bucket: str, cap: str | None) -> tuple[float, int]:
    command = [os.path.join(VENV_BIN, "docbackup"), "backup", source, "--bucket", bucket]
    command += ["--sse", "none", "--allow-unversioned", "--json"]
    if cap is not None:
        command += ["--limit-upload", cap]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    summary = json.loads(done.stdout)
    if summary["status"] != "complete":
        raise SystemExit(done.stdout[-2000:])
    return wall, int(summary["bytes_uploaded"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cap", default="2MB/s")
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out", default=os.path.join(here, "upload_cap.md"))
    args = parser.parse_args()
    if importlib.util.find_spec("awscrt") is None or os.environ.get("DOCBACKUP_CRT") == "0":
        raise SystemExit("awscrt is not installed (or DOCBACKUP_CRT=0): no CRT path to measure")
    rate = parse_rate(args.cap)
    rows = []
    with tempfile.TemporaryDirectory() as work, running("rclone", os.path.join(work, "srv")) as ep:
        for n, (case, files) in enumerate(CASES.items()):
            source = os.path.join(work, f"source-{n}")
            for rel, size in files:
                path = os.path.join(source, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(os.urandom(size))
            for cap in (None, args.cap):
                bucket = f"cap-{n}-{'capped' if cap else 'free'}"
                ep.make_bucket(bucket)
                wall, sent = backup(ep.env, source, bucket, cap)
                rows.append((case, cap, wall, sent))
    lines = [
        "# docbackup: the rate under --limit-upload",
        "",
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- --limit-upload {args.cap} ({rate / 1e6:.2f} MB/s), rclone serve s3 on 127.0.0.1, "
        "each a first backup in its own process, timed from start to exit",
        "",
        "| case | cap | wall s | uploaded MB | achieved MB/s | target | |",
        "|---|---|---|---|---|---|---|",
    ]
    for case, cap, wall, sent in rows:
        achieved = sent / wall
        if cap is None:
            lines.append(
                f"| {case} | none | {wall:.2f} | {sent / 1e6:.1f} | {achieved / 1e6:.2f} | | |"
            )
            continue
        met = "met" if 0.75 * rate <= achieved <= 1.05 * rate else "NOT met"
        lines.append(
            f"| {case} | {cap} | {wall:.2f} | {sent / 1e6:.1f} | {achieved / 1e6:.2f} "
            f"| {0.75 * rate / 1e6:.2f} to {1.05 * rate / 1e6:.2f} | {met} |"
        )
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines) + f"\n\nwritten to {args.out}")


if __name__ == "__main__":
    main()
