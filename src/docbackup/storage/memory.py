"""A real, thread-safe, versioned in-memory object store.

Not a mock: it keeps bytes and versions, checks SHA-256 on arrival like S3, applies and reports
encryption, and honours conditional requests. The functional tests run the whole engine on it,
and the contract suite holds it to the same behaviour as S3Store.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from docbackup.errors import (
    AccessDenied,
    BucketNotFound,
    KeyUnusable,
    ObjectArchived,
    ObjectNotFound,
    PreconditionFailed,
    StoreError,
)
from docbackup.storage.base import (
    ARCHIVE_CLASSES,
    Encryption,
    Level,
    ObjectInfo,
    ObjectVersion,
    Readable,
    RestoreState,
    RestoreTier,
    Stored,
    Versioning,
)


@dataclass(slots=True)
class _Version:
    data: bytes
    version_id: str | None
    etag: str
    last_modified: dt.datetime
    sse: str | None
    kms_key_id: str | None
    metadata: dict[str, str]
    storage_class: str = "STANDARD"
    # A restore request on an archived version: readable from `restored_at` until
    # `restored_until`, as S3 keeps a temporary copy.
    restored_at: dt.datetime | None = None
    restored_until: dt.datetime | None = None

    def readable(self, now: dt.datetime) -> bool:
        if self.storage_class not in ARCHIVE_CLASSES:
            return True
        return (
            self.restored_at is not None
            and self.restored_until is not None
            and self.restored_at <= now < self.restored_until
        )


@dataclass(slots=True)
class _Bucket:
    default_encryption: Encryption
    versioning: Versioning = "Enabled"
    versions: dict[str, list[_Version]] = field(default_factory=dict)


class MemoryBackend:
    """Several buckets, like one S3 endpoint; `requests` counts calls by operation."""

    def __init__(self, *, known_kms_keys: tuple[str, ...] = ("test-key",)) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._ids = itertools.count(1)
        self.known_kms_keys = set(known_kms_keys)
        self.requests: Counter[str] = Counter()
        self.denied: set[str] = set()
        # Operations refused with AccessDenied on every bucket, as a policy without them would.
        self.denied_operations: set[str] = set()
        # Tests move time forward to exercise retention.
        self.clock: Callable[[], dt.datetime] = _utc_now
        # How long a restore from an archive class takes here, on `clock` (S3: minutes to
        # two days, by class and tier).
        self.restore_delay = dt.timedelta(hours=5)

    def create_bucket(
        self,
        name: str,
        *,
        default_encryption: Encryption | None = None,
        versioning: Versioning = "Enabled",
    ) -> None:
        with self._lock:
            self._buckets[name] = _Bucket(default_encryption or Encryption("AES256"), versioning)

    def store(self, name: str) -> MemoryStore:
        return MemoryStore(self, name)

    def _bucket(self, name: str, op: str | None) -> _Bucket:
        if op is not None:
            self.requests[op] += 1
        if name in self.denied or op in self.denied_operations:
            raise AccessDenied(f"access denied to bucket {name!r}")
        bucket = self._buckets.get(name)
        if bucket is None:
            raise BucketNotFound(f"bucket {name!r} does not exist")
        return bucket

    def _new_version(
        self, bucket: _Bucket, key: str, data: bytes, enc: Encryption, meta: Mapping[str, str]
    ) -> _Version:
        if enc.mode == "aws:kms" and enc.kms_key_id is None:
            enc = bucket.default_encryption
        if enc.mode == "aws:kms" and enc.kms_key_id not in self.known_kms_keys:
            raise KeyUnusable(f"KMS key {enc.kms_key_id!r} cannot be used")
        # As S3: without versioning a write replaces the object; suspended, it replaces the
        # "null" version and keeps the real ones.
        version_id = {"Enabled": f"v{next(self._ids)}", "Suspended": "null"}.get(bucket.versioning)
        version = _Version(
            data=data,
            version_id=version_id,
            etag=f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"',
            last_modified=self.clock(),
            sse=None if enc.mode == "none" else enc.mode,
            kms_key_id=enc.kms_key_id if enc.mode == "aws:kms" else None,
            metadata=dict(meta),
        )
        kept = bucket.versions.get(key, [])
        if bucket.versioning != "Enabled":
            kept = [v for v in kept if v.version_id not in (None, "null")]
        bucket.versions[key] = [*kept, version]
        return version

    @staticmethod
    def _find(bucket: _Bucket, key: str, version_id: str | None) -> _Version | None:
        versions = bucket.versions.get(key)
        if not versions:
            return None
        if version_id is None:
            return versions[-1]
        return next((v for v in versions if v.version_id == version_id), None)

    def expire(self, bucket: str, *, days: int) -> int:
        """Apply a lifecycle rule: drop every version stored `days` or more ago; say how many."""
        cutoff = self.clock() - dt.timedelta(days=days)
        dropped = 0
        with self._lock:
            versions = self._buckets[bucket].versions
            for key in list(versions):
                kept = [v for v in versions[key] if v.last_modified > cutoff]
                dropped += len(versions[key]) - len(kept)
                if kept:
                    versions[key] = kept
                else:
                    del versions[key]
        return dropped

    def transition(
        self, bucket: str, *, days: int, storage_class: str, larger_than: int = 0
    ) -> int:
        """Apply a lifecycle transition: move every version stored `days` or more ago and
        larger than `larger_than` bytes into `storage_class`; say how many moved."""
        cutoff = self.clock() - dt.timedelta(days=days)
        moved = 0
        with self._lock:
            for versions in self._buckets[bucket].versions.values():
                for v in versions:
                    due = v.last_modified <= cutoff and len(v.data) > larger_than
                    if due and v.storage_class != storage_class:
                        v.storage_class = storage_class
                        v.restored_at = v.restored_until = None
                        moved += 1
        return moved

    def delete_version(self, bucket: str, key: str, version_id: str | None) -> None:
        """What someone with s3:DeleteObjectVersion can do behind the backup's back."""
        with self._lock:
            versions = self._buckets[bucket].versions
            kept = [v for v in versions.get(key, []) if v.version_id != version_id]
            if kept:
                versions[key] = kept
            else:
                versions.pop(key, None)

    def damage(self, bucket: str, key: str, version_id: str | None, data: bytes) -> None:
        """A stored version's bytes changed in place: what S3 never does, but a disk under an
        S3-compatible server, or an object overwritten in a bucket without versions, can."""
        with self._lock:
            version = self._find(self._buckets[bucket], key, version_id)
            if version is None:
                raise KeyError(key)
            version.data = data

    def version_count(self, bucket: str, key: str) -> int:
        with self._lock:
            return len(self._buckets[bucket].versions.get(key, []))


