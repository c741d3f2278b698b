"""The S3 store: `Store`'s operations as S3 requests, over an injected boto3 client.

What each operation sends and how it reads the answer. The failures it may meet are turned
into docbackup's in `errors`, the values it sends and reads are translated in `wire`, and
large objects go through `transfer`; the CRT fast path for small puts and gets is
`storage/crt.py`.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, BinaryIO, cast

from botocore.exceptions import BotoCoreError, ClientError

from docbackup.errors import KeyUnusable, ObjectNotFound, StoreError
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
from docbackup.storage.crt import CrtClient
from docbackup.storage.s3.errors import Body, source_errors, translated
from docbackup.storage.s3.transfer import COPY_LIMIT, TransferSettings
from docbackup.storage.s3.wire import managed_sse, put_headers, sse_args, stored, user_metadata


class S3Store:
    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        transfer: TransferSettings | None = None,
        kms_client: Callable[[], Any] | None = None,
        fast: Callable[[str, str], CrtClient | None] | None = None,
    ) -> None:
        self._client = client
        # Built on first use: a night that does not need to ask KMS never loads its client.
        self._kms_factory = kms_client
        self._bucket = bucket
        self._transfer = transfer or TransferSettings()
        # The CRT fast path (storage/crt.py) is built at the first upload, from the bucket-level
        # request `check_access` or `versioning` sent: `fast` makes it from that request's URL
        # and signature.
        self._fast_factory = fast
        self._fast: CrtClient | None = None
        self._seen: tuple[str, str] | None = None
        self._fast_lock = threading.Lock()

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def client(self) -> Any:
        return self._client

    def other_bucket(self, bucket: str) -> S3Store:
        """A store for another bucket on the same client (its credentials, endpoint and retry
        settings): how an S3 prefix is read as a source. It only lists and reads, so it takes
        none of this store's upload or KMS settings."""
        return S3Store(self._client, bucket)

    def _errors(self, what: str) -> AbstractContextManager[None]:
        """Turn botocore's exceptions, raised after its own retries, into docbackup's."""
        return translated(what, bucket=self._bucket, client=self._client)

    def check_access(self) -> None:
        with self._seeing("HeadBucket"), self._errors("bucket"):
            self._client.head_bucket(Bucket=self._bucket)

    @contextlib.contextmanager
    def _seeing(self, operation: str) -> Iterator[None]:
        """Keep the URL and signature of this bucket-level request for the CRT fast path."""
        events, event = self._client.meta.events, f"before-send.s3.{operation}"

        def seen(request: Any, **_: Any) -> None:
            self._seen = (request.url, str(request.headers.get("Authorization", "")))

        events.register(event, seen, unique_id="docbackup-seen")
        try:
            yield
        finally:
            events.unregister(event, unique_id="docbackup-seen")

    def _fast_path(self) -> CrtClient | None:
        if self._fast_factory is None or self._seen is None:
            return self._fast
        with self._fast_lock:
            if self._fast is None and self._fast_factory is not None:
                self._fast = self._fast_factory(*self._seen)
                self._fast_factory = None  # built, or found impossible: decided once
            return self._fast

    def check_encryption(self, encryption: Encryption) -> None:
        key = encryption.kms_key_id
        if encryption.mode != "aws:kms" or not key or self._kms_factory is None:
            return
        try:
            meta = self._kms_factory().describe_key(KeyId=key)["KeyMetadata"]
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NotFoundException", "InvalidArnException", "ValidationException"):
                raise KeyUnusable(
                    f"KMS key {key!r} does not exist in this account and region"
                ) from None
            # Not allowed to describe it: S3 itself will say whether it may use the key.
            return
        except BotoCoreError:
            return
        if meta.get("KeyState") != "Enabled":
            raise KeyUnusable(f"KMS key {key!r} is {meta.get('KeyState')}, not Enabled")
        if meta.get("KeyUsage", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
            raise KeyUnusable(f"KMS key {key!r} is not an encryption key")

    def versioning(self) -> Versioning:
        # A backup's first request when it checks versioning (it then sends no HeadBucket).
        with self._seeing("GetBucketVersioning"), self._errors("bucket"):
            status = self._client.get_bucket_versioning(Bucket=self._bucket).get("Status")
        return "Enabled" if status == "Enabled" else "Suspended" if status == "Suspended" else "Off"

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
        args: dict[str, Any] = {
            "Bucket": self._bucket,
            "Key": key,
            "Body": data,
            # Sent with the request so S3 rejects bytes that do not match (BadDigest).
            "ChecksumSHA256": sha256_b64,
            "Metadata": dict(metadata),
            **sse_args(encryption),
        }
        fast = self._fast_path() if isinstance(data, bytes) else None
        if fast is not None and isinstance(data, bytes) and not if_none_match and not if_match:
            headers = put_headers(sha256_b64, metadata, encryption)
            answer = None if headers is None else fast.put(key, data, headers)
            if answer is not None:
                return Stored(
                    key=key,
                    version_id=answer.get("x-amz-version-id"),
                    etag=answer.get("etag", ""),
                    sse=answer.get("x-amz-server-side-encryption"),
                    kms_key_id=answer.get("x-amz-server-side-encryption-aws-kms-key-id"),
                )
            # Not done (refused, failed, timed out): botocore sends it, retries, and reports.
        if if_none_match:
            args["IfNoneMatch"] = "*"
        if if_match is not None:
            args["IfMatch"] = if_match
        with self._errors(key):
            resp = self._client.put_object(**args)
        return stored(key, resp)

    def upload(
        self, key: str, stream: Readable, *, metadata: Mapping[str, str], encryption: Encryption
    ) -> Stored:
        extra = {
            "Metadata": dict(metadata),
            "ChecksumAlgorithm": "SHA256",
            **managed_sse(encryption),
        }
        with self._errors(key):
            with self._transfer.manager(self._client) as manager:
                manager.upload(stream, self._bucket, key, extra_args=extra).result()
            # s3transfer returns nothing; one HEAD gives the version and confirms encryption.
            resp = self._client.head_object(Bucket=self._bucket, Key=key)
        if user_metadata(resp) != {k.lower(): v for k, v in metadata.items()}:
            # Not the object just sent: another writer replaced it in between.
            raise StoreError(f"{key}: replaced by another writer during the upload")
        return stored(key, resp)

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
        src: dict[str, str] = {"Bucket": source_bucket, "Key": source_key}
        if source_version:
            src["VersionId"] = source_version
        # A copy carries no tags: copying them would need s3:GetObjectTagging on the source
        # and s3:PutObjectTagging here, and backups do not use tags.
        extra: dict[str, Any] = {
            "ChecksumAlgorithm": "SHA256",
            "TaggingDirective": "REPLACE",
            **sse_args(encryption),
        }
        if metadata is not None:
            extra |= {"Metadata": dict(metadata), "MetadataDirective": "REPLACE"}
        what = f"{source_bucket}/{source_key}"
        with source_errors(what, foreign=source_bucket != self._bucket), self._errors(what):
            if if_match:
                extra["CopySourceIfMatch"] = if_match
            if size >= COPY_LIMIT:
                managed = {k: v for k, v in extra.items() if k != "BucketKeyEnabled"}
                with self._transfer.manager(self._client) as manager:
                    manager.copy(src, self._bucket, key, extra_args=managed).result()
                resp = self._client.head_object(Bucket=self._bucket, Key=key)
            else:
                resp = self._client.copy_object(
                    Bucket=self._bucket, Key=key, CopySource=src, **extra
                )
        return stored(key, resp)

    def open(self, key: str, version_id: str | None = None, *, size: int | None = None) -> BinaryIO:
        fast = self._fast_path() if size is not None else None
        if fast is not None and size is not None:
            data = fast.get(key, version_id, size)
            if data is not None:
                return io.BytesIO(data)
            # Not done (too large, refused, failed, timed out): botocore reads it, retries,
            # and reports.
        args = {"Bucket": self._bucket, "Key": key}
        if version_id:
            args["VersionId"] = version_id
        with self._errors(key):
            body = self._client.get_object(**args)["Body"]
        # Body has the whole file interface the engine uses (read, close, with).
        return cast(BinaryIO, Body(body, key))

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        args = {"Bucket": self._bucket, "Key": key}
        if version_id:
            args["VersionId"] = version_id
        try:
            with self._errors(key):
                resp = self._client.head_object(**args)
        except ObjectNotFound:
            return None
        return ObjectInfo(
            key=key,
            size=int(resp["ContentLength"]),
            etag=resp["ETag"],
            last_modified=resp["LastModified"],
            version_id=resp.get("VersionId"),
            sse=resp.get("ServerSideEncryption"),
            kms_key_id=resp.get("SSEKMSKeyId"),
            metadata=user_metadata(resp),
            storage_class=resp.get("StorageClass") or "STANDARD",
            restore=_restore_state(resp.get("Restore")),
        )

    def request_restore(
        self, key: str, version_id: str | None, *, tier: RestoreTier, days: int
    ) -> RestoreState:
        args: dict[str, Any] = {
            "Bucket": self._bucket,
            "Key": key,
            "RestoreRequest": {"Days": days, "GlacierJobParameters": {"Tier": tier.title()}},
        }
        if version_id:
            args["VersionId"] = version_id
        with self._errors(key):
            try:
                resp = self._client.restore_object(**args)
            except ClientError as exc:
                err = exc.response.get("Error", {})
                if err.get("Code") == "RestoreAlreadyInProgress":
                    return "in-progress"
                if err.get("Code") == "InvalidObjectState" and (
                    err.get("StorageClass") not in ARCHIVE_CLASSES
                ):
                    return "ready"  # not archived (any more): it reads as it is
                raise
        # 202: the restore starts now; 200: a restored copy is already there (S3 extends it).
        status = resp.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return "requested" if status == 202 else "ready"

    def objects(self, prefix: str) -> Iterator[ObjectInfo]:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=prefix
        )
        with self._errors("bucket"):
            for page in pages:
                for obj in page.get("Contents", ()):
                    yield _listed(obj)

    def versions(self, prefix: str) -> Iterator[ObjectVersion]:
        pages = self._client.get_paginator("list_object_versions").paginate(
            Bucket=self._bucket, Prefix=prefix
        )
        with self._errors("bucket"):
            for page in pages:
                # A page lists its versions and its delete markers apart, each in key order.
                for v in page.get("Versions", ()):
                    yield ObjectVersion(
                        key=v["Key"],
                        version_id=v.get("VersionId") or "null",
                        size=int(v["Size"]),
                        latest=bool(v.get("IsLatest")),
                        storage_class=v.get("StorageClass") or "STANDARD",
                    )

    def level(self, prefix: str) -> Level:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=prefix, Delimiter="/"
        )
        folders: list[str] = []
        objects: list[ObjectInfo] = []
        with self._errors("bucket"):
            for page in pages:
                folders += [p["Prefix"] for p in page.get("CommonPrefixes", ())]
                objects += [_listed(obj) for obj in page.get("Contents", ())]
        return Level(tuple(folders), tuple(objects))

    def folders(self, prefix: str) -> list[str]:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=prefix, Delimiter="/"
        )
        with self._errors("bucket"):
            return [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", ())]


def _listed(obj: Mapping[str, Any]) -> ObjectInfo:
    """An object as ListObjectsV2 describes it."""
    return ObjectInfo(
        key=obj["Key"],
        size=int(obj["Size"]),
        etag=obj["ETag"],
        last_modified=obj["LastModified"],
        storage_class=obj.get("StorageClass") or "STANDARD",
    )


def _restore_state(header: str | None) -> RestoreState | None:
    """HEAD's x-amz-restore: `ongoing-request="true"` while S3 restores the copy, then
    `ongoing-request="false", expiry-date="..."` while the temporary copy is there."""
    if not header:
        return None
    return "in-progress" if 'ongoing-request="true"' in header else "ready"
