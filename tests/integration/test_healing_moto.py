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


def damage_in_place(bucket: str, key: str, version_id: str) -> None:
    """Bit rot: the stored version's bytes changed, its size and metadata not (no API does
    this; moto's objects live in this process, so the test reaches in)."""
    from moto.s3.models import s3_backends

    from docbackup.sandbox.rules.state import ACCOUNT

    stored = s3_backends[ACCOUNT]["aws"].buckets[bucket].keys.getlist(key)
    (version,) = [v for v in stored if str(v.version_id) == version_id]
    version.value = b"\0" * len(version.value)


def test_a_damaged_copy_is_found_by_the_read_back_and_sent_again(
    tmp_path: Path, aws_env: LocalAWS, moto_bucket: tuple[str, str]
) -> None:
    import datetime as dt

    # GIVEN a night two days ago, and the lease's stored bytes rotted in place since
    bucket, key = moto_bucket
    src = tmp_path / "office"
    write(str(src), LEASE, b"%PDF the lease" * 300)
    write(str(src), "till.csv", b"takings\n")
    # Two-day retention: each copy's turn to be read back comes every other night.
    common = ("--bucket", bucket, "--kms-key-id", key, "--retention-days", "2", "--json")
    first = (dt.date.fromisoformat(yesterday()) - dt.timedelta(days=1)).isoformat()
    assert run("backup", str(src), *common, "--date", first).exit_code == 0
    lost = manifest(aws_env, bucket, first)[LEASE]
    damage_in_place(bucket, str(lost["key"]), str(lost["version_id"]))

    # WHEN the next two nights run with a read-back budget
    nights = [
        json.loads(run("backup", str(src), *common, *date, "--read-back", "1MB").stdout)
        for date in (("--date", yesterday()), ())
    ]

    # THEN the night whose turn it was found the damage, and the lease was sent again
    assert [n["status"] for n in nights] == ["complete", "complete"]
    (found,) = [n for n in nights if n["healed"]]
    assert (found["healed"], found["damaged"], found["read_back"]["damaged"]) == (1, [], 1)
    assert "damaged" in found["lost"][0]["reason"]
    restored = run("restore", "latest", "--to", str(tmp_path / "back"), "--bucket", bucket)
    assert restored.exit_code == 0, restored.output
    assert tree_hashes(str(tmp_path / "back")) == tree_hashes(str(src))
    # AND `list` no longer calls the first night restorable
    listed = json.loads(run("list", "--bucket", bucket, "--json").stdout)["snapshots"]
    older = next(n for n in listed if n["date"] == first)
    assert (older["restorable"], older["missing"]) == (False, 1)
