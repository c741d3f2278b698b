"""End to end: lib/TapStack.yml deployed to moto on 127.0.0.1, nights run by its handler."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from docbackup.cli.main import cli
from docbackup.errors import ConfigError
from docbackup.sandbox import demo
from docbackup.sandbox.moto_gaps import MotoGaps
from docbackup.sandbox.server import LocalAWS
from docbackup.stack import package
from docbackup.stack.deploy import DeployRequest, deploy


def test_a_night_stores_every_document_under_the_stack_key(stack: dict[str, Any]) -> None:
    out, aws = stack["outputs"], stack["aws"]
    assert stack["action"] == "created"
    assert json.loads(Path("cfn-outputs/flat-outputs.json").read_text()) == out

    summary = demo._invoke(
        aws,
        out["BackupLambdaArn"],
        {"trigger": "schedule", "scheduled_time": "2025-10-15T02:00:00Z"},
    )

    assert (summary["status"], summary["new"]) == ("complete", 25)
    assert summary["metrics"]["BackupSuccess"] == 1.0
    s3 = aws.client("s3")
    listed = s3.list_objects_v2(
        Bucket=out["BackupBucketName"], Prefix="backups/2025-10-15/documents/"
    )["Contents"]
    assert len(listed) == 25
    for obj in listed:
        head = s3.head_object(Bucket=out["BackupBucketName"], Key=obj["Key"])
        assert head["ServerSideEncryption"] == "aws:kms"
        assert out["KMSKeyArn"].endswith(head["SSEKMSKeyId"].split("/")[-1])


def test_status_reads_the_configuration_back(stack: dict[str, Any]) -> None:
    demo._invoke(stack["aws"], stack["outputs"]["BackupLambdaArn"], {"date": "2025-10-15"})

    result = CliRunner().invoke(cli, ["status", "--stack-name", stack["name"], "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "ok"
    assert all(c["ok"] for c in report["checks"]), report["checks"]
    assert len(report["checks"]) == 9
    assert [n["date"] for n in report["nights"]] == ["2025-10-15"]
    assert len(report["alarms"]) == 6


def test_a_hand_changed_setting_fails_its_check(stack: dict[str, Any]) -> None:
    stack["aws"].client("s3").put_bucket_versioning(
        Bucket=stack["outputs"]["BackupBucketName"],
        VersioningConfiguration={"Status": "Suspended"},
    )

    result = CliRunner().invoke(cli, ["status", "--stack-name", stack["name"], "--json"])

    assert result.exit_code == 1
    failed = [c["item"] for c in json.loads(result.stdout)["checks"] if not c["ok"]]
    assert failed == ["versioning"]


def test_deploying_again_updates_in_place(stack: dict[str, Any]) -> None:
    again = deploy(DeployRequest(stack["name"]), hooks=MotoGaps())

    assert again.action in ("updated", "unchanged")
    assert again.outputs == stack["outputs"]


def test_a_bucket_under_another_key_fails_the_encryption_check(stack: dict[str, Any]) -> None:
    stack["aws"].client("s3").put_bucket_encryption(
        Bucket=stack["outputs"]["BackupBucketName"],
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"},
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )

    result = CliRunner().invoke(cli, ["status", "--stack-name", stack["name"], "--json"])

    failed = [c["item"] for c in json.loads(result.stdout)["checks"] if not c["ok"]]
    assert failed == ["encryption under the stack key with bucket key"]


def test_creating_without_a_source_is_refused(aws_env: LocalAWS) -> None:
    with pytest.raises(ConfigError, match="--source-bucket"):
        deploy(DeployRequest("no-source-stack"), hooks=MotoGaps())
    result = CliRunner().invoke(cli, ["deploy", "--stack-name", "no-source-stack"])
    assert result.exit_code == 2 and "--source-bucket" in result.stderr


def test_the_function_package_holds_the_engine_and_powertools_but_not_boto3(
    tmp_path: Path,
) -> None:
    pkg = package.build()
    assert package.build().sha256 == pkg.sha256  # deterministic: same code, same key
    names = zipfile.ZipFile(io.BytesIO(pkg.data)).namelist()
    assert "docbackup/handler.py" in names
    assert any(n.startswith("aws_lambda_powertools/") for n in names)
    assert not any(
        n.startswith(("boto3/", "botocore/", "docbackup/cli/", "docbackup/sandbox/")) for n in names
    )
    zipfile.ZipFile(io.BytesIO(pkg.data)).extractall(tmp_path / "fn")
    # Import the handler from the package alone (plus the runtime's boto3), with the CLI's
    # libraries and the sandbox made unimportable, as in Lambda.
    probe = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in ('click', 'rich', 'moto', 'cfn_flip'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"sys.path.insert(0, {str(tmp_path / 'fn')!r})\n"
        "import docbackup.handler as h\n"
        "assert h.__file__.startswith(sys.path[0]), h.__file__\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "AWS_REGION": "us-east-1"},
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_the_function_package_carries_its_own_time_zone_database(tmp_path: Path) -> None:
    # GIVEN the function's zip, unpacked as Lambda unpacks it
    pkg = zipfile.ZipFile(io.BytesIO(package.build().data))
    assert "tzdata/zoneinfo/Europe/Berlin" in pkg.namelist()
    pkg.extractall(tmp_path / "fn")
    # WHEN zoneinfo looks for a zone with no system database (PYTHONTZPATH empty) and no
    # site-packages (-S), first without the package, then with it on the path
    probe = (
        "import datetime, sys, zoneinfo\n"
        "assert zoneinfo.TZPATH == (), zoneinfo.TZPATH\n"
        "try:\n"
        "    zoneinfo.ZoneInfo('Europe/Berlin')\n"
        "except zoneinfo.ZoneInfoNotFoundError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('a time-zone database outside the package was found')\n"
        f"sys.path.insert(0, {str(tmp_path / 'fn')!r})\n"
        "import tzdata\n"
        "assert tzdata.__file__.startswith(sys.path[0]), tzdata.__file__\n"
        "zoneinfo.ZoneInfo('UTC')\n"
        "berlin = zoneinfo.ZoneInfo('Europe/Berlin')\n"
        "print(datetime.datetime(2026, 7, 1, tzinfo=berlin).utcoffset())\n"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", probe],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONTZPATH": ""},
    )
    # THEN the zone resolves from the package's tzdata: summer time in Berlin is UTC+2
    assert done.stdout.strip() == "2:00:00", done.stderr
