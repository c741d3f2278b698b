"""Checking that what the manifests promise is in the bucket, and with --deep, byte for byte."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from typing import BinaryIO

from docbackup import layout, tuning
from docbackup.engine.catalog import Catalog
from docbackup.engine.integrity import CopyMismatch, fetch_verified
from docbackup.engine.pool import run_bounded
from docbackup.engine.progress import NullReporter, Reporter
from docbackup.engine.results import Mismatch, VerifyResult
from docbackup.engine.spool import temporary_file
from docbackup.errors import (
    ConfigError,
    DocbackupError,
    EndpointUnreachable,
    ManifestArchived,
    ManifestError,
)
from docbackup.manifest import Entry, ManifestHeader, ManifestStream, entry_from_doc, entry_line
from docbackup.sources.base import META_SHA256
from docbackup.storage.base import Store

# A stored copy: its key and version. Nights that did not change a document list the same one.
Copy = tuple[str, str | None]


def _check(catalog: Catalog, manifest: ManifestHeader, entry: Entry, deep: bool) -> str | None:
    info = catalog.store.head(entry.key, entry.version_id)
    if info is None:
        return "stored copy is missing"
    if info.size != entry.size:
        return f"stored copy has {info.size} bytes, the manifest says {entry.size}"
    if manifest.encryption.startswith("aws:kms") and info.sse != "aws:kms":
        return f"stored copy is not SSE-KMS encrypted (server says {info.sse})"
    if manifest.encryption == "AES256" and info.sse is None:
        return "stored copy is not encrypted"
    stored_sha = (info.metadata or {}).get(META_SHA256)
    if stored_sha is not None and stored_sha != entry.sha256:
        return "the manifest's SHA-256 differs from the one recorded with the stored copy"
    if deep:
        try:
            fetch_verified(catalog.store, entry)
        except CopyMismatch as exc:
            if exc.size != entry.size:
                return f"stored copy has {exc.size} bytes, the manifest says {entry.size}"
            return f"stored bytes hash to {exc.sha256[:16]}..., not {entry.sha256[:16]}..."
    return None


def verify(
    store: Store,
    set_name: str,
    when: str | None,
    *,
    all_dates: bool = False,
    deep: bool = False,
    workers: int = tuning.WORKERS,
    reporter: Reporter | None = None,
) -> VerifyResult:
    reporter = reporter or NullReporter()
    store.check_access()
    catalog = Catalog(store, set_name)
    problems: list[Mismatch] = []
    bad: dict[Copy, tuple[dt.date, str]] = {}
    with temporary_file() as work:
        if all_dates:
            nights, count, total = _gather_all(catalog, work, problems)
        else:
            with catalog.resolve(when or "latest") as stream:
                nights, count, total = _gather(stream, work)
                problems.extend(_unreadable(stream.manifest))
        work.seek(0)
        checked = _run(catalog, nights, work, count, total, deep, workers, reporter, problems, bad)
    if all_dates and bad:
        problems.extend(_sharers(catalog, nights, bad))
    return VerifyResult(
        status="mismatch" if problems else "ok",
        dates=tuple(m.date for m in nights),
        checked=checked,
        deep=deep,
        mismatches=tuple(sorted(problems, key=_order)),
        bad_copies=len(bad),
    )


def _order(p: Mismatch) -> tuple[str, str]:
    return ("" if p.date is None else p.date.isoformat(), p.path)


def _sharers(
    catalog: Catalog, nights: list[ManifestHeader], bad: dict[Copy, tuple[dt.date, str]]
) -> Iterator[Mismatch]:
    """The other nights that list a bad copy: each of them restores it wrong, so each is told.

    Each copy was checked once, under the newest night that lists it; only when some copy is
    bad are the nights' manifests read again, so a verify that finds nothing costs no more.
    """
    for night in nights:
        found = catalog.stream(night.date)
        if found is None:
            continue
        with found:
            for entry in found.entries():
                hit = bad.get((entry.key, entry.version_id))
                if hit is not None and hit[0] != night.date:
                    yield Mismatch(night.date, entry.path, hit[1])


# The copies to check go to one work file, a line each ("night index TAB entry JSON"), so that
# a night's manifest is downloaded once and closed before the next one opens: with hundreds of
# nights, one open spool each would run out of file handles. Only `seen` stays in memory.


def _gather(stream: ManifestStream, work: BinaryIO) -> tuple[list[ManifestHeader], int, int]:
    # One night's entries are distinct copies: no set of the ones seen is needed.
    count, total = _spool(work, 0, stream.entries(), None)
    return [stream.manifest], count, total


def _gather_all(
    catalog: Catalog, work: BinaryIO, problems: list[Mismatch]
) -> tuple[list[ManifestHeader], int, int]:
    # A copy listed by several nights is checked once, under the newest night that lists it.
    seen: set[Copy] = set()
    nights: list[ManifestHeader] = []
    count = total = 0
    for date in catalog.dates():
        try:
            found = catalog.stream(date)
        except (ManifestError, ManifestArchived) as exc:
            # That night's copies cannot be listed, let alone checked: a problem of that night,
            # and the other nights are still verified.
            problems.append(Mismatch(date, layout.manifest_key(date, catalog.set), str(exc)))
            continue
        if found is None:
            continue
        with found:
            nights.append(found.manifest)
            problems.extend(_unreadable(found.manifest))
            added, size = _spool(work, len(nights) - 1, found.entries(), seen)
        count += added
        total += size
    if not nights and not problems:
        raise ConfigError(f"no snapshot of set {catalog.set!r} to verify")
    return nights, count, total


def _unreadable(manifest: ManifestHeader) -> list[Mismatch]:
    """Entries that cannot be trusted: nothing of theirs can be checked, and they would not
    restore."""
    return [
        Mismatch(manifest.date, bad.path, f"entry cannot be trusted: {bad.reason}")
        for bad in manifest.unreadable
    ]


def _spool(
    work: BinaryIO,
    night: int,
    entries: Iterator[Entry],
    seen: set[Copy] | None,
) -> tuple[int, int]:
    """Write one night's copies not already in `seen` to the work file; their count and bytes."""
    tag = str(night).encode() + b"\t"
    count = total = 0
    for entry in entries:
        if seen is not None:
            copy = (entry.key, entry.version_id)
            if copy in seen:
                continue
            seen.add(copy)
        work.write(tag + entry_line(entry) + b"\n")
        count += 1
        total += entry.size
    return count, total


