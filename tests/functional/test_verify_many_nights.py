"""`verify --all` over many nights: one manifest open at a time, each copy checked once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from docbackup.engine import BackupOptions, backup, verify
from docbackup.manifest import ManifestStream
from docbackup.sources import LocalSource
from docbackup.storage import Encryption, MemoryBackend, MemoryStore
from tests.conftest import KMS_KEY
from tests.treebuilder import write

FIRST = dt.date(2025, 3, 1)
NIGHTS = 40


def test_verify_all_holds_one_night_open_at_a_time(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN 40 nights, each with one document changed and two unchanged
    src = tmp_path / "office"
    write(str(src), "policies/handbook.pdf", b"%PDF handbook")
    write(str(src), "policies/holidays.xlsx", b"PK holidays")
    for n in range(NIGHTS):
        write(str(src), "daily/till.csv", f"takings night {n}\n".encode())
        night = FIRST + dt.timedelta(days=n)
        options = BackupOptions(date=night, encryption=Encryption("aws:kms", KMS_KEY))
        assert backup(store, LocalSource(str(src)), options).status == "complete"

    # Manifest streams (each an open spool file), counted while open. Hundreds of nights open
    # at once ran out of file handles (the usual limit is 256 or 1,024).
    open_now = most = 0
    opened, closed = ManifestStream.__init__, ManifestStream.close

    def counted_open(self: ManifestStream, *args: Any, **kwargs: Any) -> None:
        nonlocal open_now, most
        opened(self, *args, **kwargs)
        open_now += 1
        most = max(most, open_now)

    def counted_close(self: ManifestStream) -> None:
        nonlocal open_now
        open_now -= 1
        closed(self)

    monkeypatch.setattr(ManifestStream, "__init__", counted_open)
    monkeypatch.setattr(ManifestStream, "close", counted_close)
    gets_before = backend.requests["GetObject"]

    # WHEN every night is verified
    result = verify(store, "documents", None, all_dates=True, deep=True)

    # THEN all 40 nights were read, one at a time and each once, and every distinct copy
    # (2 unchanged documents + one till per night) was checked exactly once
    assert result.status == "ok", result.mismatches
    assert len(result.dates) == NIGHTS
    assert most == 1 and open_now == 0
    assert result.checked == 2 + NIGHTS
    assert backend.requests["GetObject"] - gets_before == NIGHTS + result.checked
