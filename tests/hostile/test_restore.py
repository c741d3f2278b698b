"""Restore against a hostile target, a hostile manifest and bad luck (issue 13, items 1, 5, 6,
9 and 14). Each case checks what a user would: the exit code and the one-line reason, that
nothing was written outside `--to`, and what the result says was and was not restored."""

from __future__ import annotations

import _thread
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from docbackup import compose, layout
from docbackup.cli.main import cli
from docbackup.engine import restore
from docbackup.engine.browse import find
from docbackup.errors import ConfigError
from docbackup.manifest import Problem
from docbackup.storage import Encryption, MemoryStore, Store
from tests.conftest import KMS_KEY
from tests.handmade import sha_b64, write_night
from tests.treebuilder import tree_hashes, write

DATE = dt.date(2025, 10, 15)
KEYED = Encryption("aws:kms", KMS_KEY)


def files_under(top: Path) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), top) for d, _, files in os.walk(top) for f in files}


def night(
    store: Store,
    date: dt.date,
    docs: dict[str, bytes],
    *,
    failures: tuple[Problem, ...] = (),
    encryption: Encryption = KEYED,
) -> None:
    write_night(store, date, docs, encryption, failures=failures)


class Hooked:
    """Any store, with `before(key)` called as each object (the manifest first) is opened."""

    def __init__(self, inner: Store, before: Callable[[str], None]) -> None:
        self._inner = inner
        self._before = before

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def open(self, key: str, version_id: str | None = None, *, size: int | None = None) -> Any:
        self._before(key)
        return self._inner.open(key, version_id)


# -- item 1: nothing swapped in while a restore runs sends a file outside --target ---------

# d1 becomes a link to `outside` and back again, as fast as the machine allows.
SWAPPER = """
import os, sys
real, outside = sys.argv[1], sys.argv[2]
aside = real + ".real"
while True:
    try:
        os.rename(real, aside)
        os.symlink(outside, real)
        os.unlink(real)
        os.rename(aside, real)
    except OSError:
        pass
"""


def test_a_folder_swapped_for_a_link_over_and_over_sends_nothing_outside(
    tmp_path: Path, store: MemoryStore
) -> None:
    docs = {f"d{f}/{i:03d}.txt": f"{f} {i}".encode() * 50 for f in range(3) for i in range(300)}
    night(store, DATE, docs)
    target, outside = tmp_path / "target", tmp_path / "outside"
    outside.mkdir()
    (target / "d1").mkdir(parents=True)
    # The racer is another process, as an attacker's would be: no lock of ours slows it. It
    # starts with the first download, once the plan has seen d1 as the folder it is (a link
    # there before that is refused with exit 2, as test_something_in_the_way_... shows).
    racers: list[subprocess.Popen[bytes]] = []
    swapper = [sys.executable, "-c", SWAPPER, str(target / "d1"), str(outside)]

    def start_racing(key: str) -> None:
        if not racers and not key.endswith(".manifest.json"):
            racers.append(subprocess.Popen(swapper))
            time.sleep(0.05)  # the racer is swapping before the first file is written

    try:
        result = restore(
            Hooked(store, start_racing), "documents", DATE.isoformat(), str(target), workers=8
        )
    finally:
        for racer in racers:
            racer.terminate()
            racer.wait()
    assert racers

    assert files_under(outside) == set()
    failed = {p.path for p in result.failures}
    restored = {p for p in docs if p not in failed}
    assert result.restored == len(restored)
    # Counted restored: inside the target with its own bytes (the racer may since have moved
    # the folder it is in, within the target).
    inside = set(tree_hashes(str(target)).values())
    assert {hashlib.sha256(docs[p]).hexdigest() for p in restored} <= inside
    assert all(p.startswith("d1/") for p in failed)
    assert not any(".docbackup-" in p for p in files_under(target))


