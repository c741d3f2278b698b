"""Snapshots written by hand, as anyone with write access to a bucket could write them."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

from docbackup import layout
from docbackup.manifest import Entry, Manifest
from docbackup.storage import Encryption, Store


def sha_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def write_snapshot(store: Store, date: dt.date, paths: list[str], encryption: Encryption) -> None:
    """Store each path's own name as its content, and a manifest listing them as they are."""
    entries = {}
    for path in dict.fromkeys(paths):
        key = layout.document_key(date, "documents", path)
        data = path.encode("utf-8", "surrogatepass")
        stored = store.put(key, data, sha256_b64=sha_b64(data), metadata={}, encryption=encryption)
        entries[path] = Entry(
            path,
            len(data),
            0,
            hashlib.sha256(data).hexdigest(),
            key,
            stored.version_id,
            "new",
            f"{date}T02:00:00+00:00",
            "x",
        )
    at = f"{date}T02:00:00+00:00"
    manifest = Manifest(
        "documents", date, "complete", at, at, "src", 30, encryption.describe(), "0", entries
    ).to_json()
    store.put(
        layout.manifest_key(date, "documents"),
        manifest,
        sha256_b64=sha_b64(manifest),
        metadata={},
        encryption=encryption,
    )
