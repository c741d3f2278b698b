from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
from dataclasses import replace

import pytest

from docbackup import layout
from docbackup.errors import ConfigError, ManifestError
from docbackup.manifest import Entry, Manifest, ManifestStream, Problem

DATE = dt.date(2025, 10, 15)


def entry(path: str, **kw: object) -> Entry:
    fields: dict[str, object] = {
        "path": path,
        "size": 3,
        "mtime_ns": 1,
        "sha256": "a" * 64,
        "key": layout.document_key(DATE, "documents", path),
        "version_id": "v1",
        "action": "new",
        "stored_at": "2025-10-15T02:00:00+00:00",
        "fingerprint": "3:1:1:1",
    }
    fields.update(kw)
    return Entry(**fields)  # type: ignore[arg-type]


def manifest(*entries: Entry) -> Manifest:
    return Manifest(
        set="documents",
        date=DATE,
        status="complete",
        started_at="2025-10-15T02:00:00+00:00",
        finished_at="2025-10-15T02:05:00+00:00",
        source="/office",
        retention_days=30,
        encryption="aws:kms:k",
        tool_version="0.1.0",
        entries={e.path: e for e in entries},
    )


def test_layout_matches_the_seeds() -> None:
    assert (
        layout.document_key(DATE, "documents", "a/b.pdf") == "backups/2025-10-15/documents/a/b.pdf"
    )
    assert layout.manifest_key(DATE, "documents") == "backups/2025-10-15/documents.manifest.json"
    assert layout.date_from_prefix("backups/2025-10-15/") == DATE
    assert layout.date_from_prefix("backups/notadate/") is None


@pytest.mark.parametrize("bad", ["", "Docs", "a.b", "a/b", "-x", "x" * 64, ".."])
def test_set_names_that_could_collide_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        layout.check_set_name(bad)


@pytest.mark.parametrize("bad", ["2025-02-30", "20251015", "2025-1-5", "yesterday", ""])
def test_dates_are_strict(bad: str) -> None:
    with pytest.raises(ConfigError):
        layout.parse_date(bad)


def test_key_limit() -> None:
    assert layout.key_problem("k" * 1024) is None
    assert "1024" in (layout.key_problem("é" * 513) or "")


def test_with_action_changes_only_the_action() -> None:
    e = entry("a.txt", version_id=None, size=7, mtime_ns=9)
    assert e.with_action("unchanged") == dataclasses.replace(e, action="unchanged")


def test_manifest_round_trip() -> None:
    m = manifest(entry("a.txt"), entry("dir/ünï code.pdf", version_id=None))
    back = Manifest.from_json(m.to_json(), expect_set="documents", expect_date=DATE)
    assert back == m


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: "not json", "not a JSON manifest"),
        (lambda d: d | {"schema_version": 99}, "schema version 99"),
        (lambda d: d | {"date": "2025-10-16"}, "not where it is stored"),
        (lambda d: d | {"status": "great"}, "unreadable header: status"),
    ],
)
def test_untrustworthy_manifests_are_refused(mutate: object, message: str) -> None:
    doc = json.loads(manifest(entry("a.txt")).to_json())
    changed = mutate(doc)  # type: ignore[operator]
    data = changed.encode() if isinstance(changed, str) else json.dumps(changed).encode()
    with pytest.raises(ManifestError, match=message):
        Manifest.from_json(data, expect_set="documents", expect_date=DATE)
    with pytest.raises(ManifestError, match=message):
        ManifestStream(io.BytesIO(data), expect_set="documents", expect_date=DATE)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: _entry0(d, sha256="xyz"), "sha256"),
        (lambda d: _entry0(d, key="backups/2025-10-15/other/a.txt"), "not this set's copy"),
        (lambda d: _entry0(d, key="backups/2025-10-20/documents/a.txt"), "not this set's copy"),
        (lambda d: _entry0(d, size="3"), "size is not an integer"),
    ],
)
def test_an_untrustworthy_entry_is_reported_by_name(mutate: object, message: str) -> None:
    # One bad entry is a problem of that document, not of the night (issue 13, item 12).
    doc = json.loads(manifest(entry("a.txt"), entry("b.txt")).to_json())
    data = json.dumps(mutate(doc)).encode()  # type: ignore[operator]
    whole = Manifest.from_json(data, expect_set="documents", expect_date=DATE)
    with _stream(data) as stream:
        streamed = (stream.manifest, list(stream.entries()))
    for header, entries in ((whole, list(whole.entries.values())), streamed):
        assert [e.path for e in entries] == ["b.txt"]
        assert [f.path for f in header.unreadable] == ["a.txt"]
        assert message in header.unreadable[0].reason


def test_a_header_counts_only_the_entries_that_can_be_trusted() -> None:
    # GIVEN a manifest of three documents, one of whose entries cannot be trusted
    m = manifest(entry("a.txt", size=5), entry("b.txt", sha256="xyz"), entry("c.txt", size=7))
    assert (m.documents, m.total_bytes) == (3, 15)
    data = m.to_json()
    assert b'"documents":3,"bytes":15,' in data  # as written
    # WHEN it is read back whole and streamed
    whole = Manifest.from_json(data, expect_set="documents", expect_date=DATE)
    with _stream(data) as stream:
        assert stream._whole is None  # the line reader, not the fallback
        # THEN both headers hold the totals of what they will follow, and name the rest
        for header in (whole, stream.manifest):
            assert (header.documents, header.total_bytes) == (2, 12)
            assert [p.path for p in header.unreadable] == ["b.txt"]
        assert len(list(stream.entries())) == stream.manifest.documents


