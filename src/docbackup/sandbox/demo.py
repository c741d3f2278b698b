"""`docbackup demo`: two nights of a small office on the embedded local AWS, then restores.

Night 1 backs up a generated folder; a few documents are then edited, added and deleted
(one edit keeps its size and has its mtime put back); night 2 backs up again. Both nights are
restored into empty folders and compared byte for byte with the folder as it was each night,
and the latest snapshot is verified by re-hashing every stored copy.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import tempfile
from collections.abc import Callable
from typing import Any

from docbackup import compose
from docbackup.engine import BackupOptions, backup, restore, verify
from docbackup.sandbox import sample
from docbackup.sandbox.server import local_aws
from docbackup.sources.local import LocalSource
from docbackup.storage.base import Encryption

BUCKET = "docbackup-demo"


def run(*, documents: int, say: Callable[[str], Any] | None = None) -> dict[str, Any]:
    tell = say or (lambda _msg: None)
    with local_aws() as aws, tempfile.TemporaryDirectory(prefix="docbackup-demo-") as work:
        tell(f"local AWS (moto) listening on {aws.endpoint}")
        key_id = aws.create_backup_bucket(BUCKET)
        tell(f"bucket {BUCKET}: versioned, SSE-KMS under key {key_id}")
        src = os.path.join(work, "office")
        sample.generate(src, documents)
        tell(f"generated {documents} sample documents in a temporary folder")
        store = compose.backup_store(BUCKET, workers=16, multipart_threshold=8 * 1024 * 1024)
        today = dt.datetime.now(dt.UTC).date()
        nights = []
        states = {}
        for night, date in enumerate((today - dt.timedelta(days=1), today), start=1):
            if night == 2:
                _edit(src)
                tell(
                    "edited 5 documents (one in place: same size, mtime put back), "
                    "added 2, deleted 1"
                )
            states[date] = sample.tree_hashes(src)
            options = BackupOptions(date=date, encryption=Encryption("aws:kms", key_id))
            result = backup(store, LocalSource(src), options)
            tell(
                f"night {night} ({date}): {result.status}, {result.documents} documents: "
                f"{result.new} new, {result.changed} changed, {result.unchanged} unchanged; "
                f"{result.bytes_uploaded:,} bytes uploaded in {result.duration_s:.1f} s"
            )
            nights.append(result.summary())
        restores = []
        ok = all(n["status"] == "complete" for n in nights)
        for date, expected in states.items():
            target = os.path.join(work, f"restore-{date}")
            r = restore(store, "documents", date.isoformat(), target)
            same = sample.tree_hashes(target) == expected
            ok = ok and same and r.status == "complete"
            tell(f"restore {date}: {r.restored} documents, byte-identical to that night: {same}")
            restores.append(r.summary() | {"identical": same})
        check = verify(store, "documents", "latest", deep=True)
        ok = ok and check.status == "ok"
        tell(f"verify --deep latest: {check.status}, {check.checked} stored copies re-hashed")
        tell("demo: ok" if ok else "demo: FAILED")
        first = dict(nights[0])
        first.pop("status")
        return first | {
            "status": "ok" if ok else "failed",
            "nights": nights,
            "restores": restores,
            "verify": check.summary(),
            "endpoint": aws.endpoint,
        }


def _edit(root: str) -> None:
    rng = random.Random(2)
    files = sorted(sample.tree_hashes(root))
    victims = rng.sample(files, 6)
    # A same-size in-place edit with the mtime put back: only ctime (and the bytes) change.
    sly = os.path.join(root, victims[0])
    st = os.stat(sly)
    with open(sly, "r+b") as f:
        first = f.read(1)
        f.seek(0)
        f.write(bytes([(first[0] + 1) % 256]) if first else b"")
    os.utime(sly, ns=(st.st_atime_ns, st.st_mtime_ns))
    for rel in victims[1:5]:
        with open(os.path.join(root, rel), "ab") as f:
            f.write(b" amended")
    os.remove(os.path.join(root, victims[5]))
    sample.write(root, "memos/new/hello.txt", b"added after night 1\n")
    sample.write(root, "reports/new/summary.csv", b"a,b\n1,2\n")
