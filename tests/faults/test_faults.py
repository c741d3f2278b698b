"""G1 and G6 under faults: a proxy on 127.0.0.1 between docbackup and moto fails requests."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from docbackup import handler as lambda_module
from docbackup import nightly
from docbackup.cli.main import cli
from docbackup.sandbox.server import LocalAWS
from tests.faultproxy import FaultProxy
from tests.treebuilder import tree_hashes, write

DATE = "2025-10-15"


@pytest.fixture
def proxied(
    moto_bucket: tuple[str, str], aws_env: LocalAWS, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """The client talks to the proxy; the proxy to moto. The test reads moto directly."""
    proxy = FaultProxy(
        aws_env.endpoint, rate=0.0, seed=7, stall_s=1.5, ca_file=aws_env.ca_file
    ).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    monkeypatch.setenv("DOCBACKUP_READ_TIMEOUT", "1")
    bucket, key = moto_bucket
    yield {"proxy": proxy, "bucket": bucket, "key": key, "s3": aws_env.client("s3")}
    proxy.stop()


def run(*args: str) -> tuple[Result, dict[str, Any]]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result, json.loads(result.stdout)


def test_a_backup_with_one_request_in_six_failing_completes_and_restores_exactly(
    tmp_path: Path, proxied: dict[str, Any]
) -> None:
    src = tmp_path / "office"
    for i in range(500):
        write(str(src), f"dept{i % 7}/doc-{i:03d}.pdf", os.urandom(600 + (i * 37) % 3000))
    proxy, bucket, s3 = proxied["proxy"], proxied["bucket"], proxied["s3"]
    proxy.rate = 0.18

    result, summary = run(
        "backup",
        str(src),
        "--bucket",
        bucket,
        "--kms-key-id",
        proxied["key"],
        "--date",
        DATE,
        "--json",
    )

    assert result.exit_code == 0, result.output
    assert (summary["status"], summary["documents"], summary["failed"]) == ("complete", 500, 0)
    assert all(
        proxy.faults[kind] > 0
        for kind in ("slowdown", "internal", "reset_before", "reset_after", "stall")
    ), proxy.faults
    # An upload whose answer was lost landed twice: every version of a snapshot key must hold
    # the bytes the manifest says, and the manifest must name one of them.
    manifest = json.loads(
        s3.get_object(Bucket=bucket, Key=f"backups/{DATE}/documents.manifest.json")["Body"].read()
    )
    entries = {e["key"]: e for e in manifest["entries"]}
    versions: dict[str, list[str]] = {}
    pages = s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket, Prefix=f"backups/{DATE}/documents/"
    )
    for page in pages:
        for v in page.get("Versions", []):
            versions.setdefault(v["Key"], []).append(v["VersionId"])
    assert set(versions) == set(entries)
    doubled = 0
    for key, ids in versions.items():
        assert entries[key]["version_id"] in ids
        doubled += len(ids) > 1
        for vid in ids:
            body = s3.get_object(Bucket=bucket, Key=key, VersionId=vid)["Body"].read()
            assert hashlib.sha256(body).hexdigest() == entries[key]["sha256"]
    assert doubled > 0  # the reset-after-acting fault really did store some uploads twice

    restored, outcome = run(
        "restore", DATE, "--to", str(tmp_path / "r"), "--bucket", bucket, "--json"
    )
    assert restored.exit_code == 0, restored.output
    assert outcome["restored"] == 500
    assert tree_hashes(str(tmp_path / "r")) == tree_hashes(str(src))


def test_a_server_failing_everything_ends_the_run_fast_and_says_so(
    tmp_path: Path, proxied: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "office"
    for i in range(20):
        write(str(src), f"{i}.txt", b"x" * i)
    proxy, bucket = proxied["proxy"], proxied["bucket"]
    proxy.rate, proxy.kinds = 1.0, ("slowdown", "internal")
    # With 3 attempts, a call gives up after two jittered waits of at most 1 s and 2 s
    # (botocore's standard mode), and the run's first call is the bucket check.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    started = time.monotonic()

    result, summary = run("backup", str(src), "--bucket", bucket, "--json")

    assert time.monotonic() - started < 15
    assert result.exit_code == 1
    assert summary["status"] == "failed" and "still failing after retries" in summary["error"]
    assert proxied["s3"].list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_a_server_that_fails_once_uploads_begin_ends_the_run_without_false_claims(
    tmp_path: Path, proxied: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "office"
    for i in range(20):
        write(str(src), f"{i}.txt", b"x" * (i + 1))
    proxy, bucket = proxied["proxy"], proxied["bucket"]
    # The bucket check, the key check, the dates and the lease get through; nothing after.
    proxy.spare_first, proxy.rate, proxy.kinds = 4, 1.0, ("internal", "reset_before")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    started = time.monotonic()

    result, summary = run("backup", str(src), "--bucket", bucket, "--date", DATE, "--json")

    # 20 documents, 2 attempts each with one wait of at most 1 s, 16 at a time.
    assert time.monotonic() - started < 20
    assert result.exit_code == 1
    assert summary["status"] == "failed" and "manifest could not be written" in summary["error"]
    assert summary["manifest_key"] is None
    assert summary["documents"] + summary["failed"] == 20
    # What the run says it stored is exactly what the bucket holds, and no manifest claims more.
    keys = [o["Key"] for o in proxied["s3"].list_objects_v2(Bucket=bucket).get("Contents", [])]
    stored = [k for k in keys if k.startswith(f"backups/{DATE}/documents/")]
    assert len(stored) == summary["documents"]
    assert f"backups/{DATE}/documents.manifest.json" not in keys


def test_the_nightly_function_reports_a_failure_metric_when_nothing_answers(
    proxied: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = proxied["s3"]
    s3.create_bucket(Bucket=f"{proxied['bucket']}-src")
    s3.put_object(Bucket=f"{proxied['bucket']}-src", Key="a.pdf", Body=b"a")
    for name, value in {
        nightly.BACKUP_BUCKET: proxied["bucket"],
        nightly.KMS_KEY_ARN: proxied["key"],
        nightly.SOURCE_BUCKET: f"{proxied['bucket']}-src",
        nightly.ENVIRONMENT: "staging",
        "AWS_MAX_ATTEMPTS": "2",
    }.items():
        monkeypatch.setenv(name, value)
    proxied["proxy"].rate, proxied["proxy"].kinds = 1.0, ("internal",)

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "f", 512, "r"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:f"

        def get_remaining_time_in_millis(self) -> int:
            return 900_000

    with pytest.raises(Exception, match="still failing after retries"):
        lambda_module.handler({"date": DATE}, Context())
    line = next(x for x in capsys.readouterr().out.splitlines() if '"_aws"' in x)
    assert json.loads(line)["BackupFailure"] in (1.0, [1.0])
