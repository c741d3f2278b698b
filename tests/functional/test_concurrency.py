"""Two backups of the same set and night: the second stops with a clear message (the lease)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from docbackup import layout
from docbackup.engine import BackupOptions, backup, restore
from docbackup.engine.lease import Lease, NightBusy
from docbackup.sources import LocalSource
from docbackup.storage import Encryption, MemoryBackend, MemoryStore, Stored
from tests.conftest import KMS_KEY
from tests.treebuilder import tree_hashes, write

DATE = dt.date(2025, 10, 15)
OPTIONS = BackupOptions(date=DATE, encryption=Encryption("aws:kms", KMS_KEY), workers=2)


def test_a_second_run_of_the_same_night_stops_while_the_first_holds_it(
    tmp_path: Path, backend: MemoryBackend, store: MemoryStore
) -> None:
    src = tmp_path / "office"
    for i in range(10):
        write(str(src), f"{i}.txt", f"doc {i}".encode())
    inside, go_on = threading.Event(), threading.Event()

    class Slow(MemoryStore):
        def put(self, key: str, data: bytes, **kw: Any) -> Stored:
            if "/documents/" in key:
                inside.set()
                go_on.wait(10)
            return super().put(key, data, **kw)

    results: list[Any] = []
    first = threading.Thread(
        target=lambda: results.append(
            backup(Slow(backend, "backups"), LocalSource(str(src)), OPTIONS)
        )
    )
    first.start()
    assert inside.wait(10)

    # WHEN a second backup of the same set and night starts meanwhile
    with pytest.raises(NightBusy, match="another backup of set 'documents' for 2025-10-15"):
        backup(store, LocalSource(str(src)), OPTIONS)

    go_on.set()
    first.join(10)
    # THEN the first finishes alone, and its manifest describes the night exactly
    assert results[0].status == "complete" and results[0].new == 10
    target = tmp_path / "r"
    restore(store, "documents", DATE.isoformat(), str(target))
    assert tree_hashes(str(target)) == tree_hashes(str(src))

    # and once it has finished, the night can be run again at once
    again = backup(store, LocalSource(str(src)), OPTIONS)
    assert (again.status, again.unchanged) == ("complete", 10)


def test_a_lease_left_by_a_run_elsewhere_is_taken_over_once_it_runs_out(
    backend: MemoryBackend, store: MemoryStore, tmp_path: Path
) -> None:
    now = {"t": 1_000_000.0}
    elsewhere = {
        "run": "x",
        "host": "office-nas",
        "pid": 1,
        "started": now["t"] - 30,
        "expires": now["t"] + 60,
    }
    data = json.dumps(elsewhere).encode()
    store.put(
        layout.lease_key(DATE, "documents"),
        data,
        sha256_b64=base64.b64encode(hashlib.sha256(data).digest()).decode(),
        metadata={},
        encryption=OPTIONS.encryption,
    )

    def lease() -> Lease:
        return Lease(store, DATE, "documents", OPTIONS.encryption, clock=lambda: now["t"])

    with pytest.raises(NightBusy, match="on office-nas"):
        lease().acquire(finished_after=lambda t: False)

    now["t"] += 61  # the other machine stopped renewing: its lease ran out
    taken = lease()
    taken.acquire(finished_after=lambda t: False)
    assert taken.held()
    taken.stop(release=True)


class AnswerLost(MemoryStore):
    """Stores the lease write, then reports what botocore's resend of it would get: 412."""

    def put(self, key: str, data: bytes, **kw: Any) -> Stored:
        stored = super().put(key, data, **kw)
        if key.endswith(".lease.json"):
            from docbackup.errors import PreconditionFailed

            raise PreconditionFailed(f"{key}: the resend found the first attempt had landed")
        return stored


def test_a_lease_write_whose_answer_was_lost_is_still_ours(backend: MemoryBackend) -> None:
    lease = Lease(AnswerLost(backend, "backups"), DATE, "documents", OPTIONS.encryption)

    lease.acquire(finished_after=lambda t: False)  # the create landed; its answer did not
    assert lease.renew()  # the renewal landed; its answer did not
    assert lease.held()
    lease.stop(release=False)


def test_a_lease_that_ran_out_stops_new_transfers_and_ends_before_the_time_limit(
    store: MemoryStore,
) -> None:
    now = {"t": 1_000.0}
    lease = Lease(
        store,
        DATE,
        "documents",
        OPTIONS.encryption,
        lease_s=90,
        clock=lambda: now["t"],
        time_left=lambda: 40.0,
    )
    lease.acquire(finished_after=lambda t: False)
    lease.stop(release=False)  # no renewals from here on
    holder = json.loads(store.open(layout.lease_key(DATE, "documents")).read())

    # A Lambda with 40 s left does not hold the night past its own end.
    assert holder["expires"] == 1_040.0
    now["t"] += 39
    assert lease.held()
    now["t"] += 2
    assert not lease.held()
    assert lease.lost is not None and "ran out" in lease.lost
