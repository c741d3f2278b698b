"""Every set is watched, wherever it runs: an office machine that stops backing up raises the
stack's StaleSets alarm through the function, and the alarm clears after the set completes a
night again, or after it is retired. The alarms are evaluated by the sandbox against the
function's own metrics (see docbackup.sandbox.alarms)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from docbackup import compose
from docbackup.cli.main import cli
from docbackup.engine import BackupOptions, backup
from docbackup.sandbox import alarms, demo
from docbackup.sandbox.rules.actors import StackActors
from docbackup.sandbox.server import acting_as
from docbackup.sources import LocalSource
from docbackup.storage.base import Encryption


@pytest.fixture(autouse=True)
def no_earlier_metrics() -> None:
    alarms.forget_metrics()


@pytest.fixture
def inbox(stack: dict[str, Any]) -> Any:
    """A queue subscribed to the stack's topic: what a person on the topic would receive."""
    aws, out = stack["aws"], stack["outputs"]
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=f"{stack['name']}-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    aws.client("sns").subscribe(
        TopicArn=out["AlarmTopicArn"], Protocol="sqs", Endpoint=arn["QueueArn"]
    )

    def received() -> list[dict[str, Any]]:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = got.get("Messages", [])
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in messages]

    return received


def office_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "Office"
    (folder / "invoices").mkdir(parents=True)
    (folder / "invoices" / "INV-7.pdf").write_bytes(b"%PDF invoice seven " * 40)
    return folder


def office_night_that_ended(
    stack: dict[str, Any], crew: StackActors, folder: Path, ago: dt.timedelta
) -> None:
    """The office machine's last complete night, run with its own credentials, `ago` back."""
    out = stack["outputs"]
    at = dt.datetime.now(dt.UTC) - ago
    with acting_as(crew.office.credentials):
        store = compose.backup_store(out["BackupBucketName"], workers=4)
        result = backup(
            store,
            LocalSource(str(folder)),
            BackupOptions(
                set_name="office",
                encryption=Encryption("aws:kms", out["KMSKeyArn"]),
                retention_days=7,
            ),
            clock=lambda: at,
        )
    assert result.status == "complete"


def function_night(stack: dict[str, Any], crew: StackActors) -> dict[str, Any]:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    return demo._invoke(
        stack["aws"], stack["outputs"]["BackupLambdaArn"], {"date": today}, crew.function
    )


def as_the_office(stack: dict[str, Any], crew: StackActors, *args: str) -> Any:
    """The CLI on the office machine, with its credentials, into the stack's bucket and key."""
    out = stack["outputs"]
    with acting_as(crew.office.credentials):
        return CliRunner().invoke(
            cli,
            [
                *args,
                "--bucket",
                out["BackupBucketName"],
                "--kms-key-id",
                out["KMSKeyArn"],
                "--retention-days",
                "7",
                "--json",
            ],
        )


def stale_alarm(stack: dict[str, Any]) -> str:
    name = f"{stack['name']}-StaleSetsAlarm"
    (found,) = stack["aws"].client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return str(found["StateValue"])


def evaluated(stack: dict[str, Any]) -> dict[str, str]:
    return {t.alarm: t.new for t in alarms.evaluate(stack["aws"], prefix=stack["name"])}


