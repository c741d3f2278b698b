"""Stored bytes are read back on a schedule: every copy once per retention period, within a byte
budget; a damaged copy is sent again when the source still has its bytes, and said loudly
(`damaged`, VerifyMismatch) when it does not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from docbackup import notices
from docbackup.engine import BackupOptions, Catalog, backup, restore
from docbackup.engine.readback import turn
from docbackup.engine.results import BackupResult
from docbackup.manifest import Entry
from docbackup.sources import LocalSource
from docbackup.storage import Encryption, MemoryBackend, MemoryStore
from tests.conftest import KMS_KEY
from tests.treebuilder import tree_hashes, write

FIRST = dt.date(2026, 11, 1)
RETENTION = 7  # short, so that a week of nights covers every copy's turn
# Copies are refreshed after RETENTION - 1 nights: each document's turn comes once a cycle.
CYCLE = RETENTION - 1
BUDGET = 10**9


def night(store: MemoryStore, src: Path, n: int, **extra: object) -> BackupResult:
    """Night n, run at 02:00 of its own day: copies age, and are refreshed, as nights pass."""
    date = FIRST + dt.timedelta(days=n)
    options = BackupOptions(
        date=date,
        encryption=Encryption("aws:kms", KMS_KEY),
        retention_days=RETENTION,
        refresh_margin_days=1,
        **extra,
    )
    at = dt.datetime.combine(date, dt.time(2), tzinfo=dt.UTC)
    return backup(store, LocalSource(str(src)), options, clock=lambda: at)


def entries(store: MemoryStore, n: int) -> dict[str, Entry]:
    with Catalog(store, "documents").resolve((FIRST + dt.timedelta(days=n)).isoformat()) as s:
        return {e.path: e for e in s.entries()}


def office(tmp_path: Path, count: int = 40) -> Path:
    src = tmp_path / "office"
    for i in range(count):
        write(str(src), f"clients/{i:03d}.pdf", f"%PDF client file {i}\n".encode() * (20 + i))
    return src


def night_of_turn(entry: Entry, after: int) -> int:
    """The first night after `after` on which this document's copy is read back."""
    n = after + 1
    while (FIRST + dt.timedelta(days=n)).toordinal() % CYCLE != turn(entry.path, CYCLE):
        n += 1
    return n


