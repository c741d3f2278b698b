"""The CLI over real HTTP (moto on 127.0.0.1): a stored version deleted behind the backup's back
is found by the next night through ListObjectVersions and sent again from the source."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from docbackup.cli.main import cli
from docbackup.sandbox.server import LocalAWS
from tests.days import tonight, yesterday
from tests.treebuilder import tree_hashes, write

LEASE = "contracts/lease.pdf"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def manifest(aws: LocalAWS, bucket: str, date: str) -> dict[str, dict[str, object]]:
    body = aws.client("s3").get_object(Bucket=bucket, Key=f"backups/{date}/documents.manifest.json")
    return {e["path"]: e for e in json.loads(body["Body"].read())["entries"]}


def test_a_deleted_version_is_healed_by_the_next_night(
    tmp_path: Path, aws_env: LocalAWS, moto_bucket: tuple[str, str]
) -> None:
    # GIVEN last night's backup, and the lease's stored version deleted by an administrator
    bucket, key = moto_bucket
    src = tmp_path / "office"
    write(str(src), LEASE, b"%PDF the lease" * 300)
    write(str(src), "till.csv", b"takings\n")
    common = ("--bucket", bucket, "--kms-key-id", key, "--json")
    assert run("backup", str(src), *common, "--date", yesterday()).exit_code == 0
    lost = manifest(aws_env, bucket, yesterday())[LEASE]
    aws_env.client("s3").delete_object(
        Bucket=bucket, Key=str(lost["key"]), VersionId=str(lost["version_id"])
    )

    # WHEN tonight's backup runs, nothing changed at the source
    ran = run("backup", str(src), *common)

    # THEN it heals the lease, names it, and tonight restores byte for byte
    assert ran.exit_code == 0, ran.output
    summary = json.loads(ran.stdout)
    assert (summary["status"], summary["healed"], summary["unchanged"]) == ("complete", 1, 1)
    assert [p["path"] for p in summary["lost"]] == [LEASE]
    entry = manifest(aws_env, bucket, tonight())[LEASE]
    assert entry["action"] == "healed" and entry["key"] != lost["key"]
    restored = run("restore", "latest", "--to", str(tmp_path / "back"), "--bucket", bucket)
    assert restored.exit_code == 0, restored.output
    assert tree_hashes(str(tmp_path / "back")) == tree_hashes(str(src))
    # AND last night, which still points at the deleted version, fails verification
    older = run("verify", yesterday(), "--bucket", bucket, "--json")
    assert older.exit_code == 1
