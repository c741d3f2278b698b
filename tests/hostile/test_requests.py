"""Hostile servers and a hostile machine (issue 13, items 8, 10 and 14).

A proxy on 127.0.0.1 between docbackup and moto trickles answers (a byte every 50 ms, so no
single read ever times out) or goes away mid-run; a tiny tmpfs stands for a full temporary
folder. Each case runs the CLI as a user would and checks what a user would: the exit code, one
line saying why (no traceback), the time the command took against the bound the README states,
and that nothing already stored was lost.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from docbackup import compose
from docbackup.cli.main import cli
from docbackup.engine.integrity import DOWNLOAD_ATTEMPTS
from docbackup.sandbox.server import LocalAWS
from tests.faultproxy import FaultProxy
from tests.treebuilder import tree_hashes, write

NIGHT1, NIGHT2 = "2025-10-14", "2025-10-15"
# Small settings, so that each case takes seconds: the bound below is computed from them.
READ_TIMEOUT, CONNECT_TIMEOUT, ATTEMPTS = 1.0, 1.0, 2
LINK_BYTES_PER_S = 100_000_000
WORKERS = 4


def call_bound(nbytes: int = 0, *, connections: int = WORKERS + compose.PART_CONCURRENCY) -> float:
    """The README's bound on one call: attempts x (connect timeout + the attempt's deadline)
    plus botocore's standard-mode waits (at most 1 s, 2 s, 4 s, ... 20 s)."""
    attempt = CONNECT_TIMEOUT + READ_TIMEOUT + nbytes / (LINK_BYTES_PER_S / connections)
    waits = sum(min(20.0, 2.0**i) for i in range(ATTEMPTS - 1))
    return ATTEMPTS * attempt + waits


@dataclass
class Ran:
    result: Result
    seconds: float

    @property
    def summary(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.result.stdout)
        return loaded

    def one_line(self) -> str:
        """The error line on stderr; there is no traceback and no log noise beside it."""
        err = self.result.stderr
        assert "Traceback" not in err, err
        assert self.result.exception is None or isinstance(self.result.exception, SystemExit), (
            self.result.exception
        )
        lines = [x for x in err.splitlines() if x.startswith("docbackup: error:")]
        assert len(lines) == 1 and len(err.splitlines()) == 1, err
        return lines[0]


