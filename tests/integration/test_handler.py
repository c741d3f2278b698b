"""The nightly Lambda handler with sample events, against moto on 127.0.0.1."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from docbackup import handler as lambda_module
from docbackup import nightly
from docbackup.errors import ConfigError
from docbackup.sandbox.server import LocalAWS

SCHEDULED = {"trigger": "schedule", "scheduled_time": "2025-10-15T02:00:00Z"}


@dataclass
class Context:
    """What Lambda passes as `context`, with a clock the test controls."""

    remaining_ms: int = 900_000
    function_name: str = "nightly-backup"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:nightly-backup"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def night(
    moto_bucket: tuple[str, str], aws_env: LocalAWS, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    bucket, key = moto_bucket
    s3 = aws_env.client("s3")
    source = f"{bucket}-office"
    s3.create_bucket(Bucket=source)
    for i in range(30):
        s3.put_object(Bucket=source, Key=f"shared/docs/{i:02d}.pdf", Body=f"doc {i}".encode() * 50)
    arn = aws_env.client("kms").describe_key(KeyId=key)["KeyMetadata"]["Arn"]
    env = {
        nightly.BACKUP_BUCKET: bucket,
        nightly.KMS_KEY_ARN: arn,
        nightly.SOURCE_BUCKET: source,
        nightly.SOURCE_PREFIX: "shared",
        nightly.ENVIRONMENT: "staging",
        nightly.RETENTION_DAYS: "14",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return {"bucket": bucket, "s3": s3, "source": source}


def emf(stdout: str) -> dict[str, Any]:
    """The metrics line Powertools printed (CloudWatch embedded metric format)."""
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            doc: dict[str, Any] = json.loads(line)
            # Powertools writes each metric's values as a list; one value per run is expected.
            for name, value in doc.items():
                if isinstance(value, list):
                    assert len(value) == 1, (name, value)
                    doc[name] = value[0]
            return doc
    raise AssertionError(f"no EMF line in {stdout!r}")


def test_scheduled_night_backs_up_the_source_and_reports_metrics(
    night: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    summary = lambda_module.handler(SCHEDULED, Context())

    assert (summary["status"], summary["date"], summary["new"]) == ("complete", "2025-10-15", 30)
    keys = [o["Key"] for o in night["s3"].list_objects_v2(Bucket=night["bucket"])["Contents"]]
    assert "backups/2025-10-15/documents/docs/07.pdf" in keys
    assert "backups/2025-10-15/documents.manifest.json" in keys
    metrics = emf(capsys.readouterr().out)
    directive = metrics["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "BackupSystem"
    # Exactly the dimension the stack's alarms watch.
    assert directive["Dimensions"] == [["Environment"]]
    assert metrics["Environment"] == "staging"
    assert (metrics["BackupSuccess"], metrics["BackupFailure"]) == (1.0, 0.0)
    assert metrics["DocumentsBackedUp"] == 30.0


def test_the_function_keeps_everything_under_its_prefix(night: dict[str, Any]) -> None:
    # GIVEN names a desktop's default excludes would leave out, arrived in the source bucket
    for name in ("~$Budget.xlsx", "scan.tmp", "Thumbs.db"):
        night["s3"].put_object(Bucket=night["source"], Key=f"shared/docs/{name}", Body=b"x")

    summary = lambda_module.handler(SCHEDULED, Context())

    # THEN they are backed up like any other document: the function has no one to tell
    assert (summary["status"], summary["new"], summary["excluded"]) == ("complete", 33, 0)


def test_manual_dry_run_writes_nothing_and_is_not_a_good_night(
    night: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    summary = lambda_module.handler({"date": "2025-10-15", "dry_run": True}, Context())

    assert (summary["dry_run"], summary["new"]) == (True, 30)
    assert night["s3"].list_objects_v2(Bucket=night["bucket"]).get("KeyCount") == 0
    # No BackupSuccess: a dry run must not quiet the "no successful backup" alarm.
    assert '"BackupSuccess"' not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([1, 2], "must be a JSON object"),
        ({"date": "15/10/2025"}, "invalid date"),
        ({"dry_run": "yes"}, "dry_run must be true or false"),
        ({"when": "tonight"}, "unknown event field"),
        ({"scheduled_time": "soon"}, "unreadable scheduled time"),
    ],
)
def test_malformed_events_fail_clearly(
    night: dict[str, Any], capsys: pytest.CaptureFixture[str], event: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        lambda_module.handler(event, Context())
    assert emf(capsys.readouterr().out)["BackupFailure"] == 1.0


def test_near_the_time_limit_it_stops_and_the_retry_resumes(
    night: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    context = Context(remaining_ms=121_000)
    calls = {"n": 0}

    def ticking() -> int:
        calls["n"] += 1  # a little time passes with every transfer started
        return context.remaining_ms - calls["n"] * 100

    context.get_remaining_time_in_millis = ticking  # type: ignore[method-assign]

    with pytest.raises(lambda_module.NightIncomplete):
        lambda_module.handler(SCHEDULED, context)
    metrics = emf(capsys.readouterr().out)
    assert metrics["BackupIncomplete"] == 1.0 and metrics["BackupFailure"] == 1.0
    stored_first = metrics["DocumentsBackedUp"]
    assert 0 < stored_first < 30

    # The asynchronous retry: same event, plenty of time.
    summary = lambda_module.handler(SCHEDULED, Context())

    assert summary["status"] == "complete"
    assert summary["new"] == 30 - stored_first  # copies from the first attempt are reused
    versions = night["s3"].list_object_versions(
        Bucket=night["bucket"], Prefix="backups/2025-10-15/documents/"
    )
    assert len(versions["Versions"]) == 30  # nothing was stored twice


def test_a_failed_night_still_watches_the_other_sets(
    night: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a night stored, then the source's bucket gone (a failed night: nothing to read)
    lambda_module.handler({"date": "2025-10-15"}, Context())
    capsys.readouterr()
    s3 = night["s3"]
    for obj in s3.list_objects_v2(Bucket=night["source"])["Contents"]:
        s3.delete_object(Bucket=night["source"], Key=obj["Key"])
    s3.delete_bucket(Bucket=night["source"])

    # WHEN the next night fails
    with pytest.raises(Exception):  # noqa: B017 - whatever the failure, the metrics go out
        lambda_module.handler({"date": "2025-10-16"}, Context())

    # THEN it counts the failure, and the look at every set still reported StaleSets
    metrics = emf(capsys.readouterr().out)
    assert metrics["BackupFailure"] == 1
    assert "StaleSets" in metrics
