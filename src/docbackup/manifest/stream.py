"""A stored manifest read a line at a time: its header at once, its entries one by one."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import BinaryIO

from docbackup import layout
from docbackup.errors import ManifestError
from docbackup.manifest.codec import (
    BadEntry,
    Manifest,
    check_documents,
    check_version,
    checked_entry,
    checked_failures,
    entry_name,
    header_values,
    reason,
    shown,
)
from docbackup.manifest.types import Entry, ManifestHeader, Problem

# One decoder for every line: json.loads builds a new one (and sniffs the encoding) on each
# call, which showed in a night's profile.
_DECODER = json.JSONDecoder()


class ManifestStream:
    """A stored manifest read from a local spool file, its entries one at a time, in path order.

    Opening reads the whole spool once and checks everything `Manifest.from_json` checks,
    holding only the current entry; `manifest` is then the header. `entries()` reads the spool
    again. A manifest in any other JSON layout, or with its entries out of path order, is read
    whole instead: still correct, only not streamed.
    """

    def __init__(self, spool: BinaryIO, *, expect_set: str, expect_date: dt.date) -> None:
        self._spool = spool
        self._whole: Manifest | None = None
        # Which entry lines (1, 2, ...) the first reading found untrustworthy: skipped after.
        self._bad: set[int] = set()
        self.where = layout.manifest_key(expect_date, expect_set)
        self.manifest: ManifestHeader
        try:
            self.manifest = self._check_lines()
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError, ManifestError):
            # Not the line layout, or broken: the whole-document reader decides and explains.
            self._bad.clear()
            spool.seek(0)
            whole = Manifest.from_json(spool.read(), expect_set=expect_set, expect_date=expect_date)
            # Only entries() holds the entries: a run over many nights keeps just headers.
            self._whole, self.manifest = whole, whole.header()

    def _check_lines(self) -> ManifestHeader:
        self._spool.seek(0)
        first = self._spool.readline()
        if not first.startswith(b"{") or not first.endswith(b',"entries":[\n'):
            raise ValueError("not the line layout")
        head = _DECODER.decode(first[:-1].decode("utf-8") + "]}")
        check_version(head, self.where)
        try:
            # Every value of the first line checked before any entry is read; the failures
            # come after the entries, on the last line.
            values = header_values({**head, "failures": []})
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ManifestError(f"{self.where}: unreadable header: {reason(exc)}") from None
        set_name, date = values["set"], values["date"]
        if self.where != layout.manifest_key(date, set_name):
            raise ManifestError(f"{self.where}: says set {set_name!r} date {date}")
        count = total = 0
        last = None
        unreadable: list[Problem] = []
        for line in self._lines():
            count += 1
            raw: object = None
            try:
                raw = _DECODER.decode(line.decode("utf-8"))
                entry = checked_entry(raw, set_name, date)
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
            total += entry.size
        tail = _DECODER.decode("{" + self._tail[len(b"],") :].decode("utf-8"))
        if set(tail) != {"failures"}:
            raise ValueError("unexpected fields after the entries")
        try:
            check_documents(head, count)
            values["failures"] = checked_failures(tail["failures"])
        except (TypeError, ValueError) as exc:
            raise ManifestError(f"{self.where}: unreadable header: {reason(exc)}") from None
        return ManifestHeader(
            **values,
            documents=count - len(unreadable),
            total_bytes=total,
            unreadable=tuple(unreadable),
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
