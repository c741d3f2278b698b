"""Corner cases where a backup tool quietly loses data if it gets them wrong."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest

from docbackup import layout
from docbackup.engine import BackupOptions, backup, restore
from docbackup.errors import ConfigError, ManifestError
from docbackup.sources import LocalSource, ObjectSource
from docbackup.storage import Encryption, MemoryBackend, MemoryStore, Stored
from tests.conftest import KMS_KEY
from tests.treebuilder import tree_hashes, write

D1, D2 = dt.date(2025, 10, 14), dt.date(2025, 10, 15)
ENC = Encryption("aws:kms", KMS_KEY)


def opts(date: dt.date, **kw: Any) -> BackupOptions:
    return BackupOptions(date=date, encryption=ENC, **kw)


class Killed(BaseException):
    pass


def test_an_older_night_cannot_be_rewritten(tmp_path: Path, store: MemoryStore) -> None:
    src = tmp_path / "office"
    write(str(src), "a.txt", b"one")
    backup(store, LocalSource(str(src)), opts(D1))
    backup(store, LocalSource(str(src)), opts(D2))  # its entry points at D1's copy
    write(str(src), "a.txt", b"two")

    with pytest.raises(ConfigError, match="only the newest night"):
        backup(store, LocalSource(str(src)), opts(D1))

    target = tmp_path / "r"
    restore(store, "documents", D2.isoformat(), str(target))
    assert (target / "a.txt").read_bytes() == b"one"


def test_s3_keys_that_cannot_be_files_are_failures_not_successes(
    backend: MemoryBackend, store: MemoryStore
) -> None:
    backend.create_bucket("source")
    source = backend.store("source")
    x_sha = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    for key in ("in/ok.pdf", "in/../up.pdf", "in/a//b.pdf", "in/./dot.pdf"):
        source.put(key, b"x", sha256_b64=x_sha, metadata={}, encryption=Encryption("none"))

    result = backup(store, ObjectSource(source, "in/"), opts(D1))

    assert (result.status, result.documents, result.failed) == ("partial", 1, 3)
    assert all("cannot be restored" in f.reason for f in result.failures)


def test_a_crashed_rerun_of_the_same_night_resumes_without_resending(
    tmp_path: Path, backend: MemoryBackend, store: MemoryStore, killed_in_process: None
) -> None:
    src = tmp_path / "office"
    for i in range(20):
        write(str(src), f"{i:02d}.txt", f"v1 {i}".encode())
    backup(store, LocalSource(str(src)), opts(D2))
    for i in range(10):
        write(str(src), f"{i:02d}.txt", f"v2 {i}".encode())

    class DiesAfter3(MemoryStore):
        left = 3

        def put(self, key: str, data: bytes, **kw: Any) -> Stored:
            if self.left == 0:
                raise Killed()
            if not key.endswith(".json"):  # count document uploads, not the lease
                self.left -= 1
            return super().put(key, data, **kw)

    with pytest.raises(Killed):
        backup(DiesAfter3(backend, "backups"), LocalSource(str(src)), opts(D2, workers=1))
    backend.requests.clear()

    result = backup(store, LocalSource(str(src)), opts(D2))

    assert (result.status, result.changed) == ("complete", 10)
    # The lease (a refused create, the take-over from the dead run, its renewal just before
    # the manifest) and the manifest.
    assert backend.requests["PutObject"] == 10 - 3 + 4
    target = tmp_path / "r"
    restore(store, "documents", D2.isoformat(), str(target))
    assert tree_hashes(str(target)) == tree_hashes(str(src))


def test_large_files_sent_before_a_crash_are_adopted_not_resent(
    tmp_path: Path, backend: MemoryBackend, store: MemoryStore, killed_in_process: None
) -> None:
    src = tmp_path / "office"
    for i in range(6):
        write(str(src), f"scan{i}.tiff", bytes([i]) * 5000)

    class DiesAfter2(MemoryStore):
        left = 2

        def upload(self, key: str, stream: Any, **kw: Any) -> Stored:
            if self.left == 0:
                raise Killed()
            self.left -= 1
            return super().upload(key, stream, **kw)

    small = opts(D1, multipart_threshold=1000, workers=1)
    with pytest.raises(Killed):
        backup(DiesAfter2(backend, "backups"), LocalSource(str(src)), small)
    backend.requests.clear()

    result = backup(store, LocalSource(str(src)), small)

    assert (result.status, result.new) == ("complete", 6)
    assert backend.requests["CompleteMultipartUpload"] == 4
    # Tonight's manifest (none), the killed run's lease, then the two adopted copies.
    assert backend.requests["GetObject"] == 1 + 1 + 2
    target = tmp_path / "r"
    restore(store, "documents", "latest", str(target))
    assert tree_hashes(str(target)) == tree_hashes(str(src))


def test_an_unreadable_newest_manifest_is_not_skipped_for_an_older_night(
    tmp_path: Path, store: MemoryStore
) -> None:
    src = tmp_path / "office"
    write(str(src), "a.txt", b"a")
    backup(store, LocalSource(str(src)), opts(D1))
    key = layout.manifest_key(D2, "documents")
    junk = b"{not json"
    store.put(
        key,
        junk,
        sha256_b64=base64.b64encode(hashlib.sha256(junk).digest()).decode(),
        metadata={},
        encryption=ENC,
    )

    with pytest.raises(ManifestError, match="not a JSON manifest"):
        restore(store, "documents", "latest", str(tmp_path / "r"))


def test_a_name_at_the_length_limit_restores(tmp_path: Path, store: MemoryStore) -> None:
    src = tmp_path / "office"
    name = "🧾" * 61 + ".pdf"  # 248 bytes: legal on Linux, too long for a prefixed temp name
    write(str(src), name, b"receipt")
    assert backup(store, LocalSource(str(src)), opts(D1)).status == "complete"

    result = restore(store, "documents", "latest", str(tmp_path / "r"))

    assert result.status == "complete", result.failures
    assert (tmp_path / "r" / name).read_bytes() == b"receipt"
