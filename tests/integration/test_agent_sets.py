"""The office machine's night of several sets (docbackup.agent), driven against moto's server:
typed outcomes per set, the notices on the topic, and the one exit-code table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from docbackup import compose
from docbackup.agent import AgentRun, Office, Outcome, SetBackedUp, SetFailed, run_sets
from docbackup.cli import exitcodes
from docbackup.cli.config import SetConfig
from docbackup.errors import ConfigError
from docbackup.sandbox.server import LocalAWS
from tests.treebuilder import write


def _inbox(aws: LocalAWS, name: str) -> tuple[Any, str, str]:
    """A topic, and a queue subscribed to it where its notices can be read back."""
    sqs, sns = aws.client("sqs"), aws.client("sns")
    topic = sns.create_topic(Name=f"{name}-topic")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"{name}-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["QueueArn"])
    return sqs, queue, topic


def _notices(sqs: Any, queue: str) -> list[tuple[str, str]]:
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    bodies = [json.loads(m["Body"]) for m in got.get("Messages", [])]
    return sorted((b["Subject"], b["Message"]) for b in bodies)


def _run(bucket: str, sets: list[SetConfig], office: Office) -> tuple[AgentRun, list[Outcome]]:
    heard: list[Outcome] = []
    store = compose.backup_store(bucket, workers=4)
    return run_sets(store, sets, office, on_outcome=heard.append), heard


def test_a_bad_folder_fails_its_set_and_the_others_still_back_up(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    # GIVEN two sets on the office machine, one of them on a share that is not mounted
    bucket, key = moto_bucket
    office = tmp_path / "office"
    write(str(office), "letters/a.txt", b"dear sir")
    write(str(office), "invoice.pdf", b"%PDF-1.4 total 12")
    gone = tmp_path / "share-not-mounted"
    sqs, queue, topic = _inbox(aws_env, bucket)
    sets = [SetConfig("share", str(gone)), SetConfig("office", str(office))]
    # WHEN the machine's night runs, told to notify on success too
    run, heard = _run(bucket, sets, Office(key, topic_arn=topic, notify_on_success=True))
    # THEN the share's set failed as refused input and the office's was backed up in full
    failed, done = run.outcomes
    assert isinstance(failed, SetFailed) and isinstance(failed.error, ConfigError)
    assert str(gone) in str(failed.error)
    assert isinstance(done, SetBackedUp) and done.status == "complete"
    assert done.result.documents == 2
    assert heard == run.outcomes  # each was told as it ended, in order
    # and the night is a failure (exit 1), not bad input (2): something was written
    assert not run.every_set_refused
    assert exitcodes.for_agent(run) == exitcodes.FAILED
    assert failed.summary() == {"set": "share", "status": "failed", "error": str(failed.error)}
    assert "notice" not in done.summary()
    # and the person on the topic reads which set failed and why, and that the other is done
    notices = _notices(sqs, queue)
    assert [s for s, _ in notices] == [
        f"docbackup office {done.result.date}: complete",
        "docbackup share: failed",
    ]
    assert str(gone) in notices[1][1]


def test_every_set_refused_is_bad_input_and_nothing_is_written(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    bucket, key = moto_bucket
    sets = [SetConfig("a", str(tmp_path / "no-a")), SetConfig("b", str(tmp_path / "no-b"))]
    run, _ = _run(bucket, sets, Office(key))
    assert run.every_set_refused
    assert exitcodes.for_agent(run) == exitcodes.USAGE
    listed = aws_env.client("s3").list_object_versions(Bucket=bucket)
    assert "Versions" not in listed and "DeleteMarkers" not in listed


def test_a_notice_that_cannot_go_is_said_and_the_night_still_stands(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    bucket, key = moto_bucket
    office = tmp_path / "office"
    write(str(office), "a.txt", b"a")
    nowhere = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    sets = [SetConfig("office", str(office))]
    run, _ = _run(bucket, sets, Office(key, topic_arn=nowhere, notify_on_success=True))
    (done,) = run.outcomes
    assert isinstance(done, SetBackedUp) and done.status == "complete"
    assert done.notice_problem and done.notice_problem.startswith(f"could not publish to {nowhere}")
    assert done.summary()["notice"] == done.notice_problem
    assert exitcodes.for_agent(run) == exitcodes.OK


def test_a_failed_set_is_told_before_its_notice_is_tried(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    # A signal while the topic is slow to answer must not lose the set's error: the command
    # line has recorded it before the notice goes.
    bucket, key = moto_bucket
    nowhere = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    events: list[str] = []
    run = run_sets(
        compose.backup_store(bucket, workers=4),
        [SetConfig("share", str(tmp_path / "not-mounted"))],
        Office(key, topic_arn=nowhere),
        on_outcome=lambda o: events.append(f"outcome {o.name}"),
        on_notice_problem=lambda name, problem: events.append(f"notice {name}: {problem}"),
    )
    assert events[0] == "outcome share"
    assert events[1].startswith(f"notice share: could not publish to {nowhere}")
    (failed,) = run.outcomes
    assert (
        isinstance(failed, SetFailed)
        and failed.notice_problem == events[1][len("notice share: ") :]
    )
