"""Finding things in the snapshots: a night as a folder tree (`ls`), a document across nights
(`find`), two nights compared (`diff`), and one document's bytes (`cat`).

Everything reads manifests a line at a time (see ManifestStream), so a set of any size is
browsed in flat memory; only `cat` reads an object.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from docbackup.engine import match
from docbackup.engine.catalog import Catalog
from docbackup.engine.integrity import CopyMismatch, fetch_verified
from docbackup.engine.spool import temporary_file
from docbackup.errors import ConfigError, DocbackupError, ManifestArchived, ManifestError
from docbackup.manifest import Entry, ManifestStream
from docbackup.storage.base import Store


@dataclass(frozen=True, slots=True)
class Row:
    """One line of `ls`: a document, or a folder with the totals of what is under it."""

    name: str
    folder: bool
    size: int
    mtime_ns: int
    documents: int
    # Of those documents, how many have a copy a later night found gone or damaged.
    missing: int = 0


def ls(
    store: Store, set_name: str, when: str, path: str = ""
) -> tuple[dt.date, list[Row], list[str]]:
    """The folders and documents directly under `path` in night `when`; also the night's
    entries that cannot be trusted, said rather than shown."""
    store.check_access()
    prefix = path.strip("/")
    prefix = f"{prefix}/" if prefix else ""
    catalog = Catalog(store, set_name)
    with catalog.resolve(when) as night:
        lost = catalog.lost_after(night.manifest.date)
        rows: dict[str, Row] = {}
        exact: Entry | None = None
        for e in night.entries():
            gone = 1 if (e.key, e.version_id) in lost else 0
            if prefix and e.path == prefix[:-1]:
                exact = e  # `ls` of a document shows that document
                continue
            if not e.path.startswith(prefix):
                continue
            name, sep, _ = e.path[len(prefix) :].partition("/")
            old = rows.get(name)
            if sep:
                rows[name] = Row(
                    name,
                    True,
                    (old.size if old else 0) + e.size,
                    max(old.mtime_ns if old else 0, e.mtime_ns),
                    (old.documents if old else 0) + 1,
                    (old.missing if old else 0) + gone,
                )
            else:
                rows[name] = Row(name, False, e.size, e.mtime_ns, 1, gone)
        date = night.manifest.date
        unreadable = _unreadable(night)
    if exact is not None:
        gone = 1 if (exact.key, exact.version_id) in lost else 0
        return date, [Row(exact.path, False, exact.size, exact.mtime_ns, 1, gone)], unreadable
    if prefix and not rows and not unreadable:
        raise ConfigError(f"nothing at {path!r} in the {date} snapshot of set {set_name!r}")
    rows_sorted = sorted(rows.values(), key=lambda r: (not r.folder, r.name.lower(), r.name))
    return date, rows_sorted, unreadable


def _unreadable(night: ManifestStream) -> list[str]:
    """The night's entries that cannot be trusted, each a line naming the document."""
    header = night.manifest
    return [
        f"{header.date}: {bad.path} left out, its entry cannot be trusted: {bad.reason}"
        for bad in header.unreadable
    ]


@dataclass(frozen=True, slots=True)
class Version:
    """One content of a document (by SHA-256) and the nights that hold it."""

    sha256: str
    size: int
    mtime_ns: int
    nights: tuple[dt.date, ...]


@dataclass(slots=True)
class Found:
    path: str
    versions: list[Version] = field(default_factory=list)


def find(store: Store, set_name: str, pattern: str) -> tuple[list[Found], list[str]]:
    """Documents matching `pattern` in every readable night, oldest version first; also the
    nights that could not be read (said, not skipped silently)."""
    store.check_access()
    wanted = match.pattern(pattern)
    catalog = Catalog(store, set_name)
    # path -> sha256 -> (size, mtime, nights newest first)
    hits: dict[str, dict[str, tuple[int, int, list[dt.date]]]] = {}
    unreadable: list[str] = []
    for date in catalog.dates():
        try:
            night = catalog.stream(date)
        except (ManifestError, ManifestArchived) as exc:
            unreadable.append(f"{date}: night not searched: {exc}")
            continue
        if night is None:
            continue
        with night:
            unreadable.extend(_unreadable(night))
            for e in night.entries():
                if not wanted.matches(e.path):
                    continue
                versions = hits.setdefault(e.path, {})
                _, _, nights = versions.setdefault(e.sha256, (e.size, e.mtime_ns, []))
                nights.append(date)
    found = []
    for path in sorted(hits):
        listed = [
            Version(sha, size, mtime, tuple(sorted(nights)))
            for sha, (size, mtime, nights) in hits[path].items()
        ]
        listed.sort(key=lambda v: v.nights[0])
        found.append(Found(path, listed))
    return found, unreadable


@dataclass(frozen=True, slots=True)
class Change:
    path: str
    kind: str  # added, changed, removed
    size_before: int | None
    size_after: int | None


def diff(
    store: Store, set_name: str, before: str, after: str
) -> tuple[dt.date, dt.date, list[Change], list[str]]:
    """What changed between two nights: both manifests are in path order, so one merge walk.
    Also the entries left out because they cannot be trusted: a document only one of them
    names shows as added or removed, which the caller must say is not the whole story."""
    store.check_access()
    catalog = Catalog(store, set_name)
    with catalog.resolve(before) as old, catalog.resolve(after) as new:
        changes = list(_merge(old.entries(), new.entries()))
        unreadable = _unreadable(old) + _unreadable(new)
        return old.manifest.date, new.manifest.date, changes, unreadable


def _merge(old: Iterator[Entry], new: Iterator[Entry]) -> Iterator[Change]:
    a, b = next(old, None), next(new, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a.path < b.path):
            assert a is not None  # noqa: S101 - narrowing for mypy; the condition says so
            yield Change(a.path, "removed", a.size, None)
            a = next(old, None)
        elif a is None or b.path < a.path:
            yield Change(b.path, "added", None, b.size)
            b = next(new, None)
        else:
            if a.sha256 != b.sha256 or a.size != b.size:
                yield Change(a.path, "changed", a.size, b.size)
            a, b = next(old, None), next(new, None)


def cat(store: Store, set_name: str, when: str, path: str, out: BinaryIO) -> Entry:
    """Write one document's stored bytes to `out`, only once they hash to the manifest's
    SHA-256: they are spooled first, so a bad copy never reaches `out` half written."""
    store.check_access()
    wanted = path.strip("/")
    with Catalog(store, set_name).resolve(when) as night:
        entry = _entry(night, wanted)
        bad = next((b for b in night.manifest.unreadable if b.path == wanted), None)
        if bad is not None:
            raise DocbackupError(
                f"{wanted}: its entry in the {night.manifest.date} snapshot cannot be trusted, "
                f"so it is not followed: {bad.reason}"
            )
        if entry is None:
            raise ConfigError(
                f"{path!r} is not in the {night.manifest.date} snapshot of set {set_name!r}; "
                "`docbackup find` shows which nights hold it"
            )
    with temporary_file() as spool:
        try:
            fetch_verified(store, entry, spool)
        except CopyMismatch as exc:
            raise DocbackupError(
                f"{entry.path}: stored copy does not match the manifest "
                f"(size {exc.size}, expected {entry.size}); nothing was written"
            ) from None
        spool.seek(0)
        shutil.copyfileobj(spool, out, 1 << 20)
    out.flush()
    return entry


def _entry(night: ManifestStream, path: str) -> Entry | None:
    for e in night.entries():
        if e.path == path:
            return e
        if e.path > path:  # entries are in path order
            return None
    return None
