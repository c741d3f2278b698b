"""G2: a document that still exists never loses its last copy to expiry."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from docbackup.engine import BackupOptions, backup, restore
from docbackup.sources import LocalSource
from docbackup.storage import Encryption, MemoryBackend, MemoryStore
from tests.conftest import KMS_KEY
from tests.treebuilder import tree_hashes, write

RETENTION = 4


class FakeClock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now


def test_untouched_document_is_refreshed_before_it_expires(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> None:
    src = tmp_path / "office"
    write(str(src), "contracts/lease.pdf", b"signed once, never touched again")
    write(str(src), "daily.txt", b"day 0")
    clock = FakeClock(dt.datetime(2025, 10, 1, 2, 0, tzinfo=dt.UTC))
    backend.clock = clock
    actions = []

    for day in range(12):
        # GIVEN one document that changes every night and one that never does
        write(str(src), "daily.txt", f"day {day}".encode())
        result = backup(
            store,
            LocalSource(str(src)),
            BackupOptions(encryption=Encryption("aws:kms", KMS_KEY), retention_days=RETENTION),
            clock=clock,
        )
        assert result.status == "complete"
        actions.append((result.unchanged, result.refreshed))

        # WHEN the bucket's lifecycle rule runs the next day
        clock.now += dt.timedelta(days=1)
        backend.expire("backups", days=RETENTION)

        # THEN tonight's snapshot still restores in full
        target = tmp_path / f"restore-{day}"
        restored = restore(store, "documents", "latest", str(target))
        assert restored.status == "complete", restored.failures
        assert tree_hashes(str(target)) == tree_hashes(str(src))

    # The untouched contract was copied server-side, not re-uploaded, every RETENTION-1 days.
    assert sum(refreshed for _, refreshed in actions) == 3
    assert backend.requests["CopyObject"] == 3
