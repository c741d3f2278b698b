"""The manifest: one JSON document per set and night, the only thing restore and verify need.

It is written last, in one PUT, after every document it lists is stored; a run that could not
store everything writes it with status `partial` and the list of failures.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO, Literal, Protocol

from docbackup import layout
from docbackup.errors import ManifestError

SCHEMA_VERSION = 1
# resent: unchanged, and due for a refresh, but its copy could not be copied server-side (an
# archive class holds it), so the document was sent again from the source.
Action = Literal["new", "changed", "unchanged", "refreshed", "resent"]
Status = Literal["complete", "partial"]
ACTIONS: tuple[Action, ...] = ("new", "changed", "unchanged", "refreshed", "resent")
_HEX64 = re.compile(r"[0-9a-f]{64}")  # fullmatch: "$" would let a final newline through
# The ranges a stored value must fall in to be used at all: S3's largest object; the signed
# 64-bit nanoseconds that os.utime and st_mtime_ns hold (years 1677-2262); the retention the
# CLI accepts. Outside them a value is data from someone else, not a document's, and using
# it would crash a restore or a report (OverflowError) rather than say so.
MAX_SIZE = 5 * 1024**4
_NS_LIMIT = 1 << 63
MAX_RETENTION_DAYS = 36500
# Times this tool can have written: near year 1 or 9999, adding a time zone or a retention
# to one overflows a datetime.
_YEARS = (1970, 9000)


@dataclass(frozen=True, slots=True)
class Entry:
    """One live document and where its verified copy is stored."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    key: str
    version_id: str | None
    action: Action
    # When the stored copy was written (UTC); lifecycle expiry counts from here (G2).
    stored_at: str
    # Source-specific identity used for change detection (see docbackup.sources).
    fingerprint: str

    def with_action(self, action: Action) -> Entry:
        # Positional and by hand: dataclasses.replace costs several times more, once per
        # unchanged document of every night.
        return Entry(
            self.path,
            self.size,
            self.mtime_ns,
            self.sha256,
            self.key,
            self.version_id,
            action,
            self.stored_at,
            self.fingerprint,
        )

    def stored_datetime(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.stored_at)


