"""A manifest as JSON: written a line at a time (`write_json`), read back whole (`Manifest`),
and every value read checked before it is used, for a bucket holds whatever anyone with write
access put there.

The bytes written are a contract: checks outside the project read them (see the README).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

from docbackup import layout
from docbackup.errors import ManifestError
from docbackup.manifest.types import ACTIONS, Entry, LostCopy, ManifestHeader, Problem, Status

SCHEMA_VERSION = 1
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

# -- writing ----------------------------------------------------------------------------------

# One encoder for every line: json.dumps with these options builds a new one on each call,
# which showed in a night's profile.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _dumps(doc: Any) -> bytes:
    return _ENCODER.encode(doc).encode("utf-8")


def entry_line(e: Entry) -> bytes:
    """One entry as compact JSON: never a raw newline in it (JSON escapes them in strings)."""
    # Written out by hand: dataclasses.asdict deep-copies every field and took most of a
    # no-change night's CPU on 20,000 documents.
    return _dumps(
        {
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
    )


def _head_doc(header: ManifestHeader) -> dict[str, Any]:
    """Everything but the entries and failures, as the manifest's JSON object starts."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": f"docbackup {header.tool_version}",
        "set": header.set,
        "date": header.date.isoformat(),
        "status": header.status,
        "started_at": header.started_at,
        "finished_at": header.finished_at,
        "source": header.source,
        "retention_days": header.retention_days,
        "encryption": header.encryption,
        "counts": dict(header.counts),
        "documents": header.documents,
        "bytes": header.total_bytes,
        "bytes_uploaded": header.bytes_uploaded,
        **({"checked_at": header.checked_at} if header.checked_at else {}),
        **(
            {
                "lost": [
                    {"path": c.path, "key": c.key, "version_id": c.version_id, "reason": c.reason}
                    for c in header.lost
                ]
            }
            if header.lost
            else {}
        ),
    }


class Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


def write_json(out: Writable, header: ManifestHeader, entry_lines: Iterable[bytes]) -> None:
    """Write a manifest: one JSON object, laid out as a first line ending in `"entries":[`,
    one entry per line in path order, and a last line with the header's failures.

    Any JSON reader reads it whole; `ManifestStream` reads it a line at a time, so a night
    never needs every entry in memory at once.
    """
    first = _dumps({**_head_doc(header), "entries": []})
    out.write(first[: -len(b"]}")] + b"\n")
    separator = b""
    for line in entry_lines:
        out.write(separator + line)
        separator = b",\n"
    tail = _dumps({"failures": [{"path": f.path, "reason": f.reason} for f in header.failures]})
    out.write((b"\n" if separator else b"") + b"]," + tail[1:] + b"\n")


# -- read whole -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Manifest(ManifestHeader):
    """A manifest held whole: its header and every entry in memory, by path.

    Only a manifest read or written in one piece is one: a stored manifest in another JSON
    layout than `write_json`'s (ManifestStream falls back to this), or one written by hand. A
    night writes its manifest a line at a time, and the commands read it that way.
    """

    entries: Mapping[str, Entry] = field(kw_only=True)
    # Counted from the entries, never given: a whole manifest cannot say other totals.
    documents: int = field(init=False)
    total_bytes: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "documents", len(self.entries))
        object.__setattr__(self, "total_bytes", sum(e.size for e in self.entries.values()))

    def header(self) -> ManifestHeader:
        """The header alone, for a holder that must not keep every entry alive."""
        return ManifestHeader(
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(ManifestHeader)}
        )

    def to_json(self) -> bytes:
        out = io.BytesIO()
        write_json(out, self, (entry_line(self.entries[p]) for p in sorted(self.entries)))
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
        check_version(doc, where)
        try:
            values = header_values(doc)
            if values["set"] != expect_set or values["date"] != expect_date:
                raise ManifestError(
                    f"{where}: says set {values['set']!r} date {values['date']}, "
                    "not where it is stored"
                )
            raws = doc.get("entries")
            if not isinstance(raws, list):
                raise ValueError("'entries' is not a list")
            check_documents(doc, len(raws))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ManifestError(f"{where}: unreadable header: {reason(exc)}") from None
        entries: dict[str, Entry] = {}
        unreadable: list[Problem] = []
        for position, raw in enumerate(raws, 1):
            try:
                entry = checked_entry(raw, values["set"], values["date"])
            except BadEntry as exc:
                unreadable.append(Problem(entry_name(raw, position), shown(str(exc))))
                continue
            if entry.path in entries:
                raise ManifestError(f"{where}: path {entry.path!r} listed twice")
            entries[entry.path] = entry
        return cls(**values, entries=entries, unreadable=tuple(unreadable))


# -- checking what is read --------------------------------------------------------------------


class HeaderValues(TypedDict):
    """A header's values as read, each checked: a ManifestHeader's but for the totals and the
    untrusted entries, which are known once the entries are read."""

    set: str
    date: dt.date
    status: Status
    started_at: str
    finished_at: str
    source: str
    retention_days: int
    encryption: str
    tool_version: str
    failures: tuple[Problem, ...]
    bytes_uploaded: int
    counts: dict[str, int]
    checked_at: str | None
    lost: tuple[LostCopy, ...]


