"""Hostile sources (issue 13, items 4, 7, 11 and 13).

An S3 source whose keys cannot all be files on one disk, special files put where a document
was, a tree deeper than Python's recursion limit, and a large file that changes while it is
sent in parts. Each case is forced deterministically: a source or store wrapper swaps the file
at the moment that matters. A run that could block is bounded by a thread join, so the code
before these fixes fails here rather than hangs.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docbackup import compose
from docbackup.cli.main import cli
from docbackup.engine import BackupOptions, BackupResult, backup, restore
from docbackup.errors import ConfigError
from docbackup.sandbox.server import LocalAWS
from docbackup.sources import IGNORE_FILE, LocalSource, ObjectSource, ScanResult, local
from docbackup.sources import upload as transfer
from docbackup.sources.base import Outcome
from docbackup.storage import Encryption, MemoryBackend, MemoryStore, Store
from tests.days import tonight
from tests.treebuilder import tree_hashes, write

DATE = dt.date(2025, 10, 15)
BEFORE = DATE - dt.timedelta(days=1)
# The bucket's default key: the same options serve the in-memory store and moto.
ENC = Encryption("aws:kms")
NONE = Encryption("none")
MIB = 1024 * 1024


def opts(date: dt.date = DATE, **kw: Any) -> BackupOptions:
    return BackupOptions(**({"date": date, "encryption": ENC, "workers": 2} | kw))


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line(result: Result) -> str:
    """The one line a refused command prints on stderr: no traceback."""
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    return line


def within(seconds: float, work: Callable[[], Any], unblock: Callable[[], None]) -> Any:
    """`work()`'s result, or a test failure if it is still running after `seconds`: then
    `unblock()` lets it finish, so a blocked run does not outlive the test."""
    out: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            out.append(work())
        except BaseException as exc:  # handed to the test's thread below
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    blocked = thread.is_alive()
    if blocked:
        unblock()
        thread.join(30)
    assert not blocked, f"still running after {seconds} s: blocked"
    if errors:
        raise errors[0]
    return out[0]


def release_fifo(path: Path) -> None:
    """Open a FIFO's write end and close it: a reader waiting in open() then returns."""
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def every_version(backend: MemoryBackend, bucket: str = "backups") -> dict[str, list[bytes]]:
    with backend._lock:
        return {k: [v.data for v in vs] for k, vs in backend._buckets[bucket].versions.items()}


def restored(
    store: Store, tmp_path: Path, name: str, date: dt.date = DATE, *, night: str = "complete"
) -> dict[str, str]:
    """What a night restores, every document it lists restored: a restore of a partial night
    is itself called partial, as the night lacks what it names."""
    target = tmp_path / name
    result = restore(store, "documents", date.isoformat(), str(target))
    assert (result.status, result.failed) == (night, 0), result
    return tree_hashes(str(target))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- item 4: keys that cannot all be files on one disk -----------------------------------------


def put_objects(source: MemoryStore, objects: dict[str, bytes]) -> None:
    for key, data in objects.items():
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        source.put(key, data, sha256_b64=digest, metadata={}, encryption=NONE)


# The folder of `Report`, and neighbours that a restore can hold side by side: names that sort
# between `Report` and `Report/` in key order, console folder markers (not documents) beside a
# folder and beside a file of the same name, and files that keys the plan reports would make
# folders of.
FOLDERS = {
    "Report/2026.pdf": b"the 2026 report",
    "Report/2027/plan.pdf": b"next year",
    "Report-old.pdf": b"old report",
    "Report.pdf": b"report as a pdf",
    "a/": b"",
    "a/x.pdf": b"in a",
    "b": b"a file b",
    "b/": b"",
    "c": b"a file c",
    "e": b"a file e",
    "deep/x/y/z.pdf": b"deep down",
}
# Added the next night: files that are also folders, at the top and further down ...
FILES_THAT_ARE_FOLDERS = {"Report": b"a file named Report", "deep/x": b"a file named x"}
# ... and keys the plan reports (an empty component, a key too long): no folder on disk, so no
# reason for `c` or `e` to give way.
TOO_LONG = "e/" + "x" * 1000
REPORTED = {"c//d.pdf": b"an empty component", TOO_LONG: b"a key over 1,024 bytes"}


