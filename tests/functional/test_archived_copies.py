"""Copies lifecycle moved to GLACIER or DEEP_ARCHIVE: refreshed by sending again, restored by
asking S3 for them back (issue 12, item 2)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from docbackup.engine import BackupOptions, BackupResult, Catalog, backup, restore
from docbackup.engine.archive import ThawPlan
from docbackup.manifest import Entry
from docbackup.sources import LocalSource
from docbackup.sources.s3 import ObjectSource
from docbackup.storage import Encryption, MemoryBackend, MemoryStore
from tests.conftest import KMS_KEY
from tests.functional.test_refresh import FakeClock
from tests.treebuilder import tree_hashes, write

# The stack's smallest retention with an archive transition, and its size floor.
RETENTION = 180
REFRESH_AGE = RETENTION - RETENTION // 4
LARGER_THAN = 128 * 1024
START = dt.datetime(2025, 10, 1, 2, 0, tzinfo=dt.UTC)
OPTIONS = BackupOptions(encryption=Encryption("aws:kms", KMS_KEY), retention_days=RETENTION)


def entries(store: MemoryStore, date: dt.date) -> dict[str, Entry]:
    with Catalog(store, "documents").resolve(date.isoformat()) as stream:
        return {e.path: e for e in stream.entries()}


@pytest.fixture
def clock(backend: MemoryBackend) -> FakeClock:
    clock = FakeClock(START)
    backend.clock = clock
    return clock


@pytest.fixture
def office(tmp_path: Path) -> Path:
    src = tmp_path / "office"
    write(str(src), "contracts/lease.pdf", os.urandom(LARGER_THAN + 1))  # archived by lifecycle
    write(str(src), "notes.txt", b"too small to archive")  # stays STANDARD
    return src


def night_after_archiving(
    backend: MemoryBackend,
    clock: FakeClock,
    storage_class: str,
    night: Callable[[], BackupResult],
) -> BackupResult:
    """The refresh night, once lifecycle has moved the large copies to `storage_class`."""
    clock.now += dt.timedelta(days=REFRESH_AGE)
    backend.transition("backups", days=30, storage_class=storage_class, larger_than=LARGER_THAN)
    return night()


@pytest.mark.parametrize("storage_class", ["GLACIER", "DEEP_ARCHIVE"])
def test_refresh_of_an_archived_copy_sends_it_again_from_the_folder(
    tmp_path: Path,
    store: MemoryStore,
    backend: MemoryBackend,
    clock: FakeClock,
    office: Path,
    storage_class: str,
) -> None:
    def night() -> BackupResult:
        return backup(store, LocalSource(str(office)), OPTIONS, clock=clock)

    first = night()
    assert first.status == "complete"

    # WHEN lifecycle has archived the large copy and the refresh night comes
    second = night_after_archiving(backend, clock, storage_class, night)

    # THEN the night is complete: the archived copy was sent again, the other copied in S3
    assert second.status == "complete", second.failures
    assert (second.resent, second.refreshed, second.failed) == (1, 1, 0)
    assert second.bytes_uploaded == LARGER_THAN + 1
    assert backend.requests["CopyObject"] == 2  # the refused copy, and the small one's
    tonight = entries(store, second.date)
    assert tonight["contracts/lease.pdf"].action == "resent"
    assert tonight["contracts/lease.pdf"].key.startswith(f"backups/{second.date}/")
    assert tonight["notes.txt"].action == "refreshed"
    restored = restore(store, "documents", "latest", str(tmp_path / "back"))
    assert restored.status == "complete"
    assert tree_hashes(str(tmp_path / "back")) == tree_hashes(str(office))


def test_refresh_of_an_archived_copy_copies_it_again_from_the_source_bucket(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend, clock: FakeClock
) -> None:
    backend.create_bucket("scans")
    scans = backend.store("scans")
    big = os.urandom(LARGER_THAN + 1)
    for key, data in (("in/lease.pdf", big), ("in/notes.txt", b"small")):
        write(str(tmp_path / "src"), key, data)
        scans.put(
            key,
            data,
            sha256_b64=_b64sha(data),
            metadata={},
            encryption=Encryption("AES256"),
        )

    def night() -> BackupResult:
        return backup(store, ObjectSource(scans, "in/"), OPTIONS, clock=clock)

    assert night().status == "complete"
    copies = backend.requests["CopyObject"]
    second = night_after_archiving(backend, clock, "GLACIER", night)

    assert second.status == "complete", second.failures
    assert (second.resent, second.refreshed) == (1, 1)
    # The refused copy of the archived one, the small one's refresh, and sending the archived
    # one again, which for an S3 source is a copy from the source bucket.
    assert backend.requests["CopyObject"] - copies == 3
    assert entries(store, second.date)["lease.pdf"].action == "resent"
    restored = restore(store, "documents", "latest", str(tmp_path / "back"))
    assert restored.status == "complete"
    assert tree_hashes(str(tmp_path / "back")) == tree_hashes(str(tmp_path / "src" / "in"))


def test_bytes_found_different_on_resending_count_as_changed(
    store: MemoryStore,
    backend: MemoryBackend,
    clock: FakeClock,
    office: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a share whose files carry no ctime (a coarse network file system, say): a
    # same-size edit that put its mtime back keeps the file's identity
    coarse = lambda st: f"{st.st_size}:{st.st_mtime_ns}"  # noqa: E731
    monkeypatch.setattr("docbackup.sources.local.file_fingerprint", coarse)
    monkeypatch.setattr("docbackup.sources.upload.file_fingerprint", coarse)
    night = lambda: backup(store, LocalSource(str(office)), OPTIONS, clock=clock)  # noqa: E731
    night()
    path = office / "contracts/lease.pdf"
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.write(b"X")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    second = night_after_archiving(backend, clock, "GLACIER", night)

    # THEN resending it found the edit: tonight's copy is of the new bytes, and says changed
    assert (second.status, second.resent, second.changed) == ("complete", 0, 1)
    lease = entries(store, second.date)["contracts/lease.pdf"]
    assert lease.action == "changed"
    assert lease.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_restoring_an_archived_night_fails_those_documents_loudly_until_s3_has_them_back(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend, clock: FakeClock, office: Path
) -> None:
    first = backup(store, LocalSource(str(office)), OPTIONS, clock=clock)
    clock.now += dt.timedelta(days=40)
    backend.transition("backups", days=30, storage_class="GLACIER", larger_than=LARGER_THAN)
    target = str(tmp_path / "back")
    date = first.date.isoformat()

    # WHEN the night is restored as it is
    plain = restore(store, "documents", date, target)

    # THEN the archived document fails, naming its class and what to do; the rest is restored
    assert (plain.status, plain.restored, plain.failed, plain.archived) == ("partial", 1, 1, 1)
    (problem,) = plain.failures
    assert problem.path == "contracts/lease.pdf"
    assert "GLACIER" in problem.reason and "restored from the archive first" in problem.reason
    assert "--tier" in problem.reason
    assert backend.requests["RestoreObject"] == 0
    assert not (tmp_path / "back/contracts/lease.pdf").exists()

    # WHEN a retrieval tier is given, the person first sees what it takes, and may say no
    seen: list[list[str]] = []

    def no(plan: ThawPlan, tier: str) -> bool:
        seen.append(plan.describe(tier))  # type: ignore[arg-type]
        return False

    declined = restore(store, "documents", date, target, tier="bulk", confirm=no)
    assert seen == [
        [
            "1 stored copies are in the archive: 1 in GLACIER "
            f"({(LARGER_THAN + 1) / 2**20:.1f} MiB).",
            "bulk: about 5-12 hours, about $0.00 (retrieval, and the temporary copies kept 7 days; "
            "the download itself is billed as any other)",
        ]
    ]
    assert "not confirmed" in declined.failures[0].reason
    assert backend.requests["RestoreObject"] == 0
    # the document restored by the first run is in place: kept, not read from S3 again
    assert declined.already_there == 1

    # WHEN the person says yes: the request is made, and the run still says "not yet"
    asked = restore(store, "documents", date, target, tier="bulk", confirm=lambda p, t: True)
    assert (asked.status, asked.restores_requested, asked.coming_back) == ("partial", 1, 1)
    assert "requested (bulk tier)" in asked.failures[0].reason
    assert "5-12 hours" in asked.failures[0].reason

    # ... running it again before S3 is done asks nothing of S3 and asks the person nothing
    again = restore(store, "documents", date, target, tier="bulk", confirm=no)
    assert (again.restores_requested, again.coming_back) == (0, 1)
    assert "already in progress" in again.failures[0].reason
    assert backend.requests["RestoreObject"] == 1 and len(seen) == 1

    # THEN once S3 has restored it, the same restore completes, byte for byte
    clock.now += backend.restore_delay
    done = restore(store, "documents", date, target, tier="bulk", confirm=no)
    assert (done.status, done.archived, done.already_there) == ("complete", 0, 1), done.failures
    assert tree_hashes(target) == tree_hashes(str(office))


def test_deep_archive_has_no_expedited_retrieval(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend, clock: FakeClock, office: Path
) -> None:
    first = backup(store, LocalSource(str(office)), OPTIONS, clock=clock)
    backend.transition("backups", days=0, storage_class="DEEP_ARCHIVE", larger_than=LARGER_THAN)

    result = restore(
        store, "documents", first.date.isoformat(), str(tmp_path / "b"), tier="expedited"
    )

    assert (result.status, result.restores_requested) == ("partial", 0)
    assert "no expedited retrieval" in result.failures[0].reason
    assert backend.requests["RestoreObject"] == 0


def _b64sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_a_document_found_in_place_then_changed_during_the_restore_is_not_called_restored(
    tmp_path: Path, store: MemoryStore, office: Path
) -> None:
    first = backup(store, LocalSource(str(office)), OPTIONS)
    target = tmp_path / "back"
    assert restore(store, "documents", first.date.isoformat(), str(target)).status == "complete"

    class EditsAtStart:
        """The person saves over a document just after the plan judged it in place."""

        def start(self, phase: str, documents: int, total_bytes: int) -> None:
            (target / "notes.txt").write_bytes(b"the person's edit, same length!!!!!")

        def advance(self, path: str, nbytes: int) -> None:
            pass

        def finish(self) -> None:
            pass

    again = restore(
        store, "documents", first.date.isoformat(), str(target), reporter=EditsAtStart()
    )

    assert (again.status, again.already_there) == ("partial", 1)
    assert [(p.path, "changed in the folder" in p.reason) for p in again.failures] == [
        ("notes.txt", True)
    ]
    assert (target / "notes.txt").read_bytes() == b"the person's edit, same length!!!!!"


def test_a_tier_one_of_the_classes_lacks_asks_for_none(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend, clock: FakeClock, office: Path
) -> None:
    write(str(office), "scans/big.tif", os.urandom(2_000_000))
    first = backup(store, LocalSource(str(office)), OPTIONS, clock=clock)
    backend.transition("backups", days=0, storage_class="GLACIER", larger_than=LARGER_THAN)
    backend.transition("backups", days=0, storage_class="DEEP_ARCHIVE", larger_than=1_000_000)
    asked: list[str] = []

    result = restore(
        store, "documents", first.date.isoformat(), str(tmp_path / "b"), tier="expedited",
        confirm=lambda plan, tier: asked.append(tier) or True,
    )  # fmt: skip

    reasons = {p.path: p.reason for p in result.failures}
    assert "DEEP_ARCHIVE, which has no expedited retrieval" in reasons["scans/big.tif"]
    assert "other copies' class has no expedited" in reasons["contracts/lease.pdf"]
    assert backend.requests["RestoreObject"] == 0 and asked == []  # nor put to the person
    assert result.thaw is not None and result.thaw.describe("expedited")[0].startswith(
        "2 stored copies are in the archive: 1 in DEEP_ARCHIVE"
    )
