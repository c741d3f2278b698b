"""The encryption asked for is confirmed by the run's first write, before any document (G4).

The in-memory bucket without a default KMS key answers SSE-S3 (AES256), as S3 does for a bucket
with no encryption configured; asking it for "the bucket's default KMS key" is then refused at
the lease, and nothing of the documents is stored.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from docbackup import layout
from docbackup.engine import BackupOptions, backup
from docbackup.errors import EncryptionNotApplied, PreconditionFailed
from docbackup.sources import LocalSource
from docbackup.sources.s3 import ObjectSource
from docbackup.storage import Encryption, MemoryBackend, MemoryStore, Stored
from tests.conftest import KMS_KEY
from tests.treebuilder import write

DATE = dt.date(2025, 10, 15)
LEASE = layout.lease_key(DATE, "documents")
BUCKET_DEFAULT_KMS = BackupOptions(date=DATE, encryption=Encryption("aws:kms"))


@pytest.fixture
def plain(backend: MemoryBackend) -> MemoryStore:
    """A bucket with no default KMS key (it applies SSE-S3 by default)."""
    backend.create_bucket("plain")
    return backend.store("plain")


class Recording(MemoryStore):
    """Remembers the key of every write, in the order they were sent."""

    def __init__(self, backend: MemoryBackend, bucket: str) -> None:
        super().__init__(backend, bucket)
        self.writes: list[str] = []

    def put(self, key: str, data: Any, **kw: Any) -> Stored:
        self.writes.append(key)
        return super().put(key, data, **kw)

    def upload(self, key: str, stream: Any, **kw: Any) -> Stored:
        self.writes.append(key)
        return super().upload(key, stream, **kw)

    def copy(self, key: str, **kw: Any) -> Stored:
        self.writes.append(key)
        return super().copy(key, **kw)


class IgnoresSSE(Recording):
    """A server like rclone's serve s3: stores everything, applies and reports no encryption."""

    def put(self, key: str, data: Any, **kw: Any) -> Stored:
        return dataclasses.replace(super().put(key, data, **kw), sse=None, kms_key_id=None)

    def upload(self, key: str, stream: Any, **kw: Any) -> Stored:
        return dataclasses.replace(super().upload(key, stream, **kw), sse=None, kms_key_id=None)


def stored_keys(store: MemoryStore) -> set[str]:
    return {o.key for o in store.objects("")}


@pytest.mark.parametrize(
    ("name", "body", "threshold"),
    [
        ("empty.txt", b"", 8 << 20),
        ("invoice.pdf", b"%PDF" * 300, 8 << 20),
        ("scan.tif", b"I" * 4096, 1024),  # over the (lowered) multipart threshold
    ],
    ids=["zero-byte", "one-request", "multipart"],
)
def test_a_bucket_without_default_kms_stores_no_document(
    tmp_path: Path, backend: MemoryBackend, name: str, body: bytes, threshold: int
) -> None:
    # GIVEN a bucket with no default KMS key, and a run that asks for that key
    backend.create_bucket("plain")
    store = Recording(backend, "plain")
    write(str(tmp_path / "office"), name, body)
    options = dataclasses.replace(BUCKET_DEFAULT_KMS, multipart_threshold=threshold)

    # WHEN it runs
    with pytest.raises(EncryptionNotApplied) as refused:
        backup(store, LocalSource(str(tmp_path / "office")), options)

    # THEN it stops at its first write, the lease, says so in one line, and stores no document
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(
        f"the server did not confirm aws:kms:bucket-default for this run's first write, {LEASE} "
        "(it answered AES256), so no document was sent; give the bucket a default KMS key"
    )
    assert store.writes == [LEASE, LEASE]  # taken, then given up
    assert stored_keys(store) == {LEASE}
    assert backend.requests["CompleteMultipartUpload"] == 0
    # and the night is free again for a run with the encryption put right
    assert json.loads(store.open(LEASE).read())["expires"] == 0


def test_the_lease_is_the_first_write_of_a_run_that_sends_documents(
    tmp_path: Path, backend: MemoryBackend
) -> None:
    store = Recording(backend, "backups")
    for i in range(5):
        write(str(tmp_path / "office"), f"{i}.txt", b"x" * i)
    options = BackupOptions(date=DATE, encryption=Encryption("aws:kms", KMS_KEY))

    result = backup(store, LocalSource(str(tmp_path / "office")), options)

    assert (result.status, result.new) == ("complete", 5)
    assert store.writes[0] == LEASE
    assert store.writes[-1] == layout.manifest_key(DATE, "documents")


