"""The clients `status`, `deploy` and the report build, recorded as botocore makes them: each
comes from compose with the retry mode, timeouts and deadline, in the config file's region,
and the command leaves os.environ as it found it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from click.testing import CliRunner

from docbackup.cli.main import cli
from docbackup.errors import ConfigError
from docbackup.sandbox.server import REGION, LocalAWS
from docbackup.stack.deploy import DeployRequest, deploy
from docbackup.stack.status import status
from tests.unit.test_compose_clients import assert_docbackup_client


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every client botocore creates from here on."""
    clients: list[Any] = []
    create = botocore.session.Session.create_client

    def recording(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = create(self, *args, **kwargs)
        clients.append(client)
        return client

    monkeypatch.setattr(botocore.session.Session, "create_client", recording)
    yield clients


@pytest.fixture
def region_from_config(
    aws_env: LocalAWS, moto_bucket: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The moto endpoint and credentials from the environment, the region from the config."""
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    config = tmp_path / "config.toml"
    config.write_text(f'[stack]\nregion = "{REGION}"\nbucket = "{moto_bucket[0]}"\n')
    monkeypatch.setenv("DOCBACKUP_CONFIG", str(config))
    return moto_bucket[0]


def services(clients: list[Any]) -> set[str]:
    return {c.meta.service_model.service_name for c in clients}


def test_the_report_and_status_commands_build_their_clients_in_compose(
    region_from_config: str, made: list[Any], tmp_path: Path
) -> None:
    before = dict(os.environ)
    page = tmp_path / "page.html"
    report = CliRunner().invoke(cli, ["report", "--html", str(page), "--stack-name", "absent"])
    assert report.exit_code == 0, report.output
    shown = CliRunner().invoke(cli, ["status", "--stack-name", "absent"])
    assert shown.exit_code == 2 and "stack absent" in shown.output, shown.output

    assert {"s3", "cloudwatch", "cloudformation"} <= services(made)
    for client in made:
        assert_docbackup_client(client, REGION)
    assert dict(os.environ) == before


def test_status_and_deploy_build_every_client_in_compose(
    region_from_config: str, moto_bucket: tuple[str, str], made: list[Any]
) -> None:
    before = dict(os.environ)
    outputs = {
        "BackupBucketName": moto_bucket[0],
        "KMSKeyArn": f"arn:aws:kms:{REGION}:123456789012:key/{moto_bucket[1]}",
        "BackupLambdaArn": "absent-function",
        "EventBridgeRuleName": "absent-schedule",
    }
    report = status("absent", outputs=outputs, region=REGION)
    # Not a stack: most checks fail, each after asking its own service.
    assert not report.ok
    with pytest.raises(ConfigError, match="invalid stack name"):
        deploy(DeployRequest("-not-a-name"), region=REGION)

    assert {"s3", "kms", "cloudwatch", "scheduler", "lambda", "cloudformation"} <= services(made)
    for client in made:
        assert_docbackup_client(client, REGION)
    assert dict(os.environ) == before
