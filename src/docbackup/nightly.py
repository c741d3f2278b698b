"""The nightly job's adapter: event and environment in, one engine run, metrics out.

The Lambda handler (docbackup.handler) is a thin shell around `run`. Settings come from the
environment variables the stack sets, named once here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol
from zoneinfo import ZoneInfo

from docbackup import compose, layout, notices, tuning
from docbackup.engine import BackupOptions, BackupResult, backup
from docbackup.engine.options import DEFAULT_RETENTION_DAYS, MIN_RETENTION_DAYS
from docbackup.engine.results import WatchResult
from docbackup.engine.watch import keep_watching, watch
from docbackup.errors import ConfigError
from docbackup.storage.base import Encryption, Store

# Environment variables set by lib/TapStack.yml.
BACKUP_BUCKET = "BACKUP_BUCKET"
KMS_KEY_ARN = "KMS_KEY_ARN"
SOURCE_BUCKET = "SOURCE_BUCKET"
SOURCE_PREFIX = "SOURCE_PREFIX"
BACKUP_SET = "BACKUP_SET"
RETENTION_DAYS = "RETENTION_DAYS"
TIMEZONE = "TIMEZONE"
ENVIRONMENT = "ENVIRONMENT"
WORKERS = "WORKERS"
NOTIFY_TOPIC_ARN = "NOTIFY_TOPIC_ARN"
NOTIFY_ON_SUCCESS = "NOTIFY_ON_SUCCESS"
# Seconds before the function's timeout after which no transfer starts (see BackupOptions).
TIME_RESERVE_SECONDS = "TIME_RESERVE_SECONDS"
# "true" to back up into a bucket without versioning; the stack's bucket has it, so the
# template never sets this (a test's S3-compatible server may lack it).
ALLOW_UNVERSIONED = "ALLOW_UNVERSIONED"
# Megabytes (10^6 bytes) of stored copies read back and re-hashed each night (the stack's
# ReadBackMBPerNight; a template cannot multiply, so the unit is the parameter's).
READ_BACK_MB = "READ_BACK_MB"
# The fan-out's items at once (the stack's FanOutConcurrency): the plan hands it to the map.
FAN_OUT_CONCURRENCY = "FAN_OUT_CONCURRENCY"
# What the template sets (WORKERS is an optional tuning knob with a measured default).
STACK_SETTINGS = (
    BACKUP_BUCKET,
    KMS_KEY_ARN,
    SOURCE_BUCKET,
    SOURCE_PREFIX,
    BACKUP_SET,
    RETENTION_DAYS,
    TIMEZONE,
    ENVIRONMENT,
    NOTIFY_TOPIC_ARN,
    NOTIFY_ON_SUCCESS,
    TIME_RESERVE_SECONDS,
    READ_BACK_MB,
    FAN_OUT_CONCURRENCY,
)

_MANUAL_KEYS = {"date", "dry_run"}
# The state machine's events (FanOut in the stack): "plan" asks for the items, "fan-out" is
# one item's night, "watch" looks at every set once after the items.
PLAN, FAN_OUT, WATCH = "plan", "fan-out", "watch"
_ITEM_KEYS = {"trigger", "scheduled_time", "set", "prefix", "top_level_only"}
# A state's input and output are at most 256 KiB in Step Functions: a plan whose items would
# not fit is refused, loudly, rather than cut short.
MAX_PLAN_BYTES = 200_000


class MetricsSink(Protocol):
    def add_metric(self, name: str, unit: str, value: float) -> None: ...


@dataclass(frozen=True, slots=True)
class Settings:
    bucket: str
    kms_key_arn: str
    source: str
    set_name: str
    retention_days: int
    timezone: str
    environment: str
    workers: int
    reserve_s: float
    notify_topic_arn: str | None
    notify_on_success: bool
    allow_unversioned: bool = False
    read_back_bytes: int = 0
    fan_out_concurrency: int = 1

    @property
    def source_bucket(self) -> str:
        return self.source.removeprefix("s3://").split("/", 1)[0]

    @property
    def source_prefix(self) -> str:
        prefix = self.source.removeprefix("s3://").partition("/")[2]
        return prefix + "/" if prefix else ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def need(name: str) -> str:
            value = env.get(name, "")
            if not value:
                raise ConfigError(f"environment variable {name} is not set")
            return value

        prefix = env.get(SOURCE_PREFIX, "").strip("/")
        try:
            settings = cls(
                bucket=need(BACKUP_BUCKET),
                kms_key_arn=need(KMS_KEY_ARN),
                source=f"s3://{need(SOURCE_BUCKET)}/{prefix}",
                set_name=layout.check_set_name(env.get(BACKUP_SET, layout.DEFAULT_SET)),
                retention_days=int(env.get(RETENTION_DAYS, str(DEFAULT_RETENTION_DAYS))),
                timezone=env.get(TIMEZONE, "UTC"),
                environment=env.get(ENVIRONMENT, "dev"),
                workers=int(env.get(WORKERS, str(tuning.WORKERS))),
                reserve_s=float(env.get(TIME_RESERVE_SECONDS, "120")),
                notify_topic_arn=env.get(NOTIFY_TOPIC_ARN) or None,
                notify_on_success=env.get(NOTIFY_ON_SUCCESS, "false").lower() == "true",
                allow_unversioned=env.get(ALLOW_UNVERSIONED, "false").lower() == "true",
                # CloudFormation's Number takes 2.5 as readily as 2.
                read_back_bytes=round(float(env.get(READ_BACK_MB, "0")) * 1_000_000),
                fan_out_concurrency=int(env.get(FAN_OUT_CONCURRENCY, "1")),
            )
        except (ValueError, OverflowError) as exc:
            raise ConfigError(f"bad setting in the environment: {exc}") from None
        if settings.read_back_bytes < 0:
            raise ConfigError(f"environment variable {READ_BACK_MB} must not be negative")
        if settings.fan_out_concurrency < 1:
            raise ConfigError(f"environment variable {FAN_OUT_CONCURRENCY} must be at least 1")
        if settings.retention_days < MIN_RETENTION_DAYS:
            # Checked with the other settings, not left for the backup to refuse every night.
            raise ConfigError(
                f"environment variable {RETENTION_DAYS} is {settings.retention_days}: "
                f"retention must be at least {MIN_RETENTION_DAYS} days"
            )
        return settings


@dataclass(frozen=True, slots=True)
class Request:
    date: dt.date | None
    dry_run: bool
    # One item of a fan-out: the set and source prefix it names, instead of the stack's.
    item: Item | None = None


@dataclass(frozen=True, slots=True)
class Item:
    set_name: str
    prefix: str  # the whole key prefix in the source bucket, ending in '/' (or empty)
    top_level_only: bool


def trigger(event: object) -> str | None:
    return event.get("trigger") if isinstance(event, dict) else None


def _item(event: dict[str, object], settings: Settings) -> Item:
    """A fan-out item, checked against the stack's own source: an item can narrow the night to
    a part of the source prefix, never reach outside it."""
    if unknown := set(event) - _ITEM_KEYS:
        raise ConfigError(f"unknown fan-out item field(s) {sorted(unknown)}")
    set_name, prefix = event.get("set"), event.get("prefix")
    top = event.get("top_level_only", False)
    if not isinstance(set_name, str) or not isinstance(prefix, str) or not isinstance(top, bool):
        raise ConfigError("a fan-out item needs set and prefix strings (top_level_only: bool)")
    own = settings.source_prefix
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    if not prefix.startswith(own):
        raise ConfigError(f"fan-out item prefix {prefix!r} is outside the source prefix {own!r}")
    return Item(layout.check_set_name(set_name), prefix, top)


def parse_event(event: object, timezone: str, settings: Settings | None = None) -> Request:
    """The schedule's event (with its scheduled time), a fan-out item (the same, with the set
    and prefix it names), or a manual {"date", "dry_run"} event.

    The night is taken from the scheduled time, not the clock, so a retry after midnight still
    completes the night it was meant for.
    """
    if not isinstance(event, dict):
        raise ConfigError(f"event must be a JSON object, got {type(event).__name__}")
    if event.get("trigger") == FAN_OUT:
        if settings is None or "scheduled_time" not in event:
            raise ConfigError("a fan-out item needs the stack's settings and a scheduled_time")
        item = _item(event, settings)
        night = parse_event({"scheduled_time": event["scheduled_time"]}, timezone)
        return replace(night, item=item)
    scheduled = event.get("scheduled_time") or (
        event.get("time") if event.get("source") == "aws.events" else None
    )
    if scheduled is not None:
        try:
            when = dt.datetime.fromisoformat(str(scheduled).replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"event has an unreadable scheduled time {scheduled!r}") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return Request(when.astimezone(ZoneInfo(timezone)).date(), dry_run=False)
    unknown = set(event) - _MANUAL_KEYS - {"trigger"}
    if unknown:
        raise ConfigError(
            f"unknown event field(s) {sorted(unknown)}: a manual run takes "
            '{"date": "YYYY-MM-DD", "dry_run": true}'
        )
    date = event.get("date")
    if date is not None and not isinstance(date, str):
        raise ConfigError("event field date must be a string YYYY-MM-DD")
    dry_run = event.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ConfigError("event field dry_run must be true or false")
    return Request(layout.parse_date(date) if date else None, dry_run)


def run(
    event: object,
    time_left: Callable[[], float],
    metrics: MetricsSink,
    env: Mapping[str, str] | None = None,
) -> BackupResult:
    """One night. Emits the metrics; the caller raises on anything but a complete run."""
    started = dt.datetime.now(dt.UTC)
    settings: Settings | None = None
    store: Store | None = None
    request = Request(None, dry_run=True)  # until the event is read: nothing to watch for
    try:
        settings = Settings.from_env(os.environ if env is None else env)
        request = parse_event(event, settings.timezone, settings)
        if request.item is not None:
            settings = replace(
                settings,
                set_name=request.item.set_name,
                source=f"s3://{settings.source_bucket}/{request.item.prefix}",
            )
        store = compose.backup_store(settings.bucket, workers=settings.workers)
        item = request.item
        top_level_only = item is not None and item.top_level_only
        # The documents beside the folders may well be none, when everything lives in folders:
        # an empty night then, not a failure. With no folders either, the prefix is wrong or the
        # share empty, and the night is refused as without the fan-out.
        allow_empty = (
            item is not None
            and item.top_level_only
            and bool(store.other_bucket(settings.source_bucket).folders(item.prefix))
        )
        options = BackupOptions(
            allow_empty=allow_empty,
            set_name=settings.set_name,
            date=request.date,
            timezone=settings.timezone,
            encryption=Encryption("aws:kms", settings.kms_key_arn),
            retention_days=settings.retention_days,
            workers=settings.workers,
            dry_run=request.dry_run,
            time_left=time_left,
            reserve_s=settings.reserve_s,
            allow_unversioned=settings.allow_unversioned,
            check_clock=True,
            read_back_bytes=0 if request.dry_run else settings.read_back_bytes,
        )
        # Everything under the source prefix, as before exclude patterns existed: the office
        # suites' lock files are a desktop's, and the function has no one to tell what it left.
        source = compose.source_for(
            settings.source,
            store,
            default_excludes=False,
            top_level_only=top_level_only,
        )
        result = backup(store, source, options)
    except Exception:
        metrics.add_metric("BackupFailure", "Count", 1)
        metrics.add_metric(
            "BackupDuration", "Seconds", (dt.datetime.now(dt.UTC) - started).total_seconds()
        )
        if (
            store is not None
            and settings is not None
            and not request.dry_run
            and request.item is None  # the fan-out watches once, after every item
        ):
            # The other sets are watched even when this one's night fails; nothing of that
            # may take the place of the night's own error.
            with contextlib.suppress(Exception):
                _tell_stale(settings, *_look(store, settings, metrics))
        raise
    if result.dry_run:
        return result  # nothing was stored: neither a good night nor a bad one
    if request.item is None:
        result = _watch_every_set(store, settings, result, metrics)
    ok = result.status == "complete"
    metrics.add_metric("BackupSuccess", "Count", 1 if ok else 0)
    metrics.add_metric("BackupFailure", "Count", 0 if ok else 1)
    metrics.add_metric("DocumentsBackedUp", "Count", result.documents)
    metrics.add_metric(
        "DocumentsUploaded", "Count", result.new + result.changed + result.resent + result.healed
    )
    metrics.add_metric("DocumentsHealed", "Count", result.healed)
    # Copies read back and found damaged with no good copy left: VerifyMismatchAlarm.
    metrics.add_metric("VerifyMismatch", "Count", len(result.damaged))
    metrics.add_metric("DocumentsFailed", "Count", result.failed)
    metrics.add_metric("BytesStored", "Bytes", result.bytes_stored)
    metrics.add_metric("BackupDuration", "Seconds", result.duration_s)
    metrics.add_metric("BackupIncomplete", "Count", 1 if result.out_of_time else 0)
    if settings.notify_topic_arn and notices.due(result, on_success=settings.notify_on_success):
        compose.publish(settings.notify_topic_arn, notices.subject(result), notices.message(result))
    return result


def _watch_every_set(
    store: Store, settings: Settings, result: BackupResult, metrics: MetricsSink
) -> BackupResult:
    watched, error = _look(store, settings, metrics)
    return replace(result, watched=watched, watch_error=error)


def _look(
    store: Store, settings: Settings, metrics: MetricsSink
) -> tuple[WatchResult | None, str | None]:
    """Every set with a night within retention, this one and the office machines': StaleSets
    counts those without a complete night in 26 hours (StaleSetsAlarm), and each stale one is
    noted so that it stays in view. A look that fails emits nothing (the alarm keeps its
    state) and says why; it never costs the night its other metrics."""
    now = dt.datetime.now(dt.UTC)
    try:
        watched = watch(store, now=now, retention_days=settings.retention_days)
        noted = keep_watching(
            store,
            watched.stale,
            date=now.date(),
            encryption=Encryption("aws:kms", settings.kms_key_arn),
        )
    except Exception as exc:
        return None, f"could not look at the bucket's other sets: {exc}"
    metrics.add_metric("StaleSets", "Count", len(watched.stale))
    if noted:
        watched = replace(watched, problems=watched.problems + tuple(noted))
    return watched, None


def _tell_stale(
    settings: Settings,
    watched: WatchResult | None,
    error: str | None,
    after: str | None = None,
) -> None:
    """After a night that failed: its own failure raises the alarms, but stale sets of other
    machines are said too, as a good night would (and after a fan-out, for every set)."""
    if not settings.notify_topic_arn:
        return
    lines = [f"STALE {s.said(watched.checked_at)}" for s in watched.stale] if watched else []
    lines += [error] if error else []
    if lines:
        when = after or f"{settings.set_name}'s night failed"
        compose.publish(
            settings.notify_topic_arn,
            f"docbackup: stale sets ({when})"[: notices.SUBJECT_LIMIT],
            "\n".join(lines),
        )


def plan(env: Mapping[str, str] | None = None) -> dict[str, object]:
    """The fan-out's items: one set for each "folder" directly under the source prefix, and
    the stack's own set for the documents beside them (so nothing under the prefix is left to
    no set). Read fresh each night: a folder made today is a set tonight."""
    settings = Settings.from_env(os.environ if env is None else env)
    store = compose.backup_store(settings.bucket, workers=settings.workers)
    folders = store.other_bucket(settings.source_bucket).folders(settings.source_prefix)
    items: list[dict[str, object]] = [
        {"set": settings.set_name, "prefix": settings.source_prefix, "top_level_only": True}
    ]
    items += [
        {"set": layout.set_for_prefix(f), "prefix": f, "top_level_only": False} for f in folders
    ]
    size = len(json.dumps(items))
    if size > MAX_PLAN_BYTES:
        raise ConfigError(
            f"{len(items)} fan-out items take {size:,} bytes, more than a state's input holds "
            f"({MAX_PLAN_BYTES:,}): point SourcePrefix one level down, or split the stack"
        )
    return {"items": items, "concurrency": settings.fan_out_concurrency}


def watch_once(metrics: MetricsSink, env: Mapping[str, str] | None = None) -> WatchResult:
    """After a fan-out's items: every set looked at once (StaleSets), stale ones told. Raises
    when the bucket cannot be read, so the execution fails and its alarm says so."""
    settings = Settings.from_env(os.environ if env is None else env)
    store = compose.backup_store(settings.bucket, workers=settings.workers)
    watched, error = _look(store, settings, metrics)
    if watched is None:
        raise ConfigError(error or "could not look at the bucket's sets")
    _tell_stale(settings, watched, None, after="the fan-out's nights")
    return watched


def environment() -> str:
    """The metrics dimension: the stack's Environment parameter."""
    return os.environ.get(ENVIRONMENT, "dev")
