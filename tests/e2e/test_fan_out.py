"""FanOut: the stack's state machine runs a night as one function run per top-level prefix.

Deployed to the sandbox with FanOut=top-level-prefixes; the deployed definition is run by
docbackup.sandbox.fan_out (moto's Step Functions cannot invoke this function: see there), the
schedule's and the state machine's roles asked of AWS's rules, the handler running as the
function's role. A user then restores every set and finds the source whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from docbackup import layout
from docbackup.cli.main import cli
from docbackup.sandbox import alarms, demo
from docbackup.sandbox.moto_gaps import MotoGaps
from docbackup.sandbox.rules import actors
from docbackup.sandbox.rules.actors import StackActors
from docbackup.sandbox.server import LocalAWS, acting_as
from docbackup.stack.deploy import DeployRequest, deploy
from tests.days import tonight

SOURCE = {
    "docs/memo.docx": b"beside the folders",
    "docs/Invoices 2024/0001.pdf": os.urandom(3000),
    "docs/Invoices 2024/0002.pdf": os.urandom(4000),
    "docs/contracts/signed.pdf": os.urandom(5000),
    "docs/contracts/drafts/draft-1.docx": os.urandom(2500),
    "docs/letters/2025/to the bank.docx": os.urandom(1200),
    "elsewhere/not-ours.pdf": b"outside the source prefix",
}


@pytest.fixture
def fanned(
    aws_env: LocalAWS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    monkeypatch.chdir(tmp_path)
    s3 = aws_env.client("s3")
    name = f"fan-{os.getpid()}-{len(s3.list_buckets()['Buckets'])}"
    s3.create_bucket(Bucket=f"{name}-office")
    for key, body in SOURCE.items():
        s3.put_object(Bucket=f"{name}-office", Key=key, Body=body)
    result = deploy(
        DeployRequest(
            name,
            environment="dev",
            source_bucket=f"{name}-office",
            source_prefix="docs",
            extra_parameters={"FanOut": "top-level-prefixes", "FanOutConcurrency": "2"},
        ),
        hooks=MotoGaps(),
    )
    crew = actors.stack_actors(aws_env, name, result.outputs)
    aws_env.requests.reset()
    yield {"name": name, "outputs": result.outputs, "aws": aws_env, "crew": crew}


def schedule_event() -> dict[str, str]:
    return {"trigger": "schedule", "scheduled_time": f"{tonight()}T02:00:00Z"}


EXPECTED_SETS = {
    "documents": {"memo.docx"},
    layout.set_for_prefix("docs/Invoices 2024/"): {"0001.pdf", "0002.pdf"},
    layout.set_for_prefix("docs/contracts/"): {"signed.pdf", "drafts/draft-1.docx"},
    layout.set_for_prefix("docs/letters/"): {"2025/to the bank.docx"},
}


def restored(crew: StackActors, bucket: str, set_name: str, into: Path) -> dict[str, bytes]:
    with acting_as(crew.restorer.credentials):
        done = CliRunner().invoke(
            cli,
            ["restore", "latest", "--set", set_name, "--to", str(into), "--bucket", bucket],
            catch_exceptions=False,
        )
    assert done.exit_code == 0, done.output
    return {str(p.relative_to(into)): p.read_bytes() for p in into.rglob("*") if p.is_file()}


def test_a_fanned_out_night_backs_up_every_prefix_in_its_own_set(
    fanned: dict[str, Any], tmp_path: Path
) -> None:
    aws, out, crew = fanned["aws"], fanned["outputs"], fanned["crew"]
    execution = demo.run_fan_out(aws, fanned["name"], out, schedule_event(), crew.function)
    assert (execution.status, execution.error) == ("SUCCEEDED", ""), (
        execution.cause,
        execution.caught,
    )
    # The plan, one night per set, then one look at every set.
    triggers = [e.get("trigger") for e in execution.invocations]
    assert triggers[0] == "plan" and triggers[-1] == "watch"
    assert sorted(e["set"] for e in execution.invocations[1:-1]) == sorted(EXPECTED_SETS)
    assert all(outcome == "SUCCEEDED" for _, outcome in execution.items)
    assert not aws.requests.denied, aws.requests.denied
    # What the README prices: two transitions an item (its child started, its night), and five
    # for the parent (Plan, EachSet, Watch, Outcome, Done).
    assert execution.item_transitions == 2 * len(EXPECTED_SETS)
    assert execution.transitions - execution.item_transitions == 5

    # What a user finds: each set restores its part, and together they are the source prefix.
    whole: dict[str, bytes] = {}
    for set_name, names in EXPECTED_SETS.items():
        files = restored(crew, out["BackupBucketName"], set_name, tmp_path / set_name)
        assert set(files) == names, set_name
        prefix = next(e["prefix"] for e in execution.invocations[1:-1] if e["set"] == set_name)
        whole |= {prefix + name: body for name, body in files.items()}
    wanted = {k: v for k, v in SOURCE.items() if k.startswith("docs/")}
    assert {k: hashlib.sha256(v).hexdigest() for k, v in whole.items()} == {
        k: hashlib.sha256(v).hexdigest() for k, v in wanted.items()
    }
    # The next night's plan has a folder made today as a set of its own.
    aws.client("s3").put_object(
        Bucket=f"{fanned['name']}-office", Key="docs/new folder/a.pdf", Body=b"new"
    )
    again = demo.run_fan_out(
        aws,
        fanned["name"],
        out,
        {"trigger": "schedule", "scheduled_time": f"{dt.date.today()}T02:00:00Z"},
        crew.function,
    )
    assert again.status == "SUCCEEDED"
    assert layout.set_for_prefix("docs/new folder/") in {e.get("set") for e in again.invocations}


def test_a_set_that_fails_is_retried_and_raises_the_same_alarm(fanned: dict[str, Any]) -> None:
    """One set of four fails every attempt: the map tolerates it (the others' nights stand),
    the function's own BackupFailure metric raises BackupFailureAlarm, as without FanOut."""
    aws, out, crew = fanned["aws"], fanned["outputs"], fanned["crew"]
    broken = layout.set_for_prefix("docs/contracts/")

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        if event.get("set") == broken:  # an item the function must refuse: outside its source
            event = {**event, "prefix": "elsewhere/"}
        return demo._invoke(aws, out["BackupLambdaArn"], event, crew.function)

    execution = demo.run_fan_out(aws, fanned["name"], out, schedule_event(), crew.function, invoke)
    assert execution.status == "SUCCEEDED"
    attempts = [e for e in execution.invocations if e.get("set") == broken]
    assert len(attempts) == 3  # the first and the definition's two retries
    assert execution.waits_s[:2] == [60, 120]
    failed = [item["set"] for item, outcome in execution.items if outcome != "SUCCEEDED"]
    assert failed == [broken]
    changed = {
        c.alarm.removeprefix(fanned["name"] + "-"): c.new
        for c in alarms.evaluate(aws, prefix=fanned["name"])
    }
    assert changed.get("BackupFailureAlarm") == "ALARM", changed


def test_more_than_half_failing_fails_the_execution_after_one_look_at_every_set(
    fanned: dict[str, Any],
) -> None:
    aws, out, crew = fanned["aws"], fanned["outputs"], fanned["crew"]

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        if event.get("trigger") == "fan-out" and event["set"] != "documents":
            event = {**event, "prefix": "elsewhere/"}
        return demo._invoke(aws, out["BackupLambdaArn"], event, crew.function)

    execution = demo.run_fan_out(aws, fanned["name"], out, schedule_event(), crew.function, invoke)
    assert (execution.status, execution.error) == ("FAILED", "SomeSetsFailed")
    assert execution.invocations[-1] == {"trigger": "watch"}


def test_a_source_kept_entirely_in_folders_has_an_empty_set_beside_them_not_a_failure(
    fanned: dict[str, Any],
) -> None:
    """Every document in a folder: the set of the documents beside the folders holds none. Its
    night is an empty one, not a failure retried three times and counted as a BackupFailure."""
    aws, out, crew = fanned["aws"], fanned["outputs"], fanned["crew"]
    aws.client("s3").delete_object(Bucket=f"{fanned['name']}-office", Key="docs/memo.docx")
    failures: dict[str, float] = {}
    counted: dict[str, object] = {}

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        result = demo._invoke(aws, out["BackupLambdaArn"], event, crew.function)
        if event.get("trigger") == "fan-out":
            failures[event["set"]] = result["metrics"]["BackupFailure"]
            counted[event["set"]] = result.get("documents")
        return result

    execution = demo.run_fan_out(aws, fanned["name"], out, schedule_event(), crew.function, invoke)
    assert execution.status == "SUCCEEDED", (execution.cause, execution.caught)
    assert [o for _, o in execution.items] == ["SUCCEEDED"] * len(EXPECTED_SETS)
    assert failures == dict.fromkeys(EXPECTED_SETS, 0.0)
    assert counted["documents"] == 0  # an empty night of its own
