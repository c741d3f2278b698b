"""The source seam: what a source hands the engine (documents with an identity for change
detection) and what the engine asks of it (to find them, and to store one).

The engine never asks where a document came from: a new kind of source is a new module here
that implements `Source`, and the engine drives it as it drives the folder and the S3 prefix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from docbackup.storage.base import Encryption, Store, Stored

Match = Literal["same", "maybe", "different"]

# User metadata on every stored copy, so an interrupted night can adopt what it already sent.
META_SHA256 = "docbackup-sha256"
META_FINGERPRINT = "docbackup-fingerprint"


class Origin(Protocol):
    """Where a document is at its source, as far as the engine cares: an identity to compare
    with the one a manifest recorded."""

    @property
    def fingerprint(self) -> str: ...

    def match(self, previous: str) -> Match:
        """ "same": unchanged; "maybe": only its bytes can tell (the engine then asks the source
        to store it unless its SHA-256 is still the one given); "different": changed."""
        ...


def shown(path: str) -> str:
    """A path fit for reports and the manifest: a file name that is not valid UTF-8 (Linux hands
    those over with surrogate escapes) keeps its stray bytes as \\xNN escapes."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass(frozen=True, slots=True)
class FileOrigin:
    """A regular file in a local folder."""

    abspath: str
    # size:mtime_ns:ctime_ns:inode. ctime cannot be set by a program, so an in-place edit that
    # keeps the size and puts the mtime back still changes it (aws-cli issue 8377).
    fingerprint: str
    # The source folder it was found under: it is read through that folder's descriptor, never
    # through a link that replaced one of the folders on the way since the scan.
    root: str = ""

    def match(self, previous: str) -> Match:
        if previous == self.fingerprint:
            return "same"
        # Size and mtime equal but ctime/inode not: a restore, a copy, or a sly edit. Only the
        # bytes can tell, so the engine re-hashes before deciding.
        if previous.split(":")[:2] == self.fingerprint.split(":")[:2]:
            return "maybe"
        return "different"


@dataclass(frozen=True, slots=True)
class ObjectOrigin:
    """An object in a source bucket."""

    bucket: str
    key: str
    etag: str

    @property
    def fingerprint(self) -> str:
        return f"etag:{self.etag.strip(chr(34))}"

    def match(self, previous: str) -> Match:
        return "same" if previous == self.fingerprint else "different"


@dataclass(frozen=True, slots=True)
class Document:
    path: str  # relative, '/'-separated, as it will appear under the snapshot
    size: int
    mtime_ns: int
    origin: Origin

    @property
    def fingerprint(self) -> str:
        return self.origin.fingerprint


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something at the source that was not backed up, and why.

    `failure` marks a document that exists but could not be read: the run cannot be complete.
    Symlinks and special files are not documents; they are reported, not failed.
    """

    path: str
    reason: str
    failure: bool


@dataclass(slots=True)
class ScanResult:
    """What a source found, produced as it is walked.

    `documents` yields in path order (str comparison, which is also S3's UTF-8 key order), so
    the engine can walk the source and the last manifest side by side without holding either.
    `skipped` and `excluded` fill up while `documents` is consumed: read them once that
    iterator is exhausted. `excluded` counts what the exclude patterns left out, a folder once
    (its contents are never listed); none of it is a failure.
    """

    documents: Iterator[Document]
    skipped: list[Skipped] = field(default_factory=list)
    excluded: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What storing one document did: the copy made, or None when its bytes equal the previous
    copy's (`unless_sha256`) and nothing was sent. `sha256` None: the source did not read the
    bytes (a server-side copy), so the engine reads the stored copy back to learn it."""

    stored: Stored | None
    sha256: str | None
    size: int
    mtime_ns: int
    fingerprint: str
    bytes_sent: int


class Source(Protocol):
    """What the engine needs of a source."""

    def describe(self) -> str:
        """The source as the manifest and the messages name it."""
        ...

    def scan(self) -> ScanResult: ...

    def store(
        self,
        document: Document,
        store: Store,
        key: str,
        encryption: Encryption,
        *,
        multipart_threshold: int,
        unless_sha256: str | None = None,
    ) -> Outcome:
        """Store `document` (one this source's scan found) at `key`, with its fingerprint as
        `META_FINGERPRINT` metadata. Raises OSError for the source, a `StoreError` for the
        bucket, `DocumentChanged` when the document would not hold still. The engine confirms
        the encryption of what comes back and checks its size."""
        ...