@pytest.mark.parametrize("swap_to", ["link", "moved"])
def test_a_folder_changed_during_a_download_keeps_the_file_out_of_it(
    tmp_path: Path, store: MemoryStore, swap_to: str
) -> None:
    night(store, DATE, {"a.txt": b"first", "docs/b.txt": b"second"})
    target, outside = tmp_path / "target", tmp_path / "outside"
    outside.mkdir()

    def hostile(key: str) -> None:
        if key.endswith("docs/b.txt"):
            # The folder is already open for the write: swap it now, mid-download.
            os.rename(target / "docs", outside / "docs")
            if swap_to == "link":
                os.symlink(outside / "docs", target / "docs")

    result = restore(Hooked(store, hostile), "documents", DATE.isoformat(), str(target), workers=1)

    assert files_under(outside) == set()
    assert (result.status, result.restored, [p.path for p in result.failures]) == (
        "partial",
        1,
        ["docs/b.txt"],
    )
    assert "moved or replaced" in result.failures[0].reason
    assert files_under(target) == {"a.txt"}


def test_a_file_saved_during_the_restore_is_kept_without_overwrite(
    tmp_path: Path, store: MemoryStore
) -> None:
    night(store, DATE, {"a.txt": b"a", "docs/b.txt": b"the night's"})
    target = tmp_path / "target"

    def user_saves(key: str) -> None:
        if key.endswith("docs/b.txt"):
            (target / "docs" / "b.txt").write_bytes(b"saved just now")

    result = restore(Hooked(store, user_saves), "documents", DATE.isoformat(), str(target))

    assert (target / "docs" / "b.txt").read_bytes() == b"saved just now"
    assert (result.status, [p.path for p in result.failures]) == ("partial", ["docs/b.txt"])
    assert "kept, not replaced" in result.failures[0].reason
    assert files_under(target) == {"a.txt", "docs/b.txt"}


def test_the_target_swapped_for_a_link_while_planned_is_refused(
    tmp_path: Path, store: MemoryStore
) -> None:
    night(store, DATE, {"a.txt": b"a"})
    target, outside = tmp_path / "target", tmp_path / "outside"
    target.mkdir()
    outside.mkdir()

    def swap(key: str) -> None:
        if key.endswith(".manifest.json") and not target.is_symlink():
            target.rename(tmp_path / "aside")
            target.symlink_to(outside)

    with pytest.raises(ConfigError, match="symbolic link"):
        restore(Hooked(store, swap), "documents", DATE.isoformat(), str(target))
    assert files_under(outside) == set() and files_under(tmp_path / "aside") == set()


def test_the_target_moved_away_during_the_restore_is_reported(
    tmp_path: Path, store: MemoryStore
) -> None:
    night(store, DATE, {"a.txt": b"a", "b.txt": b"b"})
    target = tmp_path / "target"

    def move(key: str) -> None:
        if key.endswith("b.txt") and not (tmp_path / "elsewhere").exists():
            target.rename(tmp_path / "elsewhere")
            target.mkdir()

    result = restore(Hooked(store, move), "documents", DATE.isoformat(), str(target), workers=1)

    assert result.status != "complete"
    assert any(p.path == "--to" and "moved or replaced" in p.reason for p in result.failures)


# -- item 5: one matching rule; restoring nothing is a failure -----------------------------


TREE = {
    "Invoices/2026/INV-1.pdf": b"1",
    "Invoices/two.txt": b"2",
    "Letters/Two.TXT": b"3",
    "two.txt": b"4",
    "notes/lease two.txt": b"5",
}


@pytest.mark.parametrize(
    "pattern", ["two.txt", "TWO.txt", "*.pdf", "invoices/*", "/two.txt", "*two*", "Letters/*"]
)
def test_restore_include_selects_what_find_finds(
    tmp_path: Path, store: MemoryStore, pattern: str
) -> None:
    night(store, DATE, TREE)
    found = {f.path for f in find(store, "documents", pattern)[0]}
    target = tmp_path / "target"

    result = restore(store, "documents", DATE.isoformat(), str(target), include=(pattern,))

    assert found
    assert files_under(target) == found
    assert (result.status, result.restored) == ("complete", len(found))


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.output + result.stderr
    assert len(lines) >= 1
    return lines[0]


