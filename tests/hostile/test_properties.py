"""Property-based tests where the inputs are open-ended: manifests and paths (issue 13).

A manifest is data from a bucket that others can write, and a path in it can be any string:
whatever the value, parsing either accepts it within range or reports it, and a path either
gives parts that stay inside the target or is refused. Deterministic (derandomize, no example
database) and small enough to run in seconds.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from docbackup import layout
from docbackup.engine.catalog import describe
from docbackup.engine.paths import UnsafePath, safe_parts
from docbackup.errors import ConfigError, ManifestError
from docbackup.manifest import ACTIONS, MAX_SIZE, Entry, Manifest, ManifestStream

DATE = dt.date(2025, 10, 15)
SET = "documents"
NOW = dt.datetime(2025, 10, 20, tzinfo=dt.UTC)
QUICK = settings(max_examples=150, deadline=None, derandomize=True, database=None)
MISSING = object()

# Text as JSON can carry it: any code point, lone surrogates included (JSON spells them
# \ud800), NUL, separators, and names long enough to pass any file-name limit.
_AWKWARD = st.sampled_from(
    ["", ".", "..", "/", "\\", "\x00", "\ud800", "a\udcff", "../x", "/etc/passwd", "C:\\x"]
)
TEXT = st.one_of(
    st.text(st.characters(), max_size=12),
    st.text(st.characters(codec="utf-8"), max_size=12),
    _AWKWARD,
    st.lists(_AWKWARD | st.text(max_size=4), max_size=6).map("/".join),
    st.integers(200, 1200).map(lambda n: "x" * n),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(-(10**40), 10**40) | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
VALUE = JSON | st.just(MISSING)


def good_entry(path: str = "a.txt", **kw: Any) -> dict[str, Any]:
    doc = {
        "path": path,
        "size": 3,
        "mtime_ns": 1_700_000_000_000_000_000,
        "sha256": "0" * 64,
        "key": layout.document_key(DATE, SET, path),
        "version_id": "v1",
        "action": "new",
        "stored_at": "2025-10-15T02:00:00+00:00",
        "fingerprint": "3:1:1:1",
    }
    return doc | kw


def good_head(documents: int) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "tool": "docbackup 0.1.0",
        "set": SET,
        "date": DATE.isoformat(),
        "status": "complete",
        "started_at": "2025-10-15T02:00:00+00:00",
        "finished_at": "2025-10-15T02:05:00+00:00",
        "source": "/office",
        "retention_days": 30,
        "encryption": "aws:kms",
        "counts": {"new": documents},
        "documents": documents,
        "bytes": 3 * documents,
        "bytes_uploaded": 3 * documents,
    }


def lines(head: dict[str, Any], entries: list[Any], failures: Any = ()) -> bytes:
    """A manifest in the line layout the tool writes, from any JSON values (ASCII escapes,
    so that a lone surrogate is written as JSON spells it)."""
    first = json.dumps({**head, "entries": []})[: -len("]}")]
    body = ",\n".join(json.dumps(e) for e in entries)
    if failures is MISSING:
        tail = json.dumps({"other": 1})
    else:
        tail = json.dumps({"failures": list(failures) if isinstance(failures, tuple) else failures})
    return f"{first}\n{body}{chr(10) if entries else ''}],{tail[1:]}\n".encode()


def _set(doc: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    doc = dict(doc)
    if value is MISSING:
        doc.pop(name, None)
    else:
        doc[name] = value
    return doc


def read_both(data: bytes) -> list[tuple[Manifest, list[Entry]]]:
    """The manifest as the whole-document reader and the streaming reader see it."""
    whole = Manifest.from_json(data, expect_set=SET, expect_date=DATE)
    with ManifestStream(io.BytesIO(data), expect_set=SET, expect_date=DATE) as stream:
        streamed = (stream.manifest, list(stream.entries()))
        describe(stream, now=NOW)  # what list and the report do with it
    return [(whole, sorted(whole.entries.values(), key=lambda e: e.path)), streamed]


def usable(e: Entry) -> None:
    """What the commands do with an accepted entry's values, none of which may raise."""
    assert isinstance(e.size, int) and not isinstance(e.size, bool) and 0 <= e.size <= MAX_SIZE
    dt.datetime.fromtimestamp(e.mtime_ns / 1e9, dt.UTC)  # ls and find show it
    assert e.stored_datetime().tzinfo is not None
    assert NOW - e.stored_datetime() < dt.timedelta(days=10**6)
    for text in (e.path, e.key, e.sha256, e.fingerprint, e.stored_at, e.version_id or ""):
        text.encode("utf-8")
    assert e.action in ACTIONS


# -- manifests -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(good_entry()))
@QUICK
@given(value=VALUE)
@example(value=10**30)
@example(value="0001-01-01T00:00:00+14:00")
@example(value="9999-12-31T23:59:59-14:00")
@example(value=True)
def test_any_value_in_an_entry_is_accepted_in_range_or_reported(name: str, value: Any) -> None:
    entries = [_set(good_entry("a.txt"), name, value), good_entry("b.txt")]
    data = lines(good_head(2), entries)
    try:
        readings = read_both(data)
    except ManifestError as exc:  # only the whole night refused, with a one-line reason
        assert "\n" not in str(exc)
        return
    for header, accepted in readings:
        paths = [e.path for e in accepted]
        assert "b.txt" in paths
        for e in accepted:
            usable(e)
        # THEN the changed entry is either accepted or reported, never lost without a word
        assert len(accepted) + len(header.unreadable) == 2
        # AND by the path it has, or by its place when that is not readable text
        names = ("a.txt", "entry 1", value if name == "path" else "a.txt")
        for bad in header.unreadable:
            assert bad.path in names and "\n" not in bad.reason
    assert [e.path for e in readings[0][1]] == [e.path for e in readings[1][1]]
    assert readings[0][0].unreadable == readings[1][0].unreadable