def test_every_document_is_read_back_once_a_cycle_whatever_copy_it_has(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> None:
    # GIVEN 40 documents stored on the first night, nothing changed since
    src = office(tmp_path)
    assert night(store, src, 0).status == "complete"
    stored = entries(store, 0)

    # WHEN three cycles of nights run, with a budget that is never reached, and the copies
    # age past the refresh point (refreshed server-side under new keys) on the way
    results = [night(store, src, n, read_back_bytes=BUDGET) for n in range(1, 3 * CYCLE + 1)]

    # THEN every cycle of nights read every document exactly once, refreshed or not
    assert sum(r.refreshed for r in results) >= len(stored)
    for start in range(0, len(results) - CYCLE + 1):
        window = results[start : start + CYCLE]
        assert sum(int(r.read_back["due"]) for r in window if r.read_back) == len(stored)
        assert sum(int(r.read_back["read"]) for r in window if r.read_back) == len(stored)
    assert all(r.status == "complete" and not r.damaged and not r.lost for r in results)
    # AND the turns spread the documents over the nights rather than reading them all at once
    assert max(int(r.read_back["due"]) for r in results if r.read_back) < len(stored)
    # AND a copy damaged in place is found within a cycle, even after its refresh copied it
    victim = entries(store, 3 * CYCLE)["clients/021.pdf"]
    backend.damage(store.bucket, victim.key, victim.version_id, b"Z" * victim.size)
    later = [
        night(store, src, n, read_back_bytes=BUDGET) for n in range(3 * CYCLE + 1, 4 * CYCLE + 1)
    ]
    assert sum(r.healed for r in later) == 1


def test_the_budget_bounds_the_bytes_read_and_what_is_left_is_counted(
    tmp_path: Path, store: MemoryStore
) -> None:
    src = office(tmp_path)
    assert night(store, src, 0).status == "complete"
    smallest = min(e.size for e in entries(store, 0).values())

    results = [night(store, src, n, read_back_bytes=smallest) for n in range(1, CYCLE + 1)]

    for r in results:
        assert r.read_back is not None
        assert int(r.read_back["bytes_read"]) <= smallest
        assert int(r.read_back["read"]) + int(r.read_back["left"]) == int(r.read_back["due"])
    assert any(int(r.read_back["left"]) > 0 for r in results if r.read_back)


def test_no_read_back_without_a_budget(tmp_path: Path, store: MemoryStore) -> None:
    src = office(tmp_path, count=3)
    assert night(store, src, 0).status == "complete"
    quiet = night(store, src, 1)
    assert quiet.read_back is None and quiet.summary()["read_back"] is None


def test_a_damaged_copy_is_sent_again_when_the_source_has_its_bytes(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> None:
    # GIVEN a stored copy whose bytes were changed in the bucket, same size (only a read shows)
    src = office(tmp_path)
    assert night(store, src, 0).status == "complete"
    victim = entries(store, 0)["clients/007.pdf"]
    backend.damage(store.bucket, victim.key, victim.version_id, b"X" * victim.size)
    for n in range(1, night_of_turn(victim, 0)):  # the nights before its turn do not read it
        assert night(store, src, n, read_back_bytes=BUDGET).healed == 0
    due = night_of_turn(victim, 0)

    # WHEN the night whose turn it is runs
    found = night(store, src, due, read_back_bytes=BUDGET)

    # THEN the document is sent again from the source, and no copy is left damaged
    assert (found.status, found.healed, found.damaged) == ("complete", 1, ())
    assert [p.path for p in found.lost] == ["clients/007.pdf"]
    assert "damaged" in found.lost[0].reason
    healed = entries(store, due)["clients/007.pdf"]
    assert healed.action == "healed" and healed.key != victim.key
    back = tmp_path / "back"
    assert restore(store, "documents", "latest", str(back)).status == "complete"
    assert tree_hashes(str(back)) == tree_hashes(str(src))
    # AND the notice goes, naming it
    assert notices.due(found, on_success=False)
    assert "clients/007.pdf" in notices.message(found)


def test_a_damaged_copy_of_bytes_the_source_no_longer_has_is_said_loudly(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> None:
    # GIVEN a damaged copy, and the document since edited at the source
    src = office(tmp_path)
    assert night(store, src, 0).status == "complete"
    victim = entries(store, 0)["clients/011.pdf"]
    backend.damage(store.bucket, victim.key, victim.version_id, b"Y" * victim.size)
    due = night_of_turn(victim, 0)
    for n in range(1, due):
        night(store, src, n, read_back_bytes=BUDGET)
    (src / "clients/011.pdf").write_bytes(b"%PDF a different client file\n" * 30)

    # WHEN the night whose turn it is runs
    found = night(store, src, due, read_back_bytes=BUDGET)

    # THEN the new bytes are stored, and the damaged copy is named as beyond repair
    assert found.changed == 1 and found.healed == 0
    assert [p.path for p in found.damaged] == ["clients/011.pdf"]
    assert "no good copy" in found.damaged[0].reason and victim.key in found.damaged[0].reason
    assert found.summary()["damaged"] == [
        {"path": "clients/011.pdf", "reason": found.damaged[0].reason}
    ]
    message = notices.message(found)
    assert "DAMAGED" in message and "clients/011.pdf" in message
    assert notices.due(found, on_success=False)


def test_the_read_back_takes_at_most_half_the_time_left() -> None:
    from docbackup.engine.readback import reading_time

    assert reading_time(None, 120) is None
    assert reading_time(lambda: 900.0, 120) == 390.0
    assert reading_time(lambda: 60.0, 120) == 0.0


def test_a_damaged_copy_whose_heal_failed_is_not_called_the_last_one(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docbackup.engine import transfer
    from docbackup.errors import StoreError

    # GIVEN a damaged copy on its turn, and the bucket refusing the document's new copy tonight
    src = office(tmp_path)
    assert night(store, src, 0).status == "complete"
    victim = entries(store, 0)["clients/005.pdf"]
    backend.damage(store.bucket, victim.key, victim.version_id, b"Q" * victim.size)
    due = night_of_turn(victim, 0)
    for n in range(1, due):
        night(store, src, n, read_back_bytes=BUDGET)
    real = transfer.store_document

    def refusing(source, store_, key, doc, *args, **kwargs):  # type: ignore[no-untyped-def]
        if doc.path == "clients/005.pdf":
            raise StoreError("SlowDown: still failing after retries")
        return real(source, store_, key, doc, *args, **kwargs)

    monkeypatch.setattr(transfer, "store_document", refusing)

    # WHEN the night whose turn it is runs
    found = night(store, src, due, read_back_bytes=BUDGET)

    # THEN the night is partial, naming the document; the copy is not said to be the last
    assert found.status == "partial" and [f.path for f in found.failures] == ["clients/005.pdf"]
    assert found.damaged == ()
    assert [p.path for p in found.lost] == ["clients/005.pdf"]
