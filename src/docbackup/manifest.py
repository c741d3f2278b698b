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
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


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
class Failure:
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
    failures: tuple[Failure, ...] = ()
    bytes_uploaded: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)

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
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ManifestError(f"{where}: not a JSON manifest ({exc})") from None
        if not isinstance(doc, dict):
            raise ManifestError(f"{where}: not a JSON object")
        _check_version(doc, where)
        try:
            manifest = cls._from_doc(doc)
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"{where}: malformed manifest ({exc!r})") from None
        if manifest.set != expect_set or manifest.date != expect_date:
            raise ManifestError(
                f"{where}: says set {manifest.set!r} date {manifest.date}, not where it is stored"
            )
        for entry in manifest.entries.values():
            _check_entry(entry, manifest, where)
        return manifest

    @classmethod
    def _from_doc(cls, doc: dict[str, Any]) -> Manifest:
        status = doc["status"]
        if status not in ("complete", "partial"):
            raise ValueError(f"status {status!r}")
        entries: dict[str, Entry] = {}
        for raw in doc["entries"]:
            entry = entry_from_doc(raw)
            if entry.path in entries:
                raise ValueError(f"path {entry.path!r} listed twice")
            entries[entry.path] = entry
        return cls(
            set=_str(doc["set"]),
            date=dt.date.fromisoformat(_str(doc["date"])),
            status=status,
            started_at=_str(doc["started_at"]),
            finished_at=_str(doc["finished_at"]),
            source=_str(doc["source"]),
            retention_days=_int(doc["retention_days"]),
            encryption=_str(doc["encryption"]),
            tool_version=_str(doc["tool"]).removeprefix("docbackup "),
            entries=entries,
            failures=tuple(Failure(_str(f["path"]), _str(f["reason"])) for f in doc["failures"]),
            bytes_uploaded=_int(doc.get("bytes_uploaded", 0)),
            counts={str(k): _int(v) for k, v in dict(doc.get("counts", {})).items()},
        )


def entry_from_doc(raw: Any) -> Entry:
    return Entry(
        path=_str(raw["path"]),
        size=_int(raw["size"]),
        mtime_ns=_int(raw["mtime_ns"]),
        sha256=_str(raw["sha256"]),
        key=_str(raw["key"]),
        version_id=None if raw.get("version_id") is None else _str(raw["version_id"]),
        action=raw["action"],
        stored_at=_str(raw["stored_at"]),
        fingerprint=_str(raw["fingerprint"]),
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
    failures: Iterable[Failure],
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
        self.where = layout.manifest_key(expect_date, expect_set)
        try:
            self.manifest, self.documents = self._check_lines()
        except (ValueError, TypeError, KeyError, AttributeError, ManifestError):
            # Not the line layout, or broken: the whole-document reader decides and explains.
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
        header = Manifest._from_doc({**head, "failures": []})
        if self.where != layout.manifest_key(header.date, header.set):
            raise ManifestError(f"{self.where}: says set {header.set!r} date {header.date}")
        count, last = 0, None
        for line in self._lines():
            entry = entry_from_doc(_DECODER.decode(line.decode("utf-8")))
            _check_entry(entry, header, self.where)
            if last is not None and entry.path <= last:
                raise ValueError("entries out of path order")
            last = entry.path
            count += 1
        tail = _DECODER.decode("{" + self._tail[len(b"],") :].decode("utf-8"))
        if set(tail) != {"failures"}:
            raise ValueError("unexpected fields after the entries")
        failures = tuple(Failure(_str(f["path"]), _str(f["reason"])) for f in tail["failures"])
        return replace(header, failures=failures), count

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
        for line in self._lines():
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
    if version != SCHEMA_VERSION:
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


def _check_entry(entry: Entry, manifest: Manifest, where: str) -> None:
    """An entry must point inside its own set at a date no later than the manifest's."""
    bad = None
    if entry.action not in ACTIONS:
        bad = f"unknown action {entry.action!r}"
    elif not _HEX64.match(entry.sha256):
        bad = "sha256 is not 64 hex digits"
    elif entry.size < 0:
        bad = "negative size"
    else:
        stored = layout.date_from_prefix(entry.key[: len(layout.ROOT) + 11])
        generation = (
            None
            if stored is None
            else layout.generation_of(entry.key, stored, manifest.set, entry.path)
        )
        if stored is None or stored > manifest.date or generation is None:
            bad = f"key {entry.key!r} is not this set's copy of the document"
        else:
            try:
                entry.stored_datetime()
            except ValueError:
                bad = f"stored_at {entry.stored_at!r} is not a timestamp"
    if bad:
        raise ManifestError(f"{where}: entry {entry.path!r}: {bad}")


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def count_actions(entries: Iterable[Entry]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(ACTIONS, 0)
    for entry in entries:
        counts[entry.action] += 1
    return counts
