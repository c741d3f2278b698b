"""botocore's exceptions, raised after its own retries, as docbackup's errors.

Separate from the store because it is one table read on every failure path (a missing
bucket, an archived object, a refusal, throttling, a key S3 may not use, a body cut off
mid-read), and the store's methods only say what they were doing when it failed.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    FlexibleChecksumError,
    NoCredentialsError,
    ReadTimeoutError,
)

from docbackup.errors import (
    AccessDenied,
    BucketNotFound,
    ConfigError,
    EndpointUnreachable,
    KeyUnusable,
    ObjectArchived,
    ObjectNotFound,
    PreconditionFailed,
    StoredChecksumMismatch,
    StoreError,
)

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


@contextmanager
def translated(what: str, *, bucket: str, client: Any) -> Iterator[None]:
    """Turn botocore's exceptions, raised after its own retries, into docbackup's."""
    try:
        yield
    except ClientError as exc:
        raise_for(exc, what, bucket)
    except NoCredentialsError:
        raise ConfigError(
            "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY"
        ) from None
    except (EndpointConnectionError, ConnectTimeoutError) as exc:
        raise EndpointUnreachable(
            f"cannot reach S3 at {_endpoint(client)} for {what}: {_reason(exc)}"
        ) from None
    except ReadTimeoutError:
        raise StoreError(
            f"S3 at {_endpoint(client)} did not answer {what} in time (read timeout or "
            "request deadline, after retries)"
        ) from None
    except BotoCoreError as exc:
        raise StoreError(f"{what}: {exc}") from None


def _endpoint(client: Any) -> str:
    return str(getattr(client.meta, "endpoint_url", "") or "the endpoint")


@contextmanager
def source_errors(what: str, *, foreign: bool) -> Iterator[None]:
    """One unreadable object of a source bucket (denied, or under a key we may not use)
    fails that document, not the night."""
    try:
        yield
    except (AccessDenied, KeyUnusable) as exc:
        if not foreign:
            raise
        raise StoreError(f"cannot read source object: {exc}") from None


def raise_for(exc: ClientError, what: str, bucket: str) -> NoReturn:
    err = exc.response.get("Error", {})
    code = str(err.get("Code", ""))
    message = err.get("Message") or code
    if code == "NoSuchBucket" or (code == "404" and what == "bucket"):
        raise BucketNotFound(f"bucket {bucket!r} does not exist") from None
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
        raise AccessDenied(f"access denied to {what} in bucket {bucket!r}: {message}") from None
    if code in _THROTTLED or code.startswith("5"):
        raise StoreError(f"{what}: {code}: {message} (still failing after retries)") from None
    if code.startswith("KMS.") or code in _KMS:
        raise KeyUnusable(f"the KMS key cannot be used for {what}: {message}") from None
    # 409 ConditionalRequestConflict means "retry": a plain StoreError, not a refusal.
    if code in ("PreconditionFailed", "412"):
        raise PreconditionFailed(f"{what}: {message}") from None
    raise StoreError(f"{what}: {code}: {message}") from None


class Body(io.RawIOBase):
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
        except FlexibleChecksumError as exc:
            raise StoredChecksumMismatch(
                f"{self._key}: the stored bytes do not match the checksum stored with them ({exc})"
            ) from None
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
