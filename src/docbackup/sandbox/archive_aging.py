"""Lifecycle's storage-class transitions, played on the sandbox's moto when a test asks.

moto 5.2.5 stores a bucket's lifecycle rules but never runs them: a stored copy stays STANDARD
however old it is. On AWS the stack's ArchiveLargerCopies rule moves it to GLACIER or
DEEP_ARCHIVE, and from then on CopyObject answers ObjectNotInActiveTierError and GetObject
InvalidObjectState until a restore request has made a temporary copy. moto gives both answers
for a key whose storage class is an archive class, so setting the class of the keys in its
in-process backend is all it takes for tests to meet the real error paths.

`age` puts each version of a bucket in the class the rules would have moved it to by a given
moment. Modelled, as the S3 user guide describes lifecycle:
- Enabled rules, filtered by Prefix, ObjectSizeGreaterThan, ObjectSizeLessThan or an And of
  them, or by the older top-level Prefix;
- Transitions by Days apply to the current version, counted from its creation; and
  NoncurrentVersionTransitions by NoncurrentDays, counted from when its successor was written.
  Both are rounded up to the next midnight UTC, as S3 does;
- without a size filter, objects under 128 KB stay where they are (the default
  TransitionDefaultMinimumObjectSize, all_storage_classes_128K);
- a version only moves down the classes (STANDARD ... DEEP_ARCHIVE), never back up.
Not modelled: Date transitions and tag filters (refused), NewerNoncurrentVersions, expiry,
minimum storage durations and their charges, and the time a restore takes.

Only for a moto server running in this process (`sandbox.server.LocalAWS`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Lifecycle's waterfall: a transition only ever moves an object further down this list.
_ORDER = (
    "STANDARD",
    "STANDARD_IA",
    "INTELLIGENT_TIERING",
    "ONEZONE_IA",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
)
_SMALL = 128 * 1024


@dataclass(frozen=True, slots=True)
class Moved:
    key: str
    version_id: str
    was: str
    storage_class: str


@dataclass(frozen=True, slots=True)
class _Rule:
    prefix: str
    larger_than: int | None
    smaller_than: int | None
    transitions: tuple[tuple[int, str], ...]  # (days after creation, class)
    noncurrent: tuple[tuple[int, str], ...]  # (days after it stopped being current, class)

    def matches(self, key: str, size: int, storage_class: str, default_floor: str) -> bool:
        if not key.startswith(self.prefix):
            return False
        if self.larger_than is None and self.smaller_than is None:
            archive = storage_class in ("GLACIER", "DEEP_ARCHIVE")
            floor = not (default_floor == "varies_by_storage_class" and archive)
            return size >= _SMALL or not floor
        if self.larger_than is not None and size <= self.larger_than:
            return False
        return self.smaller_than is None or size < self.smaller_than


def age(
    client: Any,
    bucket: str,
    *,
    at: dt.datetime | None = None,
    days: float = 0,
    rules: Sequence[Mapping[str, Any]] | None = None,
    account_id: str | None = None,
) -> list[Moved]:
    """Move every version of `bucket` to the class lifecycle would have it in by `at` (default:
    now plus `days`); returns what moved.

    `rules` are lifecycle rules as PutBucketLifecycleConfiguration takes them; by default the
    bucket's own, read through `client`. moto keeps no ObjectSizeGreaterThan or
    ObjectSizeLessThan filter: pass the rules you configured to keep their size filters.
    """
    if at is not None and days:
        raise ValueError("give the moment (at) or the days from now, not both")
    moment = at if at is not None else dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    default_floor = "all_storage_classes_128K"
    if rules is None:
        config = _lifecycle(client, bucket)
        rules = config.get("Rules", [])
        default_floor = config.get("TransitionDefaultMinimumObjectSize", default_floor)
    parsed = [r for r in (_rule(raw) for raw in rules) if r is not None]
    return _apply(_versions(bucket, account_id), parsed, moment, default_floor)


def _lifecycle(client: Any, bucket: str) -> Mapping[str, Any]:
    from botocore.exceptions import ClientError

    try:
        config: Mapping[str, Any] = client.get_bucket_lifecycle_configuration(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchLifecycleConfiguration":
            return {}
        raise
    return config


def _rule(raw: Mapping[str, Any]) -> _Rule | None:
    if raw.get("Status") != "Enabled":
        return None
    where = raw.get("Filter")
    conditions: Mapping[str, Any] = {"Prefix": raw.get("Prefix", "")} if where is None else where
    conditions = conditions.get("And", conditions)
    if "Tag" in conditions or "Tags" in conditions:
        raise ValueError(f"rule {raw.get('ID')!r}: tag filters are not modelled")
    if any("Date" in t for t in raw.get("Transitions", ())):
        raise ValueError(f"rule {raw.get('ID')!r}: transitions on a date are not modelled")
    larger, smaller = conditions.get("ObjectSizeGreaterThan"), conditions.get("ObjectSizeLessThan")
    return _Rule(
        prefix=conditions.get("Prefix") or "",
        larger_than=None if larger is None else int(larger),
        smaller_than=None if smaller is None else int(smaller),
        transitions=_steps(raw.get("Transitions", ()), "Days"),
        noncurrent=_steps(raw.get("NoncurrentVersionTransitions", ()), "NoncurrentDays"),
    )


def _steps(raw: Iterable[Mapping[str, Any]], days: str) -> tuple[tuple[int, str], ...]:
    steps = tuple((int(t[days]), str(t["StorageClass"])) for t in raw)
    for _, storage_class in steps:
        if storage_class not in _ORDER:
            raise ValueError(f"unknown storage class {storage_class!r}")
    return steps


def _due(start: dt.datetime, days: int) -> dt.datetime:
    """When a transition `days` after `start` happens: rounded up to the next midnight UTC."""
    moment = start + dt.timedelta(days=days)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight == moment else midnight + dt.timedelta(days=1)


def _versions(bucket: str, account_id: str | None) -> Iterable[tuple[str, list[Any]]]:
    """Each key's versions, oldest first, from moto's in-process backend."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[account_id or DEFAULT_ACCOUNT_ID]["aws"]
    yield from backend.get_bucket(bucket).keys.iterlists()


