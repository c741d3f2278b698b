"""A manifest is data from a bucket: a hostile one is reported, not followed."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

from docbackup import layout
from docbackup.engine import restore
from docbackup.manifest import Entry, Manifest
from docbackup.storage import Encryption, MemoryStore
from tests.conftest import KMS_KEY

DATE = dt.date(2025, 10, 15)


def test_hostile_paths_are_reported_and_the_rest_restored(
    tmp_path: Path, store: MemoryStore
) -> None:
    enc = Encryption("aws:kms", KMS_KEY)
    entries = {}
    for path in ("good.txt", "../escape.txt", "a/../../escape2.txt", "/abs.txt", "C:evil.txt"):
        data = path.encode()
        key = layout.document_key(DATE, "documents", path)
        sha = hashlib.sha256(data)
        stored = store.put(
            key,
            data,
            sha256_b64=base64.b64encode(sha.digest()).decode(),
            metadata={},
            encryption=enc,
        )
        entries[path] = Entry(
            path,
            len(data),
            0,
            sha.hexdigest(),
            key,
            stored.version_id,
            "new",
            "2025-10-15T02:00:00+00:00",
            "x",
        )
    manifest = Manifest("documents", DATE, "complete", "s", "f", "src", 30, "aws:kms", "0", entries)
    # Written directly, as someone with write access to the bucket could.
    data = manifest.to_json()
    store.put(
        layout.manifest_key(DATE, "documents"),
        data,
        sha256_b64=base64.b64encode(hashlib.sha256(data).digest()).decode(),
        metadata={},
        encryption=enc,
    )
    target = tmp_path / "deep" / "target"

    result = restore(store, "documents", DATE.isoformat(), str(target))

    assert (result.status, result.restored, result.failed) == ("partial", 1, 4)
    assert all("unsafe path" in p.reason for p in result.failures)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["good.txt"]
    assert dataclasses.asdict(result.failures[0])["path"] in entries