@dataclass(frozen=True, slots=True)
class Problem:
    """A document, and why it is not as it should be: a failure of a night, a copy that does
    not verify, a manifest line that cannot be trusted."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Manifest:
    set: str
    date: dt.date
    status: Status
    started_at: str
    finished_at: str
    source: str
    retention_days: int
    encryption: str
    tool_version: str
    entries: Mapping[str, Entry]
    failures: tuple[Problem, ...] = ()
    bytes_uploaded: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)
    # Entries that could not be trusted (a value of the wrong type or out of range), by name:
    # each is a problem of that one document, never followed, and never written out again.
    unreadable: tuple[Problem, ...] = ()

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries.values())

    def head(self) -> dict[str, Any]:
        """Everything but the entries and failures, as the manifest's JSON object starts."""
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": f"docbackup {self.tool_version}",
            "set": self.set,
            "date": self.date.isoformat(),
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "source": self.source,
            "retention_days": self.retention_days,
            "encryption": self.encryption,
            "counts": dict(self.counts),
            "documents": len(self.entries),
            "bytes": self.total_bytes,
            "bytes_uploaded": self.bytes_uploaded,
        }

    def to_json(self) -> bytes:
        out = io.BytesIO()
        lines = (entry_line(self.entries[p]) for p in sorted(self.entries))
        write_json(out, self.head(), lines, self.failures)
        return out.getvalue()

    @classmethod
    def from_json(cls, data: bytes, *, expect_set: str, expect_date: dt.date) -> Manifest:
        """Parse and check a manifest; anything untrustworthy raises ManifestError."""
        where = layout.manifest_key(expect_date, expect_set)
        try:
            doc = json.loads(data.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            # ValueError: also an integer past Python's 4,300 digits; RecursionError: arrays
            # nested some 100,000 deep. Either is a manifest no one can read, not a crash.
            raise ManifestError(f"{where}: not a JSON manifest ({exc})") from None
        if not isinstance(doc, dict):
            raise ManifestError(f"{where}: not a JSON object")
        _check_version(doc, where)
        try:
            header = cls._from_doc(doc)
            _check_place(header, expect_set, expect_date, where)
            raws = doc.get("entries")
            if not isinstance(raws, list):
                raise ValueError("'entries' is not a list")
            _check_documents(doc, len(raws))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ManifestError(f"{where}: unreadable header: {_reason(exc)}") from None
        entries: dict[str, Entry] = {}
        unreadable: list[Problem] = []
        for position, raw in enumerate(raws, 1):
            try:
                entry = checked_entry(raw, header)
            except BadEntry as exc:
                unreadable.append(Problem(entry_name(raw, position), shown(str(exc))))
                continue
            if entry.path in entries:
                raise ManifestError(f"{where}: path {entry.path!r} listed twice")
            entries[entry.path] = entry
        return replace(header, entries=entries, unreadable=tuple(unreadable))

    @classmethod
    def _from_doc(cls, doc: dict[str, Any]) -> Manifest:
        """The header alone, every field checked; ValueError or TypeError saying which is bad."""
        status = _field(doc, "status")
        if status not in ("complete", "partial"):
            raise ValueError(f"status {status!r} is neither 'complete' nor 'partial'")
        failures = _field(doc, "failures")
        if not isinstance(failures, list) or not all(isinstance(f, dict) for f in failures):
            raise ValueError("'failures' is not a list of objects")
        counts = doc.get("counts", {})
        if not isinstance(counts, dict):
            raise ValueError("'counts' is not an object")
        if "bytes" in doc:
            _count(doc["bytes"], "bytes")
        return cls(
            set=_text(_field(doc, "set"), "set"),
            date=dt.date.fromisoformat(_text(_field(doc, "date"), "date")),
            status=status,
            started_at=_moment(_field(doc, "started_at"), "started_at"),
            finished_at=_moment(_field(doc, "finished_at"), "finished_at"),
            source=_text(_field(doc, "source"), "source"),
            retention_days=_ranged(
                _field(doc, "retention_days"), "retention_days", 1, MAX_RETENTION_DAYS
            ),
            encryption=_text(_field(doc, "encryption"), "encryption"),
            tool_version=_text(_field(doc, "tool"), "tool").removeprefix("docbackup "),
            entries={},
            failures=tuple(
                Problem(_text(f.get("path"), "a failure's path"), _text(f.get("reason"), "reason"))
                for f in failures
            ),
            bytes_uploaded=_count(doc.get("bytes_uploaded", 0), "bytes_uploaded"),
            counts={
                _text(k, "a count's name"): _count(v, f"count {k!r}") for k, v in counts.items()
            },
        )


class BadEntry(ValueError):
    """One entry that cannot be trusted: reported for that document, never followed."""


def entry_name(raw: object, position: int) -> str:
    """How a problem names an entry: its path when that is readable text, else its place."""
    path = raw.get("path") if isinstance(raw, dict) else None
    # Not one longer than any S3 key: it would make a "one-line" problem megabytes long.
    if (
        isinstance(path, str)
        and path
        and _encodable(path)
        and "\n" not in path
        and len(path.encode("utf-8")) <= layout.MAX_KEY_BYTES
    ):
        return path
    return f"entry {position}"


def shown(reason: str, limit: int = 300) -> str:
    """A reason short enough for one line, however long the value it quotes."""
    return reason if len(reason) <= limit else f"{reason[: limit - 3]}..."


def checked_entry(raw: object, manifest: Manifest) -> Entry:
    """An entry with every value of the right type and in range, pointing inside its own set
    at a date no later than the manifest's; BadEntry with the reason otherwise."""
    if not isinstance(raw, dict):
        raise BadEntry(f"not a JSON object but {type(raw).__name__}")
    try:
        entry = entry_from_doc(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadEntry(_reason(exc)) from None
    bad = _entry_problem(entry, manifest)
    if bad:
        raise BadEntry(bad)
    return entry


def entry_from_doc(raw: Any) -> Entry:
    """An entry's values, each of the right type and range (ValueError or TypeError saying
    which is not); where its key points is `checked_entry`'s to judge."""
    version_id = raw.get("version_id")
    action = _field(raw, "action")
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    return Entry(
        path=_text(_field(raw, "path"), "path"),
        size=_ranged(_field(raw, "size"), "size", 0, MAX_SIZE),
        mtime_ns=_ranged(_field(raw, "mtime_ns"), "mtime_ns", -_NS_LIMIT, _NS_LIMIT - 1),
        sha256=_text(_field(raw, "sha256"), "sha256"),
        key=_text(_field(raw, "key"), "key"),
        version_id=None if version_id is None else _text(version_id, "version_id"),
        action=action,
        stored_at=_moment(_field(raw, "stored_at"), "stored_at"),
        fingerprint=_text(_field(raw, "fingerprint"), "fingerprint"),
    )


def entry_line(e: Entry) -> bytes:
    """One entry as compact JSON: never a raw newline in it (JSON escapes them in strings)."""
    return _dumps(_entry_doc(e))


# One encoder and decoder for every line: json.dumps/loads with these options build a new one
# (and sniff the encoding) on each call, which showed in a night's profile.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_DECODER = json.JSONDecoder()


def _dumps(doc: Any) -> bytes:
    return _ENCODER.encode(doc).encode("utf-8")


class Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


def write_json(
    out: Writable,
    head: Mapping[str, Any],
    entry_lines: Iterable[bytes],
    failures: Iterable[Problem],
) -> None:
    """Write a manifest: one JSON object, laid out as a first line ending in `"entries":[`,
    one entry per line in path order, and a last line with the failures.

    Any JSON reader reads it whole; `ManifestStream` reads it a line at a time, so a night
    never needs every entry in memory at once.
    """
    first = _dumps({**head, "entries": []})
    out.write(first[: -len(b"]}")] + b"\n")
    separator = b""
    for line in entry_lines:
        out.write(separator + line)
        separator = b",\n"
    tail = _dumps({"failures": [{"path": f.path, "reason": f.reason} for f in failures]})
    out.write((b"\n" if separator else b"") + b"]," + tail[1:] + b"\n")


class ManifestStream:
    """A stored manifest read from a local spool file, its entries one at a time, in path order.

    Opening reads the whole spool once and checks everything `Manifest.from_json` checks,
    holding only the current entry. `entries()` then reads the spool again. A manifest in any
    other JSON layout, or with its entries out of path order, is read whole instead: still
    correct, only not streamed.
    """

    def __init__(self, spool: BinaryIO, *, expect_set: str, expect_date: dt.date) -> None:
        self._spool = spool
        self._whole: Manifest | None = None
        # Which entry lines (1, 2, ...) the first reading found untrustworthy: skipped after.
        self._bad: set[int] = set()
        self.where = layout.manifest_key(expect_date, expect_set)
        try:
            self.manifest, self.documents = self._check_lines()
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError, ManifestError):
            # Not the line layout, or broken: the whole-document reader decides and explains.
            self._bad.clear()
            spool.seek(0)
            whole = Manifest.from_json(spool.read(), expect_set=expect_set, expect_date=expect_date)
            self._whole = whole
            self.manifest, self.documents = replace(whole, entries={}), len(whole.entries)

    def _check_lines(self) -> tuple[Manifest, int]:
        self._spool.seek(0)
        first = self._spool.readline()
        if not first.startswith(b"{") or not first.endswith(b',"entries":[\n'):
            raise ValueError("not the line layout")
        head = _DECODER.decode(first[:-1].decode("utf-8") + "]}")
        _check_version(head, self.where)
        try:
            header = Manifest._from_doc({**head, "failures": []})
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ManifestError(f"{self.where}: unreadable header: {_reason(exc)}") from None
        if self.where != layout.manifest_key(header.date, header.set):
            raise ManifestError(f"{self.where}: says set {header.set!r} date {header.date}")
        count, last = 0, None
        unreadable: list[Problem] = []
        for line in self._lines():
            count += 1
            raw: object = None
            try:
                raw = _DECODER.decode(line.decode("utf-8"))
                entry = checked_entry(raw, header)
            except BadEntry as exc:  # (a ValueError too: it comes first)
                unreadable.append(Problem(entry_name(raw, count), shown(str(exc))))
                self._bad.add(count)
                continue
            except (ValueError, RecursionError):  # not JSON, or JSON too big or deep to read
                unreadable.append(Problem(f"entry {count}", "not a line of JSON"))
                self._bad.add(count)
                continue
            if last is not None and entry.path <= last:
                raise ValueError("entries out of path order")
            last = entry.path
        tail = _DECODER.decode("{" + self._tail[len(b"],") :].decode("utf-8"))
        if set(tail) != {"failures"}:
            raise ValueError("unexpected fields after the entries")
        try:
            _check_documents(head, count)
            failures = Manifest._from_doc({**head, "failures": tail["failures"]}).failures
        except (TypeError, ValueError) as exc:
            raise ManifestError(f"{self.where}: unreadable header: {_reason(exc)}") from None
        return replace(header, failures=failures, unreadable=tuple(unreadable)), count - len(
            unreadable
        )

    def _lines(self) -> Iterator[bytes]:
        """Each entry's JSON from the spool's position after the first line, holding the
        layout to exactly what `write_json` writes; the last line is kept in `_tail`."""
        more = None  # did the previous entry line end in a comma?
        for line in self._spool:
            if line.startswith(b'],"failures":['):
                if more or not line.endswith(b"}\n") or self._spool.read():
                    raise ValueError("not the line layout after the entries")
                self._tail = line[:-1]
                return
            if more is False or not line.startswith(b"{") or not line.endswith(b"\n"):
                raise ValueError("not the line layout in the entries")
            more = line.endswith(b",\n")
            yield line[:-2] if more else line[:-1]
        raise ValueError("the manifest ends before its entries do")

    def _entries(self) -> Iterator[Entry]:
        # The second reading: every field was checked by the first, in __init__.
        self._spool.seek(0)
        self._spool.readline()
        for number, line in enumerate(self._lines(), 1):
            if number in self._bad:
                continue
            raw = _DECODER.decode(line.decode("utf-8"))
            yield Entry(
                raw["path"],
                raw["size"],
                raw["mtime_ns"],
                raw["sha256"],
                raw["key"],
                raw.get("version_id"),
                raw["action"],
                raw["stored_at"],
                raw["fingerprint"],
            )

    def entries(self) -> Iterator[Entry]:
        if self._whole is not None:
            return iter(sorted(self._whole.entries.values(), key=lambda e: e.path))
        return self._entries()

    def close(self) -> None:
        self._spool.close()

    def __enter__(self) -> ManifestStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_version(doc: Mapping[str, Any], where: str) -> None:
    version = doc.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:  # True == 1 in Python
        raise ManifestError(
            f"{where}: schema version {version!r} is not one this docbackup reads "
            f"({SCHEMA_VERSION}); upgrade docbackup"
        )


def _entry_doc(e: Entry) -> dict[str, Any]:
    # Written out by hand: dataclasses.asdict deep-copies every field and took most of a
    # no-change night's CPU on 20,000 documents.
    return {
        "path": e.path,
        "size": e.size,
        "mtime_ns": e.mtime_ns,
        "sha256": e.sha256,
        "key": e.key,
        "version_id": e.version_id,
        "action": e.action,
        "stored_at": e.stored_at,
        "fingerprint": e.fingerprint,
    }


def _entry_problem(entry: Entry, manifest: Manifest) -> str | None:
    """Why an entry with well-typed values still cannot be followed, or None."""
    if not _HEX64.fullmatch(entry.sha256):
        return "sha256 is not 64 hex digits"
    if len(entry.key.encode("utf-8")) > layout.MAX_KEY_BYTES:
        return "key is longer than S3 allows"
    stored = layout.date_from_prefix(entry.key[: len(layout.ROOT) + 11])
    generation = (
        None
        if stored is None
        else layout.generation_of(entry.key, stored, manifest.set, entry.path)
    )
    if stored is None or stored > manifest.date or generation is None:
        return f"key {entry.key!r} is not this set's copy of the document"
    return None


def _check_place(header: Manifest, expect_set: str, expect_date: dt.date, where: str) -> None:
    if header.set != expect_set or header.date != expect_date:
        raise ManifestError(
            f"{where}: says set {header.set!r} date {header.date}, not where it is stored"
        )


def _check_documents(head: Mapping[str, Any], listed: int) -> None:
    """The header's count of documents must be the number of entries: a manifest cut short or
    spliced says so, rather than restoring as if complete."""
    if "documents" in head and _count(head["documents"], "documents") != listed:
        raise ValueError(f"says {head['documents']} documents but lists {listed}")


def _reason(exc: BaseException) -> str:
    # KeyError's str() is the key in quotes; the others carry their own sentence.
    return f"{exc.args[0]!r} is missing" if isinstance(exc, KeyError) else str(exc)


def _field(doc: Mapping[str, Any], name: str) -> Any:
    if name not in doc:
        raise ValueError(f"{name!r} is missing")
    return doc[name]


def _encodable(text: str) -> bool:
    # JSON can spell a lone surrogate (\ud800), which no file name, key or UTF-8 output holds.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} is not a string: {_shown(value)}")
    if not _encodable(value):
        raise ValueError(f"{name} is not valid Unicode text")
    return value


def _ranged(value: object, name: str, low: int, high: int) -> int:
    # bool is an int to Python, never to a manifest.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} is not an integer: {_shown(value)}")
    if not low <= value <= high:
        raise ValueError(f"{name} {_shown(value)} is out of range ({low} to {high})")
    return value


def _count(value: object, name: str) -> int:
    return _ranged(value, name, 0, 1 << 63)


def _moment(value: object, name: str) -> str:
    """An ISO 8601 timestamp with its time zone: a naive one cannot be compared with now."""
    text = _text(value, name)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} {_shown(text)} is not a timestamp") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} {_shown(text)} has no time zone")
    if not _YEARS[0] <= moment.year <= _YEARS[1]:
        raise ValueError(f"{name} {_shown(text)} is out of range ({_YEARS[0]} to {_YEARS[1]})")
    return text


def _shown(value: object) -> str:
    """A value in a one-line reason, cut short: it comes from the bucket and can be anything."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
