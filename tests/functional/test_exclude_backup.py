"""Excluded files through the whole engine: left out of the snapshot, never a failure."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path

from docbackup.engine import BackupOptions, backup, restore
from docbackup.sources import IGNORE_FILE, LocalSource, ObjectSource, ScanResult
from docbackup.storage import Encryption, MemoryBackend, MemoryStore
from tests.conftest import KMS_KEY
from tests.treebuilder import tree_hashes, write

NIGHT1 = dt.date(2025, 10, 14)
NIGHT2 = dt.date(2025, 10, 15)


def opts(date: dt.date) -> BackupOptions:
    return BackupOptions(date=date, encryption=Encryption("aws:kms", KMS_KEY))


class WatchedSource(LocalSource):
    """Keeps the last scan, to read its counts once the engine has consumed it."""

    last: ScanResult | None = None

    def scan(self) -> ScanResult:
        self.last = super().scan()
        return self.last


def test_excluded_files_stay_out_of_the_snapshot_and_the_run_is_complete(
    tmp_path: Path, store: MemoryStore
) -> None:
    # GIVEN an office folder with lock files, temporary files and a folder the user excludes
    src = tmp_path / "office"
    kept = {
        "Budget.xlsx": b"budget",
        "letters/Offer.docx": b"offer",
        "letters/Scan.pdf": b"%PDF scan",
        IGNORE_FILE: b"# build output\nexport/\n",
    }
    for rel, data in kept.items():
        write(str(src), rel, data)
    for rel in ("~$Budget.xlsx", "letters/.~lock.Offer.docx#", "letters/~WRL0001.tmp"):
        write(str(src), rel, b"lock")
    for i in range(5):
        write(str(src), f"export/page-{i}.png", b"png")
    source = WatchedSource(str(src))

    # WHEN night 1 runs
    first = backup(store, source, opts(NIGHT1))

    # THEN only the kept files are stored, nothing failed, and the source counted what it left
    assert (first.status, first.documents, first.failed) == ("complete", len(kept), 0)
    assert first.skipped == ()
    assert source.last is not None and source.last.excluded == 4  # 3 files, export/ once
    restore(store, "documents", NIGHT1.isoformat(), str(tmp_path / "night1"))
    assert set(tree_hashes(str(tmp_path / "night1"))) == set(kept)

    # GIVEN the user then excludes PDFs, one of which night 1 stored
    write(str(src), IGNORE_FILE, b"export/\n*.pdf\n")

    second = backup(store, LocalSource(str(src)), opts(NIGHT2))

    # THEN tonight's snapshot lacks it, as if it had been deleted; night 1 still has it
    assert (second.status, second.documents, second.failed) == ("complete", len(kept) - 1, 0)
    restore(store, "documents", NIGHT2.isoformat(), str(tmp_path / "night2"))
    assert set(tree_hashes(str(tmp_path / "night2"))) == set(kept) - {"letters/Scan.pdf"}
    assert (tmp_path / "night1/letters/Scan.pdf").read_bytes() == b"%PDF scan"


def test_an_s3_source_with_an_ignore_object_backs_up_what_it_keeps(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> None:
    backend.create_bucket("shared-drive")
    shared = backend.store("shared-drive")
    objects = {
        f"team/{IGNORE_FILE}": b"archive/\n",
        "team/plan.docx": b"plan",
        "team/~$plan.docx": b"lock",
        "team/archive/2019.docx": b"old",
    }
    for key, data in objects.items():
        sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
        shared.put(key, data, sha256_b64=sha, metadata={}, encryption=Encryption("none"))

    result = backup(store, ObjectSource(shared, "team/"), opts(NIGHT1))

    assert (result.status, result.documents, result.failed) == ("complete", 2, 0)
    restore(store, "documents", NIGHT1.isoformat(), str(tmp_path / "back"))
    assert set(tree_hashes(str(tmp_path / "back"))) == {IGNORE_FILE, "plan.docx"}
