"""The source seam: a kind of source the engine has never seen, driven through the real backup.

The documents live in a dict, as a mail archive or a document system's export would hand them
over. Nothing in the engine knows this source: it only scans and stores, through `Source`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from docbackup.engine import BackupOptions, backup, restore
from docbackup.sources.base import (
    META_FINGERPRINT,
    META_SHA256,
    Document,
    Match,
    Outcome,
    ScanResult,
)
from docbackup.storage import Encryption, MemoryStore
from docbackup.storage.base import Store
from tests.conftest import KMS_KEY
from tests.treebuilder import tree_hashes

NIGHTS = [dt.date(2025, 10, 14) + dt.timedelta(days=i) for i in range(3)]


@dataclass(frozen=True, slots=True)
class RecordOrigin:
    """A record in the archive: its revision number is its identity."""

    name: str
    revision: int

    @property
    def fingerprint(self) -> str:
        return f"rev:{self.revision}"

    def match(self, previous: str) -> Match:
        return "same" if previous == self.fingerprint else "different"


class ArchiveSource:
    """Documents held in memory, each with a revision that changes with its bytes."""

    def __init__(self, records: dict[str, bytes]) -> None:
        self.records = records
        self.revisions = dict.fromkeys(records, 1)
        self.stored: list[str] = []

    def edit(self, name: str, data: bytes) -> None:
        self.records[name] = data
        self.revisions[name] = self.revisions.get(name, 0) + 1

    def describe(self) -> str:
        return "archive://office"

    def scan(self) -> ScanResult:
        return ScanResult(self._documents())

    def _documents(self) -> Iterator[Document]:
        for name in sorted(self.records):
            origin = RecordOrigin(name, self.revisions[name])
            yield Document(name, len(self.records[name]), 1_700_000_000 * 10**9, origin)

    def store(
        self,
        document: Document,
        store: Store,
        key: str,
        encryption: Encryption,
        *,
        multipart_threshold: int,
        unless_sha256: str | None = None,
    ) -> Outcome:
        data = self.records[document.path]
        sha = hashlib.sha256(data)
        self.stored.append(document.path)
        stored = store.put(
            key,
            data,
            sha256_b64=base64.b64encode(sha.digest()).decode(),
            metadata={META_FINGERPRINT: document.fingerprint, META_SHA256: sha.hexdigest()},
            encryption=encryption,
        )
        return Outcome(
            stored, sha.hexdigest(), len(data), document.mtime_ns, document.fingerprint, len(data)
        )


def restored(store: MemoryStore, tmp_path: Path, date: dt.date) -> dict[str, str]:
    target = tmp_path / date.isoformat()
    result = restore(store, "documents", date.isoformat(), str(target))
    assert (result.status, result.failed) == ("complete", 0), result
    return tree_hashes(str(target))


def hashes(records: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in records.items()}


def test_a_third_kind_of_source_backs_up_and_restores_through_the_engine(
    tmp_path: Path, store: MemoryStore
) -> None:
    # GIVEN an archive of three records, a kind of source the engine has no code for
    archive = ArchiveSource(
        {"contracts/Lease.pdf": b"lease " * 500, "letters/Offer.docx": b"offer", "notes.txt": b"n"}
    )
    opts = [BackupOptions(date=d, encryption=Encryption("aws:kms", KMS_KEY)) for d in NIGHTS]

    # WHEN the first night runs, THEN every record is stored and the night restores them
    first = backup(store, archive, opts[0])
    assert (first.status, first.new, first.documents) == ("complete", 3, 3)
    assert restored(store, tmp_path, NIGHTS[0]) == hashes(archive.records)

    # WHEN nothing changed, THEN nothing is stored again
    archive.stored.clear()
    second = backup(store, archive, opts[1])
    assert (second.status, second.unchanged, second.bytes_uploaded) == ("complete", 3, 0)
    assert archive.stored == []

    # WHEN one record changes, THEN only it is stored, and each night restores its own bytes
    before = dict(archive.records)
    archive.edit("letters/Offer.docx", b"offer, revised")
    third = backup(store, archive, opts[2])
    assert (third.status, third.changed, third.unchanged) == ("complete", 1, 2)
    assert archive.stored == ["letters/Offer.docx"]
    assert restored(store, tmp_path, NIGHTS[2]) == hashes(archive.records)
    assert restored(store, tmp_path, NIGHTS[1]) == hashes(before)


class ShortCopies(ArchiveSource):
    """Lists each record at its size but stores five bytes, and leaves the hash to the engine
    (as a server-side copy does)."""

    def store(
        self,
        document: Document,
        store: Store,
        key: str,
        encryption: Encryption,
        *,
        multipart_threshold: int,
        unless_sha256: str | None = None,
    ) -> Outcome:
        data = b"short"
        stored = store.put(
            key,
            data,
            sha256_b64=base64.b64encode(hashlib.sha256(data).digest()).decode(),
            metadata={META_FINGERPRINT: document.fingerprint},
            encryption=encryption,
        )
        return Outcome(stored, None, document.size, document.mtime_ns, document.fingerprint, 5)


def test_a_copy_that_is_not_the_size_the_source_listed_fails_that_document(
    store: MemoryStore,
) -> None:
    # GIVEN a source whose copies are not the size it listed, and whose hash it does not know
    source = ShortCopies({"a.txt": b"a" * 100, "b.txt": b"b" * 100})

    # WHEN a night runs, THEN the engine reads each copy back, finds 5 bytes, and fails both
    result = backup(
        store, source, BackupOptions(date=NIGHTS[0], encryption=Encryption("aws:kms", KMS_KEY))
    )
    assert (result.status, result.failed) == ("failed", 2)
    assert all(
        "stored copy has 5 bytes, the source listed 100" in p.reason for p in result.failures
    )