def header_values(doc: Mapping[str, Any]) -> HeaderValues:
    """The header, every field checked; ValueError or TypeError saying which is bad."""
    status = _field(doc, "status")
    if status not in ("complete", "partial"):
        raise ValueError(f"status {status!r} is neither 'complete' nor 'partial'")
    failures = checked_failures(_field(doc, "failures"))
    counts = doc.get("counts", {})
    if not isinstance(counts, dict):
        raise ValueError("'counts' is not an object")
    if "bytes" in doc:
        _count(doc["bytes"], "bytes")
    return {
        "set": _text(_field(doc, "set"), "set"),
        "date": dt.date.fromisoformat(_text(_field(doc, "date"), "date")),
        "status": status,
        "started_at": _moment(_field(doc, "started_at"), "started_at"),
        "finished_at": _moment(_field(doc, "finished_at"), "finished_at"),
        "source": _text(_field(doc, "source"), "source"),
        "retention_days": _ranged(
            _field(doc, "retention_days"), "retention_days", 1, MAX_RETENTION_DAYS
        ),
        "encryption": _text(_field(doc, "encryption"), "encryption"),
        "tool_version": _text(_field(doc, "tool"), "tool").removeprefix("docbackup "),
        "failures": failures,
        "bytes_uploaded": _count(doc.get("bytes_uploaded", 0), "bytes_uploaded"),
        "counts": {
            _text(k, "a count's name"): _count(v, f"count {k!r}") for k, v in counts.items()
        },
        "checked_at": _optional_moment(doc.get("checked_at")),
        "lost": checked_lost(doc.get("lost", [])),
    }


def _optional_moment(value: object) -> str | None:
    """`checked_at`: what the run confirmed, not what this night holds, so one that cannot be
    read is passed over (None) rather than making the night unreadable."""
    if value is None:
        return None
    try:
        return _moment(value, "checked_at")
    except (TypeError, ValueError):
        return None


def checked_lost(lost: object) -> tuple[LostCopy, ...]:
    """What a night says it found gone in earlier nights. It speaks of other nights, not of
    this one's entries, so a value that cannot be read is passed over rather than making the
    night unreadable: this night restores as well without it."""
    if not isinstance(lost, list):
        return ()
    copies = []
    for c in lost:
        try:
            version = c.get("version_id")
            copies.append(
                LostCopy(
                    _text(c.get("path"), "a lost copy's path"),
                    _text(c.get("key"), "a lost copy's key"),
                    None if version is None else _text(version, "a lost copy's version_id"),
                    _text(c.get("reason"), "a lost copy's reason"),
                )
            )
        except (AttributeError, TypeError, ValueError):
            continue
    return tuple(copies)


def checked_failures(failures: object) -> tuple[Problem, ...]:
    if not isinstance(failures, list) or not all(isinstance(f, dict) for f in failures):
        raise ValueError("'failures' is not a list of objects")
    return tuple(
        Problem(_text(f.get("path"), "a failure's path"), _text(f.get("reason"), "reason"))
        for f in failures
    )


def check_version(doc: Mapping[str, Any], where: str) -> None:
    version = doc.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:  # True == 1 in Python
        raise ManifestError(
            f"{where}: schema version {version!r} is not one this docbackup reads "
            f"({SCHEMA_VERSION}); upgrade docbackup"
        )


def check_documents(head: Mapping[str, Any], listed: int) -> None:
    """The header's count of documents must be the number of entries: a manifest cut short or
    spliced says so, rather than restoring as if complete."""
    if "documents" in head and _count(head["documents"], "documents") != listed:
        raise ValueError(f"says {head['documents']} documents but lists {listed}")


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


def checked_entry(raw: object, set_name: str, date: dt.date) -> Entry:
    """An entry with every value of the right type and in range, pointing inside its own set
    at a date no later than the manifest's; BadEntry with the reason otherwise."""
    if not isinstance(raw, dict):
        raise BadEntry(f"not a JSON object but {type(raw).__name__}")
    try:
        entry = entry_from_doc(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadEntry(reason(exc)) from None
    bad = _entry_problem(entry, set_name, date)
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


def _entry_problem(entry: Entry, set_name: str, date: dt.date) -> str | None:
    """Why an entry with well-typed values still cannot be followed, or None."""
    if not _HEX64.fullmatch(entry.sha256):
        return "sha256 is not 64 hex digits"
    if len(entry.key.encode("utf-8")) > layout.MAX_KEY_BYTES:
        return "key is longer than S3 allows"
    stored = layout.date_from_prefix(entry.key[: len(layout.ROOT) + 11])
    generation = (
        None if stored is None else layout.generation_of(entry.key, stored, set_name, entry.path)
    )
    if stored is None or stored > date or generation is None:
        return f"key {entry.key!r} is not this set's copy of the document"
    return None


def reason(exc: BaseException) -> str:
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
