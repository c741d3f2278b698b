"""The one place where AWS clients are built and stores are wired together.

Every client, whatever its service, has the same retry mode, timeouts and request deadline
(`client`). Settings resolve argument > environment > default. Credentials and endpoint come
from the standard AWS chain (AWS_PROFILE, AWS_ENDPOINT_URL, ...), so the same code talks to
AWS, to the embedded sandbox, or to any S3-compatible server. The region too, except that a
caller may pass the config file's (`region`): it stands in for an environment that names none.
"""

from __future__ import annotations

import functools
import os
import threading
from collections import Counter
from typing import Any

from docbackup import tuning
from docbackup.engine.options import MULTIPART_THRESHOLD
from docbackup.errors import ConfigError
from docbackup.sources.exclude import Excluder
from docbackup.sources.local import LocalSource
from docbackup.sources.s3 import ObjectSource, parse_s3_url
from docbackup.storage import deadline
from docbackup.storage.crt import CrtClient
from docbackup.storage.s3 import S3Store, TransferSettings
from docbackup.storage.s3.wire import send_small_bodies_at_once
from docbackup.storage.throttle import Throttle

CONNECT_TIMEOUT = 10
# The slowest link a request's deadline allows for, shared by all of a client's connections
# (1 Mbit/s): a request may take the read timeout plus its bytes at this rate (storage/deadline).
LINK_BYTES_PER_S = 125_000
PART_SIZE = tuning.PART_SIZE
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

    def count_crt(self, operation: str) -> None:
        """A request the CRT fast path sent (botocore's events never see it)."""
        self(f"before-send.s3.{operation}")

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def client(
    service: str,
    *,
    region: str | None = None,
    core: Any = None,
    connections: int | None = None,
    throttle: Throttle | None = None,
) -> Any:
    """A client for `service` with the retry mode, the timeouts and the request deadline.

    `core`: the botocore session to build it from (its region then stands, not `region`);
    `connections`: the pool, for a client that threads share (botocore's own otherwise);
    `throttle`: the cap its connections' sends share (`--limit-upload`).
    """
    from botocore.config import Config

    pool = {} if connections is None else {"max_pool_connections": connections}
    config = Config(
        retries=retry_settings(),
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=read_timeout(),
        tcp_keepalive=True,
        **pool,
    )
    made = (core or core_session(region)).create_client(service, config=config)
    # A client used one request at a time gets the whole of the slowest link's share.
    deadline.install(made, request_deadline(connections or 1, throttle), throttle)
    return made


def s3_client(
    *,
    workers: int,
    counter: RequestCounter | None = None,
    core: Any = None,
    region: str | None = None,
    throttle: Throttle | None = None,
) -> Any:
    made = client(
        "s3", region=region, core=core, connections=workers + PART_CONCURRENCY, throttle=throttle
    )
    send_small_bodies_at_once(made)
    if counter is not None:
        made.meta.events.register("before-send.s3", counter)
    return made


class Aws:
    """Clients for one account and region, each from `client`: what the stack's commands, the
    report and the notices use where a boto3 session used to stand (`client`, `region_name`).
    """

    def __init__(self, region: str | None = None) -> None:
        self._core = core_session(region)

    @property
    def region_name(self) -> str | None:
        found: str | None = self._core.get_config_variable("region")
        return found

    def client(self, service: str) -> Any:
        return client(service, core=self._core)


def session(region: str | None = None) -> Aws:
    """The standard chain's account and region; AWS_REGION counts as well as
    AWS_DEFAULT_REGION, and `region` (the config file's) where the environment names none."""
    return Aws(region)


def resolve_region(region: str | None) -> str | None:
    """The region to set on a session, or None to leave it to the chain: the environment's
    (AWS_REGION, AWS_DEFAULT_REGION) wins, then `region` (the config file's), then the
    profile's. Passed, never written into os.environ, where it would outlive the command and
    reach every child process."""
    if os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"):
        return None
    return region


