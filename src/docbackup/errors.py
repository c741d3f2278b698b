"""Errors that carry their own meaning for the user.

Every error the CLI can show is one of these; the CLI maps the class to an exit code in one
table (`docbackup.cli.exitcodes`). Per-document problems are not raised: the engine collects
them in its result, so one bad file never hides the rest of the night.
"""

from __future__ import annotations

import datetime as dt


class DocbackupError(Exception):
    """Base class; the message is one line a user can act on."""


class ConfigError(DocbackupError):
    """Bad input or configuration: nothing was written (exit 2)."""


class BucketNotFound(ConfigError):
    pass


class AccessDenied(ConfigError):
    pass


class KeyUnusable(ConfigError):
    """The KMS key named for encryption cannot be used by these credentials."""


class EncryptionNotApplied(ConfigError):
    """The run's first write came back without the encryption asked for: the server or the
    bucket does not apply it, and the run stopped before sending any document."""


class ManifestError(DocbackupError):
    """A manifest that cannot be trusted: not JSON, unknown schema, or inconsistent."""


class TemporaryFolderError(DocbackupError):
    """The temporary folder (TMPDIR), where manifests and downloads are spooled, is full or
    cannot be written: the run stops (exit 1) before it claims anything."""


class StoreError(DocbackupError):
    """A storage operation failed after the retries botocore already made."""


class EndpointUnreachable(StoreError):
    """The endpoint took no connection (refused, reset, timed out) after botocore's retries:
    the server went away, and no further request will get through."""


class ObjectNotFound(StoreError):
    pass


class StoredChecksumMismatch(StoreError):
    """The bytes the server sent do not match the checksum it stored with the object: sent
    again they come out the same, so the stored copy itself is damaged."""


class ObjectArchived(StoreError):
    """The copy is in an archive storage class (GLACIER, DEEP_ARCHIVE): S3 neither reads nor
    copies it until a restore request has made a temporary copy of it."""

    def __init__(self, message: str, storage_class: str | None = None) -> None:
        super().__init__(message)
        # None when S3 does not say (CopyObject's ObjectNotInActiveTierError names no class).
        self.storage_class = storage_class


class ManifestArchived(ObjectArchived):
    """A night's manifest is in an archive class. Lifecycle filters cannot leave out a suffix,
    so a rule that archives large copies archives a large manifest too; nothing of that night
    can be listed or restored until S3 has restored the manifest itself."""

    def __init__(self, message: str, storage_class: str | None, *, key: str, date: dt.date) -> None:
        super().__init__(message, storage_class)
        self.key = key
        self.date = date


class PreconditionFailed(StoreError):
    """A conditional request (If-Match, If-None-Match) was refused."""


class EncryptionNotConfirmed(StoreError):
    """The server stored an object without confirming the encryption that was asked for,
    after the run's first write had confirmed it (EncryptionNotApplied is that first one)."""


class DocumentChanged(DocbackupError):
    """A document that moved while it was read, on every attempt, or that became something
    other than a regular file: reported, and the next run tries again."""