def _stream(data: bytes) -> ManifestStream:
    return ManifestStream(io.BytesIO(data), expect_set="documents", expect_date=DATE)


def test_manifest_stream_reads_entries_in_path_order() -> None:
    names = ["b.txt", "a/x.pdf", "a-b.pdf", "a0.pdf", "new\nline.txt", "ünï/code.pdf"]
    m = replace(manifest(*(entry(n) for n in names)), failures=(Problem("z", "gone"),))
    data = m.to_json()
    # One entry per line between the head and the failures, and still one JSON document.
    assert data.count(b"\n") == len(names) + 2
    assert Manifest.from_json(data, expect_set="documents", expect_date=DATE) == m
    stream = _stream(data)
    assert [e.path for e in stream.entries()] == sorted(names)
    assert list(stream.entries()) == [m.entries[n] for n in sorted(names)]  # read again
    assert stream.manifest.documents == len(names)
    assert stream.manifest.failures == (Problem("z", "gone"),)
    assert stream.manifest.status == "complete"


def test_manifest_stream_reads_any_json_layout() -> None:
    m = manifest(entry("b.txt"), entry("a.txt"))
    for data in (
        json.dumps(json.loads(m.to_json())).encode(),  # one line, as earlier versions wrote
        json.dumps(json.loads(m.to_json()), indent=2).encode(),
    ):
        stream = _stream(data)
        assert [e.path for e in stream.entries()] == ["a.txt", "b.txt"]
        assert stream.manifest.documents == 2
        # and what a run keeps of the night is its header, not every entry (verify --all)
        assert not hasattr(stream.manifest, "entries")


def test_manifest_stream_reads_an_empty_night_line_by_line() -> None:
    stream = _stream(manifest().to_json())
    assert stream._whole is None  # the line reader, not the fallback
    assert list(stream.entries()) == []
    assert stream.manifest.documents == 0


def _lines() -> list[bytes]:
    return manifest(entry("a.txt"), entry("b.txt")).to_json().split(b"\n")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # Stored under documents/2025-10-15 but says it is another set's or night's.
        (lambda b: b.replace(b'"set":"documents"', b'"set":"photos"', 1), "says set 'photos'"),
        (lambda b: b.replace(b'"date":"2025-10-15"', b'"date":"2025-10-14"', 1), "says set"),
        (lambda b: b"\xef\xbb\xbf" + b, "not a JSON manifest"),  # a byte-order mark
        (lambda b: b.replace(b"},\n", b"}\n", 1), "not a JSON manifest"),  # a missing comma
        (lambda b: b.replace(b"}\n]", b"},\n]", 1), "not a JSON manifest"),  # a trailing one
        (lambda b: b.replace(b'\n],"failures"', b'\n]]"failures"', 1), "not a JSON manifest"),
    ],
)
def test_manifest_stream_refuses_what_from_json_refuses(change: object, message: str) -> None:
    data = change(b"\n".join(_lines()))  # type: ignore[operator]
    with pytest.raises(ManifestError, match=message):
        Manifest.from_json(data, expect_set="documents", expect_date=DATE)
    with pytest.raises(ManifestError, match=message):
        _stream(data)


def test_manifest_stream_sorts_entries_out_of_order_and_refuses_them_twice() -> None:
    lines = _lines()
    swapped = [lines[0], lines[2] + b",", lines[1].removesuffix(b","), *lines[3:]]
    assert [e.path for e in _stream(b"\n".join(swapped)).entries()] == ["a.txt", "b.txt"]
    twice = [lines[0], lines[1], lines[1].removesuffix(b","), *lines[3:]]
    with pytest.raises(ManifestError, match="listed twice"):
        _stream(b"\n".join(twice))


def _entry0(doc: dict[str, object], **changes: object) -> dict[str, object]:
    entries = doc["entries"]
    assert isinstance(entries, list)
    entries[0].update(changes)
    return doc


def test_what_a_night_found_lost_reads_back_and_a_bad_value_is_passed_over() -> None:
    from docbackup.manifest import LostCopy

    lost = (LostCopy("a.pdf", "backups/2025-10-01/documents/a.pdf", "v1", "gone"),)
    m = replace(manifest(entry("b.txt")), checked_at="2025-10-15T02:05:00+00:00", lost=lost)
    data = m.to_json()
    assert _stream(data).manifest.lost == lost
    assert _stream(data).manifest.checked_at == "2025-10-15T02:05:00+00:00"
    # A night written before these existed reads as before
    assert _stream(manifest(entry("b.txt")).to_json()).manifest.lost == ()
    # Values that cannot be read speak of other nights: passed over, the night still reads
    head, rest = data.split(b"\n", 1)
    doc = json.loads(head.decode()[: -len('"entries":[')].rstrip(",") + "}")
    doc["checked_at"] = "yesterday"
    doc["lost"] = [{"path": 3}, "x", {"path": "c", "key": "k", "version_id": None, "reason": "r"}]
    bad = json.dumps(doc)[:-1].encode() + b',"entries":[\n' + rest
    header = _stream(bad).manifest
    assert header.checked_at is None
    assert header.lost == (LostCopy("c", "k", None, "r"),)
    assert [e.path for e in _stream(bad).entries()] == ["b.txt"]