def _utc(moment: dt.datetime) -> dt.datetime:
    # moto keeps naive UTC times.
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _apply(
    keys: Iterable[tuple[str, list[Any]]],
    rules: list[_Rule],
    moment: dt.datetime,
    default_floor: str,
) -> list[Moved]:
    moved: list[Moved] = []
    for name, versions in keys:
        for i, version in enumerate(versions):
            if not hasattr(version, "storage_class"):
                continue  # a delete marker: nothing stored to move
            created = _utc(version.last_modified)
            # A version stops being current when the next one (or a delete marker) is written.
            superseded = _utc(versions[i + 1].last_modified) if i + 1 < len(versions) else None
            was = version.storage_class or "STANDARD"
            target = was
            for rule in rules:
                for days, storage_class in rule.transitions:
                    when = _due(created, days)
                    current_then = superseded is None or when <= superseded
                    if when <= moment and current_then:
                        target = _deeper(target, storage_class, rule, name, version, default_floor)
                for days, storage_class in rule.noncurrent:
                    if superseded is not None and _due(superseded, days) <= moment:
                        target = _deeper(target, storage_class, rule, name, version, default_floor)
            if target != was:
                version.set_storage_class(target)
                moved.append(Moved(name, version.version_id, was, target))
    return moved


def _deeper(
    target: str, storage_class: str, rule: _Rule, name: str, version: Any, default_floor: str
) -> str:
    if not rule.matches(name, version.size, storage_class, default_floor):
        return target
    return max(target, storage_class, key=_rank)


def _rank(storage_class: str) -> int:
    # Classes off the waterfall (REDUCED_REDUNDANCY, say) can move to any class on it.
    return _ORDER.index(storage_class) if storage_class in _ORDER else 0
