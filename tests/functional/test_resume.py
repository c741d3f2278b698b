"""G6: a run cut off after N uploads, rerun on the same date, sends nothing twice."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from docbackup.engine import BackupOptions, backup, restore
from docbackup.sources import LocalSource
from docbackup.storage import Encryption, MemoryBackend, MemoryStore, Stored
from tests.conftest import KMS_KEY
from tests.treebuilder import tree_hashes, write

DATE = dt.date(2025, 10, 15)
OPTIONS = BackupOptions(date=DATE, encryption=Encryption("aws:kms", KMS_KEY), workers=4)


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing in the engine catches it."""


class DiesAfter(MemoryStore):
    def __init__(self, backend: MemoryBackend, bucket: str, puts: int) -> None:
        super().__init__(backend, bucket)
        self.left = puts

    def put(self, key: str, data: bytes, **kw: object) -> Stored:
        if self.left <= 0:
            raise Killed()
        if "/documents/" in key:  # count document uploads, not the lease
            self.left -= 1
        return super().put(key, data, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("after", [1, 17, 39])
def test_interrupted_night_resumes_without_uploading_twice(
    tmp_path: Path, backend: MemoryBackend, store: MemoryStore, after: int, killed_in_process: None
) -> None:
    src = tmp_path / "office"
    for i in range(40):
        write(str(src), f"docs/{i:03d}.txt", f"document {i}".encode() * (i + 1))

    with pytest.raises(Killed):
        backup(DiesAfter(backend, "backups", after), LocalSource(str(src)), OPTIONS)
    assert backend.requests["PutObject"] == after + 1  # the lease, no manifest
    backend.requests.clear()

    result = backup(store, LocalSource(str(src)), OPTIONS)

    assert result.status == "complete"
    assert result.new == 40
    # Only the documents the first run did not store; then the lease (a refused create, the
    # take-over from the dead run and its renewal just before the manifest) and the manifest.
    assert backend.requests["PutObject"] == 40 - after + 4
    for i in range(40):
        assert backend.version_count("backups", f"backups/{DATE}/documents/docs/{i:03d}.txt") == 1
    target = tmp_path / "r"
    restore(store, "documents", DATE.isoformat(), str(target))
    assert tree_hashes(str(target)) == tree_hashes(str(src))


def test_partial_night_is_picked_up_by_the_next(
    tmp_path: Path, backend: MemoryBackend, store: MemoryStore
) -> None:
    """Documents stored by a partial run are not sent again the next night."""
    src = tmp_path / "office"
    for i in range(10):
        write(str(src), f"{i}.txt", str(i).encode())

    class FailsOne(MemoryStore):
        def put(self, key: str, data: bytes, **kw: object) -> Stored:
            if key.endswith("/7.txt"):
                from docbackup.errors import StoreError

                raise StoreError("InternalError after retries")
            return super().put(key, data, **kw)  # type: ignore[arg-type]

    first = backup(FailsOne(backend, "backups"), LocalSource(str(src)), OPTIONS)
    assert (first.status, first.failed, first.documents) == ("partial", 1, 9)
    assert [f.path for f in first.failures] == ["7.txt"]
    backend.requests.clear()

    nxt = backup(
        store,
        LocalSource(str(src)),
        BackupOptions(date=DATE + dt.timedelta(days=1), encryption=OPTIONS.encryption),
    )

    assert (nxt.status, nxt.new, nxt.unchanged) == ("complete", 1, 9)
    assert backend.requests["PutObject"] == 4  # 7.txt, the lease, its renewal, the manifest