def test_an_s3_file_that_is_also_a_folder_is_reported_and_the_night_restores_in_full(
    tmp_path: Path, backend: MemoryBackend, store: MemoryStore
) -> None:
    # GIVEN a complete night of a source bucket, then objects named like folders of it
    backend.create_bucket("source")
    source = backend.store("source")
    put_objects(source, {f"in/{k}": v for k, v in FOLDERS.items()})
    first = backup(store, ObjectSource(source, "in/"), opts(BEFORE))
    assert first.status == "complete", first.failures
    before = restored(store, tmp_path, "before", BEFORE)
    put_objects(source, {f"in/{k}": v for k, v in {**FILES_THAT_ARE_FOLDERS, **REPORTED}.items()})

    # WHEN the next night runs
    result = backup(store, ObjectSource(source, "in/"), opts())

    # THEN it is partial, naming each file that is also a folder (and the unsafe key) ...
    assert result.status == "partial"
    failed = {p.path: p.reason for p in result.failures}
    assert set(failed) == {"Report", "deep/x", "c//d.pdf", TOO_LONG}
    assert "Report/2026.pdf" in failed["Report"] and "rename" in failed["Report"]
    assert "deep/x/y/z.pdf" in failed["deep/x"]
    # ... and everything it calls stored restores, every one of it
    kept = {k: v for k, v in FOLDERS.items() if not k.endswith("/")}
    assert restored(store, tmp_path, "night", night="partial") == {
        k: sha(v) for k, v in kept.items()
    }
    assert result.documents == len(kept)
    # the night before is as it was
    assert restored(store, tmp_path, "again", BEFORE) == before


_KEY_PART = st.sampled_from(["a", "b", "a.b", "a-b", "a b", "", "."])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(_KEY_PART, min_size=1, max_size=4).map("/".join), unique=True))
def test_whatever_the_keys_a_night_restores_every_document_it_lists(
    tmp_path_factory: pytest.TempPathFactory, keys: list[str]
) -> None:
    # GIVEN any keys under the prefix, many of them folders of others
    backend = MemoryBackend()
    backend.create_bucket("backups")
    backend.create_bucket("source")
    source = backend.store("source")
    objects = {k: k.encode() for k in keys if k and not k.endswith("/")}
    put_objects(source, {f"in/{k}": v for k, v in objects.items()})

    # WHEN a night backs them up
    options = opts(encryption=NONE, allow_empty=True, allow_unversioned=True)
    store = backend.store("backups")
    result = backup(store, ObjectSource(source, "in/"), options)

    # THEN every object is stored or named as not stored, and what is stored restores in full
    failed = {p.path for p in result.failures}
    assert result.status == (
        "complete" if not failed else "partial" if result.documents else "failed"
    )
    target = tmp_path_factory.mktemp("night")
    if result.manifest_key is None:
        return
    done = restore(store, "documents", DATE.isoformat(), str(target))
    if len(objects) == len(failed):  # a night of no documents: restoring nothing is a failure
        assert (done.status, done.restored) == ("failed", 0)
        return
    assert (done.failed, done.restored) == (0, len(objects) - len(failed))
    assert tree_hashes(str(target)) == {k: sha(v) for k, v in objects.items() if k not in failed}