@pytest.fixture
def bucket(tmp_path: Path, moto_bucket: tuple[str, str]) -> str:
    """A bucket on moto holding one night of TREE, backed up by the CLI."""
    name, key = moto_bucket
    src = tmp_path / "office"
    for path, data in TREE.items():
        write(str(src), path, data)
    backed = run("backup", str(src), "--bucket", name, "--kms-key-id", key, "--date", str(DATE))
    assert backed.exit_code == 0, backed.output
    return name


def test_restoring_nothing_exits_1_and_says_why(tmp_path: Path, bucket: str) -> None:
    target = tmp_path / "target"
    args = ("restore", str(DATE), "--to", str(target), "--bucket", bucket, "--include", "Invoic")

    text = run(*args)
    as_json = json.loads(run(*args, "--json").stdout)

    assert text.exit_code == 1
    assert "no document of the 2025-10-15 snapshot matches 'Invoic'" in text.output
    assert (as_json["status"], as_json["restored"]) == ("failed", 0)
    assert not target.exists()  # nothing written, not even the folder


def test_an_empty_target_is_refused_not_the_current_folder(
    tmp_path: Path, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "two.txt").write_bytes(b"today's work")

    result = run("restore", str(DATE), "--to", "", "--bucket", bucket, "--overwrite")

    assert result.exit_code == 2
    assert "the restore target is empty" in one_line(result)
    assert (tmp_path / "two.txt").read_bytes() == b"today's work"


# -- item 6: a partial night names what it lacks; `latest` says what it passed over --------


def test_a_partial_night_names_the_documents_it_lacks(tmp_path: Path, store: MemoryStore) -> None:
    lost = (Problem("Invoices/INV-9.pdf", "could not be read: Permission denied"),)
    night(store, DATE, {"Invoices/INV-1.pdf": b"kept"}, failures=lost)

    result = restore(store, "documents", DATE.isoformat(), str(tmp_path / "t"))

    assert (result.status, result.restored, result.failed) == ("partial", 1, 0)
    assert [(p.path, p.reason) for p in result.not_stored] == [
        ("Invoices/INV-9.pdf", "could not be read: Permission denied")
    ]
    assert result.summary()["not_stored"] == [
        {"path": "Invoices/INV-9.pdf", "reason": "could not be read: Permission denied"}
    ]
    only_other = restore(
        store, "documents", DATE.isoformat(), str(tmp_path / "u"), include=("INV-1.pdf",)
    )
    assert (only_other.status, only_other.not_stored) == ("complete", ())


def test_latest_says_which_newer_nights_it_passed_over(tmp_path: Path, store: MemoryStore) -> None:
    newer = DATE + dt.timedelta(days=2)
    night(store, DATE, {"a.txt": b"old"})
    night(store, newer, {"a.txt": b"new"}, failures=(Problem("b.txt", "gone"),))

    result = restore(store, "documents", "latest", str(tmp_path / "t"))
    by_date = restore(store, "documents", newer.isoformat(), str(tmp_path / "u"))

    assert (result.date, result.status) == (DATE, "complete")
    assert result.latest_note is not None
    assert str(newer) in result.latest_note and "passed over" in result.latest_note
    assert by_date.latest_note is None


def test_the_cli_names_what_a_partial_night_lacks_and_what_latest_passed_over(
    tmp_path: Path, moto_bucket: tuple[str, str]
) -> None:
    name, key = moto_bucket
    store = compose.backup_store(name, workers=2)
    enc = Encryption("aws:kms", key)
    newer = DATE + dt.timedelta(days=1)
    night(store, DATE, {"kept.txt": b"kept"}, encryption=enc)
    lost = (Problem("lost.txt", "could not be read"),)
    night(store, newer, {"kept.txt": b"kept"}, failures=lost, encryption=enc)

    partial = run("restore", str(newer), "--to", str(tmp_path / "t"), "--bucket", name)
    latest = run("restore", "latest", "--to", str(tmp_path / "u"), "--bucket", name, "--json")

    assert partial.exit_code == 1
    assert "1 not in this night" in partial.stdout
    assert "lost.txt: could not be read" in partial.stderr
    doc = json.loads(latest.stdout)
    assert (latest.exit_code, doc["date"], doc["status"]) == (0, str(DATE), "complete")
    assert str(newer) in doc["latest_note"]


