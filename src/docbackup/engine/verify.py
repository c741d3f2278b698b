"""Checking that what the manifests promise is in the bucket, and with --deep, byte for byte."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator

from docbackup.engine.catalog import Catalog
from docbackup.engine.pool import run_bounded
from docbackup.engine.progress import NullReporter, Reporter
from docbackup.engine.results import Problem, VerifyResult
from docbackup.engine.transfer import META_SHA256
from docbackup.errors import ConfigError, DocbackupError, ManifestError
from docbackup.manifest import Entry, Manifest, ManifestStream
from docbackup.storage.base import Store

_CHUNK = 1 << 20


def _check(catalog: Catalog, manifest: Manifest, entry: Entry, deep: bool) -> str | None:
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
        sha = hashlib.sha256()
        with catalog.store.open(entry.key, entry.version_id) as body:
            while chunk := body.read(_CHUNK):
                sha.update(chunk)
        if sha.hexdigest() != entry.sha256:
            return f"stored bytes hash to {sha.hexdigest()[:16]}..., not {entry.sha256[:16]}..."
    return None


def verify(
    store: Store,
    set_name: str,
    when: str | None,
    *,
    all_dates: bool = False,
    deep: bool = False,
    workers: int = 16,
    reporter: Reporter | None = None,
) -> VerifyResult:
    reporter = reporter or NullReporter()
    store.check_access()
    catalog = Catalog(store, set_name)
    problems: list[Problem] = []
    with contextlib.ExitStack() as opened:
        streams: list[ManifestStream] = []
        if all_dates:
            for date in catalog.dates():
                try:
                    found = catalog.stream(date)
                except ManifestError as exc:
                    problems.append(Problem(f"{date} manifest", str(exc)))
                    continue
                if found is not None:
                    streams.append(opened.enter_context(found))
            if not streams and not problems:
                raise ConfigError(f"no snapshot of set {catalog.set!r} to verify")
        else:
            streams.append(opened.enter_context(catalog.resolve(when or "latest")))
        checked = _run(catalog, streams, deep, workers, reporter, problems)
    return VerifyResult(
        status="mismatch" if problems else "ok",
        dates=tuple(s.manifest.date for s in streams),
        checked=checked,
        deep=deep,
        mismatches=tuple(sorted(problems, key=lambda p: p.path)),
    )


def _run(
    catalog: Catalog,
    streams: list[ManifestStream],
    deep: bool,
    workers: int,
    reporter: Reporter,
    problems: list[Problem],
) -> int:
    # The manifests are read from their spools twice, an entry at a time: once to count, once
    # to check. A copy listed by several nights is checked once: `todo` holds the copies not
    # yet scheduled (one night's entries are distinct copies, so one night needs no such set).
    todo: set[tuple[str, str | None]] = set()
    count = total = 0
    for stream in streams:
        for entry in stream.entries():
            copy = (entry.key, entry.version_id)
            if len(streams) > 1:
                if copy in todo:
                    continue
                todo.add(copy)
            count += 1
            total += entry.size

    def work() -> Iterator[tuple[Manifest, Entry]]:
        for stream in streams:
            for entry in stream.entries():
                copy = (entry.key, entry.version_id)
                if len(streams) > 1:
                    if copy not in todo:
                        continue
                    todo.discard(copy)
                yield stream.manifest, entry

    lock = threading.Lock()

    def one(item: tuple[Manifest, Entry]) -> None:
        manifest, entry = item
        try:
            reason = _check(catalog, manifest, entry, deep)
        except DocbackupError as exc:
            reason = str(exc)
        if reason:
            with lock:
                problems.append(Problem(f"{manifest.date} {entry.path}", reason))
        reporter.advance(entry.path, entry.size if deep else 0)

    reporter.start("verify", count, total if deep else 0)
    try:
        run_bounded(workers, one, work(), name="verify")
    finally:
        reporter.finish()
    return count