@pytest.mark.parametrize("name", sorted(set(good_head(1)) | {"failures"}))
@QUICK
@given(value=VALUE)
@example(value=10**30)
@example(value="0001-01-01T00:00:00+14:00")
@example(value="2025-10-15T02:00:00")
@example(value=-1)
def test_any_value_in_the_header_is_accepted_in_range_or_refuses_the_night(
    name: str, value: Any
) -> None:
    head, failures = good_head(1), ()
    if name == "failures":
        failures = value
    else:
        head = _set(head, name, value)
    try:
        readings = read_both(lines(head, [good_entry()], failures))
    except ManifestError as exc:
        assert "\n" not in str(exc)
        return
    for header, accepted in readings:
        assert header.status in ("complete", "partial")
        assert 1 <= header.retention_days <= 36500
        assert all(v >= 0 for v in header.counts.values())
        assert [e.path for e in accepted] == ["a.txt"]


@QUICK
@given(entries=st.lists(JSON, max_size=4), head=st.dictionaries(TEXT, JSON, max_size=4))
def test_any_json_document_parses_or_is_refused(entries: list[Any], head: dict[str, Any]) -> None:
    data = lines(good_head(len(entries)) | head, entries)
    try:
        readings = read_both(data)
    except ManifestError:
        return
    for header, accepted in readings:
        assert len(accepted) + len(header.unreadable) == len(entries)
        for e in accepted:
            usable(e)


ENTRY_PATH = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20)
ENTRY = st.builds(
    lambda path, size, mtime, sha, version, action, stored, fingerprint: Entry(
        path,
        size,
        mtime,
        sha,
        layout.document_key(DATE, SET, path),
        version,
        action,
        stored.isoformat(),
        fingerprint,
    ),
    ENTRY_PATH,
    st.integers(0, MAX_SIZE),
    st.integers(-(1 << 63), (1 << 63) - 1),
    st.binary(min_size=32, max_size=32).map(bytes.hex),
    st.none() | st.text(st.characters(codec="utf-8"), min_size=1, max_size=8),
    st.sampled_from(ACTIONS),
    st.datetimes(dt.datetime(1970, 1, 2), dt.datetime(8999, 1, 1), timezones=st.just(dt.UTC)),
    st.text(st.characters(codec="utf-8"), max_size=8),
)


@QUICK
@given(entries=st.lists(ENTRY, max_size=6, unique_by=lambda e: e.path))
def test_valid_manifests_round_trip(entries: list[Entry]) -> None:
    manifest = Manifest(
        set=SET,
        date=DATE,
        status="complete",
        started_at="2025-10-15T02:00:00+00:00",
        finished_at="2025-10-15T02:05:00+02:00",
        source="/office",
        retention_days=30,
        encryption="aws:kms",
        tool_version="0.1.0",
        entries={e.path: e for e in entries},
        counts={"new": len(entries)},
    )
    data = manifest.to_json()
    assert Manifest.from_json(data, expect_set=SET, expect_date=DATE) == manifest
    with ManifestStream(io.BytesIO(data), expect_set=SET, expect_date=DATE) as stream:
        assert list(stream.entries()) == sorted(entries, key=lambda e: e.path)
        assert stream.manifest.unreadable == () and stream.manifest.documents == len(entries)


# -- paths ---------------------------------------------------------------------------------

ROOT = "/restore/target"


@QUICK
@given(path=TEXT)
@example(path="a/../../etc/passwd")
@example(path="a\\..\\..\\x")
@example(path="\ud800/x")
@example(path="a" * 5000)
def test_any_path_stays_inside_the_target_or_is_refused(path: str) -> None:
    try:
        parts = safe_parts(path)
    except UnsafePath as exc:
        assert "\n" not in str(exc)
        return
    assert parts and all(p not in ("", ".", "..") and "/" not in p for p in parts)
    assert all("\x00" not in p and os.sep not in p for p in parts)
    joined = os.path.normpath(os.path.join(ROOT, *parts))
    assert joined.startswith(ROOT + os.sep)
    os.fsencode(joined)  # a name the file system can be asked for


SET_NAME = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,10}\Z")


@QUICK
@given(path=TEXT, set_a=SET_NAME, set_b=SET_NAME, generation=st.integers(1, 999_999))
def test_document_keys_are_this_sets_and_never_a_manifest_or_lease(
    path: str, set_a: str, set_b: str, generation: int
) -> None:
    key = layout.document_key(DATE, set_a, path, generation)
    assert layout.generation_of(key, DATE, set_a, path) == generation
    assert layout.is_copy_of_set(key, DATE, set_a)
    assert key not in (layout.manifest_key(DATE, set_b), layout.lease_key(DATE, set_b))
    problem = layout.key_problem(key)
    assert problem is None or "\n" not in problem


@QUICK
@given(text=TEXT | st.dates().map(dt.date.isoformat))
def test_any_date_text_is_a_date_or_refused(text: str) -> None:
    found = layout.date_from_prefix(f"{layout.ROOT}{text}/")
    try:
        parsed: dt.date | None = layout.parse_date(text)
    except ConfigError:
        parsed = None
    assert found == parsed
