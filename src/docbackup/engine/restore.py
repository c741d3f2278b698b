"""Restoring a night: every file verified by SHA-256 before it takes its name.

A copy an archive class holds is not read until S3 has restored it (see engine.archive): that
document fails, saying so, and the rest of the night is restored. A night whose manifest an
archive class holds restores nothing until the manifest is back: with a tier, restore asks for
it, and the same restore run again later proceeds to the documents.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import secrets
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

from docbackup.engine import archive
from docbackup.engine.catalog import Catalog
from docbackup.engine.paths import UnsafePath, prepare_parent, safe_parts
from docbackup.engine.pool import run_bounded
from docbackup.engine.progress import NullReporter, Reporter
from docbackup.engine.results import Problem, RestoreResult, RunStatus
from docbackup.errors import (
    ConfigError,
    DocbackupError,
    ManifestArchived,
    ObjectArchived,
    StoreError,
)
from docbackup.manifest import Entry, ManifestStream
from docbackup.storage.base import RestoreTier, Store

_CHUNK = 1 << 20
DOWNLOAD_ATTEMPTS = 3


def restore(
    store: Store,
    set_name: str,
    when: str,
    target: str,
    *,
    include: tuple[str, ...] = (),
    overwrite: bool = False,
    workers: int = 16,
    reporter: Reporter | None = None,
    tier: RestoreTier | None = None,
) -> RestoreResult:
    """`tier`: ask S3 to restore copies an archive class holds, with that retrieval tier."""
    reporter = reporter or NullReporter()
    store.check_access()
    catalog = Catalog(store, set_name)
    try:
        night = catalog.resolve(when)
    except ManifestArchived as exc:
        unavailable = archive.ask_back(
            store, exc.key, None, exc, tier, what=f"the manifest of {exc.date}"
        )
        if not unavailable.ready:
            return _manifest_unavailable(exc, catalog.set, unavailable)
        night = catalog.resolve(when)  # it came back between the read and the request
    with night as manifest:
        return _restore(store, manifest, target, include, overwrite, workers, reporter, tier)


def _manifest_unavailable(
    exc: ManifestArchived, set_name: str, unavailable: archive.Unavailable
) -> RestoreResult:
    # Nothing is written, not even the target folder: the documents are not known yet.
    problem = Problem(f"{exc.date} manifest", unavailable.reason)
    return RestoreResult(
        "failed",
        exc.date,
        set_name,
        0,
        1,
        0,
        (problem,),
        archived=1,
        restores_requested=int(unavailable.requested),
        manifest_archived=unavailable.reason,
    )


def _restore(
    store: Store,
    manifest: ManifestStream,
    target: str,
    include: tuple[str, ...],
    overwrite: bool,
    workers: int,
    reporter: Reporter,
    tier: RestoreTier | None,
) -> RestoreResult:
    def chosen() -> Iterator[tuple[Entry, list[str] | UnsafePath]]:
        # Read from the spooled manifest twice, one entry at a time: once to plan, once to
        # restore, so a night of any size is restored in flat memory.
        for entry in manifest.entries():
            if include and not any(fnmatch.fnmatchcase(entry.path, g) for g in include):
                continue
            try:
                yield entry, safe_parts(entry.path)
            except UnsafePath as exc:
                yield entry, exc

    root = _target_root(target)
    count = total = conflicts = 0
    first_conflict = ""
    for entry, parts in chosen():
        if isinstance(parts, UnsafePath):
            continue
        count += 1
        total += entry.size
        if not overwrite and os.path.lexists(os.path.join(root, *parts)):
            conflicts += 1
            first_conflict = first_conflict or entry.path
    if conflicts:
        raise ConfigError(
            f"{conflicts} file(s) already exist in {root} (first: {first_conflict}); "
            "restore into an empty folder or pass --overwrite"
        )
    lock = threading.Lock()
    # Entries the manifest holds but that cannot be trusted: failed by name, never followed.
    problems = [
        Problem(bad.path, f"not restored, its entry cannot be trusted: {bad.reason}")
        for bad in manifest.manifest.unreadable
        if not include or any(fnmatch.fnmatchcase(bad.path, g) for g in include)
    ]
    restored = 0
    nbytes = 0
    archived = requested = 0

    def one(item: tuple[Entry, list[str] | UnsafePath]) -> None:
        nonlocal restored, nbytes, archived, requested
        entry, parts = item
        if isinstance(parts, UnsafePath):
            reason = f"unsafe path in manifest, not followed: {parts}"
            with lock:
                problems.append(Problem(entry.path, reason))
            return
        try:
            _restore_one(store, root, entry, parts)
        except ObjectArchived as exc:
            unavailable = archive.ask_back(store, entry.key, entry.version_id, exc, tier)
            with lock:
                problems.append(Problem(entry.path, unavailable.reason))
                archived += 1
                requested += unavailable.requested
        except (OSError, DocbackupError, UnsafePath) as exc:
            with lock:
                problems.append(Problem(entry.path, str(exc)))
        else:
            with lock:
                restored += 1
                nbytes += entry.size
        reporter.advance(entry.path, entry.size)

    reporter.start("restore", count, total)
    try:
        run_bounded(workers, one, chosen(), name="restore")
    finally:
        reporter.finish()
    failures = tuple(sorted(problems, key=lambda p: p.path))
    header = manifest.manifest
    status: RunStatus
    if failures:
        status = "failed" if restored == 0 else "partial"
    else:
        status = "complete" if header.status == "complete" else "partial"
    return RestoreResult(
        status,
        header.date,
        header.set,
        restored,
        len(failures),
        nbytes,
        failures,
        archived=archived,
        restores_requested=requested,
    )


def _target_root(target: str) -> str:
    if os.path.lexists(target) and not os.path.isdir(target):
        raise ConfigError(f"restore target {target} exists and is not a folder")
    os.makedirs(target, exist_ok=True)
    return os.path.realpath(target)


def download(store: Store, entry: Entry, out: BinaryIO) -> tuple[int, Any]:
    """Write the stored copy into `out`, starting over if the connection drops mid-body.

    botocore retries a request until its body starts; a body cut off later surfaces as a
    StoreError from the read, which only the caller can retry.
    """
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        out.seek(0)
        out.truncate()
        sha, size = hashlib.sha256(), 0
        try:
            with store.open(entry.key, entry.version_id) as body:
                while chunk := body.read(_CHUNK):
                    sha.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
        except ObjectArchived:
            raise  # no second attempt reads it before S3 has restored it
        except StoreError:
            if attempt == DOWNLOAD_ATTEMPTS:
                raise
            continue
        out.flush()
        os.fsync(out.fileno())
        return size, sha
    raise AssertionError("unreachable")  # the loop returns or raises


def _restore_one(store: Store, root: str, entry: Entry, parts: list[str]) -> None:
    parent = prepare_parent(root, parts)
    dest = os.path.join(parent, parts[-1])
    # A fixed short ASCII name: the document's own name may already be at the length limit.
    tmp = os.path.join(parent, f".docbackup-{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o644)
    try:
        with os.fdopen(fd, "wb") as out:
            size, sha = download(store, entry, out)
        if size != entry.size or sha.hexdigest() != entry.sha256:
            raise DocbackupError(
                f"stored copy does not match the manifest (size {size}, sha256 "
                f"{sha.hexdigest()[:16]}..., expected {entry.size}, {entry.sha256[:16]}...)"
            )
        os.utime(tmp, ns=(entry.mtime_ns, entry.mtime_ns))
        # replace() swaps the name itself: a symlink already at `dest` is replaced, not followed.
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
