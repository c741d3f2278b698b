"""Every AWS client docbackup builds comes from compose, with the retry mode, the timeouts and
the request deadline; a region passed in reaches the client without touching os.environ."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any

import pytest

from docbackup import compose
from docbackup.storage.deadline import _Timed

REGION = "eu-west-3"
# What status, deploy, init, the report and the notices ask of AWS.
SERVICES = ("cloudformation", "cloudwatch", "s3", "kms", "scheduler", "lambda", "sns", "sts")


@pytest.fixture(autouse=True)
def no_region_around(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No region from this machine's environment or profile: only what the test passes."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


def assert_docbackup_client(client: Any, region: str | None = REGION) -> None:
    config = client.meta.config
    assert config.retries["mode"] == "standard"
    # AWS_MAX_ATTEMPTS (default 6) counts every try, the first included: the README's bound.
    assert config.retries["total_max_attempts"] == 6
    assert (config.connect_timeout, config.read_timeout) == (compose.CONNECT_TIMEOUT, 60.0)
    assert config.tcp_keepalive
    pools = client._endpoint.http_session._pool_classes_by_scheme
    assert all(issubclass(pool.ConnectionCls, _Timed) for pool in pools.values())
    assert client.meta.region_name == region


BUILDERS: dict[str, Callable[[], Any]] = {
    "client": lambda: compose.client("sns", region=REGION),
    "s3_client": lambda: compose.s3_client(workers=3, region=REGION),
    "kms_client": lambda: compose.kms_client(region=REGION),
    "backup_store": lambda: compose.backup_store("b", workers=3, region=REGION).client,
    **{
        f"session().client({service!r})": (lambda s=service: compose.session(REGION).client(s))
        for service in SERVICES
    },
}


@pytest.mark.parametrize("build", BUILDERS.values(), ids=BUILDERS.keys())
def test_every_client_has_the_retry_mode_timeouts_deadline_and_region(
    build: Callable[[], Any],
) -> None:
    before = dict(os.environ)
    assert_docbackup_client(build())
    assert dict(os.environ) == before


def test_a_shared_client_gets_its_pool_and_a_deadline_for_its_share() -> None:
    client = compose.s3_client(workers=3, region=REGION)
    assert client.meta.config.max_pool_connections == 3 + compose.PART_CONCURRENCY
    connection = client._endpoint.http_session._pool_classes_by_scheme["https"].ConnectionCls
    assert connection.deadline == compose.request_deadline(3 + compose.PART_CONCURRENCY)


def test_a_notice_is_published_through_such_a_client(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[Any, dict[str, str]]] = []

    class Sns:
        def __init__(self, real: Any) -> None:
            self.real = real

        def publish(self, **args: str) -> None:
            sent.append((self.real, args))

    real_client = compose.client
    monkeypatch.setattr(compose, "client", lambda *a, **k: Sns(real_client(*a, **k)))
    compose.publish("arn:aws:sns:eu-west-3:111122223333:t", "subject", "text", region=REGION)
    [(client, args)] = sent
    assert_docbackup_client(client)
    assert args == {
        "TopicArn": "arn:aws:sns:eu-west-3:111122223333:t",
        "Subject": "subject",
        "Message": "text",
    }


def test_the_session_names_its_region() -> None:
    assert compose.session(REGION).region_name == REGION
    assert compose.session().region_name is None


def test_the_environments_region_wins_over_the_one_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As when the config file's region was only written where the environment named none.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert compose.client("sts", region=REGION).meta.region_name == "ap-south-1"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "ca-central-1")
    assert compose.client("sts", region=REGION).meta.region_name == "ca-central-1"


class _Stop(Exception):
    """Raised where a command would first reach AWS: how far the test lets it go."""


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--bucket", "b"],
        ["status", "--stack-name", "s"],
        ["deploy", "--stack-name", "s"],
        ["report", "--bucket", "b", "--html", "report.html"],
        ["run"],
    ],
    ids=lambda a: a[0],
)
def test_the_config_files_region_reaches_a_commands_clients_as_an_argument(
    args: list[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    from click.testing import CliRunner

    from docbackup.cli import config as cfg
    from docbackup.cli.main import cli

    path = tmp_path / "config.toml"
    office = cfg.SetConfig("office", str(tmp_path))
    config = cfg.Config(path=str(path), region=REGION, bucket="b", sets={"office": office})
    cfg.save(config, now=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    seen: list[str | None] = []
    real = compose.core_session

    def first_session(region: str | None = None) -> Any:
        seen.append(real(region).get_config_variable("region"))
        raise _Stop

    monkeypatch.setattr(compose, "core_session", first_session)
    monkeypatch.chdir(tmp_path)
    before = dict(os.environ)
    with pytest.raises(_Stop):
        CliRunner().invoke(cli, ["--config", str(path), *args], catch_exceptions=False)
    assert seen == [REGION]
    assert dict(os.environ) == before


class _Sent(Exception):
    """Raised in place of sending: the test has seen the request."""


@pytest.mark.parametrize(
    ("operation", "body", "expects"),
    [
        ("put_object", b"x" * 10_000, False),
        ("put_object", io.BytesIO(b"x" * 10_000), False),  # a file, as a folder's document
        ("upload_part", io.BytesIO(b"x" * 10_000), False),
        ("put_object", io.BytesIO(b"x" * (2 * 1024 * 1024)), True),
        ("upload_part", io.BytesIO(b"x" * (8 * 1024 * 1024)), True),  # a multipart part
    ],
)
def test_small_uploads_do_not_wait_a_round_trip_for_100_continue(
    monkeypatch: pytest.MonkeyPatch, operation: str, body: Any, expects: bool
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    client = compose.s3_client(workers=1, region=REGION)
    seen: dict[str, Any] = {}

    def sent(request: Any, **_: Any) -> None:
        seen.update(request.headers)
        raise _Sent

    client.meta.events.register("before-send.s3", sent)
    args: dict[str, Any] = {"Bucket": "b", "Key": "k", "Body": body}
    if operation == "upload_part":
        args |= {"UploadId": "u", "PartNumber": 1}
    with pytest.raises(_Sent):
        getattr(client, operation)(**args)

    assert (seen.get("Expect") == b"100-continue") is expects, seen
