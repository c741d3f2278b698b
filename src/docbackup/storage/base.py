"""The storage interface the engine is written against.

A `Store` is one bucket. The engine never sees boto3: it calls these methods, and the two
implementations (`MemoryStore`, `S3Store`) pass one contract suite (tests/contract).
Errors are the classes in `docbackup.errors`; retries of throttling and 5xx happen below this
interface (botocore's retry modes), so a raised StoreError is final for that call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO, Literal, Protocol

SSEMode = Literal["aws:kms", "AES256", "none"]
# Storage classes whose objects S3 neither reads nor copies until a restore request has made a
# temporary copy (GLACIER_IR is read at once and is not one of them).
ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
# RestoreObject's retrieval tiers, as the CLI names them.
RestoreTier = Literal["bulk", "standard", "expedited"]
# GetBucketVersioning's answer; "Off" for a bucket that never had versioning.
Versioning = Literal["Enabled", "Suspended", "Off"]
# What a restore request found: just asked for, asked for earlier and not done, or done.
RestoreState = Literal["requested", "in-progress", "ready"]


@dataclass(frozen=True, slots=True)
class Encryption:
    """What every stored object must be encrypted with (G4).

    `aws:kms` with no key id means the bucket's default KMS key: nothing is sent, and the
    response must still confirm SSE-KMS.
    """

    mode: SSEMode = "aws:kms"
    kms_key_id: str | None = None

    def describe(self) -> str:
        if self.mode == "aws:kms":
            return f"aws:kms:{self.kms_key_id}" if self.kms_key_id else "aws:kms:bucket-default"
        return self.mode

    def confirmed_by(self, sse: str | None, kms_key_id: str | None) -> bool:
        """Does a server's answer (SSE algorithm, key id or ARN) show what was asked for?"""
        if self.mode == "none":
            return True
        if sse != self.mode:
            return False
        if self.mode == "aws:kms" and self.kms_key_id:
            return kms_key_id is not None and _same_key(self.kms_key_id, kms_key_id)
        return True


def _same_key(asked: str, answered: str) -> bool:
    # The answer is a full key ARN; the question may be an id, an ARN, or an alias, which
    # only KMS can resolve. An id or ARN must match; an alias is accepted when SSE-KMS is on.
    if asked.startswith("alias/") or ":alias/" in asked:
        return True
    return answered == asked or answered.endswith(f"key/{asked}")


@dataclass(frozen=True, slots=True)
class Stored:
    """What the server said about an object it just stored."""

    key: str
    version_id: str | None
    etag: str
    sse: str | None
    kms_key_id: str | None
    # The server's clock when it answered (its Date header), if it said: what a run compares
    # its own clock with, at no extra request.
    server_time: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: dt.datetime
    version_id: str | None = None
    sse: str | None = None
    kms_key_id: str | None = None
    metadata: Mapping[str, str] | None = None
    storage_class: str = "STANDARD"


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Store(Protocol):
    @property
    def bucket(self) -> str: ...

    def check_access(self) -> None:
        """Raise BucketNotFound or AccessDenied unless the bucket can be used."""

    def check_encryption(self, encryption: Encryption) -> None:
        """Raise KeyUnusable if the KMS key asked for is known not to work (missing, disabled)."""

    def versioning(self) -> Versioning:
        """The bucket's versioning state; AccessDenied when these credentials may not ask."""

    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        *,
        sha256_b64: str,
        metadata: Mapping[str, str],
        encryption: Encryption,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> Stored:
        """Store `data` (bytes, or a seekable file read from its start) in one request; the
        server checks it against `sha256_b64`.

        if_none_match: only if the key does not exist; if_match: only if its current ETag is
        this one. Either way PreconditionFailed when the condition does not hold.
        """

    def upload(
        self, key: str, stream: Readable, *, metadata: Mapping[str, str], encryption: Encryption
    ) -> Stored:
        """Store a large stream through a managed multipart upload, read once in order."""

    def copy(
        self,
        key: str,
        *,
        source_bucket: str,
        source_key: str,
        source_version: str | None,
        if_match: str | None,
        size: int,
        metadata: Mapping[str, str] | None,
        encryption: Encryption,
    ) -> Stored:
        """Server-side copy; metadata None keeps the source's. ObjectArchived when the source
        is in an archive class and not restored."""

    def open(self, key: str, version_id: str | None = None) -> BinaryIO:
        """A stream of the object's bytes (ObjectNotFound if absent, ObjectArchived if it must
        be restored from an archive class first)."""

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        """The object's size, encryption, metadata and storage class, or None if absent."""

    def request_restore(
        self, key: str, version_id: str | None, *, tier: RestoreTier, days: int
    ) -> RestoreState:
        """Ask S3 for a temporary readable copy of an archived object, kept `days` days.

        "ready" also for an object that is not archived: there is nothing to wait for.
        """

    def objects(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object under `prefix`, in key order (paginated underneath)."""

    def folders(self, prefix: str) -> list[str]:
        """The "folders" directly under `prefix` (delimiter '/')."""
