"""Every failure is loud: reported, counted, and never mistaken for success (G1)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path

import pytest

from docbackup.engine import BackupOptions, backup
from docbackup.engine import transfer as transfer_module
from docbackup.errors import BucketNotFound, ConfigError, KeyUnusable
from docbackup.sources import LocalSource
from docbackup.storage import Encryption, MemoryBackend, MemoryStore, Stored
from tests.conftest import KMS_KEY
from tests.treebuilder import write

DATE = dt.date(2025, 10, 15)
OPTIONS = BackupOptions(date=DATE, encryption=Encryption("aws:kms", KMS_KEY))


def test_unreadable_file_makes_the_run_partial(
    tmp_path: Path, store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "office"
    write(str(src), "ok.txt", b"fine")
    write(str(src), "locked.docx", b"secret")
    real_open = os.open

    # Tests run as root, where chmod 000 still reads: refuse the open the way the OS would.
    def refusing_open(path: str, flags: int, *a: int) -> int:
        if str(path).endswith("locked.docx"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *a)

    monkeypatch.setattr(transfer_module.os, "open", refusing_open)

    result = backup(store, LocalSource(str(src)), OPTIONS)

    assert result.status == "partial"
    assert result.documents == 1 and result.failed == 1
    assert result.failures[0].path == "locked.docx"
    assert "Permission denied" in result.failures[0].reason
    assert result.manifest_key is not None  # a partial manifest records what was stored


def test_links_and_special_files_are_reported_not_followed(
    tmp_path: Path, store: MemoryStore
) -> None:
    src = tmp_path / "office"
    write(str(src), "real.txt", b"real")
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not part of the source")
    os.symlink(outside, src / "link.txt")
    os.symlink(src, src / "loop")
    os.mkfifo(src / "pipe")

    result = backup(store, LocalSource(str(src)), OPTIONS)

    assert result.status == "complete"
    assert result.documents == 1
    assert {p.path for p in result.skipped} == {"link.txt", "loop", "pipe"}


def test_key_over_1024_bytes_is_reported_and_the_rest_stored(
    tmp_path: Path, store: MemoryStore
) -> None:
    src = tmp_path / "office"
    deep = "/".join(["d" * 200] * 5) + "/long-name.pdf"
    write(str(src), deep, b"x")
    write(str(src), "short.txt", b"y")

    result = backup(store, LocalSource(str(src)), OPTIONS)

    assert (result.status, result.documents, result.failed) == ("partial", 1, 1)
    assert "1024" in result.failures[0].reason


def test_server_that_ignores_encryption_stops_the_run(tmp_path: Path) -> None:
    backend = MemoryBackend()
    backend.create_bucket("plain")

    class IgnoresSSE(MemoryStore):
        def put(self, key: str, data: bytes, **kw: object) -> Stored:
            stored = super().put(key, data, **kw)  # type: ignore[arg-type]
            return dataclasses.replace(stored, sse=None, kms_key_id=None)

    src = tmp_path / "office"
    for i in range(5):
        write(str(src), f"{i}.txt", b"x")
    result = backup(
        IgnoresSSE(backend, "plain"),
        LocalSource(str(src)),
        BackupOptions(date=DATE, encryption=Encryption("AES256")),
    )

    assert result.status == "failed"
    assert result.error is not None and "did not confirm AES256" in result.error
    assert result.documents == 0


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("missing source", ConfigError),
        ("missing bucket", BucketNotFound),
        ("unknown key", KeyUnusable),
        ("future date", ConfigError),
        ("bad set", ConfigError),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(
    tmp_path: Path, backend: MemoryBackend, store: MemoryStore, case: str, error: type
) -> None:
    src = tmp_path / "office"
    write(str(src), "a.txt", b"a")
    target, source, options = store, LocalSource(str(src)), OPTIONS
    if case == "missing source":
        source = LocalSource(str(tmp_path / "nowhere"))
    elif case == "missing bucket":
        target = backend.store("no-such-bucket")
    elif case == "unknown key":
        options = dataclasses.replace(OPTIONS, encryption=Encryption("aws:kms", "wrong"))
    elif case == "future date":
        options = dataclasses.replace(OPTIONS, date=dt.date.today() + dt.timedelta(days=2))
    else:
        options = dataclasses.replace(OPTIONS, set_name="../etc")

    with pytest.raises(error):
        backup(target, source, options)

    assert list(store.objects("")) == []
