"""A night's manifest that lifecycle moved to GLACIER or DEEP_ARCHIVE.

The stack's ArchiveLargerCopies rule filters on `backups/` and a size: lifecycle filters cannot
leave out a suffix, so a manifest above 128 KB (about 350 documents) is archived with the large
copies. Every command that reads it must say so and carry on, not fail the whole set.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from docbackup import layout
from docbackup.engine import BackupOptions, BackupResult, Catalog, backup, browse, restore, verify
from docbackup.errors import ManifestArchived
from docbackup.sources import LocalSource
from docbackup.storage import Encryption, MemoryBackend, MemoryStore
from tests.conftest import KMS_KEY
from tests.functional.test_refresh import FakeClock
from tests.treebuilder import tree_hashes, write

RETENTION = 180
LARGER_THAN = 128 * 1024  # the stack's ObjectSizeGreaterThan
START = dt.datetime(2025, 10, 1, 2, 0, tzinfo=dt.UTC)
OPTIONS = BackupOptions(encryption=Encryption("aws:kms", KMS_KEY), retention_days=RETENTION)
NIGHT_1 = START.date().isoformat()


@pytest.fixture
def clock(backend: MemoryBackend) -> FakeClock:
    clock = FakeClock(START)
    backend.clock = clock
    return clock


@pytest.fixture
def office(tmp_path: Path) -> Path:
    # Small documents, which the rule leaves in STANDARD, and enough of them for the manifest
    # to be above the rule's floor.
    src = tmp_path / "office"
    for i in range(400):
        write(str(src), f"invoices/2025/INV-{i:05d}.pdf", os.urandom(1000))
    return src


def night(store: MemoryStore, office: Path, clock: FakeClock) -> BackupResult:
    return backup(store, LocalSource(str(office)), OPTIONS, clock=clock)


def archive_first_night(
    store: MemoryStore, backend: MemoryBackend, clock: FakeClock, office: Path, to: str
) -> BackupResult:
    """GIVEN night 1, then 40 days on lifecycle archives what is above 128 KB: its manifest."""
    first = night(store, office, clock)
    assert first.manifest_key is not None
    manifest = store.head(first.manifest_key)
    assert manifest is not None and manifest.size > LARGER_THAN
    clock.now += dt.timedelta(days=40)
    moved = backend.transition("backups", days=30, storage_class=to, larger_than=LARGER_THAN)
    assert moved == 1  # the manifest only: the documents stay readable
    return first


def test_list_marks_the_archived_night_and_lists_the_others(
    store: MemoryStore, backend: MemoryBackend, clock: FakeClock, office: Path
) -> None:
    archive_first_night(store, backend, clock, office, "GLACIER")
    second = night(store, office, clock)

    infos = Catalog(store, "documents").snapshots(now=clock.now)

    assert [(i.date, i.status, i.restorable) for i in infos] == [
        (second.date, "complete", True),
        (START.date(), "archived", False),
    ]
    note = infos[1].note or ""
    assert "manifest in GLACIER" in note and f"restore {NIGHT_1} --tier" in note
    assert infos[1].summary()["status"] == "archived"


@pytest.mark.parametrize("storage_class", ["GLACIER", "DEEP_ARCHIVE"])
def test_restore_asks_for_the_manifest_then_restores_the_night(
    tmp_path: Path,
    store: MemoryStore,
    backend: MemoryBackend,
    clock: FakeClock,
    office: Path,
    storage_class: str,
) -> None:
    archive_first_night(store, backend, clock, office, storage_class)
    target = str(tmp_path / "back")

    # WHEN restored without a tier: nothing is restored, the class and --tier are named
    plain = restore(store, "documents", NIGHT_1, target)
    assert (plain.status, plain.restored, plain.restores_requested) == ("failed", 0, 0)
    assert plain.manifest_archived is not None
    assert storage_class in plain.manifest_archived and "--tier" in plain.manifest_archived
    assert backend.requests["RestoreObject"] == 0
    assert not os.path.exists(target)

    # WHEN a tier is given: the manifest is asked back, and the run says when to come back
    asked = restore(store, "documents", NIGHT_1, target, tier="bulk")
    assert (asked.status, asked.restored, asked.restores_requested) == ("failed", 0, 1)
    wait = "5-12 hours" if storage_class == "GLACIER" else "48 hours"
    assert "requested (bulk tier)" in (asked.manifest_archived or "")
    assert wait in (asked.manifest_archived or "")
    again = restore(store, "documents", NIGHT_1, target, tier="bulk")
    assert again.restores_requested == 0
    assert "already in progress" in (again.manifest_archived or "")

    # THEN once S3 has brought it back, the same restore proceeds to the documents
    clock.now += backend.restore_delay
    done = restore(store, "documents", NIGHT_1, target, tier="bulk")
    assert (done.status, done.restored, done.manifest_archived) == ("complete", 400, None)
    assert tree_hashes(target) == tree_hashes(str(office))


def test_latest_on_an_archived_night_says_which_and_how(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend, clock: FakeClock, office: Path
) -> None:
    archive_first_night(store, backend, clock, office, "GLACIER")

    result = restore(store, "documents", "latest", str(tmp_path / "back"), tier="standard")
    assert (result.status, result.date, result.restores_requested) == ("failed", START.date(), 1)
    with pytest.raises(ManifestArchived, match=f"manifest of {NIGHT_1} .* is in GLACIER"):
        browse.ls(store, "documents", "latest")


def test_verify_all_reports_the_archived_manifest_and_checks_the_rest(
    store: MemoryStore, backend: MemoryBackend, clock: FakeClock, office: Path
) -> None:
    archive_first_night(store, backend, clock, office, "GLACIER")
    second = night(store, office, clock)

    result = verify(store, "documents", None, all_dates=True)

    assert result.status == "mismatch"
    assert result.dates == (second.date,)
    assert result.checked == 400
    (problem,) = result.mismatches
    assert problem.date is not None and problem.date.isoformat() == NIGHT_1
    assert problem.path == layout.manifest_key(problem.date, "documents")
    assert "GLACIER" in problem.reason


def test_find_names_the_archived_night_as_unreadable(
    store: MemoryStore, backend: MemoryBackend, clock: FakeClock, office: Path
) -> None:
    archive_first_night(store, backend, clock, office, "GLACIER")
    second = night(store, office, clock)

    found, unreadable = browse.find(store, "documents", "INV-00001.pdf")

    assert [v.nights for f in found for v in f.versions] == [(second.date,)]
    assert len(unreadable) == 1 and unreadable[0].startswith(f"{NIGHT_1}: ")


def test_the_backup_passes_over_an_archived_manifest_and_sends_its_documents_again(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend, clock: FakeClock, office: Path
) -> None:
    archive_first_night(store, backend, clock, office, "GLACIER")

    # WHEN the next night has only the archived manifest to compare with
    second = night(store, office, clock)

    # THEN it completes, knowing nothing from that night: every document is sent again, and
    # it says which night it passed over
    assert (second.status, second.new, second.unchanged) == ("complete", 400, 0)
    assert [p.path for p in second.manifests_archived] == [f"{NIGHT_1} manifest"]
    assert second.summary()["manifests_archived"]
    target = str(tmp_path / "back")
    assert restore(store, "documents", "latest", target).status == "complete"
    assert tree_hashes(target) == tree_hashes(str(office))


def test_passing_over_an_archived_night_reuses_only_copies_from_a_manifest_it_read(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend, clock: FakeClock
) -> None:
    # GIVEN a small night (its manifest stays STANDARD), the next day 399 documents more (that
    # manifest lifecycle archives), then nothing for 40 days
    office = tmp_path / "growing"
    write(str(office), "contracts/lease.pdf", os.urandom(1000))
    first = night(store, office, clock)
    for i in range(399):
        write(str(office), f"invoices/2025/INV-{i:05d}.pdf", os.urandom(1000))
    clock.now += dt.timedelta(days=1)
    archive_first_night(store, backend, clock, office, "GLACIER")

    # WHEN the next night runs
    third = night(store, office, clock)

    # THEN the one document the readable night knew points at its copy, the rest are sent
    # again, and the night restores byte for byte
    assert (third.status, third.unchanged, third.new) == ("complete", 1, 399)
    assert [p.path for p in third.manifests_archived] == [
        f"{first.date + dt.timedelta(days=1)} manifest"
    ]
    assert verify(store, "documents", "latest", deep=True).status == "ok"
    target = str(tmp_path / "back")
    assert restore(store, "documents", "latest", target).status == "complete"
    assert tree_hashes(target) == tree_hashes(str(office))
