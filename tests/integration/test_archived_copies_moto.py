"""Copies lifecycle moved to GLACIER or DEEP_ARCHIVE, against moto on 127.0.0.1: the real
error answers (ObjectNotInActiveTierError, InvalidObjectState) through the real S3 store.

moto never runs lifecycle rules; `docbackup.sandbox.archive_aging` plays their transitions.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from docbackup import compose, nightly
from docbackup import handler as lambda_module
from docbackup.cli.main import cli
from docbackup.engine import BackupOptions, BackupResult, Catalog, backup, restore
from docbackup.sandbox import archive_aging
from docbackup.sandbox.server import LocalAWS
from docbackup.sources import LocalSource
from docbackup.sources.s3 import ObjectSource
from docbackup.storage import Encryption
from docbackup.storage.s3 import S3Store
from tests.integration.test_handler import SCHEDULED, Context
from tests.treebuilder import tree_hashes, write

LARGE = 200_000  # over the archive rule's 128 KB floor
# The stack's ArchiveLargerCopies rule (lib/TapStack.yml) for each ArchiveTransition choice,
# with the shortest retention its template Rules allow.
CHOICES = {
    "glacier-after-30": (180, [{"Days": 30, "StorageClass": "GLACIER"}]),
    "deep-archive-after-90": (365, [{"Days": 90, "StorageClass": "DEEP_ARCHIVE"}]),
    "glacier-30-deep-archive-180": (
        365,
        [{"Days": 30, "StorageClass": "GLACIER"}, {"Days": 180, "StorageClass": "DEEP_ARCHIVE"}],
    ),
}


def archive_rule(transitions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "ID": "ArchiveLargerCopies",
        "Status": "Enabled",
        "Filter": {"And": {"Prefix": "backups/", "ObjectSizeGreaterThan": 131072}},
        "Transitions": transitions,
    }


def refresh_age(retention: int) -> int:
    return retention - retention // 4


def configure(
    s3: Any, bucket: str, retention: int, transitions: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The bucket's lifecycle as the stack declares it; returns the archive rule for `age`
    (moto does not keep its size filter)."""
    rules = [archive_rule(transitions)]
    expire = {
        "ID": "ExpireBackupsAfterRetention",
        "Status": "Enabled",
        "Filter": {"Prefix": "backups/"},
        "Expiration": {"Days": retention},
    }
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [expire, *rules]}
    )
    return rules


def cli_run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def archived_night(
    src: Path,
    aws: LocalAWS,
    bucket_and_key: tuple[str, str],
    files: dict[str, bytes],
    *,
    retention: int = CHOICES["glacier-after-30"][0],
    transitions: list[dict[str, Any]] = CHOICES["glacier-after-30"][1],
    days: int = 40,
) -> tuple[str, list[archive_aging.Moved]]:
    """`files` backed up into `src`'s night under the stack's lifecycle (Glacier after 30 days
    unless told), then `days` of lifecycle played: the night's date, and what moved."""
    bucket, key = bucket_and_key
    rules = configure(aws.client("s3"), bucket, retention, transitions)
    for rel, data in files.items():
        write(str(src), rel, data)
    first = cli_run("backup", str(src), "--bucket", bucket, "--kms-key-id", key, "--json")
    assert first.exit_code == 0, first.output
    moved = archive_aging.age(aws.client("s3"), bucket, days=days, rules=rules)
    return json.loads(first.stdout)["date"], moved


@pytest.mark.parametrize("choice", sorted(CHOICES))
def test_the_refresh_night_of_archived_copies_sends_them_again_and_completes(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS, choice: str
) -> None:
    bucket, key = moto_bucket
    retention, transitions = CHOICES[choice]
    rules = configure(aws_env.client("s3"), bucket, retention, transitions)
    store = compose.backup_store(bucket, workers=4)
    src = tmp_path / "office"
    write(str(src), "contracts/lease.pdf", os.urandom(LARGE))
    write(str(src), "notes.txt", b"too small for the archive rule")
    options = BackupOptions(encryption=Encryption("aws:kms", key), retention_days=retention)
    t0 = dt.datetime.now(dt.UTC)

    def night(when: dt.datetime) -> BackupResult:
        return backup(store, LocalSource(str(src)), options, clock=lambda: when)

    first = night(t0)
    # GIVEN the days up to the refresh have passed, and lifecycle with them
    days = refresh_age(retention)
    (moved,) = archive_aging.age(store.client, bucket, days=days, rules=rules)
    expected_class = transitions[-1]["StorageClass"]
    assert moved.storage_class == expected_class

    # WHEN the refresh night runs
    second = night(t0 + dt.timedelta(days=days))

    # THEN it is complete: the archived copy was sent again, the small one copied in S3
    assert (first.status, second.status) == ("complete", "complete"), second.failures
    assert (second.resent, second.refreshed, second.failed) == (1, 1, 0)
    assert second.bytes_uploaded == LARGE
    with Catalog(store, "documents").resolve(second.date.isoformat()) as manifest:
        actions = {e.path: e.action for e in manifest.entries()}
    assert actions == {"contracts/lease.pdf": "resent", "notes.txt": "refreshed"}
    target = tmp_path / "back"
    assert restore(store, "documents", "latest", str(target)).status == "complete"
    assert tree_hashes(str(target)) == tree_hashes(str(src))


