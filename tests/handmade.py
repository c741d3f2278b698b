"""Snapshots written by hand, as anyone with write access to a bucket could write them."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

from docbackup import layout
from docbackup.manifest import Entry, Manifest, Problem, Status
from docbackup.storage import Encryption, Store


def sha_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def write_snapshot(store: Store, date: dt.date, paths: list[str], encryption: Encryption) -> None:
    """Store each path's own name as its content, and a manifest listing them as they are."""
    docs = {p: p.encode("utf-8", "surrogatepass") for p in dict.fromkeys(paths)}
    write_night(store, date, docs, encryption, mtime_ns=0)


def write_night(
    store: Store,
    date: dt.date,
    docs: dict[str, bytes],
    encryption: Encryption,
    *,
    failures: tuple[Problem, ...] = (),
    mtime_ns: int = 1_700_000_000 * 10**9,
) -> None:
    """A night as a backup writes it: each copy, then the manifest listing them (`partial`,
    with `failures`, when given some)."""
    at = f"{date}T02:00:00+00:00"
    entries = {}
    for path, data in docs.items():
        key = layout.document_key(date, "documents", path)
        stored = store.put(key, data, sha256_b64=sha_b64(data), metadata={}, encryption=encryption)
        entries[path] = Entry(
            path,
            len(data),
            mtime_ns,
            hashlib.sha256(data).hexdigest(),
            key,
            stored.version_id,
            "new",
            at,
            "x",
        )
    status: Status = "partial" if failures else "complete"
    manifest = Manifest(
        "documents",
        date,
        status,
        at,
        at,
        "src",
        30,
        encryption.describe(),
        "0",
        failures=failures,
        entries=entries,
    ).to_json()
    store.put(
        layout.manifest_key(date, "documents"),
        manifest,
        sha256_b64=sha_b64(manifest),
        metadata={},
        encryption=encryption,
    )
