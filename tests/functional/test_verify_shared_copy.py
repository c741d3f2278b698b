"""A stored copy that several nights point at is lost from the bucket: `verify --all` names
every one of those nights, with the date and the path apart, and says how many copies it
found bad, not only how many it looked at."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from docbackup.engine import BackupOptions, Catalog, backup, verify
from docbackup.engine.results import Mismatch
from docbackup.sources import LocalSource
from docbackup.storage import Encryption, MemoryBackend, MemoryStore
from tests.conftest import KMS_KEY
from tests.treebuilder import write

FIRST = dt.date(2026, 11, 30)
LEASE = "contracts/lease.pdf"


def _three_nights(tmp_path: Path, store: MemoryStore) -> list[dt.date]:
    src = tmp_path / "office"
    write(str(src), LEASE, b"%PDF the lease, unchanged all week")
    dates = []
    for n in range(3):
        write(str(src), "daily/till.csv", f"takings night {n}\n".encode())
        night = FIRST + dt.timedelta(days=n)
        options = BackupOptions(date=night, encryption=Encryption("aws:kms", KMS_KEY))
        assert backup(store, LocalSource(str(src)), options).status == "complete"
        dates.append(night)
    return dates


def _lose_the_lease(store: MemoryStore, backend: MemoryBackend, night: dt.date) -> None:
    """An administrator deletes the one stored version that every night points at."""
    with Catalog(store, "documents").resolve(night.isoformat()) as stream:
        (entry,) = [e for e in stream.entries() if e.path == LEASE]
    bucket = backend._bucket(store.bucket, None)
    bucket.versions[entry.key] = [
        v for v in bucket.versions[entry.key] if v.version_id != entry.version_id
    ]


def test_every_night_that_points_at_a_lost_copy_is_named(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> None:
    # GIVEN three nights that all list the same stored copy of the lease, and it is deleted
    dates = _three_nights(tmp_path, store)
    _lose_the_lease(store, backend, dates[-1])

    # WHEN every night is verified
    result = verify(store, "documents", None, all_dates=True)

    # THEN the one bad copy is counted once, and each of the three nights is told of it
    assert result.status == "mismatch"
    assert result.checked == 4  # the lease once, and each night's till
    assert result.bad_copies == 1
    assert result.mismatches == tuple(Mismatch(d, LEASE, "stored copy is missing") for d in dates)
    # and in the JSON the date and the path are fields of their own
    problems = result.summary()["problems"]
    assert problems == [
        {"date": d.isoformat(), "path": LEASE, "reason": "stored copy is missing"} for d in dates
    ]


def test_the_headline_counts_what_verify_found(
    tmp_path: Path,
    store: MemoryStore,
    backend: MemoryBackend,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from docbackup.cli import render

    dates = _three_nights(tmp_path, store)
    _lose_the_lease(store, backend, dates[-1])
    render.verify_text(verify(store, "documents", dates[-1].isoformat()))
    headline = capsys.readouterr().out.splitlines()[0]
    assert headline == (
        "mismatch: 1 of 2 stored copies present with size and encryption, "
        f"1 missing or not as the manifest says ({dates[-1]})"
    )