# -- item 9: a target that cannot be used is exit 2, nothing written -----------------------


@pytest.mark.parametrize("kind", ["file", "under a file", "cannot be created"])
def test_an_unusable_target_is_exit_2_with_one_line(tmp_path: Path, bucket: str, kind: str) -> None:
    a_file = tmp_path / "hostname"
    a_file.write_text("host\n")
    target = {
        "file": a_file,
        "under a file": a_file / "sub",
        "cannot be created": Path("/proc/docbackup-restore/sub"),
    }[kind]

    result = run("restore", str(DATE), "--to", str(target), "--bucket", bucket)

    assert result.exit_code == 2, result.output
    line = one_line(result)
    assert str(target) in line or str(a_file) in line
    assert a_file.read_text() == "host\n"
    assert not Path("/proc/docbackup-restore").exists()


def test_a_read_only_target_is_exit_2(tmp_path: Path, bucket: str) -> None:
    top = tmp_path / "ro"
    top.mkdir()
    if os.system(f"mount -t tmpfs -o ro,size=64k tmpfs {top} 2>/dev/null") != 0:  # noqa: S605
        pytest.skip("cannot mount a read-only file system here (needs root)")
    try:
        result = run("restore", str(DATE), "--to", str(top / "sub"), "--bucket", bucket)
    finally:
        os.system(f"umount {top}")  # noqa: S605
    assert result.exit_code == 2, result.output
    assert "cannot write in" in one_line(result)


# -- item 14: things in the way, leftovers of a killed restore, Ctrl-C ---------------------


@pytest.mark.parametrize(
    "obstacle", ["file for a folder", "link for a folder", "folder for a file"]
)
@pytest.mark.parametrize("overwrite", [False, True])
def test_something_in_the_way_is_exit_2_before_anything_is_written(
    tmp_path: Path, store: MemoryStore, obstacle: str, overwrite: bool
) -> None:
    night(store, DATE, {"a.txt": b"a", "docs/b.txt": b"b", "z.txt": b"z"})
    target, outside = tmp_path / "target", tmp_path / "outside"
    target.mkdir()
    outside.mkdir()
    if obstacle == "file for a folder":
        (target / "docs").write_bytes(b"mine")
    elif obstacle == "link for a folder":
        (target / "docs").symlink_to(outside)
    else:
        (target / "z.txt").mkdir()
    before = files_under(target)

    with pytest.raises(ConfigError, match="in the way of the restore"):
        restore(store, "documents", DATE.isoformat(), str(target), overwrite=overwrite)

    assert files_under(target) == before
    assert files_under(outside) == set()


def test_a_name_both_document_and_folder_restores_the_folder_and_names_the_document(
    tmp_path: Path, store: MemoryStore
) -> None:
    night(store, DATE, {"Report": b"a document", "Report-b": b"b", "Report/2026.pdf": b"pdf"})

    result = restore(store, "documents", DATE.isoformat(), str(tmp_path / "t"), workers=1)

    assert files_under(tmp_path / "t") == {"Report/2026.pdf", "Report-b"}
    assert [p.path for p in result.failures] == ["Report"]
    assert result.status == "partial"


def test_a_name_both_ways_restores_again_with_overwrite(tmp_path: Path, store: MemoryStore) -> None:
    night(store, DATE, {"Report": b"a document", "Report/2026.pdf": b"pdf"})
    target = str(tmp_path / "t")
    first = restore(store, "documents", DATE.isoformat(), target)

    again = restore(store, "documents", DATE.isoformat(), target, overwrite=True)

    assert [p.path for p in first.failures] == [p.path for p in again.failures] == ["Report"]
    assert again.restored == 1


