"""Storing one document: read once, hash in the same read, send, confirm.

Each function returns an `Outcome` describing the verified stored copy, or raises: OSError for
the source, a `StoreError` subclass for the bucket, `DocumentChanged` when the bytes moved
under us on every attempt.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
from dataclasses import dataclass
from typing import BinaryIO

from docbackup.errors import DocbackupError, EncryptionNotConfirmed
from docbackup.manifest import Entry
from docbackup.sources.base import Document, FileOrigin, ObjectOrigin
from docbackup.sources.local import (
    LeftTheSource,
    NotRegular,
    file_fingerprint,
    open_regular,
    open_regular_below,
)
from docbackup.storage.base import Encryption, Store, Stored

# User metadata on every stored copy, so an interrupted night can adopt what it already sent.
META_SHA256 = "docbackup-sha256"
META_FINGERPRINT = "docbackup-fingerprint"
# A file that keeps changing while it is read is tried this many times, then reported.
READ_ATTEMPTS = 3
_CHUNK = 1 << 20


class DocumentChanged(DocbackupError):
    pass


@dataclass(frozen=True, slots=True)
class Outcome:
    stored: Stored | None  # None: the bytes equal the previous copy, nothing was sent
    sha256: str
    size: int
    mtime_ns: int
    fingerprint: str
    bytes_sent: int


class _HashingReader:
    """A read-once, non-seekable view of a file that hashes what it hands out.

    Non-seekable on purpose: s3transfer then reads it strictly in order, so the digest is of
    exactly the bytes that were sent, and memory stays at a few part sizes.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.sha = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.sha.update(data)
        self.count += len(data)
        return data


class _Moved(Exception):
    """The file is not the size it had when it was opened: what was read is not one state of it."""


class _OneStateReader(_HashingReader):
    """A `_HashingReader` of a file being uploaded in parts: exactly the `before` state or none.

    s3transfer makes each read of a read-once stream one part, and every part but the last must
    be at least 5 MiB. A file that grows while it is read gives a short read where the end of
    the file was a moment ago and more data on the next one: a short part in the middle, which
    S3 refuses (EntityTooSmall) only when the upload is completed. So the reader never hands out
    more than the size the file had when it was opened, and stops the upload (which s3transfer
    then aborts) as soon as the file is found shorter, or at its end no longer the file it was:
    the caller reads it again, as it does a small file.
    """

    def __init__(self, raw: BinaryIO, fd: int, before: os.stat_result) -> None:
        super().__init__(raw)
        self._fd = fd
        self._before = before

    def read(self, size: int = -1) -> bytes:
        left = self._before.st_size - self.count
        want = left if size < 0 else min(size, left)
        if want == 0:
            if size != 0 and not _unchanged(self._fd, self._before, self.count):
                raise _Moved
            return b""
        # A regular file's read returns less than asked only at its end.
        data = super().read(want)
        if len(data) < want:
            raise _Moved
        return data


def unconfirmed(
    encryption: Encryption,
    what: str,
    sse: str | None,
    kms_key_id: str | None,
    *,
    consequence: str = "",
) -> str:
    """One line: which answer failed to confirm `encryption`, what the run did about it, and
    what the user can change."""
    answered = sse or "no encryption"
    if sse == "aws:kms" and kms_key_id:
        answered = f"aws:kms under {kms_key_id}"
    if encryption.mode == "AES256":
        advice = "this server does not apply SSE-S3; only --sse none stores without it"
    elif encryption.kms_key_id is None:
        advice = (
            "give the bucket a default KMS key or pass --kms-key-id; for a server without KMS "
            "choose --sse AES256 or --sse none explicitly"
        )
    else:
        advice = "for a server without KMS choose --sse AES256 or --sse none explicitly"
    return (
        f"the server did not confirm {encryption.describe()} for {what} "
        f"(it answered {answered}){consequence}; {advice}"
    )


def _confirm(stored: Stored, encryption: Encryption) -> Stored:
    if not encryption.confirmed_by(stored.sse, stored.kms_key_id):
        raise EncryptionNotConfirmed(
            unconfirmed(encryption, stored.key, stored.sse, stored.kms_key_id)
        )
    return stored


def _hash_file(raw: BinaryIO) -> str:
    sha = hashlib.sha256()
    while chunk := raw.read(_CHUNK):
        sha.update(chunk)
    return sha.hexdigest()