def test_the_refresh_night_reads_an_s3_source_again(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    bucket, key = moto_bucket
    retention, transitions = CHOICES["glacier-after-30"]
    s3 = aws_env.client("s3")
    rules = configure(s3, bucket, retention, transitions)
    s3.create_bucket(Bucket=f"{bucket}-scans")
    docs = {"lease.pdf": os.urandom(LARGE), "note.txt": b"small"}
    for name, body in docs.items():
        s3.put_object(Bucket=f"{bucket}-scans", Key=f"in/{name}", Body=body)
        write(str(tmp_path / "expected"), name, body)
    store = compose.backup_store(bucket, workers=4)
    source = ObjectSource(S3Store(store.client, f"{bucket}-scans"), "in/")
    options = BackupOptions(encryption=Encryption("aws:kms", key), retention_days=retention)
    t0 = dt.datetime.now(dt.UTC)
    backup(store, source, options, clock=lambda: t0)
    days = refresh_age(retention)
    assert archive_aging.age(s3, bucket, days=days, rules=rules)

    second = backup(store, source, options, clock=lambda: t0 + dt.timedelta(days=days))

    assert (second.status, second.resent, second.refreshed) == ("complete", 1, 1)
    target = tmp_path / "back"
    assert restore(store, "documents", "latest", str(target)).status == "complete"
    assert tree_hashes(str(target)) == tree_hashes(str(tmp_path / "expected"))


def test_the_nightly_function_no_longer_fails_on_archived_copies(
    moto_bucket: tuple[str, str], aws_env: LocalAWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the function's set, last backed up long enough ago that its large copies are in
    # Glacier now (the night before the scheduled one, written with a clock that far back)
    bucket, key = moto_bucket
    retention, transitions = CHOICES["glacier-after-30"]
    s3 = aws_env.client("s3")
    rules = configure(s3, bucket, retention, transitions)
    source = f"{bucket}-office"
    s3.create_bucket(Bucket=source)
    for i in range(3):
        s3.put_object(Bucket=source, Key=f"shared/scan-{i}.pdf", Body=os.urandom(LARGE))
    s3.put_object(Bucket=source, Key="shared/index.txt", Body=b"small")
    arn = aws_env.client("kms").describe_key(KeyId=key)["KeyMetadata"]["Arn"]
    env = {
        nightly.BACKUP_BUCKET: bucket,
        nightly.KMS_KEY_ARN: arn,
        nightly.SOURCE_BUCKET: source,
        nightly.SOURCE_PREFIX: "shared",
        nightly.ENVIRONMENT: "prod",
        nightly.RETENTION_DAYS: str(retention),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    store = compose.backup_store(bucket, workers=4)
    days = refresh_age(retention)
    before = dt.datetime(2025, 10, 15, 2, tzinfo=dt.UTC) - dt.timedelta(days=days)
    options = BackupOptions(encryption=Encryption("aws:kms", arn), retention_days=retention)
    source_store = S3Store(store.client, source)
    assert backup(store, ObjectSource(source_store, "shared/"), options, clock=lambda: before)
    assert len(archive_aging.age(s3, bucket, days=days, rules=rules)) == 3

    # WHEN the scheduled night runs: it used to end partial and raise, for Lambda to retry
    summary = lambda_module.handler(SCHEDULED, Context())

    # THEN it completes and says what it did
    assert (summary["status"], summary["resent"], summary["refreshed"]) == ("complete", 3, 1)


def test_restore_of_an_archived_night_through_the_cli(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    bucket = moto_bucket[0]
    src = tmp_path / "office"
    files = {"contracts/lease.pdf": os.urandom(LARGE), "notes.txt": b"small"}
    date, _ = archived_night(src, aws_env, moto_bucket, files)
    target = str(tmp_path / "back")
    common = (date, "--to", target, "--bucket", bucket, "--json")

    # WHEN it is restored as it is: exit 1, the archived document named with its class
    plain = cli_run("restore", *common)
    assert plain.exit_code == 1
    doc = json.loads(plain.stdout)
    assert (doc["status"], doc["restored"], doc["archived"]) == ("partial", 1, 1)
    assert "GLACIER" in doc["failures"][0]["reason"]
    assert "restored from the archive first" in doc["failures"][0]["reason"]

    # WHEN a tier is given without a terminal to answer: what it would take is shown, and
    # nothing is asked of S3 without --yes
    shown = cli_run("restore", *common, "--tier", "bulk")
    assert shown.exit_code == 1
    assert json.loads(shown.stdout)["restores_requested"] == 0
    assert "1 stored copies are in the archive: 1 in GLACIER (0.2 MiB)" in shown.stderr
    assert "bulk: about 5-12 hours, about $0.00" in shown.stderr
    assert "pass --yes" in shown.stderr
    plan = json.loads(shown.stdout)["archive"]
    assert plan["to_ask"] == {"GLACIER": {"copies": 1, "bytes": LARGE}}
    assert set(plan["tiers"]) == {"bulk", "standard", "expedited"}

    # WHEN asked with --yes: S3 is asked, and the run still exits 1 ("not yet")
    asked = cli_run("restore", *common, "--tier", "bulk", "--yes")
    assert asked.exit_code == 1
    assert json.loads(asked.stdout)["restores_requested"] == 1

    # THEN once S3 has it back (moto: at once), the same restore into the same folder keeps
    # what the first run restored and completes byte for byte
    done = cli_run("restore", *common)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["already_there"] == 1
    assert tree_hashes(target) == tree_hashes(str(src))


def test_restore_from_deep_archive_refuses_the_expedited_tier(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    bucket = moto_bucket[0]
    retention, transitions = CHOICES["deep-archive-after-90"]
    date, _ = archived_night(
        tmp_path / "office", aws_env, moto_bucket, {"lease.pdf": os.urandom(LARGE)},
        retention=retention, transitions=transitions, days=100,
    )  # fmt: skip

    result = cli_run(
        "restore", date, "--to", str(tmp_path / "b"), "--bucket", bucket, "--tier", "expedited"
    )

    assert result.exit_code == 1
    assert "DEEP_ARCHIVE, which has no expedited retrieval" in result.stderr


def test_a_night_whose_manifest_lifecycle_archived_through_the_cli(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    # GIVEN a night of 400 small documents: they stay STANDARD under the stack's rule, and
    # the manifest listing them is above its 128 KB floor
    bucket, key = moto_bucket
    retention, transitions = CHOICES["glacier-after-30"]
    s3 = aws_env.client("s3")
    rules = configure(s3, bucket, retention, transitions)
    src = tmp_path / "office"
    for i in range(400):
        write(str(src), f"invoices/2025/INV-{i:05d}.pdf", os.urandom(1000))
    first = cli_run("backup", str(src), "--bucket", bucket, "--kms-key-id", key, "--json")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    date, manifest_key = summary["date"], summary["manifest_key"]
    assert s3.head_object(Bucket=bucket, Key=manifest_key)["ContentLength"] > 131072
    # ... and 40 days on, lifecycle has moved the manifest, and only it, to Glacier
    moved = archive_aging.age(s3, bucket, days=40, rules=rules)
    assert [(m.key, m.storage_class) for m in moved] == [(manifest_key, "GLACIER")]

    # WHEN the next night runs with only that manifest to compare with: it completes,
    # sending every document again, and says which night it passed over
    store = compose.backup_store(bucket, workers=4)
    options = BackupOptions(encryption=Encryption("aws:kms", key), retention_days=retention)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=40)
    second = backup(store, LocalSource(str(src)), options, clock=lambda: later)
    assert (second.status, second.new, second.unchanged) == ("complete", 400, 0)
    assert [p.path for p in second.manifests_archived] == [f"{date} manifest"]

    # THEN `list` shows both nights, the first one as archived and how to bring it back
    listed = cli_run("list", "--bucket", bucket, "--json")
    assert listed.exit_code == 0, listed.output
    nights = {s["date"]: s for s in json.loads(listed.stdout)["snapshots"]}
    assert nights[second.date.isoformat()]["restorable"] is True
    assert (nights[date]["status"], nights[date]["restorable"]) == ("archived", False)
    assert f"manifest in GLACIER: restore {date} --tier" in nights[date]["note"]

    # ... `verify --all` exits 1 naming that night's manifest, having checked the other night
    checked = cli_run("verify", "--all", "--bucket", bucket, "--json")
    assert checked.exit_code == 1, checked.output
    report = json.loads(checked.stdout)
    assert report["checked"] == 400
    # (the night and its manifest's key, as separate fields)
    assert [(p["date"], p["path"]) for p in report["problems"]] == [
        (date, f"backups/{date}/documents.manifest.json")
    ]

    # ... restore without a tier exits 1, naming the class and --tier
    target = str(tmp_path / "back")
    common = (date, "--to", target, "--bucket", bucket, "--json")
    plain = cli_run("restore", *common)
    assert plain.exit_code == 1
    doc = json.loads(plain.stdout)
    assert (doc["status"], doc["restored"], doc["restores_requested"]) == ("failed", 0, 0)
    assert "GLACIER" in doc["manifest_archived"] and "--tier" in doc["manifest_archived"]

    # ... with a tier S3 is asked for the manifest: exit 1, and when to try again
    asked = cli_run("restore", date, "--to", target, "--bucket", bucket, "--tier", "bulk")
    assert asked.exit_code == 1
    assert "restore from the archive requested (bulk tier)" in asked.stdout
    assert "5-12 hours" in asked.stdout

    # ... and once it is back (moto: at once), the same restore restores the night byte for byte
    done = cli_run("restore", *common, "--tier", "bulk")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["restored"] == 400
    assert tree_hashes(target) == tree_hashes(str(src))


def test_restore_wait_asks_then_finishes_in_one_command(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    bucket = moto_bucket[0]
    src = tmp_path / "office"
    files = {"contracts/lease.pdf": os.urandom(LARGE), "notes.txt": b"small"}
    date, _ = archived_night(src, aws_env, moto_bucket, files)
    target = str(tmp_path / "back")

    refused = cli_run("restore", date, "--to", target, "--bucket", bucket, "--wait")
    assert refused.exit_code == 2 and "--wait needs --tier" in refused.stderr

    done = cli_run(
        "restore", date, "--to", target, "--bucket", bucket, "--json",
        "--tier", "standard", "--yes", "--wait", "--wait-poll", "0",
    )  # fmt: skip

    assert done.exit_code == 0, done.output
    assert "1 copies are coming back from the archive" in done.stderr
    assert json.loads(done.stdout)["already_there"] == 1  # notes.txt, from the first pass
    assert tree_hashes(target) == tree_hashes(str(src))


def test_glacier_instant_retrieval_restores_directly(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    bucket = moto_bucket[0]
    src = tmp_path / "office"
    date, moved = archived_night(
        src, aws_env, moto_bucket, {"contracts/lease.pdf": os.urandom(LARGE)},
        retention=180, transitions=[{"Days": 30, "StorageClass": "GLACIER_IR"}],
    )  # fmt: skip
    assert [m.storage_class for m in moved if m.key.endswith("lease.pdf")] == ["GLACIER_IR"]

    done = cli_run("restore", date, "--to", str(tmp_path / "b"), "--bucket", bucket, "--json")

    assert done.exit_code == 0, done.output
    assert (json.loads(done.stdout)["archived"], json.loads(done.stdout)["restores_requested"]) == (
        0,
        0,
    )
    assert tree_hashes(str(tmp_path / "b")) == tree_hashes(str(src))


def test_restore_wait_gives_up_at_its_time_limit(
    tmp_path: Path,
    moto_bucket: tuple[str, str],
    aws_env: LocalAWS,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = moto_bucket[0]
    files = {"lease.pdf": os.urandom(LARGE)}
    date, _ = archived_night(tmp_path / "office", aws_env, moto_bucket, files)
    monkeypatch.setattr("docbackup.cli.snapshots.WAIT_LIMIT_S", 0)

    stopped = cli_run(
        "restore", date, "--to", str(tmp_path / "b"),
        "--bucket", bucket, "--tier", "bulk", "--yes", "--wait", "--wait-poll", "0",
    )  # fmt: skip

    # past the limit: it says what is still coming back and exits 1, as a restore not done
    assert stopped.exit_code == 1
    assert "looking again" not in stopped.stderr
    assert "run the same restore again" in stopped.stderr
