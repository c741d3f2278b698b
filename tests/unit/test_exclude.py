"""Exclude patterns: gitignore lines, decided as git decides them, for both kinds of source.

The local walk does not open an excluded folder, so what it yields has to be exactly what
matching every path one by one would keep; the S3 listing has to agree with the walk.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from docbackup.errors import ConfigError
from docbackup.sources import DEFAULT_EXCLUDES, IGNORE_FILE, Excluder, LocalSource, ObjectSource
from docbackup.sources import local as local_module
from docbackup.sources.base import ScanResult
from docbackup.sources.exclude import MAX_IGNORE_FILE
from docbackup.storage import Encryption, MemoryBackend, MemoryStore


def make_tree(root: str | Path, paths: list[str], *, data: bytes = b"x") -> None:
    for rel in paths:
        full = os.path.join(root, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)


def walk(root: str | Path, *patterns: str, defaults: bool = True) -> tuple[list[str], ScanResult]:
    scan = LocalSource(str(root), exclude=Excluder(patterns, defaults=defaults)).scan()
    found = [d.path for d in scan.documents]
    return found, scan


def put(store: MemoryStore, key: str, data: bytes = b"x") -> None:
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    store.put(key, data, sha256_b64=sha, metadata={}, encryption=Encryption("none"))


@pytest.fixture
def source_bucket(backend: MemoryBackend) -> MemoryStore:
    backend.create_bucket("shared-drive")
    return backend.store("shared-drive")


# --- the defaults -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "~$Report.docx",  # Word's owner file
        "Finance/~$Budget.xlsx",
        ".~lock.Budget.xlsx#",  # LibreOffice's lock
        "x.tmp",
        "Letters/~WRL0001.tmp",
        "Clients.laccdb",
        "Photos/Thumbs.db",
        ".DS_Store",
    ],
)
def test_office_locks_and_temporary_files_are_excluded_by_default(path: str) -> None:
    assert Excluder().excludes(path)
    assert not Excluder(defaults=False).excludes(path)


@pytest.mark.parametrize(
    "path",
    [
        "tmp/notes.txt",
        "template.docx",
        "Report.docx",
        "notes.tmp.txt",
        "~notes.txt",
        "$Report.docx",
        "desktop.ini",
        "._Report.docx",
        "Report.docx.bak",
        "Clients.ldb",
    ],
)
def test_documents_that_only_look_like_temporary_files_are_kept(path: str) -> None:
    assert not Excluder().excludes(path)


def test_a_source_applies_the_defaults_unless_told_otherwise(tmp_path: Path) -> None:
    make_tree(tmp_path, ["Report.docx", "~$Report.docx", "x.tmp", "tmp/notes.txt"])

    assert [d.path for d in LocalSource(str(tmp_path)).scan().documents] == [
        "Report.docx",
        "tmp/notes.txt",
    ]
    kept, _ = walk(tmp_path, defaults=False)
    assert kept == ["Report.docx", "tmp/notes.txt", "x.tmp", "~$Report.docx"]


def test_a_default_is_brought_back_by_a_negated_pattern() -> None:
    assert not Excluder(["!*.tmp"]).excludes("scratch.tmp")
    assert Excluder(["!keep.tmp"]).excludes("scratch.tmp")
    assert not Excluder(["!keep.tmp"]).excludes("keep.tmp")
    assert Excluder(["!keep.tmp"]).excludes("~$Report.docx")


def test_lines_are_in_force_lowest_priority_first() -> None:
    excluder = Excluder(["*.pdf"]).with_ignore_file(["# mine", "*.bak"])
    assert excluder.lines == (*DEFAULT_EXCLUDES, "# mine", "*.bak", "*.pdf")
    assert Excluder(defaults=False).lines == ()


# --- gitignore syntax -------------------------------------------------------------------------


def test_negation_re_includes_a_file() -> None:
    excluder = Excluder(["*.log", "!important.log"], defaults=False)
    assert excluder.excludes("debug.log")
    assert not excluder.excludes("important.log")
    assert not excluder.excludes("logs/important.log")


def test_nothing_comes_back_from_an_excluded_folder_as_in_git() -> None:
    # GIVEN the folder itself excluded, a negation cannot reach inside it
    folder_out = Excluder(["build/", "!build/keep.txt"], defaults=False)
    assert folder_out.excludes("build/keep.txt")
    assert folder_out.excluded_at("build/keep.txt") == "build/"
    # GIVEN only its contents excluded, the folder is still entered and the negation works
    contents_out = Excluder(["build/*", "!build/keep.txt"], defaults=False)
    assert not contents_out.excludes("build/keep.txt")
    assert contents_out.excludes("build/other.txt")
    # ... but a folder in there is excluded as a whole
    assert contents_out.excludes("build/sub/keep.txt")


def test_a_folder_pattern_excludes_the_folder_and_not_a_file_of_that_name(tmp_path: Path) -> None:
    make_tree(tmp_path, ["build/out.pdf", "build/deep/er.pdf", "src/build", "a.pdf"])

    kept, scan = walk(tmp_path, "build/")

    assert kept == ["a.pdf", "src/build"]
    assert scan.excluded == 1  # the folder, once


def test_anchored_and_unanchored_patterns() -> None:
    anchored = Excluder(["/top-only"], defaults=False)
    assert anchored.excludes("top-only")
    assert not anchored.excludes("sub/top-only")
    anywhere = Excluder(["top-only"], defaults=False)
    assert anywhere.excludes("top-only")
    assert anywhere.excludes("sub/top-only")
    # A slash inside a pattern anchors it too, as in git.
    inner = Excluder(["docs/draft"], defaults=False)
    assert inner.excludes("docs/draft")
    assert not inner.excludes("old/docs/draft")


def test_double_star() -> None:
    any_depth = Excluder(["**/cache"], defaults=False)
    assert any_depth.excludes("cache/x")
    assert any_depth.excludes("a/b/cache/x")
    below = Excluder(["logs/**", "!logs/keep.txt"], defaults=False)
    assert below.excludes("logs/a/b.txt")
    assert not below.excludes("logs/keep.txt")  # `logs/**` leaves the folder itself in
    assert not below.excludes("logs")
    between = Excluder(["a/**/b.txt"], defaults=False)
    assert all(between.excludes(p) for p in ("a/b.txt", "a/x/b.txt", "a/x/y/b.txt"))
    assert not between.excludes("z/a/b.txt")
    # `dir/**/`: the folders below dir, not the files directly in it (git, not pathspec)
    folders_below = Excluder(["a/**/"], defaults=False)
    assert not folders_below.excludes("a/file.txt")
    assert folders_below.excludes("a/sub/file.txt")


def test_a_question_mark_is_one_character_even_beyond_ascii() -> None:
    # git matches `?` against one byte, so `?.docx` misses "é.docx" there; restic, and anyone
    # reading the pattern, count characters.
    assert Excluder(["?.docx"], defaults=False).excludes("é.docx")
    assert not Excluder(["?.docx"], defaults=False).excludes("ab.docx")


def test_excluded_at_names_the_outermost_excluded_part() -> None:
    excluder = Excluder(["b/", "*.tmp"], defaults=False)
    assert excluder.excluded_at("a/b/c/d.txt") == "a/b/"
    assert excluder.excluded_at("a/x.tmp") == "a/x.tmp"
    assert excluder.excluded_at("a/c.txt") is None
    assert excluder.excluded_at("a/b/") == "a/b/"


@pytest.mark.parametrize("bad", ["a\\", "!", "[z-a].docx"])
def test_an_invalid_pattern_is_a_config_error_that_names_it(bad: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Excluder(["*.bak", bad])
    message = str(raised.value)
    assert repr(bad) in message
    assert "\n" not in message


# --- the ignore file --------------------------------------------------------------------------


def test_the_ignore_file_skips_comments_and_blank_lines_and_is_itself_backed_up(
    tmp_path: Path,
) -> None:
    make_tree(tmp_path, ["a.docx", "a.bak", "#notes.txt", "drafts/x.docx", "node_modules/p/i.js"])
    (tmp_path / IGNORE_FILE).write_text(
        "# editor leftovers\n\n*.bak\r\n   \n\\#notes.txt\nnode_modules/\n# drafts/\n"
    )

    kept, scan = walk(tmp_path)

    assert kept == [IGNORE_FILE, "a.docx", "drafts/x.docx"]
    assert scan.excluded == 3
    assert scan.skipped == []


def test_the_command_line_overrides_the_ignore_file_which_overrides_the_defaults(
    tmp_path: Path,
) -> None:
    make_tree(tmp_path, ["a.pdf", "keep.pdf", "x.tmp", "y.tmp", "z.docx"])
    (tmp_path / IGNORE_FILE).write_text("*.pdf\n!x.tmp\nz.docx\n")

    kept, scan = walk(tmp_path, "!keep.pdf", "x.tmp", "!z.docx")

    assert kept == [IGNORE_FILE, "keep.pdf", "z.docx"]
    assert scan.excluded == 3


def test_only_the_top_folders_ignore_file_is_read(tmp_path: Path) -> None:
    make_tree(tmp_path, ["sub/a.pdf", "a.pdf"])
    (tmp_path / "sub" / IGNORE_FILE).write_text("*.pdf\n")

    kept, _ = walk(tmp_path)

    assert kept == ["a.pdf", f"sub/{IGNORE_FILE}", "sub/a.pdf"]


def test_a_bad_line_in_the_ignore_file_stops_the_scan_naming_file_and_line(
    tmp_path: Path,
) -> None:
    make_tree(tmp_path, ["a.pdf"])
    (tmp_path / IGNORE_FILE).write_text("# fine\n*.bak\ntrailing\\\n")

    with pytest.raises(ConfigError, match=r"\.docbackupignore line 3: pattern 'trailing\\\\'"):
        LocalSource(str(tmp_path)).scan()


def test_an_oversized_ignore_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / IGNORE_FILE).write_bytes(b"#" * (MAX_IGNORE_FILE + 1))
    with pytest.raises(ConfigError, match="larger than"):
        LocalSource(str(tmp_path)).scan()


def test_an_ignore_file_that_is_a_folder_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / IGNORE_FILE).mkdir()
    with pytest.raises(ConfigError, match="cannot be read"):
        LocalSource(str(tmp_path)).scan()


def test_an_unreadable_ignore_file_is_a_config_error(tmp_path: Path) -> None:
    ignore = tmp_path / IGNORE_FILE
    ignore.write_text("*.pdf\n")
    ignore.chmod(0)
    try:
        if os.access(ignore, os.R_OK):
            pytest.skip("this user reads files whatever their mode (root)")
        with pytest.raises(ConfigError, match="cannot be read"):
            LocalSource(str(tmp_path)).scan()
    finally:
        ignore.chmod(0o644)


# --- the local walk ---------------------------------------------------------------------------


def test_an_excluded_folder_is_never_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path, [f"app/node_modules/pkg{i}/index.js" for i in range(20)])
    make_tree(tmp_path, ["app/main.js", "app/node_modules.txt", "notes.txt"])
    opened: list[str] = []
    real_open = os.open

    def counting_open(path: str, flags: int, *a: Any, **kw: Any) -> int:
        if flags & os.O_DIRECTORY:  # a folder opened to be listed
            opened.append(os.path.relpath(path, tmp_path))
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(local_module.os, "open", counting_open)

    kept, scan = walk(tmp_path, "node_modules/")

    assert kept == ["app/main.js", "app/node_modules.txt", "notes.txt"]
    assert sorted(opened) == [".", "app"]
    assert scan.excluded == 1


def test_an_excluded_link_is_neither_followed_nor_reported(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a.docx"])
    os.symlink("a.docx", tmp_path / "link.tmp")
    os.symlink("a.docx", tmp_path / "link.docx")

    kept, scan = walk(tmp_path)

    assert kept == ["a.docx"]
    assert [s.path for s in scan.skipped] == ["link.docx"]
    assert scan.excluded == 1


def test_an_excluded_entry_that_cannot_be_stated_is_not_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path, ["~$locked.docx", "locked.docx", "ok.docx"])
    real_lstat = local_module._lstat

    def denied(entry: os.DirEntry[str]) -> tuple[str, os.DirEntry[str], object]:
        if "locked" in entry.name:
            return entry.name, entry, PermissionError(13, "Permission denied")
        return real_lstat(entry)

    monkeypatch.setattr(local_module, "_lstat", denied)

    kept, scan = walk(tmp_path)

    assert kept == ["ok.docx"]
    assert [(s.path, s.failure) for s in scan.skipped] == [("locked.docx", True)]
    assert scan.excluded == 1


def test_unicode_and_newlines_in_names(tmp_path: Path) -> None:
    make_tree(tmp_path, ["Übersicht/café.tmp", "Übersicht/café.docx", "line\nbreak/x.tmp"])
    make_tree(tmp_path, ["日本語/報告.docx", "日本語/下書き.docx"])
    (tmp_path / IGNORE_FILE).write_text("下書き.docx\n", encoding="utf-8")

    kept, scan = walk(tmp_path)

    assert kept == [IGNORE_FILE, "Übersicht/café.docx", "日本語/報告.docx"]
    assert scan.excluded == 3


def test_names_that_are_not_utf8_can_be_excluded_byte_for_byte(tmp_path: Path) -> None:
    # GIVEN a Latin-1 name, which Linux hands over with surrogate escapes
    latin1 = os.fsdecode(b"r\xe9sum\xe9.docx")
    try:
        make_tree(tmp_path, [latin1, os.fsdecode(b"\xe9t\xe9.docx"), "plain.docx"])
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system accepts only UTF-8 names")
    # ... and an ignore file naming it in the same bytes
    (tmp_path / IGNORE_FILE).write_bytes(b"# Latin-1\nr\xe9sum\xe9.docx\n")

    kept, _ = walk(tmp_path)
    assert kept == [IGNORE_FILE, "plain.docx", os.fsdecode(b"\xe9t\xe9.docx")]

    # A command-line pattern arrives surrogate-escaped the same way.
    (tmp_path / IGNORE_FILE).unlink()
    kept, _ = walk(tmp_path, os.fsdecode(b"\xe9t*"))
    assert kept == ["plain.docx", latin1]


# --- the S3 source ----------------------------------------------------------------------------


def test_s3_source_reads_the_ignore_object_once_and_backs_it_up(
    source_bucket: MemoryStore, backend: MemoryBackend
) -> None:
    put(source_bucket, f"in/{IGNORE_FILE}", b"# ours\n\ndrafts/\n*.bak\n")
    for key in ("in/a.docx", "in/~$a.docx", "in/b.tmp", "in/c.bak", "in/drafts/1.docx"):
        put(source_bucket, key)
    put(source_bucket, "in/drafts/2.docx")
    put(source_bucket, "in/sub/d.docx")
    put(source_bucket, "elsewhere.bak")
    backend.requests.clear()

    scan = ObjectSource(source_bucket, "in/").scan()
    kept = [d.path for d in scan.documents]

    assert kept == [IGNORE_FILE, "a.docx", "sub/d.docx"]
    assert scan.excluded == 4  # ~$a.docx, b.tmp, c.bak, and drafts/ once
    assert backend.requests["GetObject"] == 1


def test_s3_source_without_an_ignore_object_applies_the_defaults(
    source_bucket: MemoryStore,
) -> None:
    for key in ("a.docx", ".~lock.a.docx#", "folder/", "folder/x.tmp"):
        put(source_bucket, key, b"" if key.endswith("/") else b"x")

    scan = ObjectSource(source_bucket, "").scan()

    assert [d.path for d in scan.documents] == ["a.docx"]
    assert scan.excluded == 2


def test_s3_source_with_a_bad_ignore_line_is_a_config_error(source_bucket: MemoryStore) -> None:
    put(source_bucket, f"in/{IGNORE_FILE}", b"ok\n!\n")
    put(source_bucket, "in/a.docx")

    with pytest.raises(ConfigError, match=r"s3://shared-drive/in/\.docbackupignore line 2"):
        ObjectSource(source_bucket, "in/").scan()


# --- properties -------------------------------------------------------------------------------

_NAMES = ["a", "b", "ab", "c.tmp", "é", "x y"]
_SEGMENTS = ["a", "b", "ab", "c.tmp", "é", "x y", "*", "?", "**", "*.tmp", "[ab]", "b*"]


def _consistent(paths: list[tuple[str, ...]]) -> list[str]:
    """File paths with no file where another path needs a folder."""
    out: list[str] = []
    for parts in sorted(set(paths)):
        path = "/".join(parts)
        if any(o.startswith(path + "/") or path.startswith(o + "/") for o in out):
            continue
        out.append(path)
    return sorted(out)


_trees = st.lists(
    st.lists(st.sampled_from(_NAMES), min_size=1, max_size=4).map(tuple), min_size=1, max_size=12
).map(_consistent)

_patterns = st.lists(
    st.builds(
        lambda negate, anchor, segments, folder: (
            ("!" if negate else "")
            + ("/" if anchor else "")
            + "/".join(segments)
            + ("/" if folder else "")
        ),
        st.booleans(),
        st.booleans(),
        st.lists(st.sampled_from(_SEGMENTS), min_size=1, max_size=3),
        st.booleans(),
    ),
    max_size=5,
)


def _expected(paths: list[str], excluder: Excluder) -> tuple[list[str], int]:
    """Every path matched one by one: what is kept, and how many outermost parts are out."""
    cuts = {excluder.excluded_at(p) for p in paths} - {None}
    return [p for p in paths if not excluder.excludes(p)], len(cuts)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_trees, _patterns)
def test_pruning_the_walk_keeps_exactly_what_matching_keeps(
    paths: list[str], patterns: list[str]
) -> None:
    excluder = Excluder(patterns, defaults=False)
    kept, excluded = _expected(paths, excluder)
    with tempfile.TemporaryDirectory() as root:
        make_tree(root, paths)
        scan = LocalSource(root, exclude=excluder).scan()
        walked = [d.path for d in scan.documents]
    assert walked == kept  # still in path order
    assert scan.excluded == excluded
    assert scan.skipped == []


@settings(max_examples=80, deadline=None)
@given(_trees, _patterns)
def test_s3_listing_excludes_what_the_local_walk_excludes(
    paths: list[str], patterns: list[str]
) -> None:
    backend = MemoryBackend()
    backend.create_bucket("src")
    store = backend.store("src")
    for path in paths:
        put(store, f"p/{path}")
    excluder = Excluder(patterns, defaults=False)

    scan = ObjectSource(store, "p/", exclude=excluder).scan()

    assert ([d.path for d in scan.documents], scan.excluded) == _expected(paths, excluder)


def _git_kept(root: str, patterns: list[str]) -> list[str]:
    """What `git ls-files` shows of the tree as untracked and not ignored."""
    with tempfile.TemporaryDirectory() as meta:
        patterns_at = os.path.join(meta, "patterns")
        with open(patterns_at, "w", encoding="utf-8") as f:
            f.write("".join(f"{p}\n" for p in patterns))
        env = {"PATH": os.environ.get("PATH", ""), "HOME": meta, "GIT_CONFIG_NOSYSTEM": "1"}
        git = ["git", f"--git-dir={os.path.join(meta, 'git')}"]
        subprocess.run([*git, "init", "-q"], check=True, env=env)
        ls_files = [*git, f"--work-tree={root}", "ls-files", "--others", "-z"]
        listed = subprocess.run(
            [*ls_files, f"--exclude-from={patterns_at}"],
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
        ).stdout
    return sorted(os.fsdecode(p) for p in listed.split(b"\0") if p)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_trees, _patterns)
def test_the_walk_keeps_what_git_keeps(paths: list[str], patterns: list[str]) -> None:
    # git's `?` matches one byte of a UTF-8 name, ours one character (tested above).
    assume(all(p.isascii() for p in paths) or not any("?" in p for p in patterns))
    with tempfile.TemporaryDirectory() as root:
        make_tree(root, paths)
        walked, _ = walk(root, *patterns, defaults=False)
        assert walked == _git_kept(root, patterns)
