"""A manifest is data from a bucket: a hostile one is reported, not followed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from pathlib import Path
from typing import Any

from docbackup.engine import BackupOptions, backup, restore
from docbackup.errors import StoreError
from docbackup.sources import LocalSource
from docbackup.storage import Encryption, MemoryStore
from tests.conftest import KMS_KEY
from tests.handmade import write_snapshot
from tests.treebuilder import tree_hashes, write

DATE = dt.date(2025, 10, 15)


def test_hostile_paths_are_reported_and_the_rest_restored(
    tmp_path: Path, store: MemoryStore
) -> None:
    paths = ["good.txt", "../escape.txt", "a/../../escape2.txt", "/abs.txt", "C:evil.txt"]
    write_snapshot(store, DATE, paths, Encryption("aws:kms", KMS_KEY))
    target = tmp_path / "deep" / "target"

    result = restore(store, "documents", DATE.isoformat(), str(target))

    assert (result.status, result.restored, result.failed) == ("partial", 1, 4)
    assert all("unsafe path" in p.reason for p in result.failures)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["good.txt"]
    assert dataclasses.asdict(result.failures[0])["path"] in paths


def test_a_download_cut_off_mid_body_is_started_again(tmp_path: Path, store: MemoryStore) -> None:
    src = tmp_path / "office"
    for i in range(5):
        write(str(src), f"{i}.pdf", bytes([i]) * 3_000_000)
    backup(
        store,
        LocalSource(str(src)),
        BackupOptions(date=DATE, encryption=Encryption("aws:kms", KMS_KEY)),
    )
    cut: set[str] = set()

    class Drops(io.RawIOBase):
        def __init__(self, inner: io.BytesIO) -> None:
            self.inner, self.sent = inner, 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            if self.sent:
                raise StoreError("download interrupted: connection reset")
            self.sent += 1
            return self.inner.read(size)

    class Flaky(MemoryStore):
        def open(self, key: str, version_id: str | None = None, *, size: int | None = None) -> Any:
            body = super().open(key, version_id)
            if key.endswith(".pdf") and key not in cut:
                cut.add(key)  # each document's first download drops after one chunk
                return Drops(body)  # type: ignore[arg-type]
            return body

    result = restore(
        Flaky(store._backend, "backups"), "documents", DATE.isoformat(), str(tmp_path / "r")
    )

    assert (result.status, result.restored) == ("complete", 5)
    assert len(cut) == 5
    assert tree_hashes(str(tmp_path / "r")) == tree_hashes(str(src))
