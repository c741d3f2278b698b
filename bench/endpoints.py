"""The loopback S3 endpoints of bench/compare.py, and the S3 requests each run made against them.

Two servers, each in its own process on 127.0.0.1 so that neither its CPU nor its memory is
counted as the client's:

- moto server: versioned buckets with a KMS key each (`create_bucket` in backup_scale.py).
  werkzeug writes one access-log line per request to moto's stderr, which goes to a file here;
  the lines written between the start and the end of a run are that run's requests. Nothing is
  added on the timed path: moto logs them anyway (backup_scale.py sends them to /dev/null).
- `rclone serve s3` over a temporary folder: no versioning, no KMS. It has no access log; with
  `--log-level DEBUG` it logs most S3 operations ("CREATE OBJECT", "HEAD OBJECT", ...) among many
  VFS lines, which costs the server time on the timed path. So its requests are counted only on
  request (`requests=True`), and then as operations, not HTTP requests (ListBuckets and failed
  authentications are not logged).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from backup_scale import client, create_bucket, free_port

from docbackup.sandbox.server import CREDENTIALS, REGION

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")

# The request types of the report, in its column order.
TYPES = (
    "PUT object",
    "PUT part",
    "POST",
    "GET object",
    "GET list",
    "HEAD object",
    "HEAD bucket",
    "DELETE",
    "other S3",
)
# Requests to KMS (or another non-S3 service on moto's port) are counted apart from S3's.
KMS = "KMS"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ACCESS = re.compile(r'"(GET|PUT|POST|HEAD|DELETE) (\S+) HTTP/[0-9.]+" (\d{3})')
_RCLONE_OPS = (
    ("serve s3: CREATE OBJECT:", "PUT object"),
    ("serve s3: put multipart upload", "PUT part"),
    ("serve s3: initiate multipart upload", "POST"),
    ("serve s3: complete multipart upload", "POST"),
    ("serve s3: abort multipart upload", "DELETE"),
    ("serve s3: GET OBJECT", "GET object"),
    ("serve s3: LIST BUCKET", "GET list"),
    ("serve s3: HEAD OBJECT", "HEAD object"),
    ("serve s3: HEAD BUCKET", "HEAD bucket"),
    ("serve s3: DELETE:", "DELETE"),
    ("serve s3: CREATE BUCKET:", "other S3"),
    ("serve s3: DELETE BUCKET:", "other S3"),
)


def classify(method: str, target: str) -> str:
    """The report's type of one S3 request, from its method and request target (path-style)."""
    path, _, query = target.partition("?")
    params = {part.split("=", 1)[0] for part in query.split("&") if part}
    bucket, _, key = path.lstrip("/").partition("/")
    if not bucket:  # "/": KMS's JSON API (POST), or S3 ListBuckets (GET)
        return KMS if method == "POST" else "GET list"
    if method == "PUT":
        if "partNumber" in params:
            return "PUT part"
        return "PUT object" if key else "other S3"  # a COPY is a PUT too: its header is not logged
    if method == "POST":
        return "DELETE" if "delete" in params else "POST"
    if method == "GET":
        if key and not params & {"uploadId", "uploads", "tagging", "acl"}:
            return "GET object"
        return "GET list"
    if method == "HEAD":
        return "HEAD object" if key else "HEAD bucket"
    return "DELETE" if method == "DELETE" else "other S3"


def count_moto(lines: Iterator[str]) -> Counter[str]:
    found: Counter[str] = Counter()
    for line in lines:
        match = _ACCESS.search(_ANSI.sub("", line))
        if match:
            found[classify(match.group(1), match.group(2))] += 1
    return found


def count_rclone(lines: Iterator[str]) -> Counter[str]:
    found: Counter[str] = Counter()
    for line in lines:
        for marker, kind in _RCLONE_OPS:
            if marker in line:
                found[kind] += 1
                break
    return found


def s3_total(requests: Counter[str]) -> int:
    return sum(n for kind, n in requests.items() if kind != KMS)


def isolated_environment(home: str) -> dict[str, str]:
    """This process's environment without any AWS, rclone, restic or docbackup settings of the
    machine (profiles, config files), plus the sandbox credentials every peer shares."""
    keep = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "DOCBACKUP_", "RCLONE_", "RESTIC_"))
    }
    return keep | {
        **CREDENTIALS,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.path.join(home, "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "no-aws-credentials"),
    }


class Endpoint:
    """One running S3 server: its URL, the environment that points clients at it, and its log."""

    def __init__(
        self,
        kind: str,
        process: subprocess.Popen[bytes],
        port: int,
        env: dict[str, str],
        log: str | None,
    ) -> None:
        self.kind = kind
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = env | {"AWS_ENDPOINT_URL": self.url}
        self.log = log

    @property
    def kms(self) -> bool:
        return self.kind == "moto"

    @property
    def counts_requests(self) -> bool:
        return self.log is not None

    def make_bucket(self, name: str) -> str | None:
        """A fresh bucket; on moto versioned with a KMS key of its own, whose id is returned."""
        if self.kms:
            return create_bucket(self.env, name)
        client(self.env, "s3").create_bucket(Bucket=name)
        return None

    def mark(self) -> int:
        """Where the request log ends now; pass it to requests_since after the run."""
        return os.path.getsize(self.log) if self.log else 0

    def requests_since(self, mark: int) -> Counter[str] | None:
        if self.log is None:
            return None
        time.sleep(0.05)  # the server logs as it answers; let the last line land
        with open(self.log, encoding="utf-8", errors="replace") as f:
            f.seek(mark)
            lines = iter(f.readlines())
        return count_moto(lines) if self.kind == "moto" else count_rclone(lines)

    def alive(self) -> bool:
        return self.process.poll() is None


def _wait_for_port(process: subprocess.Popen[bytes], port: int, what: str, log: str) -> None:
    for _ in range(200):
        if process.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    tail = ""
    if os.path.exists(log):
        with open(log, encoding="utf-8", errors="replace") as f:
            tail = f.read()[-2000:]
    raise SystemExit(f"{what} did not start on 127.0.0.1:{port}\n{tail}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running(kind: str, workdir: str, *, rclone_requests: bool = False) -> Iterator[Endpoint]:
    """Start a moto server or `rclone serve s3` under workdir; stop it when the block ends."""
    os.makedirs(workdir, exist_ok=True)
    env = isolated_environment(workdir)
    port = free_port()
    log = os.path.join(workdir, f"{kind}.log")
    logfile: IO[bytes] = open(log, "wb")  # noqa: SIM115 - closed in the finally below
    process: subprocess.Popen[bytes] | None = None
    try:
        if kind == "moto":
            cmd = [os.path.join(VENV_BIN, "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
            counted: str | None = log
        elif kind == "rclone":
            data = os.path.join(workdir, "rclone-data")
            os.makedirs(data, exist_ok=True)
            cmd = [
                os.path.join(VENV_BIN, "rclone"),
                "serve",
                "s3",
                "--config",
                os.devnull,
                "--addr",
                f"127.0.0.1:{port}",
                "--auth-key",
                f"{CREDENTIALS['AWS_ACCESS_KEY_ID']},{CREDENTIALS['AWS_SECRET_ACCESS_KEY']}",
                data,
            ]
            if rclone_requests:
                cmd += ["--log-level", "DEBUG"]
            counted = log if rclone_requests else None
        else:
            raise ValueError(f"unknown endpoint {kind!r}")
        process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=logfile, env=env
        )
        _wait_for_port(process, port, kind, log)
        yield Endpoint(kind, process, port, env, counted)
    finally:
        if process is not None:
            _stop(process)
        logfile.close()