def test_a_document_named_like_a_temporary_is_not_removed(
    tmp_path: Path, store: MemoryStore
) -> None:
    name = ".docbackup-0123456789abcdef.tmp"
    night(store, DATE, {name: b"the user's own", "a.txt": b"a"})
    target = tmp_path / "t"
    restore(store, "documents", DATE.isoformat(), str(target))

    again = restore(store, "documents", DATE.isoformat(), str(target), overwrite=True)

    assert (again.status, again.stale_removed) == ("complete", 0)
    assert (target / name).read_bytes() == b"the user's own"


def test_a_lone_surrogate_in_a_manifest_path_is_reported(
    tmp_path: Path, store: MemoryStore
) -> None:
    night(store, DATE, {"good.txt": b"good", "badX.txt": b"bad"})
    # JSON can say what no file name is: a lone surrogate, written as its escape.
    key = layout.manifest_key(DATE, "documents")
    with store.open(key) as body:
        data = body.read().replace(b"badX.txt", b"bad\\ud800.txt")
    store.put(key, data, sha256_b64=sha_b64(data), metadata={}, encryption=KEYED)

    result = restore(store, "documents", DATE.isoformat(), str(tmp_path / "t"))

    assert (result.status, result.restored) == ("partial", 1)
    assert "not valid Unicode" in result.failures[0].reason


def test_temporaries_a_killed_restore_left_are_removed(tmp_path: Path, store: MemoryStore) -> None:
    night(store, DATE, {"a.txt": b"a", "docs/b.txt": b"b"})
    target = tmp_path / "target"
    (target / "docs").mkdir(parents=True)
    left = [
        target / ".docbackup-0123456789abcdef.tmp",
        target / "docs/.docbackup-fedcba9876543210.tmp",
    ]
    for path in left:
        path.write_bytes(b"half a download")
    mine = target / "docs/.docbackup-notes.tmp"  # not one of ours: kept
    mine.write_bytes(b"the user's")

    result = restore(store, "documents", DATE.isoformat(), str(target))

    assert (result.status, result.stale_removed) == ("complete", 2)
    assert not any(p.exists() for p in left)
    assert files_under(target) == {"a.txt", "docs/b.txt", "docs/.docbackup-notes.tmp"}


class Slow:
    """A store whose stored copies arrive slowly, one small piece at a time."""

    def __init__(self, inner: Store, opened: list[str]) -> None:
        self._inner, self.opened = inner, opened

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def open(self, key: str, version_id: str | None = None, *, size: int | None = None) -> Any:
        body = self._inner.open(key, version_id)
        if key.endswith(".manifest.json"):
            return body
        self.opened.append(key)
        return _Trickle(body)


class _Trickle:
    def __init__(self, body: Any) -> None:
        self._body = body

    def __enter__(self) -> _Trickle:
        self._body.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._body.__exit__(*exc)

    def read(self, n: int = -1) -> bytes:
        time.sleep(0.02)
        return self._body.read(min(n, 100) if n > 0 else 100)


def test_ctrl_c_stops_soon_and_leaves_no_temporary_files(
    tmp_path: Path, store: MemoryStore
) -> None:
    night(store, DATE, {f"docs/{i:02d}.bin": bytes([i]) * 3_000 for i in range(40)})
    opened: list[str] = []
    target = tmp_path / "target"
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        restore(Slow(store, opened), "documents", DATE.isoformat(), str(target), workers=4)
    elapsed = time.monotonic() - started
    timer.cancel()

    assert elapsed < 2.0  # a whole document takes 0.6 s here: the running ones gave up
    assert len(opened) <= 12  # the queued ones were dropped, not started
    assert not any(".docbackup-" in p for p in files_under(target))
    again = restore(store, "documents", DATE.isoformat(), str(target), overwrite=True)
    assert (again.status, again.restored) == ("complete", 40)
