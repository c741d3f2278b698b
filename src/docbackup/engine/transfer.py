"""Storing one document through its source, and carrying a stored copy into tonight's night.

`store_document` asks the source to store the document (it alone knows how: a folder uploads,
an S3 prefix copies server-side), then holds what came back to the same rules whatever the
source: the encryption asked for, the size the source listed, and a SHA-256 of what is really
stored, read back when the source could not learn it while sending.
"""

from __future__ import annotations

from dataclasses import dataclass

from docbackup.engine.integrity import confirmed, hash_stored
from docbackup.errors import DocumentChanged
from docbackup.manifest import Entry
from docbackup.sources.base import Document, Source
from docbackup.storage.base import Encryption, Store, Stored


@dataclass(frozen=True, slots=True)
class Verified:
    """An Outcome held to the engine's rules: `sha256` known, the copy's encryption confirmed."""

    stored: Stored | None  # None: the bytes equal the previous copy, nothing was sent
    sha256: str
    size: int
    mtime_ns: int
    fingerprint: str
    bytes_sent: int


def store_document(
    source: Source,
    store: Store,
    key: str,
    doc: Document,
    encryption: Encryption,
    *,
    multipart_threshold: int,
    unless_sha256: str | None = None,
) -> Verified:
    """The verified stored copy of `doc`, or `stored` None when its bytes equal
    `unless_sha256` and nothing was sent."""
    outcome = source.store(
        doc,
        store,
        key,
        encryption,
        multipart_threshold=multipart_threshold,
        unless_sha256=unless_sha256,
    )
    stored = outcome.stored
    sha = outcome.sha256
    if stored is not None:
        stored = confirmed(stored, encryption)
        if sha is None:
            sha, size = hash_stored(store, key, stored.version_id, outcome.size)
            if size != outcome.size:
                raise DocumentChanged(
                    f"stored copy has {size} bytes, the source listed {outcome.size}"
                )
    if sha is None:
        raise TypeError(f"{doc.path}: the source sent nothing and gave no SHA-256")
    return Verified(
        stored, sha, outcome.size, outcome.mtime_ns, outcome.fingerprint, outcome.bytes_sent
    )


def refresh(store: Store, key: str, entry: Entry, encryption: Encryption) -> Stored:
    """Copy an existing stored copy server-side into tonight's snapshot (G2), metadata kept."""
    return confirmed(
        store.copy(
            key,
            source_bucket=store.bucket,
            source_key=entry.key,
            source_version=entry.version_id,
            if_match=None,
            size=entry.size,
            metadata=None,
            encryption=encryption,
        ),
        encryption,
    )