@pytest.fixture
def proxied(
    moto_bucket: tuple[str, str], aws_env: LocalAWS, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """The client talks to the proxy; the proxy to moto. The test reads moto directly."""
    proxy = FaultProxy(aws_env.endpoint, rate=0.0, ca_file=aws_env.ca_file).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    monkeypatch.setenv("DOCBACKUP_READ_TIMEOUT", str(READ_TIMEOUT))
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", str(ATTEMPTS))
    monkeypatch.setattr(compose, "CONNECT_TIMEOUT", CONNECT_TIMEOUT)
    # raising=False: the old code has no such setting, and each case then fails on its own.
    monkeypatch.setattr(compose, "LINK_BYTES_PER_S", LINK_BYTES_PER_S, raising=False)
    bucket, key = moto_bucket
    yield {"proxy": proxy, "bucket": bucket, "key": key, "s3": aws_env.client("s3")}
    proxy.kill()


def run(proxy: FaultProxy, args: list[str], *, limit: float) -> Ran:
    """The CLI in-process; a command still running after `limit` seconds is a failure (the
    proxy is then killed, so that the command ends and the test does not hang)."""
    box: dict[str, Result] = {}
    started = time.monotonic()
    worker = threading.Thread(
        target=lambda: box.setdefault("r", CliRunner().invoke(cli, args)), daemon=True
    )
    worker.start()
    worker.join(limit)
    seconds = time.monotonic() - started
    if worker.is_alive():
        proxy.kill()
        worker.join(30)
        pytest.fail(f"`docbackup {args[0]}` still running after {limit:.1f} s")
    return Ran(box["r"], seconds)


def trickle(proxy: FaultProxy, when: Callable[[str, str], bool], *, head: bool = True) -> None:
    proxy.only, proxy.rate, proxy.kinds, proxy.trickle_head = when, 1.0, ("trickle",), head


def first_night(tmp_path: Path, proxied: dict[str, Any], files: dict[str, bytes]) -> Path:
    src = tmp_path / "office"
    for name, data in files.items():
        write(str(src), name, data)
    ran = run(proxied["proxy"], backup_args(src, proxied, NIGHT1), limit=60)
    assert ran.result.exit_code == 0, ran.result.output
    return src


def backup_args(src: Path, proxied: dict[str, Any], date: str) -> list[str]:
    return [
        "backup",
        str(src),
        "--bucket",
        proxied["bucket"],
        "--kms-key-id",
        proxied["key"],
        "--date",
        date,
        "--workers",
        str(WORKERS),
        "--json",
    ]


def still_restores(tmp_path: Path, proxied: dict[str, Any], expected: dict[str, str]) -> None:
    """Night 1 restores byte for byte, read from moto without the proxy."""
    proxied["proxy"].rate = 0.0
    target = tmp_path / "check"
    ran = run(
        proxied["proxy"],
        ["restore", NIGHT1, "--to", str(target), "--bucket", proxied["bucket"], "--json"],
        limit=60,
    )
    assert ran.result.exit_code == 0, ran.result.output
    assert tree_hashes(str(target)) == expected


def objects(proxied: dict[str, Any]) -> dict[str, str]:
    listed = proxied["s3"].list_object_versions(Bucket=proxied["bucket"])
    return {v["Key"] + " " + v["VersionId"]: v["ETag"] for v in listed.get("Versions", [])}


# -- item 8: a trickling server is cut off by every request's deadline -------------------------


@pytest.mark.parametrize("crt", ["1", "0"], ids=["crt", "botocore"])
def test_a_trickled_download_is_cut_off_and_restore_ends_within_the_bound(
    tmp_path: Path, proxied: dict[str, Any], monkeypatch: pytest.MonkeyPatch, crt: str
) -> None:
    monkeypatch.setenv("DOCBACKUP_CRT", crt)
    big = os.urandom(20_000)  # at a byte every 50 ms: 1,000 s
    src = first_night(tmp_path, proxied, {"big.pdf": big, "small.txt": b"small"})
    stored = objects(proxied)
    trickle(proxied["proxy"], lambda m, p: m == "GET" and "big.pdf" in p, head=False)
    # Each try: the CRT's one attempt (its deadline, and a read timeout to cancel it), then
    # botocore's call; the check, the listing and the manifest on top.
    crt_attempt = 2 * READ_TIMEOUT + len(big) / (LINK_BYTES_PER_S / WORKERS) if crt == "1" else 0
    bound = DOWNLOAD_ATTEMPTS * (crt_attempt + call_bound(len(big))) + call_bound() * 3

    ran = run(
        proxied["proxy"],
        ["restore", NIGHT1, "--to", str(tmp_path / "r"), "--bucket", proxied["bucket"], "--json"],
        limit=bound,
    )

    assert ran.seconds < bound
    assert ran.result.exit_code == 1
    summary = ran.summary
    assert (summary["status"], summary["restored"], summary["failed"]) == ("partial", 1, 1)
    assert "timeout" in json.dumps(summary["failures"]).lower()
    assert sorted(os.listdir(tmp_path / "r")) == ["small.txt"]  # nothing under the final name
    assert objects(proxied) == stored
    still_restores(tmp_path, proxied, tree_hashes(str(src)))


@pytest.mark.parametrize(
    ("command", "trickled"),
    [
        # The versioning check, the run's first request (it also shows the bucket is there).
        ("backup", lambda m, p: m == "GET" and p.endswith("?versioning")),
        ("list", lambda m, p: m == "GET" and "list-type=2" in p),
    ],
    ids=["versioning", "listing"],
)
def test_a_trickled_check_or_listing_ends_the_command_with_one_line(
    tmp_path: Path, proxied: dict[str, Any], command: str, trickled: Callable[[str, str], bool]
) -> None:
    src = first_night(tmp_path, proxied, {"a.txt": b"a" * 100})
    stored = objects(proxied)
    trickle(proxied["proxy"], trickled)
    args = (
        backup_args(src, proxied, NIGHT2)
        if command == "backup"
        else ["list", "--bucket", proxied["bucket"], "--json"]
    )
    bound = call_bound() * 2  # the one trickled call, and the fast ones before it

    ran = run(proxied["proxy"], args, limit=bound)

    assert ran.seconds < bound
    assert ran.result.exit_code == 1
    line = ran.one_line()
    assert proxied["proxy"].url.removeprefix("http://") in line and "time" in line, line
    assert ran.summary["status"] == "failed"
    assert objects(proxied) == stored


@pytest.mark.parametrize("crt", ["1", "0"], ids=["crt", "botocore"])
def test_trickled_answers_to_uploads_fail_those_documents_and_lose_nothing(
    tmp_path: Path, proxied: dict[str, Any], monkeypatch: pytest.MonkeyPatch, crt: str
) -> None:
    monkeypatch.setenv("DOCBACKUP_CRT", crt)
    src = first_night(tmp_path, proxied, {f"d{i}.txt": b"one %d" % i for i in range(4)})
    night1 = tree_hashes(str(src))
    for i in range(4):
        write(str(src), f"d{i}.txt", b"two %d" % i)
    # Every document's PUT trickles back; the lease and the manifest get through.
    trickle(proxied["proxy"], lambda m, p: m == "PUT" and f"/{NIGHT2}/documents/" in p)
    # Four documents at once: each the CRT's one attempt (its deadline, and as long again to
    # cancel it), then botocore's call; the checks, the lease and the manifest on top.
    bound = 2 * (READ_TIMEOUT + 0.1) + call_bound(100) + 8 * call_bound()

    ran = run(proxied["proxy"], backup_args(src, proxied, NIGHT2), limit=bound)

    assert ran.seconds < bound
    assert ran.result.exit_code == 1
    summary = ran.summary
    assert summary["status"] == "failed" and summary["failed"] == 4
    reasons = " ".join(f["reason"] for f in summary["failures"])
    assert "timeout" in reasons.lower(), reasons
    still_restores(tmp_path, proxied, night1)


def test_trickled_answers_to_multipart_parts_fail_the_document_within_the_bound(
    tmp_path: Path, proxied: dict[str, Any]
) -> None:
    src = first_night(tmp_path, proxied, {"small.txt": b"small"})
    night1 = tree_hashes(str(src))
    write(str(src), "scan.tif", os.urandom(8 * 1024 * 1024 + 4096))  # two parts
    trickle(proxied["proxy"], lambda m, p: m == "PUT" and "partNumber=" in p)
    part = compose.PART_SIZE
    bound = call_bound(part) * 2 + 10 * call_bound()  # both parts at once; the rest is fast

    ran = run(proxied["proxy"], backup_args(src, proxied, NIGHT2), limit=bound)

    assert ran.seconds < bound
    assert ran.result.exit_code == 1
    summary = ran.summary
    assert summary["status"] in ("partial", "failed")
    assert [f["path"] for f in summary["failures"]] == ["scan.tif"]
    assert "timeout" in summary["failures"][0]["reason"].lower()
    still_restores(tmp_path, proxied, night1)


# -- item 10: a full temporary folder is one line, exit 1, and claims nothing ------------------


@pytest.fixture
def full_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """TMPDIR on a real 64 KiB tmpfs: smaller than a manifest of a few hundred documents."""
    folder = tmp_path / "tmpfs"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        monkeypatch.setenv("TMPDIR", str(folder))
        monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
        yield folder
    finally:
        monkeypatch.undo()
        subprocess.run(["umount", "-l", str(folder)], check=False)


def direct(args: list[str]) -> Ran:
    started = time.monotonic()
    result = CliRunner().invoke(cli, args)
    return Ran(result, time.monotonic() - started)


def night(src: Path, bucket: str, key: str, date: str) -> list[str]:
    return ["backup", str(src), "--bucket", bucket, "--kms-key-id", key, "--date", date, "--json"]


@pytest.mark.parametrize("command", ["restore", "list", "verify"])
def test_a_full_temporary_folder_stops_reading_commands_with_one_line(
    tmp_path: Path, moto_bucket: tuple[str, str], command: str, request: pytest.FixtureRequest
) -> None:
    bucket, key = moto_bucket
    src = tmp_path / "office"
    for i in range(400):
        write(str(src), f"dept{i % 5}/document-{i:04d}.pdf", b"%d" % i)
    assert direct(night(src, bucket, key, NIGHT1)).result.exit_code == 0
    folder = request.getfixturevalue("full_tmp")
    args = {
        "restore": ["restore", NIGHT1, "--to", str(tmp_path / "r"), "--bucket", bucket],
        "list": ["list", "--bucket", bucket],
        "verify": ["verify", NIGHT1, "--bucket", bucket],
    }[command]

    ran = direct([*args, "--json"])

    assert ran.result.exit_code == 1
    line = ran.one_line()
    assert f"temporary folder {folder} is full" in line, line
    assert ran.summary["status"] == "failed"
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_a_temporary_folder_full_at_the_manifest_fails_the_night_and_keeps_the_last(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS, request: pytest.FixtureRequest
) -> None:
    bucket, key = moto_bucket
    src = tmp_path / "office"
    for i in range(3):
        write(str(src), f"old-{i}.txt", b"night one %d" % i)
    assert direct(night(src, bucket, key, NIGHT1)).result.exit_code == 0
    night1 = tree_hashes(str(src))
    for i in range(400):  # tonight's manifest no longer fits; last night's still does
        write(str(src), f"new/document-{i:04d}.pdf", b"%d" % i)
    folder = request.getfixturevalue("full_tmp")

    ran = direct(night(src, bucket, key, NIGHT2))

    assert ran.result.exit_code == 1
    line = ran.one_line()
    assert f"temporary folder {folder} is full" in line, line
    assert ran.summary["status"] == "failed"
    s3 = aws_env.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert f"backups/{NIGHT2}/documents.manifest.json" not in keys  # none, not half of one
    target = tmp_path / "check"
    tempfile.tempdir = str(tmp_path)  # the check itself needs a temporary folder with room
    try:
        restored = direct(["restore", NIGHT1, "--to", str(target), "--bucket", bucket])
    finally:
        tempfile.tempdir = None
    assert restored.result.exit_code == 0, restored.result.output
    assert tree_hashes(str(target)) == night1


# -- item 14: the server goes away -------------------------------------------------------------


def test_an_endpoint_gone_mid_backup_stops_the_run_with_one_line_naming_it(
    tmp_path: Path, proxied: dict[str, Any], aws_env: LocalAWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = first_night(tmp_path, proxied, {f"d{i:03d}.txt": b"one %d" % i for i in range(3)})
    night1 = tree_hashes(str(src))
    for i in range(200):
        write(str(src), f"d{i:03d}.txt", b"two %d" % i)
    proxy = proxied["proxy"]
    sent = {"n": 0}

    def gone_after_the_first_documents(method: str, path: str) -> bool:
        if method == "PUT" and f"/{NIGHT2}/documents/" in path:
            sent["n"] += 1
            if sent["n"] == 10:
                threading.Thread(target=proxy.kill).start()
        return False

    proxy.only, proxy.rate = gone_after_the_first_documents, 1.0
    bound = 2 * call_bound() + 8 * call_bound()  # what was in flight, then one failing call

    ran = run(proxy, backup_args(src, proxied, NIGHT2)[:-1], limit=bound)  # text, not --json

    assert ran.seconds < bound
    assert ran.result.exit_code == 1
    err = ran.result.stderr
    assert "Traceback" not in err and "WARNING" not in err, err
    assert err, ran.result.output
    first = err.splitlines()[0]
    endpoint = proxy.url
    assert first.startswith(f"stopped: cannot reach S3 at {endpoint} for "), err
    assert len([x for x in err.splitlines() if endpoint in x]) == 1, err
    assert ran.result.stdout.startswith(f"{NIGHT2} documents: failed:"), ran.result.stdout
    # Nothing stored is lost: night 1 still restores, read from moto itself.
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_env.endpoint)
    target = tmp_path / "check"
    restored = direct(["restore", NIGHT1, "--to", str(target), "--bucket", proxied["bucket"]])
    assert restored.result.exit_code == 0, restored.result.output
    assert tree_hashes(str(target)) == night1


def gone_after_five_reads(tmp_path: Path, proxied: dict[str, Any]) -> FaultProxy:
    """Night 1 of 60 documents stored; the endpoint then goes away at the fifth copy read."""
    first_night(tmp_path, proxied, {f"d{i:03d}.txt": b"one %d" % i for i in range(60)})
    proxy: FaultProxy = proxied["proxy"]
    got = {"n": 0}

    def gone_at_the_fifth(method: str, path: str) -> bool:
        if method == "GET" and f"/{NIGHT1}/documents/" in path:
            got["n"] += 1
            if got["n"] == 5:
                threading.Thread(target=proxy.kill).start()
        return False

    proxy.only, proxy.rate = gone_at_the_fifth, 1.0
    return proxy


def test_an_endpoint_gone_mid_restore_stops_it_with_one_line_naming_it(
    tmp_path: Path, proxied: dict[str, Any]
) -> None:
    proxy = gone_after_five_reads(tmp_path, proxied)
    target = tmp_path / "restored"
    args = ["restore", NIGHT1, "--to", str(target), "--bucket", proxied["bucket"], "--workers", "4"]

    ran = run(proxy, args, limit=6 * call_bound())

    assert ran.result.exit_code == 1
    err = ran.result.stderr
    assert "Traceback" not in err and "WARNING" not in err, err
    # Said once, with what is left to do, not once per document not restored.
    assert len([x for x in err.splitlines() if proxy.url in x]) == 1, err
    assert "once S3 answers, run the same restore again into the same folder" in err
    assert not [p for p in target.rglob(".docbackup-*")]
    # Every document is counted: restored, or failed (those never tried included).
    counts = re.search(r"restored (\d+) documents .* (\d+) failed", ran.result.stdout)
    assert counts is not None, ran.result.stdout
    assert int(counts[1]) + int(counts[2]) == 60


def test_an_endpoint_gone_mid_verify_stops_it_with_one_line_naming_it(
    tmp_path: Path, proxied: dict[str, Any]
) -> None:
    proxy = gone_after_five_reads(tmp_path, proxied)
    args = ["verify", NIGHT1, "--deep", "--bucket", proxied["bucket"], "--workers", "4"]

    ran = run(proxy, args, limit=6 * call_bound())

    assert ran.result.exit_code == 1
    out = ran.result.output
    assert "Traceback" not in out and "WARNING" not in out, out
    assert len([x for x in out.splitlines() if proxy.url in x]) == 1, out
    assert "stored copies not checked" in out


def test_status_with_the_endpoint_gone_is_a_fault_not_a_usage_error(
    proxied: dict[str, Any],
) -> None:
    proxied["proxy"].kill()

    ran = direct(["status", "--stack-name", "docbackup-office"])

    assert ran.result.exit_code == 1
    line = ran.one_line()
    assert proxied["proxy"].url.removeprefix("http://") in line, line
