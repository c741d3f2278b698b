"""The nightly handler's own time and peak memory on a 500-document night (sets the function's
memory and timeout in lib/TapStack.yml).

moto runs in its own process; each night runs the handler in a fresh child process, as Lambda
would, and wait4 gives that child's CPU and peak RSS. Sources are generated office documents in a
source bucket (median about 60 KB, a few of several MB).

    .venv/bin/python bench/handler_night.py [--documents 500]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))

from backup_scale import client, create_bucket, start_moto

from docbackup.sandbox import sample

CHILD = """
import json, sys, time
from docbackup import handler
class Context:
    function_name = "bench"; memory_limit_in_mb = 512; aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    def __init__(self): self.end = time.monotonic() + 900
    def get_remaining_time_in_millis(self): return int((self.end - time.monotonic()) * 1000)
summary = handler.handler(json.loads(sys.argv[1]), Context())
print(json.dumps(summary), file=sys.stderr)
"""


def night(env: dict[str, str], date: str) -> dict[str, object]:
    event = json.dumps({"trigger": "schedule", "scheduled_time": f"{date}T02:00:00Z"})
    # Started through bench/spawn.py, so the peak RSS is the handler's own (a child forked from
    # this process would start with this process's peak).
    spawn = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spawn.py")
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile() as err:
        figures = os.path.join(tmp, "run.json")
        command = [sys.executable, "-S", spawn, figures, sys.executable, "-c", CHILD, event]
        code = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=err).returncode
        err.seek(0)
        lines = err.read().decode().strip().splitlines()
        if code != 0:
            raise SystemExit("\n".join(lines[-20:]))
        with open(figures, encoding="utf-8") as f:
            usage = json.load(f)
    summary: dict[str, object] = json.loads(lines[-1])
    return summary | {
        "wall_s": usage["wall_s"],
        "cpu_s": usage["cpu_s"],
        "peak_rss_mb": usage["maxrss_kb"] / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=500)
    args = parser.parse_args()
    server, env = start_moto()
    try:
        key = create_bucket(env, "bench-backups")
        s3 = client(env, "s3")
        s3.create_bucket(Bucket="bench-office")
        with tempfile.TemporaryDirectory() as folder:
            sample.generate(folder, args.documents, seed=7)
            for rel in sample.tree_hashes(folder):
                with open(os.path.join(folder, rel), "rb") as f:
                    s3.put_object(Bucket="bench-office", Key=f"shared/{rel}", Body=f.read())
        arn = client(env, "kms").describe_key(KeyId=key)["KeyMetadata"]["Arn"]
        env |= {
            "BACKUP_BUCKET": "bench-backups",
            "KMS_KEY_ARN": arn,
            "SOURCE_BUCKET": "bench-office",
            "SOURCE_PREFIX": "shared",
            "ENVIRONMENT": "prod",
            "RETENTION_DAYS": "30",
        }
        rows = [
            ("first night", night(env, "2025-10-14")),
            ("no-change night", night(env, "2025-10-15")),
        ]
    finally:
        server.terminate()
        server.wait()
    print(f"nightly handler, {args.documents} documents from an S3 source, moto on 127.0.0.1\n")
    print("| night | status | documents | new | wall s | CPU s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(
            f"| {name} | {r['status']} | {r['documents']} | {r['new']} | {r['wall_s']:.1f} "
            f"| {r['cpu_s']:.1f} | {r['peak_rss_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
