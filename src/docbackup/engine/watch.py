"""Every set in the bucket watched: which sets had a night within retention, and which of them
have had no complete night for too long (26 hours), wherever they run.

The function runs this after its own night, so an office machine that stops (switched off,
credentials expired, share unmounted, schedule removed) is noticed by something that does not
depend on it, with no new permission for the office machine. It costs one listing of the
dates, one listing of each date within retention (what lies directly under
`backups/<date>/`: the sets' folders, manifests and retirement markers), and a manifest read
for each set that wrote one within the window (its header says whether the night completed,
and when it finished, with the set's own time zone offset).

A manifest is written when its night ends, so one the server stored before the window began
cannot be a night that finished inside it: older manifests are read only to name a stale
set's last complete night.

A set meant to stop is retired (`docbackup set retire`): a marker `<set>.retired.json` under
that day's date. The set is left out from then on, until it stores a night again after the
marker (a set that starts again is watched again), or until its nights pass retention.

A set that stopped would drop out of view once its last nights expire, and the alarm would
clear just as its last copies go. So each night a set is stale, the function notes it under
that night's date (`<set>.stale.json`, `keep_watching`): the note keeps the set in view, stale,
until it backs up again or is retired.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

from docbackup import layout
from docbackup.engine.catalog import Catalog, moment
from docbackup.engine.integrity import confirm
from docbackup.engine.results import SetState, WatchResult
from docbackup.errors import (
    ConfigError,
    DocbackupError,
    ManifestArchived,
    ManifestError,
    PreconditionFailed,
)
from docbackup.manifest import Problem
from docbackup.storage.base import Encryption, ObjectInfo, Store

STALE_AFTER = dt.timedelta(hours=26)


@dataclass(slots=True)
class _Seen:
    # Its newest date with a manifest or copies (not a lease or a note), None if none is left.
    newest: dt.date | None = None
    manifests: list[tuple[dt.date, ObjectInfo]] = field(default_factory=list)  # newest first
    markers: list[ObjectInfo] = field(default_factory=list)


def watch(
    store: Store, *, now: dt.datetime, retention_days: int, stale_after: dt.timedelta = STALE_AFTER
) -> WatchResult:
    seen = _sets_within(store, now, retention_days)
    problems: list[Problem] = []
    states = [
        _judge(store, name, found, now, stale_after, problems)
        for name, found in sorted(seen.items())
    ]
    return WatchResult(now, tuple(states), tuple(problems))


def _sets_within(store: Store, now: dt.datetime, retention_days: int) -> dict[str, _Seen]:
    # A day either side: the sets' own time zones put their dates up to a day off UTC's.
    since = now.astimezone(dt.UTC).date() - dt.timedelta(days=retention_days + 1)
    dates = sorted(
        (d for p in store.folders(layout.ROOT) if (d := layout.date_from_prefix(p)) is not None),
        reverse=True,
    )
    seen: dict[str, _Seen] = {}
    for date in dates:
        if date < since:
            break
        prefix = layout.date_prefix(date)
        here = store.level(prefix)
        names = [f[len(prefix) :] for f in here.folders]
        for obj in here.objects:
            name = obj.key[len(prefix) :]
            set_name = layout.set_of(name)
            if set_name is None:
                continue
            entry = seen.setdefault(set_name, _Seen())
            if name.endswith(layout.MANIFEST_SUFFIX):
                entry.manifests.append((date, obj))
                entry.newest = entry.newest or date
            elif name.endswith(layout.RETIRED_SUFFIX):
                entry.markers.append(obj)
        for name in names:
            set_name = layout.set_of(name)
            if set_name is not None:
                entry = seen.setdefault(set_name, _Seen())
                entry.newest = entry.newest or date
    return seen


def _judge(
    store: Store,
    name: str,
    found: _Seen,
    now: dt.datetime,
    stale_after: dt.timedelta,
    problems: list[Problem],
) -> SetState:
    since = now - stale_after
    last: tuple[dt.date, dt.datetime] | None = None
    for date, _stored in found.manifests:
        completed = _completed(store, name, date, problems)
        if completed is not None:
            last = (date, completed)
            break
    fresh = last is not None and last[1] >= since
    newest_night = max((i.last_modified for _, i in found.manifests), default=None)
    retired = any(newest_night is None or m.last_modified > newest_night for m in found.markers)
    return SetState(
        name=name,
        newest=found.newest,
        last_complete=last[1] if last else None,
        last_complete_date=last[0] if last else None,
        retired=retired,
        stale=not fresh and not retired,
    )


def _completed(
    store: Store, name: str, date: dt.date, problems: list[Problem]
) -> dt.datetime | None:
    """When that night finished, if its manifest says it is complete."""
    try:
        stream = Catalog(store, name).stream(date)
    except (ManifestError, ManifestArchived) as exc:
        problems.append(Problem(layout.manifest_key(date, name), str(exc)))
        return None
    if stream is None:
        return None
    with stream:
        header = stream.manifest
        if header.status != "complete":
            return None
        return moment(header.finished_at)


def keep_watching(
    store: Store, stale: tuple[SetState, ...], *, date: dt.date, encryption: Encryption
) -> list[Problem]:
    """Note tonight, under `date`, each set found stale (see the module's docstring); what
    could not be written."""
    problems = []
    for state in stale:
        body = json.dumps({"set": state.name, "stale": state.summary()}, indent=1).encode()
        key = layout.stale_key(date, state.name)
        try:
            _put_once(store, key, body, encryption)
        except DocbackupError as exc:
            problems.append(Problem(key, f"could not note the stale set: {exc}"))
    return problems


def _put_once(store: Store, key: str, body: bytes, encryption: Encryption) -> None:
    """Write `key` unless it exists already (then it stands as it is)."""
    try:
        stored = store.put(
            key,
            body,
            sha256_b64=base64.b64encode(hashlib.sha256(body).digest()).decode(),
            metadata={},
            encryption=encryption,
            if_none_match=True,
        )
    except PreconditionFailed:
        return
    confirm(encryption, f"the marker {key}", stored.sse, stored.kms_key_id)


def retire(
    store: Store,
    set_name: str,
    *,
    now: dt.datetime,
    date: dt.date,
    retention_days: int,
    encryption: Encryption,
) -> str:
    """Write the set's retirement marker under `date`; the key. A set with no night within
    retention is refused: nothing watches it, and a misspelt name must not pass silently."""
    layout.check_set_name(set_name)
    known = _sets_within(store, now, retention_days)
    if set_name not in known:
        watched = ", ".join(sorted(known)) or "none"
        raise ConfigError(
            f"set {set_name!r} has no night in bucket {store.bucket!r} within the last "
            f"{retention_days} days (sets there: {watched})"
        )
    body = json.dumps(
        {"set": set_name, "retired_at": now.isoformat(), "by": "docbackup set retire"},
        indent=1,
    ).encode()
    key = layout.retired_key(date, set_name)
    _put_once(store, key, body, encryption)  # retired already today: the marker stands
    return key
