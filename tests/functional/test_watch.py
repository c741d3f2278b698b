"""Every set in the bucket is watched: a set without a complete night in 26 hours is stale,
whoever runs it, until a complete night or its retirement; at a cost of listings, not of a
read per copy."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from docbackup.engine import BackupOptions, backup
from docbackup.engine.watch import retire, watch
from docbackup.errors import ConfigError
from docbackup.sources import LocalSource
from docbackup.storage import Encryption, MemoryBackend, MemoryStore
from tests.conftest import KMS_KEY
from tests.treebuilder import write

MONDAY = dt.datetime(2026, 11, 23, 2, 5, tzinfo=dt.UTC)
KEY = Encryption("aws:kms", KMS_KEY)


def night(store: MemoryStore, src: Path, set_name: str, at: dt.datetime, tz: str = "UTC") -> None:
    options = BackupOptions(set_name=set_name, encryption=KEY, timezone=tz)
    result = backup(store, LocalSource(str(src)), options, clock=lambda: at)
    assert result.status == "complete"


def folder(tmp_path: Path, name: str) -> Path:
    src = tmp_path / name
    write(str(src), "letters/one.txt", f"{name} letter\n".encode())
    return src


def stale(store: MemoryStore, now: dt.datetime) -> list[str]:
    return [s.name for s in watch(store, now=now, retention_days=30).stale]


def test_a_set_that_stops_is_stale_after_26_hours_and_fresh_after_a_complete_night(
    tmp_path: Path, store: MemoryStore
) -> None:
    # GIVEN two sets backed up on Monday night: the function's and an office machine's
    # (in its own time zone, Auckland, where it is already Monday afternoon)
    docs, office = folder(tmp_path, "docs"), folder(tmp_path, "office")
    night(store, docs, "documents", MONDAY)
    night(store, office, "office", MONDAY - dt.timedelta(hours=1), tz="Pacific/Auckland")

    # THEN a day later neither is stale
    assert stale(store, MONDAY + dt.timedelta(hours=24)) == []
    # WHEN the function's set goes on and the office machine stops
    night(store, docs, "documents", MONDAY + dt.timedelta(days=1))
    tuesday = watch(store, now=MONDAY + dt.timedelta(days=1, minutes=5), retention_days=30)
    assert [s.name for s in tuesday.stale] == []
    night(store, docs, "documents", MONDAY + dt.timedelta(days=2))
    wednesday_at = MONDAY + dt.timedelta(days=2, minutes=5)
    wednesday = watch(store, now=wednesday_at, retention_days=30)

    # THEN 49 hours on, the office set is stale, and the watch says since when
    assert [s.name for s in wednesday.stale] == ["office"]
    (office_state,) = wednesday.stale
    assert office_state.last_complete_date == dt.date(2026, 11, 23)  # Auckland's Monday
    assert "49 hours" in office_state.said(wednesday_at)
    assert {s.name for s in wednesday.sets} == {"documents", "office"}

    # WHEN the office machine completes a night again, THEN it is fresh
    night(store, office, "office", MONDAY + dt.timedelta(days=2, minutes=30), tz="Pacific/Auckland")
    assert stale(store, MONDAY + dt.timedelta(days=2, hours=1)) == []


def test_a_retired_set_is_left_out_until_it_backs_up_again(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> None:
    docs, office = folder(tmp_path, "docs"), folder(tmp_path, "office")
    night(store, docs, "documents", MONDAY)
    night(store, office, "office", MONDAY)
    later = MONDAY + dt.timedelta(hours=30)
    night(store, docs, "documents", later)
    assert stale(store, later) == ["office"]

    # WHEN the office set is retired, THEN nothing is stale
    key = retire(store, "office", now=later, date=later.date(), retention_days=30, encryption=KEY)
    assert key == f"backups/{later.date()}/office.retired.json"
    assert stale(store, later + dt.timedelta(minutes=1)) == []
    # AND retiring again the same day changes nothing
    assert retire(store, "office", now=later, date=later.date(), retention_days=30, encryption=KEY)
    # AND a set that backs up again after its retirement is watched again
    night(store, office, "office", later + dt.timedelta(hours=1))
    assert stale(store, later + dt.timedelta(hours=30)) == ["documents", "office"]


def test_retiring_a_set_the_bucket_does_not_have_is_refused(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> None:
    night(store, folder(tmp_path, "docs"), "documents", MONDAY)
    backend.requests.clear()
    with pytest.raises(ConfigError, match=r"set 'ofice' has no night .*sets there: documents"):
        retire(store, "ofice", now=MONDAY, date=MONDAY.date(), retention_days=30, encryption=KEY)
    assert backend.requests["PutObject"] == 0


def test_the_watch_costs_listings_and_one_read_per_set(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> None:
    # GIVEN three sets, 10 nights each
    for name in ("documents", "office", "till"):
        src = folder(tmp_path, name)
        for n in range(10):
            night(store, src, name, MONDAY + dt.timedelta(days=n))
    backend.requests.clear()

    # WHEN the watch looks
    result = watch(store, now=MONDAY + dt.timedelta(days=9, hours=1), retention_days=30)

    # THEN one listing of the dates, one of each date, one manifest read per set
    assert [s.name for s in result.stale] == []
    assert backend.requests["ListObjectsV2"] == 1 + 10
    assert backend.requests["GetObject"] == 3
    assert sum(backend.requests.values()) == 1 + 10 + 3


def test_a_stopped_set_stays_in_view_after_its_nights_expire(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> None:
    from docbackup.engine.watch import keep_watching

    # GIVEN an office set that stopped, found stale and noted by the function's night
    docs, office = folder(tmp_path, "docs"), folder(tmp_path, "office")
    night(store, office, "office", MONDAY)
    later = MONDAY + dt.timedelta(hours=30)
    night(store, docs, "documents", later)
    looked = watch(store, now=later, retention_days=30)
    assert keep_watching(store, looked.stale, date=later.date(), encryption=KEY) == []
    assert store.head(f"backups/{later.date()}/office.stale.json") is not None

    # WHEN lifecycle expires every night the office set stored
    for obj in list(store.objects(f"backups/{MONDAY.date()}/office")):
        backend.delete_version(store.bucket, obj.key, obj.version_id)

    # THEN the set is still watched, and stale, with no complete night to name
    (office_state,) = watch(store, now=later + dt.timedelta(days=1), retention_days=30).stale
    assert (office_state.name, office_state.last_complete, office_state.newest) == (
        "office",
        None,
        None,
    )
    assert "no complete night within retention" in office_state.said(later)
    # AND retiring it still ends that
    retire(store, "office", now=later, date=later.date(), retention_days=30, encryption=KEY)
    assert stale(store, later + dt.timedelta(days=1)) == []
