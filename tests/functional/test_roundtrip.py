"""The central test: back up, restore elsewhere, compare byte for byte, across two nights."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from pathlib import Path

from docbackup import layout
from docbackup.engine import BackupOptions, backup, restore, verify
from docbackup.sources import LocalSource
from docbackup.storage import Encryption, MemoryBackend, MemoryStore
from tests.conftest import KMS_KEY
from tests.treebuilder import awkward_tree, sly_edit, tree_hashes, write

NIGHT1 = dt.date(2025, 10, 14)
NIGHT2 = dt.date(2025, 10, 15)
THRESHOLD = 256 * 1024  # small, so the big file takes the multipart path


def opts(date: dt.date, **kw: object) -> BackupOptions:
    return BackupOptions(
        date=date,
        encryption=Encryption("aws:kms", KMS_KEY),
        multipart_threshold=THRESHOLD,
        **kw,  # type: ignore[arg-type]
    )


def test_two_nights_restore_each_exactly(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> None:
    src = tmp_path / "office"
    night1 = awkward_tree(str(src), big_size=THRESHOLD * 3 + 17)

    # WHEN night 1 runs
    first = backup(store, LocalSource(str(src)), opts(NIGHT1))

    # THEN every document is new and stored, with the manifest written last
    assert first.status == "complete"
    assert (first.documents, first.new, first.failed) == (len(night1), len(night1), 0)
    assert first.manifest_key == layout.manifest_key(NIGHT1, "documents")
    assert backend.requests["CompleteMultipartUpload"] == 1

    # GIVEN a same-size in-place edit with the mtime put back, an append, an add and a delete
    sly_edit(str(src / "invoices/2025/INV-0001.pdf"))
    with open(src / "reports/Q3 report final (2).xlsx", "ab") as f:
        f.write(b"more")
    write(str(src), "memos/new memo.txt", b"hello")
    os.remove(src / "empty.txt")
    night2 = tree_hashes(str(src))

    second = backup(store, LocalSource(str(src)), opts(NIGHT2))

    assert second.status == "complete"
    assert (second.new, second.changed, second.unchanged) == (1, 2, len(night2) - 3)
    assert second.bytes_uploaded == len(b"hello") + os.path.getsize(
        src / "invoices/2025/INV-0001.pdf"
    ) + os.path.getsize(src / "reports/Q3 report final (2).xlsx")

    # Both nights restore to exactly what the folder held that night.
    for date, expected in ((NIGHT1, night1), (NIGHT2, night2)):
        target = tmp_path / f"restore-{date}"
        result = restore(store, "documents", date.isoformat(), str(target))
        assert result.status == "complete"
        assert result.restored == len(expected)
        assert tree_hashes(str(target)) == expected
    # mtimes come back too
    restored = tmp_path / f"restore-{NIGHT2}" / "memos/new memo.txt"
    assert os.stat(restored).st_mtime_ns == os.stat(src / "memos/new memo.txt").st_mtime_ns

    everything = verify(store, "documents", None, all_dates=True, deep=True)
    assert everything.status == "ok"
    assert set(everything.dates) == {NIGHT1, NIGHT2}
    # A copy that both nights list is checked once: night 1's, plus night 2's three new ones.
    assert everything.checked == len(night1) + 3


def test_rerun_uploads_nothing_and_costs_few_requests(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> None:
    src = tmp_path / "office"
    awkward_tree(str(src), big_size=1000)
    backup(store, LocalSource(str(src)), opts(NIGHT1))
    backend.requests.clear()

    again = backup(store, LocalSource(str(src)), opts(NIGHT2))

    assert again.status == "complete"
    assert again.bytes_uploaded == 0
    assert again.unchanged == again.documents
    # The versioning check (which also shows the bucket is there), one listing of dates, one
    # manifest read, one listing of the versions it points at, the night's lease and its
    # renewal just before the one manifest write.
    assert sum(backend.requests.values()) <= 7, backend.requests
    assert backend.requests["ListObjectVersions"] == 1 and "HeadBucket" not in backend.requests
    assert backend.requests["PutObject"] == 3


def test_a_manifest_in_another_json_layout_still_carries_the_night_over(
    tmp_path: Path, store: MemoryStore
) -> None:
    # GIVEN night 1's manifest rewritten as one line of JSON, as earlier versions wrote it
    src = tmp_path / "office"
    hashes = awkward_tree(str(src), big_size=1000)
    backup(store, LocalSource(str(src)), opts(NIGHT1))
    key = layout.manifest_key(NIGHT1, "documents")
    with store.open(key) as body:
        one_line = json.dumps(json.loads(body.read())).encode()
    assert b"\n" not in one_line
    store.put(
        key,
        one_line,
        sha256_b64=base64.b64encode(hashlib.sha256(one_line).digest()).decode(),
        metadata={},
        encryption=Encryption("aws:kms", KMS_KEY),
    )

    # WHEN night 2 runs, THEN nothing is sent again and night 2 restores exactly
    again = backup(store, LocalSource(str(src)), opts(NIGHT2))
    assert (again.status, again.unchanged, again.bytes_uploaded) == ("complete", len(hashes), 0)
    restore(store, "documents", str(NIGHT2), str(tmp_path / "back"))
    assert tree_hashes(str(tmp_path / "back")) == hashes


def test_dry_run_writes_nothing(tmp_path: Path, store: MemoryStore, backend: MemoryBackend) -> None:
    src = tmp_path / "office"
    hashes = awkward_tree(str(src), big_size=1000)

    result = backup(store, LocalSource(str(src)), opts(NIGHT1, dry_run=True))

    assert result.status == "complete"
    assert result.manifest_key is None
    assert result.bytes_uploaded == sum(p.stat().st_size for p in src.rglob("*") if p.is_file())
    assert (result.documents, result.new) == (len(hashes), len(hashes))
    assert list(store.objects("")) == []


def test_removed_documents_leave_the_new_manifest_but_keep_their_copies(
    tmp_path: Path, store: MemoryStore
) -> None:
    src = tmp_path / "office"
    write(str(src), "a.txt", b"a")
    write(str(src), "b.txt", b"b")
    backup(store, LocalSource(str(src)), opts(NIGHT1))
    os.remove(src / "b.txt")

    backup(store, LocalSource(str(src)), opts(NIGHT2))

    target = tmp_path / "r"
    restore(store, "documents", NIGHT2.isoformat(), str(target))
    assert tree_hashes(str(target)) == tree_hashes(str(src))
    assert store.head(layout.document_key(NIGHT1, "documents", "b.txt")) is not None


def test_names_with_newlines_and_other_awkward_characters(
    tmp_path: Path, store: MemoryStore
) -> None:
    src = tmp_path / "office"
    for name in ("line\nbreak.txt", "back\\slash.txt", "-dash", "100% + more .txt", " lead"):
        write(str(src), f"odd/{name}", name.encode())

    result = backup(store, LocalSource(str(src)), opts(NIGHT1))
    restore(store, "documents", NIGHT1.isoformat(), str(tmp_path / "r"))

    assert (result.status, result.documents) == ("complete", 5)
    assert tree_hashes(str(tmp_path / "r")) == tree_hashes(str(src))
