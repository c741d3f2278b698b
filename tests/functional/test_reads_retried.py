"""Every read of a stored copy survives a body cut off mid-read: restore (see
test_restore_safety), `cat` and `verify --deep` alike, through the one fetch-and-verify."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest

from docbackup.engine import BackupOptions, backup, verify
from docbackup.engine.browse import cat
from docbackup.engine.integrity import DOWNLOAD_ATTEMPTS
from docbackup.errors import DocbackupError, StoreError
from docbackup.sources import LocalSource
from docbackup.storage import Encryption, MemoryStore
from tests.conftest import KMS_KEY
from tests.treebuilder import write

DATE = dt.date(2025, 10, 15)
BIG = bytes(range(256)) * 12_000  # three chunks of the reader's megabyte


class Drops(io.RawIOBase):
    """A body that hands out one chunk, then breaks as a reset connection does."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.sent = inner, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.sent:
            raise StoreError("download interrupted: connection reset")
        self.sent += 1
        data: bytes = self.inner.read(size)
        return data


class Flaky(MemoryStore):
    """Each document's first `breaks` downloads break mid-body."""

    def __init__(self, store: MemoryStore, breaks: int) -> None:
        super().__init__(store._backend, "backups")
        self.breaks = breaks
        self.opened: dict[str, int] = {}

    def open(self, key: str, version_id: str | None = None, *, size: int | None = None) -> Any:
        body = super().open(key, version_id)
        if key.endswith(".pdf"):
            self.opened[key] = self.opened.get(key, 0) + 1
            if self.opened[key] <= self.breaks:
                return Drops(body)
        return body


def night(tmp_path: Path, store: MemoryStore) -> None:
    src = tmp_path / "office"
    for i in range(3):
        write(str(src), f"{i}.pdf", bytes([i]) + BIG)
    result = backup(
        store,
        LocalSource(str(src)),
        BackupOptions(date=DATE, encryption=Encryption("aws:kms", KMS_KEY)),
    )
    assert result.status == "complete"


def test_verify_deep_reads_a_cut_off_body_again(tmp_path: Path, store: MemoryStore) -> None:
    night(tmp_path, store)
    flaky = Flaky(store, breaks=1)

    result = verify(flaky, "documents", DATE.isoformat(), deep=True)

    assert (result.status, result.checked, result.mismatches) == ("ok", 3, ())
    assert all(n == 2 for n in flaky.opened.values()) and len(flaky.opened) == 3


def test_cat_reads_a_cut_off_body_again(tmp_path: Path, store: MemoryStore) -> None:
    night(tmp_path, store)
    flaky = Flaky(store, breaks=1)
    out = io.BytesIO()

    cat(flaky, "documents", DATE.isoformat(), "1.pdf", out)

    assert out.getvalue() == bytes([1]) + BIG


def test_cat_gives_up_after_every_attempt_broke_and_writes_nothing(
    tmp_path: Path, store: MemoryStore
) -> None:
    night(tmp_path, store)
    flaky = Flaky(store, breaks=DOWNLOAD_ATTEMPTS)
    out = io.BytesIO()

    with pytest.raises(DocbackupError, match="connection reset"):
        cat(flaky, "documents", DATE.isoformat(), "1.pdf", out)

    assert out.getvalue() == b""
    assert set(flaky.opened.values()) == {DOWNLOAD_ATTEMPTS}
