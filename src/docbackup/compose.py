"""The one place where boto3 clients are built and stores are wired together.

Settings resolve argument > environment > default. Region, credentials and endpoint come from
the standard AWS chain (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...), so the same code talks
to AWS, to the embedded sandbox, or to any S3-compatible server.
"""

from __future__ import annotations

import functools
import os
import threading
from collections import Counter
from typing import Any

from docbackup.engine.backup import MULTIPART_THRESHOLD
from docbackup.errors import ConfigError
from docbackup.sources.exclude import Excluder
from docbackup.sources.local import LocalSource
from docbackup.sources.s3 import ObjectSource, parse_s3_url
from docbackup.storage import deadline
from docbackup.storage.crt import CrtUploader
from docbackup.storage.s3 import S3Store, TransferSettings

CONNECT_TIMEOUT = 10
# The slowest link a request's deadline allows for, shared by all of a client's connections
# (1 Mbit/s): a request may take the read timeout plus its bytes at this rate (storage/deadline).
LINK_BYTES_PER_S = 125_000
# Multipart part size: boto3's default; a part is held in memory while it is sent.
PART_SIZE = 8 * 1024 * 1024
# Parallel parts within one large upload, on top of the per-document workers.
PART_CONCURRENCY = 4


class RequestCounter:
    """Counts HTTP requests by S3 operation, retries included: what a night really cost."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def __call__(self, event_name: str = "", **_: Any) -> None:
        # botocore names the event before-send.s3.<Operation>.
        with self._lock:
            self.counts[event_name.rsplit(".", 1)[-1]] += 1

    def count_crt_put(self) -> None:
        self("before-send.s3.PutObject")

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def s3_client(*, workers: int, counter: RequestCounter | None = None, core: Any = None) -> Any:
    from botocore.config import Config

    connections = workers + PART_CONCURRENCY
    config = Config(
        retries=retry_settings(),
        max_pool_connections=connections,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=read_timeout(),
        tcp_keepalive=True,
    )
    client = (core or core_session()).create_client("s3", config=config)
    deadline.install(client, request_deadline(connections))
    if counter is not None:
        client.meta.events.register("before-send.s3", counter)
    return client


def session() -> Any:
    """A boto3 session from the standard chain; AWS_REGION counts as well as AWS_DEFAULT_REGION."""
    import boto3

    found = boto3.session.Session()
    if found.region_name is None and os.environ.get("AWS_REGION"):
        return boto3.session.Session(region_name=os.environ["AWS_REGION"])
    return found


def core_session() -> Any:
    """The same chain as `session`, as a bare botocore session for the backup path.

    A night that sends nothing spends most of its time starting up: botocore alone skips
    importing boto3 and s3transfer (about 0.2 s), and one session shared by the S3 and KMS
    clients reads the endpoint data once.
    """
    import botocore.session

    core = botocore.session.get_session()
    if core.get_config_variable("region") is None and os.environ.get("AWS_REGION"):
        core.set_config_variable("region", os.environ["AWS_REGION"])
    return core


def read_timeout() -> float:
    return _number("DOCBACKUP_READ_TIMEOUT", 60.0)


def request_deadline(connections: int) -> deadline.Deadline:
    """Each attempt of a request: the read timeout, plus its bytes with `connections` sharing
    the slowest link allowed for."""
    return deadline.Deadline(read_timeout(), LINK_BYTES_PER_S / max(connections, 1))


def retry_settings() -> dict[str, Any]:
    """botocore's own retries, with the standard AWS_RETRY_MODE / AWS_MAX_ATTEMPTS settings.

    botocore retries throttling (503 SlowDown), 5xx, connection resets and read timeouts with
    jittered exponential backoff (at most 20 s a wait); "standard" also stops retrying once its
    token bucket is spent, so a server that fails every request fails a run fast. One call
    therefore takes at most max_attempts x (connect timeout + its attempt's deadline, see
    `request_deadline`) plus the backoff waits.
    """
    return {
        "mode": os.environ.get("AWS_RETRY_MODE", "standard"),
        "max_attempts": int(_number("AWS_MAX_ATTEMPTS", 6)),
    }


def _number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        raise ConfigError(f"{name} must be a number") from None


def kms_client(core: Any = None) -> Any:
    from botocore.config import Config

    config = Config(
        retries=retry_settings(), connect_timeout=CONNECT_TIMEOUT, read_timeout=read_timeout()
    )
    client = (core or core_session()).create_client("kms", config=config)
    deadline.install(client, request_deadline(1))  # one DescribeKey a run, on its own pool
    return client


def publish(topic_arn: str, subject: str, message: str) -> None:
    """A short notice on the stack's SNS topic."""

    session().client("sns").publish(TopicArn=topic_arn, Subject=subject, Message=message)


def transfer_config(multipart_threshold: int) -> TransferSettings:
    return TransferSettings(
        multipart_threshold=multipart_threshold,
        part_size=PART_SIZE,
        concurrency=PART_CONCURRENCY,
    )


def backup_store(
    bucket: str,
    *,
    workers: int,
    multipart_threshold: int = MULTIPART_THRESHOLD,
    counter: RequestCounter | None = None,
) -> S3Store:
    from botocore.exceptions import BotoCoreError

    try:
        core = core_session()
        client = s3_client(workers=workers, counter=counter, core=core)
        fast = None
        if os.environ.get("DOCBACKUP_CRT", "1") != "0":
            fast = functools.partial(
                CrtUploader.for_request,
                bucket=bucket,
                credentials=core.get_credentials(),
                connections=workers,
                timeout_s=read_timeout(),
                deadline=request_deadline(workers),
                on_request=None if counter is None else counter.count_crt_put,
                ca_bundle=core.get_config_variable("ca_bundle"),
            )
    except (BotoCoreError, ValueError) as exc:
        # A profile that does not exist, an endpoint URL that is not one, ...
        raise ConfigError(f"AWS configuration: {exc}") from None
    return S3Store(
        client,
        bucket,
        transfer=transfer_config(multipart_threshold),
        kms_client=lambda: kms_client(core),
        fast=fast,
    )


def source_for(
    spec: str,
    store: S3Store,
    *,
    exclude: tuple[str, ...] = (),
    default_excludes: bool = True,
) -> LocalSource | ObjectSource:
    """A folder, or s3://bucket/prefix read through the same client as the backup bucket,
    leaving out what `exclude` (gitignore syntax) and, unless turned off, the office suites'
    lock and temporary files match."""
    rules = Excluder(exclude, defaults=default_excludes)
    if spec.startswith("s3://"):
        bucket, prefix = parse_s3_url(spec)
        return ObjectSource(S3Store(store.client, bucket), prefix, exclude=rules)
    return LocalSource(spec, exclude=rules)