def _run(
    catalog: Catalog,
    nights: list[ManifestHeader],
    work: BinaryIO,
    count: int,
    total: int,
    deep: bool,
    workers: int,
    reporter: Reporter,
    problems: list[Mismatch],
    bad: dict[Copy, tuple[dt.date, str]],
) -> int:
    def items() -> Iterator[tuple[ManifestHeader, Entry]]:
        for line in work:
            tag, _, doc = line.rstrip(b"\n").partition(b"\t")
            yield nights[int(tag)], entry_from_doc(json.loads(doc))

    lock = threading.Lock()
    # The endpoint went away: every later check would fail the same way, so it stops the run
    # and is said once, with how many copies were left unchecked.
    stop = threading.Event()
    gone: list[EndpointUnreachable] = []
    checked = 0

    def one(item: tuple[ManifestHeader, Entry]) -> None:
        nonlocal checked
        if stop.is_set():
            return
        manifest, entry = item
        try:
            reason = _check(catalog, manifest, entry, deep)
        except EndpointUnreachable as exc:
            with lock:
                gone.append(exc)
                stop.set()
            return
        except DocbackupError as exc:
            reason = str(exc)
        with lock:
            checked += 1
            if reason:
                problems.append(Mismatch(manifest.date, entry.path, reason))
                bad[(entry.key, entry.version_id)] = (manifest.date, reason)
        reporter.advance(entry.path, entry.size if deep else 0)

    reporter.start("verify", count, total if deep else 0)
    try:
        run_bounded(workers, one, items(), name="verify", stop=stop)
    finally:
        reporter.finish()
    if gone:
        problems.append(
            Mismatch(None, "(stopped)", f"{gone[0]}; {count - checked} stored copies not checked")
        )
    return checked
