"""Kill a backup with SIGKILL at a random moment, run the same night again, and check it.

Shared by the default suite (a few trials) and bench/crash_trials.py (many).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from docbackup.sandbox.server import LocalAWS
from tests.treebuilder import tree_hashes, write

DOCBACKUP = os.path.join(os.path.dirname(sys.executable), "docbackup")
WORKERS = 16


@dataclass(frozen=True)
class Trial:
    killed_after_s: float
    stored_before_kill: int
    resumed_status: str
    resumed_documents: int
    uploaded_twice: int
    identical: bool


def make_source(root: str, documents: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(documents):
        write(root, f"folder{i % 9}/doc-{i:04d}.bin", rng.randbytes(rng.randint(200, 40_000)))


def trial(
    aws: LocalAWS, source: str, bucket: str, key: str, kill_after_s: float, *, min_stored: int = 0
) -> Trial:
    """Kill the backup after kill_after_s seconds, or once min_stored copies are in the bucket."""
    env = {**os.environ, **aws.environment}
    cmd = [
        DOCBACKUP,
        "backup",
        source,
        "--bucket",
        bucket,
        "--kms-key-id",
        key,
        "--date",
        "2025-10-15",
        "--workers",
        str(WORKERS),
        "--json",
    ]
    s3 = aws.client("s3")
    prefix = "backups/2025-10-15/documents/"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + kill_after_s
    while time.monotonic() < deadline or (
        min_stored
        and s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0) < min_stored
        and proc.poll() is None
    ):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0)

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    summary: dict[str, Any] = json.loads(done.stdout)
    twice = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        keys = [v["Key"] for v in page.get("Versions", [])]
        twice += len(keys) - len(set(keys))
    with tempfile.TemporaryDirectory() as target:
        subprocess.run(
            [DOCBACKUP, "restore", "2025-10-15", "--to", target, "--bucket", bucket],
            env=env,
            capture_output=True,
            check=False,
        )
        identical = tree_hashes(target) == tree_hashes(source)
    return Trial(kill_after_s, before, summary["status"], summary["documents"], twice, identical)
