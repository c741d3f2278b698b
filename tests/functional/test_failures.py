"""Every failure is loud: reported, counted, and never mistaken for success (G1)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest

from docbackup.engine import BackupOptions, backup
from docbackup.errors import AccessDenied, BucketNotFound, ConfigError, KeyUnusable
from docbackup.sources import LocalSource
from docbackup.sources import upload as transfer_module
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
    def refusing_open(path: str, flags: int, *a: int, **kw: Any) -> int:
        if str(path).endswith("locked.docx"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *a, **kw)

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


def test_a_file_name_that_is_not_utf8_is_reported_and_the_night_still_written(
    tmp_path: Path, store: MemoryStore
) -> None:
    # GIVEN a Latin-1 name from an old share, beside an ordinary document
    src = tmp_path / "office"
    write(str(src), "b.txt", b"y")
    with open(os.path.join(os.fsencode(src), b"caf\xe9.txt"), "wb") as f:
        f.write(b"x")

    result = backup(store, LocalSource(str(src)), OPTIONS)

    # THEN the night is partial, says which file, and its manifest lists both facts
    assert (result.status, result.documents, result.failed) == ("partial", 1, 1)
    assert result.failures[0].path == "caf\\xe9.txt"
    assert "UTF-8" in result.failures[0].reason
    assert result.manifest_key is not None
    with store.open(result.manifest_key) as body:
        assert b"caf\\\\xe9.txt" in body.read()  # JSON escapes the backslash


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("missing source", ConfigError),
        ("missing bucket", BucketNotFound),
        ("unknown key", KeyUnusable),
        ("future date", ConfigError),
        ("bad set", ConfigError),
        ("access denied", AccessDenied),
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
    elif case == "access denied":
        backend.denied.add("backups")
    elif case == "future date":
        options = dataclasses.replace(OPTIONS, date=dt.date.today() + dt.timedelta(days=2))
    else:
        options = dataclasses.replace(OPTIONS, set_name="../etc")

    with pytest.raises(error):
        backup(target, source, options)

    backend.denied.clear()
    assert list(store.objects("")) == []


def test_a_file_removed_during_the_run_is_reported(
    tmp_path: Path, store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "office"
    write(str(src), "stays.txt", b"a")
    write(str(src), "goes.txt", b"b")
    real_open = os.open

    def vanishing_open(path: str, flags: int, *a: int, **kw: Any) -> int:
        if str(path).endswith("goes.txt"):
            os.remove(path, dir_fd=kw.get("dir_fd"))  # deleted between the scan and the read
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(transfer_module.os, "open", vanishing_open)

    result = backup(store, LocalSource(str(src)), OPTIONS)

    assert (result.status, result.documents) == ("partial", 1)
    assert result.failures[0].path == "goes.txt"
    assert "removed from the source during the run" in result.failures[0].reason


def test_a_file_that_changes_while_it_is_read_is_read_again_or_reported(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "office"
    write(str(src), "ledger.xlsx", b"v1" * 1000)
    path = src / "ledger.xlsx"
    real_read = transfer_module._unchanged
    calls = {"n": 0}

    def edited_once(fd: int, before: os.stat_result, nbytes: int) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:  # someone saves the file while the first read is going on
            path.write_bytes(b"v2" * 1000)
            return real_read(fd, before, nbytes)
        return real_read(fd, before, nbytes)

    monkeypatch.setattr(transfer_module, "_unchanged", edited_once)

    result = backup(store, LocalSource(str(src)), OPTIONS)

    # The stored bytes are the second, consistent read, and the manifest's hash is theirs.
    assert result.status == "complete"
    key = "backups/2025-10-15/documents/ledger.xlsx"
    with store.open(key) as body:
        assert body.read() == b"v2" * 1000

    def always_edited(fd: int, before: os.stat_result, nbytes: int) -> bool:
        return False

    monkeypatch.setattr(transfer_module, "_unchanged", always_edited)
    write(str(src), "ledger.xlsx", b"v3" * 1000)

    again = backup(
        store, LocalSource(str(src)), dataclasses.replace(OPTIONS, date=DATE + dt.timedelta(days=1))
    )

    assert again.status == "failed"  # its only document could not be stored
    assert "changed while being read" in again.failures[0].reason
    assert backend.version_count("backups", key) == 1


def test_a_manifest_refused_after_copies_went_up_is_a_failed_run_not_bad_input(
    tmp_path: Path, backend: MemoryBackend
) -> None:
    class RefusesManifests(MemoryStore):
        def put(self, key: str, data: object, **kw: object) -> Stored:
            if key.endswith(".manifest.json"):
                raise AccessDenied(f"s3://backups/{key}: access denied")
            return super().put(key, data, **kw)  # type: ignore[arg-type]

    store = RefusesManifests(backend, "backups")
    src = tmp_path / "office"
    write(str(src), "a.txt", b"a")

    result = backup(store, LocalSource(str(src)), OPTIONS)

    # THEN the run says it failed (exit 1), and why; the copy it stored is not hidden
    assert result.status == "failed" and result.manifest_key is None
    assert result.error is not None and "manifest could not be written" in result.error
    assert "access denied" in result.error
    assert [o.key for o in store.objects("")] != []
