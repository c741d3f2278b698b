"""No document is stored before the server has confirmed the encryption asked for (G4).

Against moto on 127.0.0.1, through the CLI as a user runs it (CRT fast path included), with a
versioned bucket that has no default encryption: moto then stores what it is sent without
encryption, as a server that ignores SSE would. What a user checks: the exit code, the one
line on stderr, and the bucket's object versions.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from docbackup.cli.main import cli
from docbackup.sandbox.server import LocalAWS
from tests.days import today
from tests.treebuilder import write

BIG = 9 * 1024 * 1024  # over the 8 MiB multipart threshold


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def lease_key(date: dt.date | None = None) -> str:
    return f"backups/{date or today()}/documents.lease.json"


@pytest.fixture
def plain_bucket(aws_env: LocalAWS, moto_bucket: tuple[str, str]) -> tuple[str, str]:
    """A versioned bucket with no default encryption, and a KMS key that exists: (name, key)."""
    name, key = moto_bucket
    aws_env.client("s3").delete_bucket_encryption(Bucket=name)
    return name, key


def versions(aws: LocalAWS, bucket: str) -> list[dict[str, Any]]:
    """Every version stored in the bucket, with the encryption it was stored under."""
    s3 = aws.client("s3")
    found = []
    for v in s3.list_object_versions(Bucket=bucket).get("Versions", []):
        head = s3.head_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
        found.append(
            {
                "key": v["Key"],
                "sse": head.get("ServerSideEncryption"),
                "kms_key": head.get("SSEKMSKeyId"),
            }
        )
    return found


def refused_with_nothing_stored(result: Result, aws: LocalAWS, bucket: str, asked: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        f"docbackup: error: the server did not confirm {asked} for this run's first write, "
        f"{lease_key()} (it answered no encryption), so no document was sent; "
    )
    # The lease (taken, then given up) is all there is: no document, no manifest.
    assert {v["key"] for v in versions(aws, bucket)} == {lease_key()}
    assert aws.client("s3").list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.mark.parametrize(
    ("name", "size"),
    [("empty.txt", 0), ("invoice.pdf", 20_000), ("scan.tif", BIG)],
    ids=["zero-byte", "one-request", "multipart"],
)
def test_no_default_kms_and_no_key_stores_no_document(
    tmp_path: Path, aws_env: LocalAWS, plain_bucket: tuple[str, str], name: str, size: int
) -> None:
    bucket, _ = plain_bucket
    write(str(tmp_path / "office"), name, os.urandom(size))

    result = run("backup", str(tmp_path / "office"), "--bucket", bucket, "--json")

    refused_with_nothing_stored(result, aws_env, bucket, "aws:kms:bucket-default")
    summary = json.loads(result.stdout)
    assert summary["status"] == "failed"
    # GetBucketVersioning (which also shows the bucket is there), the dates listing, the lease
    # and its release: no request for a document, through botocore or the CRT (whose PUTs are
    # counted too).
    assert summary["requests"] == 4


def test_an_s3_source_is_not_copied(
    tmp_path: Path, aws_env: LocalAWS, plain_bucket: tuple[str, str]
) -> None:
    bucket, _ = plain_bucket
    s3 = aws_env.client("s3")
    s3.create_bucket(Bucket=f"{bucket}-scans")
    for i in range(3):
        s3.put_object(Bucket=f"{bucket}-scans", Key=f"in/{i}.pdf", Body=b"scan" * (i + 1))

    result = run("backup", f"s3://{bucket}-scans/in", "--bucket", bucket)

    refused_with_nothing_stored(result, aws_env, bucket, "aws:kms:bucket-default")


@pytest.mark.parametrize("sse", ["aws:kms", "AES256", "none"])
def test_encryption_the_server_applies_is_stored(
    tmp_path: Path, aws_env: LocalAWS, plain_bucket: tuple[str, str], sse: str
) -> None:
    # GIVEN encryption named on the command line, which moto applies to every write (or none)
    bucket, key = plain_bucket
    write(str(tmp_path / "office"), "empty.txt", b"")
    write(str(tmp_path / "office"), "invoice.pdf", os.urandom(20_000))
    flags = ("--kms-key-id", key) if sse == "aws:kms" else ("--sse", sse)

    result = run("backup", str(tmp_path / "office"), "--bucket", bucket, *flags, "--json")

    assert result.exit_code == 0, result.output
    stored = versions(aws_env, bucket)
    assert {v["key"].rsplit("/", 1)[-1] for v in stored} == {
        "empty.txt",
        "invoice.pdf",
        "documents.lease.json",
        "documents.manifest.json",
    }
    assert {v["sse"] for v in stored} == {None if sse == "none" else sse}
    if sse == "aws:kms":
        assert all(v["kms_key"].endswith(key) for v in stored)


def test_a_night_with_no_changes_costs_seven_requests_and_writes_nothing_unconfirmed(
    tmp_path: Path, aws_env: LocalAWS, moto_bucket: tuple[str, str]
) -> None:
    bucket, _ = moto_bucket
    write(str(tmp_path / "office"), "a.txt", b"a")
    common = (str(tmp_path / "office"), "--bucket", bucket, "--json")
    two_days_ago, yesterday = today() - dt.timedelta(days=2), today() - dt.timedelta(days=1)
    assert run("backup", *common, "--date", str(two_days_ago)).exit_code == 0

    # A night with no changes: the lease confirms the encryption at no extra cost. (HeadBucket,
    # GetBucketVersioning, the dates, the last manifest, the lease, its renewal just before
    # the manifest, the manifest.)
    quiet = run("backup", *common, "--date", str(yesterday))
    assert quiet.exit_code == 0, quiet.output
    assert json.loads(quiet.stdout)["requests"] == 7

    # WHEN the bucket loses its default KMS key, THEN the next quiet night stops at its lease
    aws_env.client("s3").delete_bucket_encryption(Bucket=bucket)
    refused = run("backup", *common)
    assert refused.exit_code == 2, refused.output
    assert "did not confirm aws:kms:bucket-default" in refused.stderr
    tonight = {v["key"] for v in versions(aws_env, bucket) if str(today()) in v["key"]}
    assert tonight == {lease_key()}