def test_a_server_that_ignores_encryption_stores_nothing_but_the_lease(
    tmp_path: Path, backend: MemoryBackend
) -> None:
    backend.create_bucket("plain")
    store = IgnoresSSE(backend, "plain")
    for i in range(5):
        write(str(tmp_path / "office"), f"{i}.txt", b"x")

    with pytest.raises(EncryptionNotApplied, match=r"did not confirm AES256 .* no encryption"):
        backup(
            store,
            LocalSource(str(tmp_path / "office")),
            BackupOptions(date=DATE, encryption=Encryption("AES256")),
        )

    assert stored_keys(store) == {LEASE}


def test_with_no_encryption_chosen_there_is_nothing_to_confirm(
    tmp_path: Path, backend: MemoryBackend
) -> None:
    backend.create_bucket("plain")
    store = IgnoresSSE(backend, "plain")
    write(str(tmp_path / "office"), "a.txt", b"a")
    write(str(tmp_path / "office"), "empty.txt", b"")

    result = backup(
        store,
        LocalSource(str(tmp_path / "office")),
        BackupOptions(date=DATE, encryption=Encryption("none")),
    )

    assert (result.status, result.new) == ("complete", 2)


def test_an_s3_source_is_not_copied_when_the_encryption_is_not_confirmed(
    backend: MemoryBackend, plain: MemoryStore
) -> None:
    # GIVEN the nightly function's shape: an S3 source, copied server-side
    backend.create_bucket("scans")
    scans = backend.store("scans")
    for i in range(3):
        data = f"scan {i}".encode()
        sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
        scans.put(f"in/{i}.pdf", data, sha256_b64=sha, metadata={}, encryption=Encryption("AES256"))

    with pytest.raises(EncryptionNotApplied):
        backup(plain, ObjectSource(scans, "in"), BUCKET_DEFAULT_KMS)

    assert backend.requests["CopyObject"] == 0
    assert stored_keys(plain) == {LEASE}


def test_a_lease_taken_over_is_checked_too(tmp_path: Path, plain: MemoryStore) -> None:
    # GIVEN the night's lease left by an earlier run (here: an earlier refused one)
    write(str(tmp_path / "office"), "a.txt", b"a")
    source = LocalSource(str(tmp_path / "office"))
    with pytest.raises(EncryptionNotApplied):
        backup(plain, source, BUCKET_DEFAULT_KMS)

    # WHEN the next run takes it over (If-Match), THEN that write's answer is what is checked
    with pytest.raises(EncryptionNotApplied):
        backup(plain, source, BUCKET_DEFAULT_KMS)
    assert stored_keys(plain) == {LEASE}


class LeaseAnswerLost(Recording):
    """Stores the lease's create, then reports what botocore's resend of it gets: 412."""

    def put(self, key: str, data: Any, **kw: Any) -> Stored:
        stored = super().put(key, data, **kw)
        if key == LEASE and kw.get("if_none_match"):
            raise PreconditionFailed(f"{key}: the resend found the first attempt had landed")
        return stored


def test_a_lease_whose_answer_was_lost_is_checked_by_what_is_stored(
    tmp_path: Path, backend: MemoryBackend
) -> None:
    backend.create_bucket("plain")
    store = LeaseAnswerLost(backend, "plain")
    write(str(tmp_path / "office"), "a.txt", b"a")

    with pytest.raises(EncryptionNotApplied, match="it answered AES256"):
        backup(store, LocalSource(str(tmp_path / "office")), BUCKET_DEFAULT_KMS)

    assert stored_keys(store) == {LEASE}


def test_a_night_with_no_changes_writes_no_manifest_once_encryption_stops_working(
    tmp_path: Path, backend: MemoryBackend, store: MemoryStore
) -> None:
    # GIVEN a complete night under the bucket's default KMS key
    write(str(tmp_path / "office"), "a.txt", b"a")
    source = LocalSource(str(tmp_path / "office"))
    assert backup(store, source, BUCKET_DEFAULT_KMS).status == "complete"

    # WHEN the next night, with nothing changed, meets a server that no longer applies it
    next_night = DATE + dt.timedelta(days=1)
    later = dataclasses.replace(BUCKET_DEFAULT_KMS, date=next_night)
    with pytest.raises(EncryptionNotApplied):
        backup(IgnoresSSE(backend, "backups"), source, later)

    # THEN that night has its lease and no manifest: the first night stays `latest`
    tonight = {k for k in stored_keys(store) if k.startswith(layout.date_prefix(next_night))}
    assert tonight == {layout.lease_key(next_night, "documents")}
