"""Storing a document from a local folder: read once, hash in the same read, send.

A file is read through its folder's descriptor (never through a link that replaced a folder
since the scan), and what is sent is exactly one state of it: a file that changes while it is
read is read again, up to `READ_ATTEMPTS` times, then reported as `DocumentChanged`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
from typing import BinaryIO

from docbackup.errors import DocumentChanged
from docbackup.hashing import HashingReader, sha256_of
from docbackup.sources.base import META_FINGERPRINT, META_SHA256, Document, FileOrigin, Outcome
from docbackup.sources.files import (
    LeftTheSource,
    NotRegular,
    file_fingerprint,
    open_regular,
    open_regular_below,
)
from docbackup.storage.base import Encryption, Store

# A file that keeps changing while it is read is tried this many times, then reported.
READ_ATTEMPTS = 3


class _Moved(Exception):
    """The file is not the size it had when it was opened: what was read is not one state of it."""


class _OneStateReader(HashingReader):
    """A `HashingReader` of a file being uploaded in parts: exactly the `before` state or none.

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


def _open(origin: FileOrigin) -> int:
    try:
        if origin.root:
            return open_regular_below(origin.root, origin.abspath)
        return open_regular(origin.abspath)
    except NotRegular as exc:
        # A FIFO or device put in its place since the scan: reading it could wait forever.
        raise DocumentChanged(f"is now {exc.kind}, not a regular file; not read") from None
    except LeftTheSource:
        raise DocumentChanged(
            "a folder on its path is now a symbolic link or not a folder; not followed"
        ) from None


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
    origin = doc.origin
    if not isinstance(origin, FileOrigin):
        raise TypeError(f"{doc.path}: not a local file")
    for _ in range(READ_ATTEMPTS):
        fd = _open(origin)
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
                return outcome(stored=stored, sha256=sha.hexdigest(), bytes_sent=len(data))
            if unless_sha256 is not None:
                digest, _ = sha256_of(raw)
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
            return outcome(stored=stored, sha256=reader.sha.hexdigest(), bytes_sent=reader.count)
    raise DocumentChanged(f"changed while being read, {READ_ATTEMPTS} times; next run retries")


def _unchanged(fd: int, before: os.stat_result, nbytes: int) -> bool:
    return file_fingerprint(os.fstat(fd)) == file_fingerprint(before) and nbytes == before.st_size