def store_file(
    store: Store,
    key: str,
    doc: Document,
    encryption: Encryption,
    *,
    multipart_threshold: int,
    unless_sha256: str | None = None,
) -> Outcome:
    """Upload a local file; with `unless_sha256`, skip sending when its bytes still match."""
    if not isinstance(doc.origin, FileOrigin):
        raise TypeError(f"{doc.path}: not a local file")
    for _ in range(READ_ATTEMPTS):
        try:
            origin = doc.origin
            fd = (
                open_regular_below(origin.root, origin.abspath)
                if origin.root
                else open_regular(origin.abspath)
            )
        except NotRegular as exc:
            # A FIFO or device put in its place since the scan: reading it could wait forever.
            raise DocumentChanged(f"is now {exc.kind}, not a regular file; not read") from None
        except LeftTheSource:
            raise DocumentChanged(
                "a folder on its path is now a symbolic link or not a folder; not followed"
            ) from None
        with os.fdopen(fd, "rb") as raw:
            before = os.fstat(fd)
            fingerprint = file_fingerprint(before)
            outcome = functools.partial(
                Outcome, size=before.st_size, mtime_ns=before.st_mtime_ns, fingerprint=fingerprint
            )

            if before.st_size < multipart_threshold:
                # One byte past the size it had: a file growing while read is seen to move,
                # and is read again, without holding all it grew to in memory.
                data = raw.read(before.st_size + 1)
                if not _unchanged(fd, before, len(data)):
                    continue  # the file moved while we read it: read it again
                sha = hashlib.sha256(data)
                if sha.hexdigest() == unless_sha256:
                    return outcome(stored=None, sha256=sha.hexdigest(), bytes_sent=0)
                stored = store.put(
                    key,
                    data,
                    sha256_b64=base64.b64encode(sha.digest()).decode(),
                    metadata={META_FINGERPRINT: fingerprint, META_SHA256: sha.hexdigest()},
                    encryption=encryption,
                )
                return outcome(
                    stored=_confirm(stored, encryption),
                    sha256=sha.hexdigest(),
                    bytes_sent=len(data),
                )
            if unless_sha256 is not None:
                digest = _hash_file(raw)
                if not _unchanged(fd, before, before.st_size):
                    continue
                if digest == unless_sha256:
                    return outcome(stored=None, sha256=digest, bytes_sent=0)
                raw.seek(0)
            reader = _OneStateReader(raw, fd, before)
            try:
                stored = store.upload(
                    key, reader, metadata={META_FINGERPRINT: fingerprint}, encryption=encryption
                )
            except _Moved:
                continue  # the upload was stopped before it completed: read the file again
            if not _unchanged(fd, before, reader.count):
                continue  # what was sent is not one state of the file: send it again
            return outcome(
                stored=_confirm(stored, encryption),
                sha256=reader.sha.hexdigest(),
                bytes_sent=reader.count,
            )
    raise DocumentChanged(f"changed while being read, {READ_ATTEMPTS} times; next run retries")


def _unchanged(fd: int, before: os.stat_result, nbytes: int) -> bool:
    return file_fingerprint(os.fstat(fd)) == file_fingerprint(before) and nbytes == before.st_size


def hash_stored(store: Store, key: str, version_id: str | None) -> tuple[str, int]:
    """SHA-256 and size of a stored copy, read back."""
    with store.open(key, version_id) as body:
        reader = _HashingReader(body)
        while reader.read(_CHUNK):
            pass
    return reader.sha.hexdigest(), reader.count


def copy_object(store: Store, key: str, doc: Document, encryption: Encryption) -> Outcome:
    """Copy a source-bucket object server-side, then hash the stored copy itself.

    The copy moves no bytes through the client; reading the copy back is the one transfer
    needed for a SHA-256 that describes what is really stored (servers' copy checksums differ).
    """
    origin = doc.origin
    if not isinstance(origin, ObjectOrigin):
        raise TypeError(f"{doc.path}: not an object in a bucket")
    stored = _confirm(
        store.copy(
            key,
            source_bucket=origin.bucket,
            source_key=origin.key,
            source_version=None,
            if_match=origin.etag,
            size=doc.size,
            metadata={META_FINGERPRINT: origin.fingerprint},
            encryption=encryption,
        ),
        encryption,
    )
    sha, size = hash_stored(store, key, stored.version_id)
    if size != doc.size:
        raise DocumentChanged(f"stored copy has {size} bytes, the source listed {doc.size}")
    return Outcome(stored, sha, doc.size, doc.mtime_ns, origin.fingerprint, 0)


def refresh(store: Store, key: str, entry: Entry, encryption: Encryption) -> Stored:
    """Copy an existing stored copy server-side into tonight's snapshot (G2), metadata kept."""
    return _confirm(
        store.copy(
            key,
            source_bucket=store.bucket,
            source_key=entry.key,
            source_version=entry.version_id,
            if_match=None,
            size=entry.size,
            metadata=None,
            encryption=encryption,
        ),
        encryption,
    )