def _archived(what: str, version: _Version) -> ObjectArchived:
    return ObjectArchived(
        f"{what} is in {version.storage_class} and must be restored from the archive before "
        "it can be read or copied",
        version.storage_class,
    )


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stored(key: str, v: _Version) -> Stored:
    return Stored(key, v.version_id, v.etag, v.sse, v.kms_key_id, v.last_modified)


def _info(key: str, v: _Version, now: dt.datetime | None = None) -> ObjectInfo:
    restore: RestoreState | None = None
    if now is not None and v.storage_class in ARCHIVE_CLASSES and v.restored_at is not None:
        if now < v.restored_at:
            restore = "in-progress"
        elif v.readable(now):
            restore = "ready"
    return ObjectInfo(
        key,
        len(v.data),
        v.etag,
        v.last_modified,
        v.version_id,
        v.sse,
        v.kms_key_id,
        dict(v.metadata),
        v.storage_class,
        restore,
    )


class MemoryStore:
    def __init__(self, backend: MemoryBackend, bucket: str) -> None:
        self._backend = backend
        self._name = bucket

    @property
    def bucket(self) -> str:
        return self._name

    def check_access(self) -> None:
        with self._backend._lock:
            self._backend._bucket(self._name, "HeadBucket")

    def check_encryption(self, encryption: Encryption) -> None:
        key = encryption.kms_key_id
        if encryption.mode == "aws:kms" and key and key not in self._backend.known_kms_keys:
            raise KeyUnusable(f"KMS key {key!r} does not exist")

    def versioning(self) -> Versioning:
        with self._backend._lock:
            return self._backend._bucket(self._name, "GetBucketVersioning").versioning

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
        if not isinstance(data, bytes):
            data = data.read()
        if base64.b64encode(hashlib.sha256(data).digest()).decode() != sha256_b64:
            raise StoreError(f"{key}: BadDigest, the bytes do not match their SHA-256")
        with self._backend._lock:
            bucket = self._backend._bucket(self._name, "PutObject")
            current = self._backend._find(bucket, key, None)
            if if_none_match and current is not None:
                raise PreconditionFailed(f"{key} already exists")
            if if_match is not None and current is None:
                raise ObjectNotFound(f"{key} does not exist")  # as S3 answers: 404
            if if_match is not None and current is not None and current.etag != if_match:
                raise PreconditionFailed(f"{key} is not the version expected")
            return _stored(key, self._backend._new_version(bucket, key, data, encryption, metadata))

    def upload(
        self, key: str, stream: Readable, *, metadata: Mapping[str, str], encryption: Encryption
    ) -> Stored:
        parts = []
        while chunk := stream.read(1 << 20):
            parts.append(chunk)
        with self._backend._lock:
            bucket = self._backend._bucket(self._name, "CompleteMultipartUpload")
            version = self._backend._new_version(bucket, key, b"".join(parts), encryption, metadata)
            return _stored(key, version)

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
        with self._backend._lock:
            src_bucket = self._backend._bucket(source_bucket, "CopyObject")
            src = self._backend._find(src_bucket, source_key, source_version)
            if src is None:
                raise ObjectNotFound(f"{source_bucket}/{source_key} does not exist")
            if not src.readable(self._backend.clock()):
                raise _archived(f"{source_bucket}/{source_key}", src)
            if if_match is not None and src.etag != if_match:
                raise PreconditionFailed(f"{source_key} changed since it was listed")
            bucket = self._backend._bucket(self._name, None)
            meta = src.metadata if metadata is None else metadata
            return _stored(key, self._backend._new_version(bucket, key, src.data, encryption, meta))

    def open(self, key: str, version_id: str | None = None, *, size: int | None = None) -> BinaryIO:
        with self._backend._lock:
            version = self._backend._find(
                self._backend._bucket(self._name, "GetObject"), key, version_id
            )
            if version is not None and not version.readable(self._backend.clock()):
                raise _archived(key, version)
        if version is None:
            raise ObjectNotFound(f"{key} does not exist")
        return io.BytesIO(version.data)

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        with self._backend._lock:
            version = self._backend._find(
                self._backend._bucket(self._name, "HeadObject"), key, version_id
            )
        return None if version is None else _info(key, version, self._backend.clock())

    def request_restore(
        self, key: str, version_id: str | None, *, tier: RestoreTier, days: int
    ) -> RestoreState:
        with self._backend._lock:
            bucket = self._backend._bucket(self._name, "RestoreObject")
            version = self._backend._find(bucket, key, version_id)
            if version is None:
                raise ObjectNotFound(f"{key} does not exist")
            if version.storage_class not in ARCHIVE_CLASSES:
                return "ready"
            if version.storage_class == "DEEP_ARCHIVE" and tier == "expedited":
                raise StoreError(f"{key}: expedited retrieval is not offered for DEEP_ARCHIVE")
            now = self._backend.clock()
            if version.restored_at is not None and now < version.restored_at:
                return "in-progress"
            if version.readable(now):
                version.restored_until = now + dt.timedelta(days=days)  # as S3 extends it
                return "ready"
            version.restored_at = now + self._backend.restore_delay
            version.restored_until = version.restored_at + dt.timedelta(days=days)
            return "requested"

    def objects(self, prefix: str) -> Iterator[ObjectInfo]:
        with self._backend._lock:
            bucket = self._backend._bucket(self._name, "ListObjectsV2")
            found = sorted((k, v[-1]) for k, v in bucket.versions.items() if k.startswith(prefix))
            # S3 pages by 1,000 keys; count the extra requests the same way.
            self._backend.requests["ListObjectsV2"] += max(0, (len(found) - 1) // 1000)
        for key, version in found:
            yield _info(key, version)

    def versions(self, prefix: str) -> Iterator[ObjectVersion]:
        with self._backend._lock:
            bucket = self._backend._bucket(self._name, "ListObjectVersions")
            found = [
                ObjectVersion(
                    key=k,
                    version_id=v.version_id or "null",
                    size=len(v.data),
                    latest=i == len(vs) - 1,
                    storage_class=v.storage_class,
                )
                for k, vs in sorted(bucket.versions.items())
                if k.startswith(prefix)
                for i, v in reversed(list(enumerate(vs)))
            ]
            self._backend.requests["ListObjectVersions"] += max(0, (len(found) - 1) // 1000)
        yield from found

    def level(self, prefix: str) -> Level:
        with self._backend._lock:
            bucket = self._backend._bucket(self._name, "ListObjectsV2")
            here = [k for k in bucket.versions if k.startswith(prefix)]
            folders = sorted(
                {
                    prefix + k[len(prefix) :].split("/", 1)[0] + "/"
                    for k in here
                    if "/" in k[len(prefix) :]
                }
            )
            objects = [
                _info(k, bucket.versions[k][-1])
                for k in sorted(here)
                if "/" not in k[len(prefix) :]
            ]
            self._backend.requests["ListObjectsV2"] += max(
                0, (len(folders) + len(objects) - 1) // 1000
            )
        return Level(tuple(folders), tuple(objects))

    def folders(self, prefix: str) -> list[str]:
        with self._backend._lock:
            bucket = self._backend._bucket(self._name, "ListObjectsV2")
            folders = {
                prefix + k[len(prefix) :].split("/", 1)[0] + "/"
                for k in bucket.versions
                if k.startswith(prefix) and "/" in k[len(prefix) :]
            }
        return sorted(folders)
