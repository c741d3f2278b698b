"""The office agent as its user meets it: `init` from the deployed stack, `run` from the config,
then looking into the nights with ls, find, diff and cat, and `status` without flags."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from docbackup.cli.main import cli
from docbackup.sandbox.rules.actors import Actor, StackActors
from docbackup.sandbox.server import acting_as
from tests.days import yesterday


def run(config: Path, *args: str, actor: Actor | None = None) -> Result:
    """The CLI as the office machine runs it (see as_the_office_machine), or as another actor."""
    with acting_as(actor.credentials) if actor else contextlib.nullcontext():
        return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


@pytest.fixture(autouse=True)
def as_the_office_machine(crew: StackActors, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command here runs with the credentials of a user holding OfficeAgentPolicy."""
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    for name, value in crew.office.credentials.items():
        monkeypatch.setenv(name, value)


def write(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture
def office(tmp_path: Path) -> Path:
    root = tmp_path / "Office Documents"
    write(root, "contracts/Lease 2025.pdf", b"%PDF lease " * 300)
    write(root, "contracts/Supplier agreement.docx", b"PK agreement " * 200)
    write(root, "invoices/INV-0001.pdf", b"%PDF invoice one " * 50)
    write(root, "notes.txt", b"call the accountant\n")
    # What an office suite leaves behind while a document is open: not worth a backup.
    write(root, "contracts/~$Lease 2025.docx", b"owner lock")
    write(root, "invoices/.~lock.INV-0001.ods#", b"lock")
    return root


def test_init_then_run_then_find_things(
    stack: dict[str, Any], office: Path, tmp_path: Path, crew: StackActors
) -> None:
    config = tmp_path / "conf" / "config.toml"
    out = stack["outputs"]

    # WHEN the office machine is set up from the stack
    made = run(config, "init", "--stack-name", stack["name"], "--set", f"office={office}")

    # THEN the config holds the stack's bucket, full key ARN and retention, and both sets
    assert made.exit_code == 0, made.output
    written = tomllib.loads(config.read_text())
    assert written["stack"]["bucket"] == out["BackupBucketName"]
    assert written["stack"]["kms_key_id"] == out["KMSKeyArn"]
    assert written["stack"]["retention_days"] == 7  # Environment dev
    assert written["sets"]["office"] == {
        "source": str(office),
        "exclude": [],
        "default_excludes": True,
        "here": True,
    }
    # the function's set carries no exclude settings: the function applies none
    assert written["sets"]["documents"] == {
        "source": f"s3://{stack['name']}-office/docs",
        "here": False,
    }
    assert os.stat(config).st_mode & 0o077 == 0
    # init again changes nothing it need not, and keeps what the user added
    text = config.read_text().replace("exclude = []", 'exclude = [ "notes.txt",]')
    config.write_text(text)
    again = run(config, "init", "--stack-name", stack["name"])
    assert again.exit_code == 0, again.output
    assert tomllib.loads(config.read_text())["sets"]["office"]["exclude"] == ["notes.txt"]

    # the set the stack's function backs up cannot be pointed at a folder here too
    clash = run(config, "init", "--stack-name", stack["name"], "--set", f"documents={office}")
    assert clash.exit_code == 2 and "nightly function" in clash.stderr
    assert tomllib.loads(config.read_text())["sets"]["documents"]["here"] is False

    # WHEN last night's backup of the configured set ran, its folder given as well
    last_night = yesterday()
    first = run(config, "backup", str(office), "--set", "office", "--date", last_night, "--json")

    # THEN the office set is stored, without the lock files or the set's excluded note
    assert first.exit_code == 0, first.output
    night = json.loads(first.stdout)
    assert (night["set"], night["documents"], night["new"]) == ("office", 3, 3)
    assert night["excluded"] == 3

    listing = run(config, "ls", "latest", "--json")
    assert listing.exit_code == 0, listing.output
    rows = {e["name"]: e for e in json.loads(listing.stdout)["entries"]}
    assert set(rows) == {"contracts", "invoices"}
    assert rows["contracts"]["folder"] and rows["contracts"]["documents"] == 2
    inside = json.loads(run(config, "ls", "latest", "contracts", "--json").stdout)["entries"]
    assert [e["name"] for e in inside] == ["Lease 2025.pdf", "Supplier agreement.docx"]

    # cat gives back exactly the bytes
    body = run(config, "cat", "latest", "contracts/Lease 2025.pdf")
    assert body.exit_code == 0
    lease = (office / "contracts/Lease 2025.pdf").read_bytes()
    assert hashlib.sha256(body.stdout_bytes).hexdigest() == hashlib.sha256(lease).hexdigest()
    missing = run(config, "cat", "latest", "contracts/nothing.pdf")
    assert missing.exit_code == 2 and "docbackup find" in missing.stderr

    # Tonight, after an edit, an addition and a removal, the schedule's command runs
    write(office, "contracts/Lease 2025.pdf", b"%PDF lease, amended " * 300)
    write(office, "invoices/INV-0002.pdf", b"%PDF invoice two")
    (office / "contracts/Supplier agreement.docx").unlink()
    second = run(config, "run", "--json")
    assert second.exit_code == 0, second.output
    doc = json.loads(second.stdout)
    assert doc["status"] == "complete"
    assert [(s["set"], s["new"], s["changed"]) for s in doc["sets"]] == [("office", 1, 1)]

    this_night = doc["sets"][0]["date"]  # the run's own night, whenever the clock turned
    changes = json.loads(run(config, "diff", last_night, this_night, "--json").stdout)
    assert (changes["added"], changes["changed"], changes["removed"]) == (1, 1, 1)
    assert {(c["path"], c["kind"]) for c in changes["changes"]} == {
        ("invoices/INV-0002.pdf", "added"),
        ("contracts/Lease 2025.pdf", "changed"),
        ("contracts/Supplier agreement.docx", "removed"),
    }

    found = json.loads(run(config, "find", "lease*", "--json").stdout)
    (hit,) = found["documents"]
    assert hit["path"] == "contracts/Lease 2025.pdf"
    assert [v["nights"] for v in hit["versions"]] == [[last_night], [this_night]]
    # a path typed as from the top of the folder finds the same document
    anchored = json.loads(run(config, "find", "/contracts/lease*", "--json").stdout)
    assert [d["path"] for d in anchored["documents"]] == ["contracts/Lease 2025.pdf"]
    old = run(config, "cat", last_night, "contracts/Lease 2025.pdf")
    assert old.stdout_bytes == lease

    # status finds the stack in the config: the chart has every day, the empty ones said
    # (status and report read the stack's settings and alarms: the operator's policy)
    shown = run(config, "status", "--set", "office", "--nights", "5", actor=crew.operator)
    assert shown.exit_code == 0, shown.output
    assert this_night in shown.stdout and last_night in shown.stdout and "no run" in shown.stdout
    assert "the last 5 nights" in shown.stdout
    days = [line.split()[0] for line in shown.stdout.splitlines() if line[:4].isdigit()]
    assert len(days) == 5
    # without --set, status is about the stack's own function and its set
    own = json.loads(run(config, "status", "--json", actor=crew.operator).stdout)
    assert own["set"] == "documents" and own["nights"] == []

    # the report: one page, the two nights embedded for its charts, the alarms read
    page = tmp_path / "report.html"
    made_page = run(config, "report", "--html", str(page), actor=crew.operator)
    assert made_page.exit_code == 0, made_page.output
    html = page.read_text()
    start = html.index('<script type="application/json" id="nights">') + len(
        '<script type="application/json" id="nights">'
    )
    embedded = json.loads(html[start : html.index("</script>", start)].replace("<\\/", "</"))
    assert sorted(n["date"] for n in embedded["nights"]) == [last_night, this_night]
    assert f"{stack['name']}-BackupFailureAlarm" in html
    # and every request of the office machine and the operator was within their policies
    assert stack["aws"].requests.denied == []


def test_a_set_that_cannot_run_reaches_the_topic(
    stack: dict[str, Any], office: Path, tmp_path: Path
) -> None:
    aws, out = stack["aws"], stack["outputs"]
    sqs, sns = aws.client("sqs"), aws.client("sns")
    queue = sqs.create_queue(QueueName=f"{stack['name']}-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=out["AlarmTopicArn"], Protocol="sqs", Endpoint=arn["QueueArn"])
    photos = tmp_path / "Photos"
    write(photos, "2026/party.jpg", b"\xff\xd8 party")
    config = tmp_path / "config.toml"
    made = run(
        config,
        "init",
        "--stack-name",
        stack["name"],
        "--set",
        f"office={office}",
        "--set",
        f"photos={photos}",
    )
    assert made.exit_code == 0, made.output

    # GIVEN the office share is not mounted tonight
    office.rename(tmp_path / "unmounted")
    failed = run(config, "run", "--json")

    # THEN the run fails (exit 1: the photos were stored, so not "nothing written")
    assert failed.exit_code == 1, failed.output
    by_set = {s["set"]: s for s in json.loads(failed.stdout)["sets"]}
    assert by_set["office"]["status"] == "failed"
    assert (by_set["photos"]["status"], by_set["photos"]["new"]) == ("complete", 1)
    # and the person on the topic is told which set and why
    got = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    notice = json.loads(got[0]["Body"])
    assert notice["Subject"] == "docbackup office: failed"
    assert str(office) in notice["Message"]

    # GIVEN neither folder is there: nothing was written, which is what exit 2 promises
    photos.rename(tmp_path / "gone")
    refused = run(config, "run", "--json")
    assert refused.exit_code == 2, refused.output
    assert {s["status"] for s in json.loads(refused.stdout)["sets"]} == {"failed"}
    # publishing to the KMS-encrypted topic was within the office machine's policy
    assert aws.requests.denied == []
