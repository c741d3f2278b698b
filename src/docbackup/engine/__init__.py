"""The engine: backup, list, restore and verify, written against `Store` and sources only."""

from docbackup.engine.backup import backup
from docbackup.engine.catalog import Catalog
from docbackup.engine.options import BackupOptions
from docbackup.engine.progress import NullReporter, Reporter
from docbackup.engine.restore import restore
from docbackup.engine.results import (
    BackupResult,
    Problem,
    RestoreResult,
    SnapshotInfo,
    VerifyResult,
)
from docbackup.engine.verify import verify

__all__ = [
    "BackupOptions",
    "BackupResult",
    "Catalog",
    "NullReporter",
    "Problem",
    "Reporter",
    "RestoreResult",
    "SnapshotInfo",
    "VerifyResult",
    "backup",
    "restore",
    "verify",
]
