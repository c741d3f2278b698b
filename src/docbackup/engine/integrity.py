"""What the engine trusts a stored copy for, and how it finds out: one place.

Every read of a stored copy that must match a manifest (restore, `cat`, `verify --deep`, the
nightly read-back of a server-side copy) goes through `fetch_verified` or `hash_stored`, and
every answer of the server about encryption through `confirm`.
"""

from __future__ import annotations

import os
import threading
from typing import BinaryIO

from docbackup.errors import (
    DocbackupError,
    EncryptionNotConfirmed,
    ObjectArchived,
    StoredChecksumMismatch,
    StoreError,
)
from docbackup.hashing import CHUNK, HashingReader
from docbackup.manifest import Entry
from docbackup.storage.base import Encryption, Store, Stored

# botocore retries a request until its body starts; a body cut off later surfaces as a
# StoreError from the read, which only the reader can retry: this many times in all.
DOWNLOAD_ATTEMPTS = 3


class Interrupted(Exception):
    """The read was stopped from outside (`stop` set); what it wrote is incomplete."""


class CopyMismatch(DocbackupError):
    """The stored bytes are not the ones the manifest describes."""

    def __init__(self, entry: Entry, size: int, sha256: str) -> None:
        super().__init__(
            f"stored copy does not match the manifest (size {size}, sha256 {sha256[:16]}..., "
            f"expected {entry.size}, {entry.sha256[:16]}...)"
        )
        self.size = size
        self.sha256 = sha256


def hash_stored(
    store: Store, key: str, version_id: str | None, size: int | None = None
) -> tuple[str, int]:
    """SHA-256 (hex) and size of a stored copy, read back: one attempt, for a copy just made
    (a failure there fails the document, and the next night sends it again). `size`: what
    the copy should hold, if known (see Store.open)."""
    with store.open(key, version_id, size=size) as body:
        return HashingReader(body).drain()


def fetch_verified(
    store: Store,
    entry: Entry,
    out: BinaryIO | None = None,
    *,
    stop: threading.Event | None = None,
) -> None:
    """Read the copy `entry` names, into `out` if given (an empty file; flushed and synced to
    disk), and raise CopyMismatch unless its size and SHA-256 are the manifest's.

    A body that breaks mid-read is read again from the start, `out` emptied first, up to
    DOWNLOAD_ATTEMPTS times; an archived copy is not retried (S3 must restore it first).
    """
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        if stop is not None and stop.is_set():
            raise Interrupted("interrupted")
        if out is not None and attempt > 1:
            out.seek(0)
            out.truncate()
        try:
            with store.open(entry.key, entry.version_id, size=entry.size) as body:
                reader = HashingReader(body)
                while chunk := reader.read(CHUNK):
                    if stop is not None and stop.is_set():
                        raise Interrupted("interrupted")
                    if out is not None:
                        out.write(chunk)
        except (ObjectArchived, StoredChecksumMismatch):
            # Neither reads otherwise a second time: S3 must restore the one first, and sends
            # the other's damaged bytes again as they are.
            raise
        except StoreError:
            if attempt == DOWNLOAD_ATTEMPTS:
                raise
            continue
        if out is not None:
            out.flush()
            os.fsync(out.fileno())
        sha256 = reader.sha.hexdigest()
        if reader.count != entry.size or sha256 != entry.sha256:
            raise CopyMismatch(entry, reader.count, sha256)
        return
    raise AssertionError("unreachable")  # the loop returns or raises


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


def confirm(
    encryption: Encryption,
    what: str,
    sse: str | None,
    kms_key_id: str | None,
    *,
    consequence: str = "",
) -> None:
    """Raise EncryptionNotConfirmed unless the server's answer confirms `encryption`."""
    if not encryption.confirmed_by(sse, kms_key_id):
        raise EncryptionNotConfirmed(
            unconfirmed(encryption, what, sse, kms_key_id, consequence=consequence)
        )


def confirmed(stored: Stored, encryption: Encryption) -> Stored:
    """`stored`, once its encryption is the one asked for."""
    confirm(encryption, stored.key, stored.sse, stored.kms_key_id)
    return stored
