"""What a source hands the engine: documents with an identity for change detection."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

Match = Literal["same", "maybe", "different"]


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
    origin: FileOrigin | ObjectOrigin

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
