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
            if kms_key_id is None:
                return False  # an answer that names no key confirms none
            # An alias names whichever key it points at, which only KMS can resolve: asked
            # for by alias, any key confirms SSE-KMS (check_encryption asked KMS up front).
            if is_alias(self.kms_key_id):
                return True
            # The server must name the key by its ARN: a bare id in the answer does not say
            # which account or region's key was used, so it confirms only a question by id.
            if kms_key_id != self.kms_key_id and not kms_key_id.startswith("arn:"):
                return False
            return same_key(self.kms_key_id, kms_key_id)
        return True


def is_alias(key: str) -> bool:
    return key.startswith("alias/") or ":alias/" in key


def same_key(one: str, other: str) -> bool:
    """Do two references name the same KMS key? Each is a key id or a key ARN.

    A key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) matches itself or its own id, as servers
    answer either; two ARNs must be equal, as the same id under another account or region is
    another key. An alias, or an empty reference, never matches: what it names is KMS's to say.
    """
    if not one or not other or is_alias(one) or is_alias(other):
        return False
    if one == other:
        return True
    arn, key_id = (one, other) if len(one) > len(other) else (other, one)
    return arn.startswith("arn:") and ":" not in key_id and arn.endswith(f":key/{key_id}")


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
class Level:
    """One level of a listing with delimiter '/': folder prefixes, and the objects beside them."""

    folders: tuple[str, ...]
    objects: tuple[ObjectInfo, ...]


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
    # For an archived copy, as HEAD says: a restore asked for and not done ("in-progress"), or
    # a temporary readable copy there ("ready"); None when no restore was asked for (or the
    # copy is not archived).
    restore: RestoreState | None = None


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    """One stored version of an object, as a listing of versions names it."""

    key: str
    # S3's "null" for a version written while the bucket kept no versions.
    version_id: str | None
    size: int
    # False once a delete marker or a later write hides it: lifecycle's noncurrent-version
    # rule then removes it.
    latest: bool
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

    def open(self, key: str, version_id: str | None = None, *, size: int | None = None) -> BinaryIO:
        """A stream of the object's bytes (ObjectNotFound if absent, ObjectArchived if it must
        be restored from an archive class first).

        `size`: the length the caller expects (a manifest's, a listing's), which lets a store
        fetch a small object in one go; the stream is what is stored, whatever its length."""

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

    def versions(self, prefix: str) -> Iterator[ObjectVersion]:
        """Every version of every object under `prefix`, in key order and newest first within
        a key, delete markers left out (ListObjectVersions, paginated underneath: 1,000
        versions a request)."""

    def folders(self, prefix: str) -> list[str]:
        """The "folders" directly under `prefix` (delimiter '/')."""

    def level(self, prefix: str) -> Level:
        """What lies directly under `prefix`: its "folders" and the objects not in one
        (ListObjectsV2 with delimiter '/', 1,000 of them a request)."""
