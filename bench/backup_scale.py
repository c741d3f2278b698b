"""Wall time, peak memory and S3 requests of `docbackup backup`, against moto on loopback.

Two generated corpora: "docs" (500 documents, median about 60 KB, a few of several MB) and
"many" (20,000 small files, median about 8 KB). For each: a first backup and a no-change rerun,
each run as its own `docbackup` process so its peak RSS is its own. Prints a markdown table.

    .venv/bin/python bench/backup_scale.py [--only docs|many] [--workers N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

from docbackup.sandbox import sample
from docbackup.sandbox.server import CREDENTIALS, REGION

BIN = os.path.dirname(sys.executable)
CORPORA = {"docs": (500, 60_000), "many": (20_000, 8_000)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """moto in its own process, so neither its CPU nor its memory is counted as ours."""
    port = free_port()
    server = subprocess.Popen(
        [os.path.join(BIN, "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        **os.environ,
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return server, env
        except OSError:
            time.sleep(0.1)
    raise SystemExit("moto server did not start")


def run_backup(
    env: dict[str, str], src: str, bucket: str, key: str, date: str, workers: int
) -> dict[str, object]:
    """One `docbackup backup` process: its wall time, and from wait4 its own CPU and peak RSS."""
    cmd = [
        os.path.join(BIN, "docbackup"),
        "backup",
        src,
        "--bucket",
        bucket,
        "--kms-key-id",
        key,
        "--date",
        date,
        "--json",
        "--workers",
        str(workers),
    ]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"backup failed ({proc.returncode}): {err.read().decode()[-2000:]}")
        result: dict[str, object] = json.loads(out.read())
    result |= {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }
    return result


def client(env: dict[str, str], service: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def create_bucket(env: dict[str, str], name: str) -> str:
    """A versioned bucket and a KMS key on the moto server; returns the key id."""
    key: str = client(env, "kms").create_key()["KeyMetadata"]["KeyId"]
    s3 = client(env, "s3")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return key


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=sorted(CORPORA))
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    server, env = start_moto()
    rows = []
    work = tempfile.mkdtemp(prefix="docbackup-bench-")
    try:
        for name, (count, median) in CORPORA.items():
            if args.only and name != args.only:
                continue
            src = os.path.join(work, name)
            sample.generate(src, count, seed=7, median=median)
            size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(src) for f in fs)
            bucket = f"bench-{name}"
            key = create_bucket(env, bucket)
            today = dt.date.today()
            first = run_backup(
                env, src, bucket, key, (today - dt.timedelta(days=1)).isoformat(), args.workers
            )
            rerun = run_backup(env, src, bucket, key, today.isoformat(), args.workers)
            for case, r in (("first backup", first), ("no-change rerun", rerun)):
                rows.append((name, count, size, case, r))
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"docbackup backup against moto 5.2.5 on 127.0.0.1, {os.cpu_count()} cores, "
        f"{platform.python_version()}, --workers {args.workers}, {dt.date.today()}\n"
    )
    print(
        "| corpus | documents | bytes | case | status | wall s | client CPU s | peak RSS MB "
        "| S3 requests |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, count, size, case, r in rows:
        print(
            f"| {name} | {count} | {size / 1e6:.1f} MB | {case} | {r['status']} "
            f"| {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['peak_rss_mb']:.0f} "
            f"| {r['requests']} |"
        )


if __name__ == "__main__":
    main()