def alarm_messages(messages: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    bodies = [json.loads(m["Message"]) for m in messages if m["Subject"].endswith("in us-east-1")]
    return [b for b in bodies if b["AlarmName"] == name]


def test_an_office_machine_that_stops_raises_the_alarm_until_it_backs_up_again(
    stack: dict[str, Any], crew: StackActors, tmp_path: Path, inbox: Any
) -> None:
    name = f"{stack['name']}-StaleSetsAlarm"
    folder = office_folder(tmp_path)
    # GIVEN an office set whose last complete night ended 27 hours ago, and then nothing
    office_night_that_ended(stack, crew, folder, dt.timedelta(hours=27))

    # WHEN the function runs its night
    night = function_night(stack, crew)

    # THEN it counts the office set stale, names it, and the alarm fires to the topic
    assert night["status"] == "complete"
    assert night["metrics"]["StaleSets"] == 1.0
    assert night["watched"]["stale"] == ["office"]
    assert evaluated(stack)[name] == "ALARM"
    assert stale_alarm(stack) == "ALARM"
    messages = inbox()
    notice = next(m for m in messages if m["Subject"].startswith("docbackup documents"))
    assert "stale: office" in notice["Subject"]
    assert "STALE set office: no complete night for 27 hours" in notice["Message"]
    (fired,) = alarm_messages(messages, name)
    assert fired["NewStateValue"] == "ALARM" and fired["Trigger"]["MetricName"] == "StaleSets"

    # WHEN the office machine backs up again (its own CLI, its own credentials), and the
    # function looks again
    again = as_the_office(stack, crew, "backup", str(folder), "--set", "office")
    assert again.exit_code == 0, again.output
    second = function_night(stack, crew)

    # THEN nothing is stale and the alarm clears, saying so on the topic
    assert second["metrics"]["StaleSets"] == 0.0
    assert evaluated(stack)[name] == "OK"
    (cleared,) = alarm_messages(inbox(), name)
    assert cleared["NewStateValue"] == "OK" and cleared["OldStateValue"] == "ALARM"
    # AND every request of the function and the office machine was within their policies
    assert stack["aws"].requests.denied == []


def test_a_retired_set_clears_the_alarm(
    stack: dict[str, Any], crew: StackActors, tmp_path: Path, inbox: Any
) -> None:
    name = f"{stack['name']}-StaleSetsAlarm"
    office_night_that_ended(stack, crew, office_folder(tmp_path), dt.timedelta(hours=30))
    function_night(stack, crew)
    assert evaluated(stack)[name] == "ALARM"

    # WHEN the office machine's set is retired, with the office machine's credentials
    retired = as_the_office(stack, crew, "set", "retire", "office")
    assert retired.exit_code == 0, retired.output
    assert json.loads(retired.stdout)["status"] == "retired"
    night = function_night(stack, crew)

    # THEN the function leaves it out and the alarm clears
    assert night["watched"]["stale"] == []
    assert [s["retired"] for s in night["watched"]["sets"] if s["set"] == "office"] == [True]
    assert evaluated(stack)[name] == "OK"
    assert stack["aws"].requests.denied == []


def test_a_damaged_copy_the_source_no_longer_has_raises_its_alarm(
    stack: dict[str, Any], crew: StackActors, inbox: Any
) -> None:
    from docbackup.engine.readback import turn
    from tests.integration.test_healing_moto import damage_in_place

    aws, out = stack["aws"], stack["outputs"]
    name = f"{stack['name']}-VerifyMismatchAlarm"
    today = dt.datetime.now(dt.UTC).date()
    # Retention 7 (dev), refreshed after 6 nights: a document's read-back turn comes every 6.
    cycle, path = 6, "03.pdf"
    first = today - dt.timedelta(days=7)
    due = next(
        first + dt.timedelta(days=n)
        for n in range(1, 8)
        if (first + dt.timedelta(days=n)).toordinal() % cycle == turn(path, cycle)
    )
    # GIVEN a night, then its copy of one document rotted in place, and the document since
    # changed at the source: no good copy of the old bytes is left anywhere
    invoke = out["BackupLambdaArn"]
    assert demo._invoke(aws, invoke, {"date": first.isoformat()}, crew.function)["new"] == 25
    s3 = aws.client("s3")
    body = s3.get_object(
        Bucket=out["BackupBucketName"], Key=f"backups/{first}/documents.manifest.json"
    )
    (entry,) = [e for e in json.loads(body["Body"].read())["entries"] if e["path"] == path]
    damage_in_place(out["BackupBucketName"], entry["key"], entry["version_id"])
    s3.put_object(Bucket=f"{stack['name']}-office", Key=f"docs/{path}", Body=b"rewritten")

    # WHEN the function's night reads that document back
    night = demo._invoke(aws, invoke, {"date": due.isoformat()}, crew.function)

    # THEN it says the copy is damaged beyond repair, and VerifyMismatchAlarm fires
    assert night["metrics"]["VerifyMismatch"] == 1.0, json.dumps(night["read_back"])
    assert [d["path"] for d in night["damaged"]] == [path]
    assert evaluated(stack)[name] == "ALARM"
    messages = inbox()
    notice = next(m for m in messages if m["Subject"].startswith("docbackup documents"))
    assert f"DAMAGED, no good copy: {path}" in notice["Message"]
    (fired,) = alarm_messages(messages, name)
    assert fired["NewStateValue"] == "ALARM"
    assert aws.requests.denied == []