def core_session(region: str | None = None) -> Any:
    """A botocore session from the standard chain, `region` as `resolve_region` has it.

    Bare botocore, not boto3: a night that sends nothing spends most of its time starting up,
    and botocore alone skips importing boto3 and s3transfer (about 0.2 s); one session shared
    by a command's clients reads the endpoint data once.
    """
    import botocore.session

    core = botocore.session.get_session()
    chosen = resolve_region(region)
    if chosen:
        core.set_config_variable("region", chosen)
    elif core.get_config_variable("region") is None and os.environ.get("AWS_REGION"):
        # botocore reads only AWS_DEFAULT_REGION; AWS_REGION is what SDKs and Lambda set.
        core.set_config_variable("region", os.environ["AWS_REGION"])
    return core


def read_timeout() -> float:
    return _number("DOCBACKUP_READ_TIMEOUT", 60.0)


def request_deadline(connections: int, throttle: Throttle | None = None) -> deadline.Deadline:
    """Each attempt of a request: the read timeout, plus its bytes with `connections` sharing
    the slowest link allowed for, or the upload cap where that is slower."""
    link = LINK_BYTES_PER_S if throttle is None else min(LINK_BYTES_PER_S, throttle.rate)
    return deadline.Deadline(read_timeout(), link / max(connections, 1))


def retry_settings() -> dict[str, Any]:
    """botocore's own retries, with the standard AWS_RETRY_MODE / AWS_MAX_ATTEMPTS settings.

    botocore retries throttling (503 SlowDown), 5xx, connection resets and read timeouts with
    jittered exponential backoff (at most 20 s a wait); "standard" also stops retrying once its
    token bucket is spent, so a server that fails every request fails a run fast. One call
    therefore takes at most AWS_MAX_ATTEMPTS x (connect timeout + its attempt's deadline, see
    `request_deadline`) plus the backoff waits.
    """
    return {
        "mode": os.environ.get("AWS_RETRY_MODE", "standard"),
        # AWS_MAX_ATTEMPTS counts the first try, as in every AWS SDK; botocore's own
        # "max_attempts" key would count retries only, one more try than the README's bound.
        "total_max_attempts": int(_number("AWS_MAX_ATTEMPTS", 6)),
    }


def _number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        raise ConfigError(f"{name} must be a number") from None


def kms_client(core: Any = None, *, region: str | None = None) -> Any:
    return client("kms", region=region, core=core)  # one DescribeKey a run


def publish(topic_arn: str, subject: str, message: str, *, region: str | None = None) -> None:
    """A short notice on the stack's SNS topic."""
    client("sns", region=region).publish(TopicArn=topic_arn, Subject=subject, Message=message)


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
    region: str | None = None,
    limit_upload: float | None = None,
) -> S3Store:
    """`limit_upload`: at most this many bytes a second sent, by both upload paths."""
    from botocore.exceptions import BotoCoreError

    throttle = None if limit_upload is None else Throttle(limit_upload)
    try:
        core = core_session(region)
        client = s3_client(workers=workers, counter=counter, core=core, throttle=throttle)
        fast = None
        if os.environ.get("DOCBACKUP_CRT", "1") != "0":
            fast = functools.partial(
                CrtClient.for_request,
                bucket=bucket,
                credentials=core.get_credentials(),
                connections=workers,
                timeout_s=read_timeout(),
                deadline=request_deadline(workers, throttle),
                throttle=throttle,
                on_request=None if counter is None else counter.count_crt,
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
    top_level_only: bool = False,
) -> LocalSource | ObjectSource:
    """A folder, or s3://bucket/prefix read through the same client as the backup bucket,
    leaving out what `exclude` (gitignore syntax) and, unless turned off, the office suites'
    lock and temporary files match."""
    rules = Excluder(exclude, defaults=default_excludes)
    if spec.startswith("s3://"):
        bucket, prefix = parse_s3_url(spec)
        return ObjectSource(
            store.other_bucket(bucket), prefix, exclude=rules, top_level_only=top_level_only
        )
    if top_level_only:
        raise ConfigError("only an S3 source can be backed up at its top level only")
    return LocalSource(spec, exclude=rules)
