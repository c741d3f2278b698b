"""Every actor's path under exactly the policies the stack grants it, as AWS evaluates them.

The sandbox's authorization layer (docbackup.sandbox.rules) evaluates each request's identity
policies, the bucket policy and the key policy; these tests run each path as its actor and
assert that nothing was refused, then that what AWS would refuse is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner, Result

from docbackup.cli.main import cli
from docbackup.sandbox import archive_aging, demo
from docbackup.sandbox.rules import actors
from docbackup.sandbox.rules.actors import Actor, StackActors
from docbackup.sandbox.server import LocalAWS, acting_as
from tests.days import today, tonight

MiB = 1024 * 1024


def cli_as(actor: Actor, *args: str) -> Result:
    with acting_as(actor.credentials):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def refused(aws: LocalAWS) -> list[str]:
    return list(aws.requests.denied)


@pytest.fixture
def office_folder(tmp_path: Path) -> Path:
    root = tmp_path / "office"
    root.mkdir()
    # Above the 8 MiB multipart threshold: CreateMultipartUpload, UploadPart, Complete.
    (root / "scan-9MiB.pdf").write_bytes(os.urandom(9 * MiB))
    (root / "archive-12MiB.zip").write_bytes(os.urandom(12 * MiB))
    (root / "note.txt").write_bytes(b"small, through the one-request path")
    return root


def test_the_office_machine_backs_up_large_documents_with_and_without_a_key(
    stack: dict[str, Any], crew: StackActors, office_folder: Path, tmp_path: Path
) -> None:
    out, aws = stack["outputs"], stack["aws"]
    config = tmp_path / "config.toml"
    yesterday = (today() - dt.timedelta(days=1)).isoformat()

    # WHEN the office machine sets itself up from the stack (the config names the stack key)
    made = cli_as(
        crew.office,
        "--config",
        str(config),
        "init",
        "--stack-name",
        stack["name"],
        "--set",
        f"office={office_folder}",
    )
    assert made.exit_code == 0, made.output
    assert f'kms_key_id = "{out["KMSKeyArn"]}"' in config.read_text()
    # and last night's backup ran under the key, the 9 and 12 MiB documents in parts
    keyed = cli_as(
        crew.office,
        "--config",
        str(config),
        "backup",
        str(office_folder),
        "--set",
        "office",
        "--date",
        yesterday,
        "--json",
    )
    # and tonight's scheduled run names no key at all (the bucket's default applies)
    config.write_text(config.read_text().replace(f'kms_key_id = "{out["KMSKeyArn"]}"\n', ""))
    (office_folder / "scan-9MiB.pdf").write_bytes(os.urandom(9 * MiB))
    plain = cli_as(crew.office, "--config", str(config), "run", "--json")

    # THEN both nights are complete and nothing was refused
    assert keyed.exit_code == 0, keyed.output
    assert plain.exit_code == 0, plain.output
    assert json.loads(keyed.stdout)["new"] == 3
    assert [(s["set"], s["changed"]) for s in json.loads(plain.stdout)["sets"]] == [("office", 1)]
    assert refused(aws) == []

    # AND the restorer gets the 12 MiB document back byte for byte
    restored = tmp_path / "restored"
    back = cli_as(
        crew.restorer,
        "restore",
        "latest",
        "--to",
        str(restored),
        "--bucket",
        out["BackupBucketName"],
        "--set",
        "office",
        "--json",
    )
    assert back.exit_code == 0, back.output
    for name in ("scan-9MiB.pdf", "archive-12MiB.zip", "note.txt"):
        assert _sha(restored / name) == _sha(office_folder / name)
    assert refused(aws) == []


def test_the_old_if_exists_policy_refuses_every_multipart_part(
    stack: dict[str, Any], crew: StackActors, office_folder: Path
) -> None:
    """The bucket policy's first form: `StringNotEqualsIfExists` in a Deny is true on a part,
    which carries no encryption header. The layer refuses it as AWS would."""
    out, aws = stack["outputs"], stack["aws"]
    s3 = aws.client("s3")
    bucket = out["BackupBucketName"]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    for statement in policy["Statement"]:
        if "StringNotEquals" in statement.get("Condition", {}):
            condition = statement["Condition"]
            del condition["Null"]
            condition["StringNotEqualsIfExists"] = condition.pop("StringNotEquals")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))

    result = cli_as(
        crew.office,
        "backup",
        str(office_folder),
        "--bucket",
        bucket,
        "--set",
        "office",
        "--kms-key-id",
        out["KMSKeyArn"],
        "--json",
    )

    assert result.exit_code == 1, result.output
    assert any(
        "s3:PutObject" in r and "explicit deny in a resource-based policy" in r
        for r in refused(aws)
    ), refused(aws)
    failed = {p["path"] for p in json.loads(result.stdout)["failures"]}
    assert {"scan-9MiB.pdf", "archive-12MiB.zip"} <= failed


def test_the_readers_paths_under_the_read_only_policies(
    stack: dict[str, Any], crew: StackActors, office_folder: Path, tmp_path: Path
) -> None:
    out, aws = stack["outputs"], stack["aws"]
    bucket = out["BackupBucketName"]
    demo._invoke(aws, out["BackupLambdaArn"], {"date": tonight()}, crew.function)
    some = "03.pdf"

    as_restorer = [
        ("list", "--bucket", bucket),
        ("verify", "latest", "--deep", "--bucket", bucket),
        ("restore", "latest", "--to", str(tmp_path / "r"), "--bucket", bucket),
        ("ls", "latest", "--bucket", bucket),
        ("find", "03.pdf", "--bucket", bucket),
        ("cat", "latest", some, "--bucket", bucket),
        ("report", "--html", str(tmp_path / "page.html"), "--bucket", bucket),
    ]
    for args in as_restorer:
        done = cli_as(crew.restorer, *args)
        assert done.exit_code == 0, (args, done.output)
    status = cli_as(crew.operator, "status", "--stack-name", stack["name"], "--json")
    assert status.exit_code == 0, status.output
    assert all(c["ok"] for c in json.loads(status.stdout)["checks"])
    report = cli_as(
        crew.operator,
        "report",
        "--html",
        str(tmp_path / "op.html"),
        "--bucket",
        bucket,
        "--stack-name",
        stack["name"],
    )
    assert report.exit_code == 0 and "warning" not in report.stderr, report.output

    assert refused(aws) == []


def test_status_with_the_office_policy_names_what_it_may_not_read(
    stack: dict[str, Any], crew: StackActors
) -> None:
    result = cli_as(crew.office, "status", "--stack-name", stack["name"], "--json")

    assert result.exit_code == 1, result.output
    checks = {c["item"]: c for c in json.loads(result.stdout)["checks"]}
    assert "permission cloudwatch:DescribeAlarms" in checks["alarms"]["detail"]
    # Every backup identity may ask whether the bucket keeps versions: a run refuses one that
    # does not, so the office machine must be able to tell.
    assert checks["versioning"]["ok"], checks["versioning"]


def test_a_restorer_without_get_object_version_is_refused_as_aws_refuses(
    stack: dict[str, Any], crew: StackActors, tmp_path: Path
) -> None:
    out, aws = stack["outputs"], stack["aws"]
    demo._invoke(aws, out["BackupLambdaArn"], {"date": tonight()}, crew.function)
    iam = aws.client("iam")
    granted = iam.get_policy_version(
        PolicyArn=out["RestorePolicyArn"],
        VersionId=iam.get_policy(PolicyArn=out["RestorePolicyArn"])["Policy"]["DefaultVersionId"],
    )["PolicyVersion"]["Document"]
    granted = json.loads(granted) if isinstance(granted, str) else granted
    for statement in granted["Statement"]:
        if statement["Sid"] == "ReadBackups":
            statement["Action"] = ["s3:GetObject"]
    narrower = iam.create_policy(
        PolicyName=f"{stack['name']}-no-versions", PolicyDocument=json.dumps(granted)
    )["Policy"]["Arn"]
    reader = actors.user_with(aws, f"{stack['name']}-narrow", narrower)

    result = cli_as(
        reader,
        "restore",
        "latest",
        "--to",
        str(tmp_path / "r"),
        "--bucket",
        out["BackupBucketName"],
        "--json",
    )

    assert result.exit_code == 1, result.output
    assert "s3:GetObjectVersion" in result.output
    assert "no identity-based policy allows the s3:GetObjectVersion action" in result.output


def test_an_upload_under_another_key_is_refused_by_the_bucket_policy(
    stack: dict[str, Any], crew: StackActors, office_folder: Path
) -> None:
    out, aws = stack["outputs"], stack["aws"]
    other = aws.client("kms").create_key(Description="not the stack's")["KeyMetadata"]["Arn"]

    result = cli_as(
        crew.office,
        "backup",
        str(office_folder),
        "--bucket",
        out["BackupBucketName"],
        "--kms-key-id",
        other,
    )

    assert result.exit_code == 2, result.output
    assert "explicit deny in a resource-based policy" in result.stderr
    # nothing at all was written: the first write, the lease, was the one refused
    listed = aws.client("s3").list_object_versions(Bucket=out["BackupBucketName"])
    assert listed.get("Versions", []) == [] and listed.get("DeleteMarkers", []) == []


def test_the_functions_nights_first_unchanged_and_refresh(
    stack: dict[str, Any], crew: StackActors, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, aws = stack["outputs"], stack["aws"]
    now = dt.datetime.now(dt.UTC)
    engine = importlib.import_module("docbackup.engine.backup")
    defaults = engine.backup.__kwdefaults__
    assert defaults is not None
    nights = []
    for days_ago in (6, 5):  # the engine's clock as it read then
        then = now - dt.timedelta(days=days_ago)
        with monkeypatch.context() as m:
            m.setitem(defaults, "clock", lambda then=then: then)
            event = {"date": then.date().isoformat()}
            nights.append(demo._invoke(aws, out["BackupLambdaArn"], event, crew.function))
    first, again = nights
    # Six days on, retention 7 (dev): every untouched copy is refreshed by a server-side copy.
    refresh = demo._invoke(aws, out["BackupLambdaArn"], {"date": tonight()}, crew.function)

    assert (first["status"], first["new"]) == ("complete", 25)
    assert (again["status"], again["unchanged"]) == ("complete", 25)
    assert (refresh["status"], refresh["refreshed"]) == ("complete", 25)
    assert refused(aws) == []
    assert aws.requests.by_principal[crew.function.arn] > 0


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_archived_copies_are_sent_again_and_restored_within_the_policies(
    stack: dict[str, Any], crew: StackActors, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out, aws = stack["outputs"], stack["aws"]
    s3 = aws.client("s3")
    source = f"{stack['name']}-office"
    for i in range(2):  # above lifecycle's 128 KB floor for archive transitions
        s3.put_object(Bucket=source, Key=f"docs/scan-{i}.pdf", Body=os.urandom(200_000))
    engine = importlib.import_module("docbackup.engine.backup")
    then = dt.datetime.now(dt.UTC) - dt.timedelta(days=6)
    with monkeypatch.context() as m:
        assert engine.backup.__kwdefaults__ is not None
        m.setitem(engine.backup.__kwdefaults__, "clock", lambda: then)
        event = {"date": then.date().isoformat()}
        first = demo._invoke(aws, out["BackupLambdaArn"], event, crew.function)
    assert first["status"] == "complete"
    # GIVEN lifecycle moved the large copies to Glacier since
    glacier = [
        {
            "ID": "g",
            "Status": "Enabled",
            "Filter": {"Prefix": "backups/"},
            "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}],
        }
    ]
    moved = archive_aging.age(s3, out["BackupBucketName"], days=2, rules=glacier)
    assert {m.key.rsplit("/", 1)[-1] for m in moved} == {"scan-0.pdf", "scan-1.pdf"}

    # WHEN tonight's refresh meets them, the function sends them again from the source
    resent = demo._invoke(aws, out["BackupLambdaArn"], {"date": tonight()}, crew.function)
    assert (resent["status"], resent["resent"]) == ("complete", 2)

    # AND a restorer asks S3 for the archived night back, then restores it
    common = (
        then.date().isoformat(),
        "--to",
        str(tmp_path / "back"),
        "--bucket",
        out["BackupBucketName"],
        "--json",
        "--overwrite",
    )
    asked = cli_as(crew.restorer, "restore", *common, "--tier", "bulk", "--yes")
    assert json.loads(asked.stdout)["restores_requested"] == 2, asked.output
    done = cli_as(crew.restorer, "restore", *common)
    assert done.exit_code == 0, done.output

    # THEN every request was within the function's and the restorer's policies
    assert refused(aws) == []


def test_the_bucket_policy_takes_the_key_by_id_and_refuses_sse_kms_without_a_key(
    stack: dict[str, Any], crew: StackActors, tmp_path: Path
) -> None:
    out, aws = stack["outputs"], stack["aws"]
    bucket = out["BackupBucketName"]
    folder = tmp_path / "small"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"under the key, named by its id")

    by_id = cli_as(
        crew.office, "backup", str(folder), "--bucket", bucket, "--kms-key-id", out["KMSKeyId"]
    )
    assert by_id.exit_code == 0, by_id.output
    assert refused(aws) == []

    # SSE-KMS named without a key would be the AWS managed key aws/s3 on AWS
    s3 = aws.client("s3", crew.office.credentials)
    with pytest.raises(ClientError) as caught:
        s3.put_object(
            Bucket=bucket, Key="backups/x/y.txt", Body=b"x", ServerSideEncryption="aws:kms"
        )
    assert "explicit deny in a resource-based policy" in str(caught.value)