def test_on_moto_the_cli_names_the_file_that_is_also_a_folder_and_exits_1(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    bucket, _ = moto_bucket
    s3 = aws_env.client("s3")
    s3.create_bucket(Bucket=f"{bucket}-source")
    objects = {"Report": b"a file named Report", "Report/2026.pdf": b"the 2026 report"}
    for key, body in objects.items():
        s3.put_object(Bucket=f"{bucket}-source", Key=f"office/{key}", Body=body)

    night = run_cli("backup", f"s3://{bucket}-source/office", "--bucket", bucket, "--json")

    assert night.exit_code == 1, night.output
    summary = json.loads(night.stdout)
    assert (summary["status"], summary["documents"], summary["failed"]) == ("partial", 1, 1)
    assert [f["path"] for f in summary["failures"]] == ["Report"]
    assert "Traceback" not in night.stderr
    target = tmp_path / "r"
    again = run_cli("restore", tonight(), "--to", str(target), "--bucket", bucket, "--json")
    # Every document the partial night lists comes back (the night itself stays partial).
    assert (json.loads(again.stdout)["restored"], json.loads(again.stdout)["failed"]) == (1, 0)
    assert (target / "Report" / "2026.pdf").read_bytes() == b"the 2026 report"


# -- item 7: special files where a document or the ignore file was ------------------------------


SECRET = b"outside the source, never to be read"
# What each kind is put in place of a file as, and how the run must name it.
KINDS = [
    ("fifo", "a FIFO"),
    ("socket", "a socket"),
    ("device", "a character device"),
    ("symlink", "a symbolic link"),
]


def make_special(path: Path, kind: str) -> list[socket.socket]:
    """Put a FIFO, a Unix socket nobody listens on, a device (the numbers of /dev/null) or a
    link to a file outside the source at `path`; returns what must stay open."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        try:
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("this user may not create device nodes")
    elif kind == "symlink":
        outside = path.parent.parent.parent / "secret.txt"
        outside.write_bytes(SECRET)
        path.symlink_to(outside)
    else:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        return [sock]
    return []


class SwapAfterScan:
    """A local source whose file `victim` becomes a special file once the scan is read."""

    def __init__(self, root: Path, victim: str, kind: str) -> None:
        self._inner = LocalSource(str(root))
        self.victim = root / victim
        self.kind = kind
        self.keep: list[socket.socket] = []

    def describe(self) -> str:
        return self._inner.describe()

    def store(self, *args: Any, **kwargs: Any) -> Outcome:
        return self._inner.store(*args, **kwargs)

    def scan(self) -> ScanResult:
        found = self._inner.scan()
        found.documents = self._then_swap(found.documents)
        return found

    def _then_swap(self, documents: Iterator[Any]) -> Iterator[Any]:
        yield from documents
        self.victim.unlink()
        self.keep = make_special(self.victim, self.kind)


def tree(root: Path, version: str, n: int = 6) -> None:
    for i in range(n):
        write(str(root), f"docs/{i:02d}.txt", f"{version} {i}".encode() * (i + 3))


@pytest.mark.parametrize(("kind", "named"), KINDS)
def test_a_document_that_becomes_a_special_file_after_the_scan_is_reported_not_waited_on(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend, kind: str, named: str
) -> None:
    # GIVEN a complete night, and a document that turns into a special file mid-run
    office = tmp_path / "office"
    tree(office, "v1")
    assert backup(store, LocalSource(str(office)), opts(BEFORE)).status == "complete"
    stored_before = every_version(backend)
    tree(office, "v2")
    swapping = SwapAfterScan(office, "docs/03.txt", kind)

    # WHEN the night runs: it must not wait on it
    result: BackupResult = within(
        10,
        lambda: backup(store, swapping, opts()),
        lambda: release_fifo(swapping.victim),
    )

    # THEN the night is partial and names it, and everything else is stored and restores
    assert result.status == "partial"
    ((path, reason),) = [(p.path, p.reason) for p in result.failures]
    assert path == "docs/03.txt" and named in reason and "\n" not in reason
    assert result.documents == 5
    night = restored(store, tmp_path, "night", night="partial")
    assert "docs/03.txt" not in night and len(night) == 5
    # nothing stored before was lost, nothing outside the source was read, and the lease was
    # given up: the next run gets the night
    after = every_version(backend)
    assert all(after[k][: len(v)] == v for k, v in stored_before.items())
    assert not any(SECRET in data for versions in after.values() for data in versions)
    for sock in swapping.keep:
        sock.close()
    swapping.victim.unlink()
    write(str(office), "docs/03.txt", b"back again")
    assert backup(store, LocalSource(str(office)), opts()).status == "complete"


def test_on_moto_a_document_that_becomes_a_fifo_gives_exit_1_naming_it(
    tmp_path: Path, moto_bucket: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket, _ = moto_bucket
    office = tmp_path / "office"
    tree(office, "v1")
    victim = office / "docs" / "02.txt"
    real_scan = LocalSource.scan

    def scan_then_swap(self: LocalSource) -> ScanResult:
        found = real_scan(self)
        inner = found.documents

        def then_swap() -> Iterator[Any]:
            yield from inner
            victim.unlink()
            os.mkfifo(victim)

        found.documents = then_swap()
        return found

    monkeypatch.setattr(LocalSource, "scan", scan_then_swap)

    night: Result = within(
        20,
        lambda: run_cli("backup", str(office), "--bucket", bucket, "--json"),
        lambda: release_fifo(victim),
    )

    assert night.exit_code == 1, night.output
    summary = json.loads(night.stdout)
    assert summary["status"] == "partial"
    assert [f["path"] for f in summary["failures"]] == ["docs/02.txt"]
    assert "a FIFO" in summary["failures"][0]["reason"]
    assert "Traceback" not in night.stderr


@pytest.mark.parametrize(("kind", "named"), KINDS[:3])
def test_a_docbackupignore_that_is_a_special_file_is_exit_2_with_one_line_and_nothing_touched(
    tmp_path: Path,
    moto_bucket: tuple[str, str],
    aws_env: LocalAWS,
    kind: str,
    named: str,
) -> None:
    # GIVEN a night already stored
    bucket, _ = moto_bucket
    office = tmp_path / "office"
    tree(office, "v1")
    write(str(office), IGNORE_FILE, b"*.bak\n")
    assert run_cli("backup", str(office), "--bucket", bucket).exit_code == 0
    s3 = aws_env.client("s3")

    def versions() -> list[tuple[str, str]]:
        listed = s3.list_object_versions(Bucket=bucket)
        return sorted((v["Key"], v["VersionId"]) for v in listed.get("Versions", []))

    stored_before = versions()
    ignore = office / IGNORE_FILE
    ignore.unlink()
    keep = make_special(ignore, kind)
    tree(office, "v2")

    # WHEN the next run reads its exclude file
    refused: Result = within(
        20,
        lambda: run_cli("backup", str(office), "--bucket", bucket),
        lambda: release_fifo(ignore),
    )

    # THEN it stops with exit 2 and one line naming the file, and the bucket is as it was
    assert refused.exit_code == 2, refused.output
    line = one_line(refused)
    assert IGNORE_FILE in line and named in line and "not a regular file" in line
    assert versions() == stored_before
    for sock in keep:
        sock.close()


def test_a_dangling_link_as_docbackupignore_is_exit_2_not_a_run_without_its_patterns(
    tmp_path: Path, store: MemoryStore
) -> None:
    office = tmp_path / "office"
    tree(office, "v1")
    (office / IGNORE_FILE).symlink_to(tmp_path / "moved-away.ignore")

    with pytest.raises(ConfigError, match="symbolic link to nothing"):
        backup(store, LocalSource(str(office)), opts(allow_unversioned=True))
    assert list(store.objects("backups/")) == []


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "03.txt").write_bytes(SECRET)
    return outside


def test_a_folder_swapped_for_a_link_after_the_scan_is_not_read_through(
    tmp_path: Path, store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a scan that saw docs/ as a folder; then, before 03.txt is read, docs/ becomes a
    # link to a folder outside the source holding a file of the same name
    office = tmp_path / "office"
    tree(office, "v1")
    outside = _outside(tmp_path)
    real = transfer.open_regular_below

    def swap_then_open(root: str, abspath: str) -> int:
        docs = office / "docs"
        if abspath.endswith("03.txt") and not docs.is_symlink():
            docs.rename(tmp_path / "docs-aside")
            docs.symlink_to(outside)
        return real(root, abspath)

    monkeypatch.setattr(transfer, "open_regular_below", swap_then_open)
    result = backup(store, LocalSource(str(office)), opts(allow_unversioned=True, workers=1))

    # THEN nothing from outside is stored, and the documents behind the link are named
    assert result.status == "partial"
    assert "docs/03.txt" in {f.path for f in result.failures}
    for info in store.objects("backups/"):
        with store.open(info.key) as body:
            assert SECRET not in body.read()


def test_a_folder_swapped_for_a_link_during_the_walk_is_not_walked_into(
    tmp_path: Path, store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    office = tmp_path / "office"
    tree(office, "v1")
    write(str(office), "top.txt", b"top")
    outside = _outside(tmp_path)
    real = local._listing

    def swap_then_list(folder: str, rel: str, skipped: Any, **kw: Any) -> Any:
        if rel == "docs/":
            os.rename(folder, tmp_path / "docs-aside")
            os.symlink(outside, folder)
        return real(folder, rel, skipped, **kw)

    monkeypatch.setattr(local, "_listing", swap_then_list)
    result = backup(store, LocalSource(str(office)), opts(allow_unversioned=True))

    assert result.status != "complete"
    assert any(s.path == "docs/" or s.path == "docs" for s in result.failures + result.skipped)
    for info in store.objects("backups/"):
        with store.open(info.key) as body:
            assert SECRET not in body.read()


def test_a_parent_folder_swapped_for_a_link_during_the_walk_leaks_no_outside_names(
    tmp_path: Path, store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN docs/sub/ about to be listed, when docs/ becomes a link to a tree outside
    office = tmp_path / "office"
    write(str(office), "docs/sub/mine.txt", b"mine")
    write(str(office), "top.txt", b"top")
    outside = tmp_path / "outside"
    write(str(outside), "sub/salaries-2026.xlsx", SECRET)
    real = local._listing

    def swap_parent_then_list(folder: str, rel: str, skipped: Any, **kw: Any) -> Any:
        if rel == "docs/sub/":
            os.rename(office / "docs", tmp_path / "docs-aside")
            os.symlink(outside, office / "docs")
        return real(folder, rel, skipped, **kw)

    monkeypatch.setattr(local, "_listing", swap_parent_then_list)
    result = backup(store, LocalSource(str(office)), opts(allow_unversioned=True))

    # THEN the folder is reported as replaced, and nothing of the outside tree is named
    said = {p.path: p.reason for p in result.failures + result.skipped}
    assert "replaced" in said.get("docs/sub/", ""), said
    assert not any("salaries" in p for p in said)
    for info in store.objects("backups/"):
        with store.open(info.key) as body:
            data = body.read()
        assert SECRET not in data and b"salaries" not in data


def test_without_folder_descriptors_a_night_still_backs_up_and_restores(
    tmp_path: Path, store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where the system opens no folder by descriptor (Windows), both sides go by path.
    from docbackup.engine import target as target_module

    monkeypatch.setattr(local, "DESCRIPTORS", False)
    monkeypatch.setattr(target_module, "DESCRIPTORS", False)
    office = tmp_path / "office"
    tree(office, "v1")
    write(str(office), "deep/er/still.txt", b"still")
    (office / "link.txt").symlink_to(office / "deep/er/still.txt")
    result = backup(store, LocalSource(str(office)), opts(allow_unversioned=True))
    assert result.status == "complete", result
    back = tmp_path / "back"
    (back / "deep").mkdir(parents=True)
    (back / "deep/.docbackup-0123456789abcdef.tmp").write_bytes(b"left by a killed restore")

    done = restore(store, "documents", DATE.isoformat(), str(back))

    assert (done.status, done.stale_removed) == ("complete", 1)
    assert tree_hashes(str(back)) == {
        p: h for p, h in tree_hashes(str(office)).items() if p != "link.txt"
    }
    # run again: every document is found in place, byte for byte, and kept
    again = restore(store, "documents", DATE.isoformat(), str(back))
    assert (again.status, again.already_there) == ("complete", again.restored)
    (back / "deep/er/still.txt").write_bytes(b"edited")  # a changed one stops it, kept
    with pytest.raises(ConfigError, match="already exist"):
        restore(store, "documents", DATE.isoformat(), str(back))
    assert (back / "deep/er/still.txt").read_bytes() == b"edited"
    overwritten = restore(store, "documents", DATE.isoformat(), str(back), overwrite=True)
    assert overwritten.status == "complete"


# -- item 11: a tree deeper than Python's recursion limit ---------------------------------------


LEVELS = 1500
# Files along the way, at depths whose keys S3 still takes (backups/DATE/SET/ + 2 bytes a level
# stays under 1,024 bytes to about 495 levels).
FILE_DEPTHS = (0, 1, 10, 100, 400)


def deep_path(levels: int, name: str) -> str:
    return "d/" * levels + name


@pytest.fixture
def deep_tree(tmp_path: Path) -> Iterator[Path]:
    """1,500 folders one inside the next, one-character names so the whole path stays far
    under PATH_MAX; removed bottom-up here, since a recursive rmtree would fail on it."""
    root = tmp_path / "deep"
    folder = root
    folder.mkdir()
    for _ in range(LEVELS):  # not os.makedirs: it recurses once per missing level
        folder = folder / "d"
        folder.mkdir()
    for depth in FILE_DEPTHS:
        (root / deep_path(depth, "f")).write_bytes(f"at depth {depth}".encode())
    yield root
    for depth in range(LEVELS, -1, -1):
        folder = root / deep_path(depth, "").rstrip("/") if depth else root
        for entry in os.scandir(folder):
            if not entry.is_dir(follow_symlinks=False):
                os.unlink(entry.path)
        os.rmdir(folder)


def test_a_tree_1500_levels_deep_backs_up_complete_and_restores(
    tmp_path: Path, deep_tree: Path, moto_bucket: tuple[str, str]
) -> None:
    # GIVEN the deep tree, with a file at the very bottom that its ignore file leaves out
    bucket, _ = moto_bucket
    (deep_tree / deep_path(LEVELS, "skip.tmp")).write_bytes(b"scratch")
    (deep_tree / deep_path(LEVELS - 1, "left-out.log")).write_bytes(b"log")
    (deep_tree / IGNORE_FILE).write_bytes(b"d/**/*.log\n")

    night = run_cli("backup", str(deep_tree), "--bucket", bucket, "--json")

    assert night.exit_code == 0, night.output
    summary = json.loads(night.stdout)
    assert (summary["status"], summary["documents"]) == ("complete", len(FILE_DEPTHS) + 1)
    assert summary["excluded"] == 2
    target = tmp_path / "r"
    done = run_cli("restore", tonight(), "--to", str(target), "--bucket", bucket, "--json")
    assert done.exit_code == 0, done.output
    for depth in FILE_DEPTHS:
        assert (target / deep_path(depth, "f")).read_bytes() == f"at depth {depth}".encode()


def test_a_document_too_deep_for_an_s3_key_is_named_and_the_rest_of_the_tree_stored(
    tmp_path: Path, deep_tree: Path, store: MemoryStore
) -> None:
    bottom = deep_path(LEVELS, "report.pdf")
    (deep_tree / bottom).write_bytes(b"at the bottom")

    result = backup(store, LocalSource(str(deep_tree)), opts())

    assert result.status == "partial"
    ((path, reason),) = [(p.path, p.reason) for p in result.failures]
    assert path == bottom and "1024-byte limit" in reason
    assert result.documents == len(FILE_DEPTHS)
    target = tmp_path / "r"
    assert restore(store, "documents", DATE.isoformat(), str(target)).restored == len(FILE_DEPTHS)


# -- item 13: a file sent in parts that changes while it is read --------------------------------


class ChangesWhileRead:
    """Any store whose multipart uploads see a file changed by a writer between reads: after
    the n-th read of any upload's stream, the n-th action is done to the file."""

    def __init__(self, inner: Store, actions: list[Callable[[], None]]) -> None:
        self._inner = inner
        self._actions = actions
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def upload(self, key: str, stream: Any, **kw: Any) -> Any:
        return self._inner.upload(key, _Watched(stream, self), **kw)

    def after_read(self) -> None:
        if self.reads < len(self._actions):
            self._actions[self.reads]()
        self.reads += 1


class _Watched:
    def __init__(self, inner: Any, hook: ChangesWhileRead) -> None:
        self._inner = inner
        self._hook = hook

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._inner.read(size)
        if data:
            self._hook.after_read()
        return data


def append(path: Path, n: int) -> Callable[[], None]:
    def act() -> None:
        with open(path, "ab") as f:
            f.write(os.urandom(n))

    return act


def truncate(path: Path, n: int) -> Callable[[], None]:
    return lambda: os.truncate(path, n)


@pytest.mark.parametrize("change", ["grows", "shrinks and is written again"])
def test_a_file_of_8_mib_or_more_that_changes_while_sent_is_read_again_not_refused(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS, change: str
) -> None:
    # GIVEN a scan growing as it is sent (a writer appending), or one being rewritten in place
    bucket, _ = moto_bucket
    office = tmp_path / "office"
    scan = office / "scans" / "big.tiff"
    size = 9 * MIB if change == "grows" else 12 * MIB
    write(str(office), "scans/big.tiff", os.urandom(size))
    write(str(office), "small.txt", b"small")
    if change == "grows":
        actions = [append(scan, MIB), append(scan, MIB), append(scan, MIB)]
    else:
        actions = [truncate(scan, 9 * MIB), append(scan, 3 * MIB)]
    store = ChangesWhileRead(compose.backup_store(bucket, workers=2), actions)

    # WHEN the night sends it in parts
    result = backup(store, LocalSource(str(office)), opts())  # type: ignore[arg-type]

    # THEN it was read again until one state of it was sent whole, and the night restores it
    assert (result.status, result.failures) == ("complete", ()), result.failures
    assert store.reads > len(actions)
    night = restored(store._inner, tmp_path, "night")
    assert night == tree_hashes(str(office))
    # no unfinished upload was left behind for lifecycle to clean up
    s3 = aws_env.client("s3")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


class _Spied:
    """A file object whose reads are measured (how much is held at once); the file at `grow`
    grows by 64 MB just before the first read."""

    def __init__(self, inner: Any, sizes: list[int], *, grow: Path) -> None:
        self._inner, self._sizes, self._grow = inner, sizes, grow

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __enter__(self) -> _Spied:
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.close()

    def read(self, *args: Any) -> bytes:
        if not self._sizes:  # opened and measured as 1 KB: it grows before the first read
            with open(self._grow, "ab") as f:
                f.write(b"y" * (64 << 20))
        data: bytes = self._inner.read(*args)
        self._sizes.append(len(data))
        return data


def test_a_small_file_that_grows_while_read_is_not_read_whole_into_memory(
    tmp_path: Path, store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a 1 KB document that grows by 64 MB the moment it is opened (a log being written)
    office = tmp_path / "office"
    write(str(office), "log.txt", b"x" * 1024)
    real_fdopen = transfer.os.fdopen
    sizes: list[int] = []

    def grows_when_opened(fd: int, *args: Any, **kw: Any) -> Any:
        # (os.fdopen is everyone's: only the document's own descriptor is watched)
        if not os.readlink(f"/proc/self/fd/{fd}").endswith("log.txt"):
            return real_fdopen(fd, *args, **kw)
        return _Spied(real_fdopen(fd, *args, **kw), sizes, grow=office / "log.txt")

    monkeypatch.setattr(transfer.os, "fdopen", grows_when_opened)
    result = backup(store, LocalSource(str(office)), opts(allow_unversioned=True))

    # THEN the first read stopped a byte past the size it had, and the file was read again as
    # it now is, through the multipart path, a part at a time: never the whole growth at once
    assert result.status == "complete", result
    assert sizes[0] == 1025
    assert max(sizes) <= 16 << 20
    target = tmp_path / "restored"
    assert restore(store, "documents", DATE.isoformat(), str(target)).status == "complete"
    assert (target / "log.txt").stat().st_size == 1024 + (64 << 20)


def test_a_source_folder_whose_name_is_not_utf8_is_exit_2_before_anything_is_sent(
    tmp_path: Path, store: MemoryStore
) -> None:
    root = os.path.join(os.fsencode(tmp_path), b"caf\xe9")  # Latin-1, as an old share names it
    os.mkdir(root)
    with open(os.path.join(root, b"menu.txt"), "wb") as f:
        f.write(b"menu")

    with pytest.raises(ConfigError, match="not valid UTF-8"):
        backup(store, LocalSource(os.fsdecode(root)), opts(allow_unversioned=True))
    assert list(store.objects("backups/")) == []
