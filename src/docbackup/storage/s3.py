"""The S3 implementation of `Store`, over an injected boto3 client.

The client (and its retry mode, timeouts and connection pool) is built in
`docbackup.compose`; this module only speaks the S3 API and turns its errors into
docbackup's. Large objects go through s3transfer, boto3's managed transfer, imported only
when one is needed.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import io
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, NoReturn, cast

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from docbackup import tuning
from docbackup.errors import (
    AccessDenied,
    BucketNotFound,
    ConfigError,
    EndpointUnreachable,
    KeyUnusable,
    ObjectArchived,
    ObjectNotFound,
    PreconditionFailed,
    StoreError,
)
from docbackup.storage.base import (
    ARCHIVE_CLASSES,
    Encryption,
    ObjectInfo,
    Readable,
    RestoreState,
    RestoreTier,
    Stored,
    Versioning,
)
from docbackup.storage.crt import CrtUploader

# CopyObject takes at most 5 GiB in one request; above it the managed copy goes multipart.
_COPY_LIMIT = 5 * 1024**3
_THROTTLED = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
}
_KMS = {
    "KMSInvalidStateException",
    "KMSNotFoundException",
    "KMSDisabledException",
    "KMSInvalidKeyUsageException",
    "KMSAccessDeniedException",
}
_NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}
# An archived object: CopyObject answers the first, GetObject the second (with its class).
_ARCHIVED = {"ObjectNotInActiveTierError", "InvalidObjectState"}
_DENIED = {
    "403",
    "AccessDenied",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    # Nothing will work until the credentials or the clock are put right: stop the run.
    "ExpiredToken",
    "RequestTimeTooSkewed",
}


@dataclass(frozen=True, slots=True)
class TransferSettings:
    """Managed (multipart) transfers: above the threshold, parts of part_size, `concurrency`
    at a time, and no more parts than that read ahead of a read-once stream."""

    multipart_threshold: int = tuning.MULTIPART_THRESHOLD
    part_size: int = tuning.PART_SIZE
    concurrency: int = 4

    def manager(self, client: Any) -> Any:
        from s3transfer.manager import TransferConfig, TransferManager

        config = TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.part_size,
            max_request_concurrency=self.concurrency,
            # s3transfer's default is 10 parts held per read-once stream; this bounds memory.
            max_in_memory_upload_chunks=self.concurrency,
        )
        return TransferManager(client, config)


def _sse_args(enc: Encryption) -> dict[str, Any]:
    if enc.mode == "aws:kms":
        if enc.kms_key_id is None:
            return {}  # the bucket's default encryption applies; the answer is still checked
        return {
            "ServerSideEncryption": "aws:kms",
            "SSEKMSKeyId": enc.kms_key_id,
            "BucketKeyEnabled": True,
        }
    if enc.mode == "AES256":
        return {"ServerSideEncryption": "AES256"}
    return {}


def _put_headers(
    sha256_b64: str, metadata: Mapping[str, str], enc: Encryption
) -> dict[str, str] | None:
    """PutObject's headers for what `put` sends, as botocore would serialize them; None when
    a value is not plain ASCII (botocore's own path handles, or refuses, those)."""
    headers = {"x-amz-checksum-sha256": sha256_b64}
    sse = _sse_args(enc)
    if "ServerSideEncryption" in sse:
        headers["x-amz-server-side-encryption"] = sse["ServerSideEncryption"]
    if "SSEKMSKeyId" in sse:
        headers["x-amz-server-side-encryption-aws-kms-key-id"] = sse["SSEKMSKeyId"]
    if sse.get("BucketKeyEnabled"):
        headers["x-amz-server-side-encryption-bucket-key-enabled"] = "true"
    for name, value in metadata.items():
        headers[f"x-amz-meta-{name}"] = value
    if not all(v.isascii() and v.isprintable() for v in headers.values()):
        return None
    return headers


def _managed(enc: Encryption) -> dict[str, Any]:
    # s3transfer does not pass BucketKeyEnabled; the bucket's own setting applies instead.
    return {k: v for k, v in _sse_args(enc).items() if k != "BucketKeyEnabled"}


class S3Store:
    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        transfer: TransferSettings | None = None,
        kms_client: Callable[[], Any] | None = None,
        fast: Callable[[str, str], CrtUploader | None] | None = None,
    ) -> None:
        self._client = client
        # Built on first use: a night that does not need to ask KMS never loads its client.
        self._kms_factory = kms_client
        self._bucket = bucket
        self._transfer = transfer or TransferSettings()
        # The CRT fast path (storage/crt.py) is built at the first upload, from the HeadBucket
        # request `check_access` sent: `fast` makes it from that request's URL and signature.
        self._fast_factory = fast
        self._fast: CrtUploader | None = None
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

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn botocore's exceptions, raised after its own retries, into docbackup's."""
        try:
            yield
        except ClientError as exc:
            self._raise(exc, what)
        except NoCredentialsError:
            raise ConfigError(
                "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY"
            ) from None
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            raise EndpointUnreachable(
                f"cannot reach S3 at {self._endpoint()} for {what}: {_reason(exc)}"
            ) from None
        except ReadTimeoutError:
            raise StoreError(
                f"S3 at {self._endpoint()} did not answer {what} in time (read timeout or "
                "request deadline, after retries)"
            ) from None
        except BotoCoreError as exc:
            raise StoreError(f"{what}: {exc}") from None

    def _endpoint(self) -> str:
        return str(getattr(self._client.meta, "endpoint_url", "") or "the endpoint")

    @contextmanager
    def _source_errors(self, what: str, *, foreign: bool) -> Iterator[None]:
        """One unreadable object of a source bucket (denied, or under a key we may not use)
        fails that document, not the night."""
        try:
            yield
        except (AccessDenied, KeyUnusable) as exc:
            if not foreign:
                raise
            raise StoreError(f"cannot read source object: {exc}") from None

    def _raise(self, exc: ClientError, what: str) -> NoReturn:
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        message = err.get("Message") or code
        if code == "NoSuchBucket" or (code == "404" and what == "bucket"):
            raise BucketNotFound(f"bucket {self._bucket!r} does not exist") from None
        if code in _NOT_FOUND:
            raise ObjectNotFound(f"{what} does not exist") from None
        if code in _ARCHIVED:
            # Both are 403s: before the denied codes, so they fail one document, not the run.
            storage_class = err.get("StorageClass")
            raise ObjectArchived(
                f"{what} is in {storage_class or 'an archive storage class'} and must be "
                "restored from the archive before it can be read or copied",
                storage_class,
            ) from None
        if code in _DENIED:
            raise AccessDenied(
                f"access denied to {what} in bucket {self._bucket!r}: {message}"
            ) from None
        if code in _THROTTLED or code.startswith("5"):
            raise StoreError(f"{what}: {code}: {message} (still failing after retries)") from None
        if code.startswith("KMS.") or code in _KMS:
            raise KeyUnusable(f"the KMS key cannot be used for {what}: {message}") from None
        # 409 ConditionalRequestConflict means "retry": a plain StoreError, not a refusal.
        if code in ("PreconditionFailed", "412"):
            raise PreconditionFailed(f"{what}: {message}") from None
        raise StoreError(f"{what}: {code}: {message}") from None

    def check_access(self) -> None:
        events = self._client.meta.events

        def seen(request: Any, **_: Any) -> None:
            self._seen = (request.url, str(request.headers.get("Authorization", "")))

        events.register("before-send.s3.HeadBucket", seen, unique_id="docbackup-seen")
        try:
            with self._errors("bucket"):
                self._client.head_bucket(Bucket=self._bucket)
        finally:
            events.unregister("before-send.s3.HeadBucket", unique_id="docbackup-seen")

    def _fast_path(self) -> CrtUploader | None:
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
        with self._errors("bucket"):
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
            **_sse_args(encryption),
        }
        fast = self._fast_path() if isinstance(data, bytes) else None
        if fast is not None and isinstance(data, bytes) and not if_none_match and not if_match:
            headers = _put_headers(sha256_b64, metadata, encryption)
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
        return _stored(key, resp)

    def upload(
        self, key: str, stream: Readable, *, metadata: Mapping[str, str], encryption: Encryption
    ) -> Stored:
        extra = {"Metadata": dict(metadata), "ChecksumAlgorithm": "SHA256", **_managed(encryption)}
        with self._errors(key):
            with self._transfer.manager(self._client) as manager:
                manager.upload(stream, self._bucket, key, extra_args=extra).result()
            # s3transfer returns nothing; one HEAD gives the version and confirms encryption.
            resp = self._client.head_object(Bucket=self._bucket, Key=key)
        if _metadata(resp) != {k.lower(): v for k, v in metadata.items()}:
            # Not the object just sent: another writer replaced it in between.
            raise StoreError(f"{key}: replaced by another writer during the upload")
        return _stored(key, resp)

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
            **_sse_args(encryption),
        }
        if metadata is not None:
            extra |= {"Metadata": dict(metadata), "MetadataDirective": "REPLACE"}
        what = f"{source_bucket}/{source_key}"
        with self._source_errors(what, foreign=source_bucket != self._bucket), self._errors(what):
            if if_match:
                extra["CopySourceIfMatch"] = if_match
            if size >= _COPY_LIMIT:
                managed = {k: v for k, v in extra.items() if k != "BucketKeyEnabled"}
                with self._transfer.manager(self._client) as manager:
                    manager.copy(src, self._bucket, key, extra_args=managed).result()
                resp = self._client.head_object(Bucket=self._bucket, Key=key)
            else:
                resp = self._client.copy_object(
                    Bucket=self._bucket, Key=key, CopySource=src, **extra
                )
        return _stored(key, resp)

    def open(self, key: str, version_id: str | None = None) -> BinaryIO:
        args = {"Bucket": self._bucket, "Key": key}
        if version_id:
            args["VersionId"] = version_id
        with self._errors(key):
            body = self._client.get_object(**args)["Body"]
        # _Body has the whole file interface the engine uses (read, close, with).
        return cast(BinaryIO, _Body(body, key))

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
            metadata=_metadata(resp),
            storage_class=resp.get("StorageClass") or "STANDARD",
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
                    yield ObjectInfo(
                        key=obj["Key"],
                        size=int(obj["Size"]),
                        etag=obj["ETag"],
                        last_modified=obj["LastModified"],
                        storage_class=obj.get("StorageClass") or "STANDARD",
                    )

    def folders(self, prefix: str) -> list[str]:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=prefix, Delimiter="/"
        )
        with self._errors("bucket"):
            return [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", ())]


class _Body(io.RawIOBase):
    """A response body whose network errors mid-read surface as StoreError."""

    def __init__(self, body: Any, key: str) -> None:
        super().__init__()
        self._body = body
        self._key = key

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self._body.read(None if size < 0 else size)
        except (BotoCoreError, OSError, ValueError) as exc:
            raise StoreError(f"{self._key}: download interrupted: {exc}") from None
        return data

    def close(self) -> None:
        self._body.close()
        super().close()


def _reason(exc: BotoCoreError) -> str:
    """What went wrong under botocore's "Could not connect to the endpoint URL": refused,
    reset, timed out."""
    error = getattr(exc, "kwargs", {}).get("error")
    cause = getattr(error, "reason", None) or error
    text = str(cause) if cause is not None else str(exc)
    # urllib3 says "<connection object>: Failed to establish a new connection: [Errno 111] ..."
    return text.rpartition(": ")[2] if "Failed to establish" in text else text


def _metadata(resp: Mapping[str, Any]) -> dict[str, str]:
    """User metadata with lowercase names: S3 lowercases them, some servers (rclone) do not,
    and HTTP header names carry no case anyway."""
    return {str(k).lower(): str(v) for k, v in resp.get("Metadata", {}).items()}


def _stored(key: str, resp: Mapping[str, Any]) -> Stored:
    return Stored(
        key=key,
        version_id=resp.get("VersionId"),
        etag=resp.get("ETag") or resp.get("CopyObjectResult", {}).get("ETag", ""),
        sse=resp.get("ServerSideEncryption"),
        kms_key_id=resp.get("SSEKMSKeyId"),
        server_time=_server_date(resp),
    )


def _server_date(resp: Mapping[str, Any]) -> dt.datetime | None:
    date = resp.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        moment = email.utils.parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        return None  # no usable Date header: nothing to compare with
    return moment.replace(tzinfo=dt.UTC) if moment is not None and not moment.tzinfo else moment
