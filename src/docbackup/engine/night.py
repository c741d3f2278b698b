"""A night's transfers and its manifest: the plan's tasks sent through the source, each
failure reported, and the manifest written last (G1) under the night's lease."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO

from docbackup import __version__, layout
from docbackup.engine import transfer
from docbackup.engine.catalog import Catalog
from docbackup.engine.integrity import hash_stored
from docbackup.engine.lease import Lease, NightBusy
from docbackup.engine.options import BackupOptions, Clock
from docbackup.engine.plan import Plan, Task
from docbackup.engine.pool import run_bounded
from docbackup.engine.presence import Presence
from docbackup.engine.progress import Reporter
from docbackup.engine.readback import ReadBack
from docbackup.engine.spool import temporary_file
from docbackup.errors import (
    AccessDenied,
    BucketNotFound,
    DocbackupError,
    EncryptionNotConfirmed,
    EndpointUnreachable,
    KeyUnusable,
    ObjectArchived,
    ObjectNotFound,
    PreconditionFailed,
)
from docbackup.manifest import (
    Entry,
    LostCopy,
    ManifestHeader,
    ManifestStream,
    Problem,
    Status,
    entry_from_doc,
    entry_line,
    write_json,
)
from docbackup.sources.base import META_FINGERPRINT, META_SHA256, Document, Source, shown
from docbackup.storage.base import ARCHIVE_CLASSES, ObjectInfo, Store

# Errors after which no further request can succeed: the run stops instead of failing every
# document one by one.
_FATAL = (EncryptionNotConfirmed, BucketNotFound, AccessDenied, KeyUnusable, EndpointUnreachable)
# User metadata on a manifest: the run that wrote it, to tell our own landed write from another's.
MANIFEST_RUN = "docbackup-run"


@dataclass(slots=True)
class Summary:
    counts: dict[str, int]
    documents: int
    total_bytes: int
    stored_bytes: int


class Night:
    """Tonight's run of a plan: the transfers, their counters, the lease that holds the night,
    and the manifest written from the plan's lines and the transfers' entries."""

    def __init__(
        self,
        store: Store,
        source: Source,
        options: BackupOptions,
        date: dt.date,
        started: dt.datetime,
        reporter: Reporter,
        clock: Clock,
    ) -> None:
        self.store = store
        # Asked to store each document it found: the run never asks where one came from.
        self.source = source
        self.clock = clock
        self.options = options
        self.date = date
        self.started = started
        self.reporter = reporter
        self.plan = Plan(options, date, started)
        self.results: list[Entry | None] = []
        self.failures = self.plan.failures  # one list: the walk's findings and the night's
        self.bytes_sent = 0
        self.fatal: DocbackupError | None = None
        self.lease: Lease | None = None
        self.out_of_time = False
        self.stored_any = False
        self.read_back: ReadBack | None = None
        # Damaged copies with no good copy of their bytes left (see backup._beyond_repair).
        self.damaged: tuple[Problem, ...] = ()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._refresh_age = dt.timedelta(days=options.retention_days - options.margin())

    def make_plan(
        self,
        documents: Iterable[Document],
        known: list[ManifestStream],
        interrupted: set[str],
        *,
        tonight: bool = False,
        presence: Presence | None = None,
    ) -> None:
        self.plan.walk(documents, known, interrupted, tonight=tonight, presence=presence)
        self.results = [None] * len(self.plan.tasks)

    # -- execution --------------------------------------------------------------------------

    def execute(self) -> None:
        tasks = self.plan.tasks
        self.reporter.start("backup", len(tasks), sum(t.doc.size for t in tasks))
        try:
            if not tasks:
                return
            # Largest first: a big scan that happens to sort last would otherwise be the one
            # transfer still running when everything else is done. (Entries go back to path
            # order in the manifest whatever the order of the transfers.)
            order = sorted(tasks, key=lambda t: t.doc.size, reverse=True)
            # The smallest transfer runs alone first. The lease already showed that the bucket,
            # the credentials, the key and the encryption work; what only a document's write
            # can show (a policy on the snapshot's keys, say) then fails once, before anything
            # else is written, and the CLI exits 2.
            probe = order.pop()
            try:
                self._do(probe)
            except (BucketNotFound, AccessDenied, KeyUnusable):
                raise
            except Exception as exc:  # reported below like any other document's failure
                self._fail(probe, exc)
            if self.fatal is not None:
                return
            run_bounded(self.options.workers, self._guarded, order, name="docbackup")
        finally:
            self.reporter.finish()

    def _guarded(self, task: Task) -> None:
        if self._stop.is_set():
            self._record_failure(task.doc.path, f"not attempted: the run stopped ({self.fatal})")
            return
        if self.lease is not None and not self.lease.held():
            self._record_failure(task.doc.path, f"not attempted: {self.lease.lost}")
            return
        if self._out_of_time():
            self._record_failure(
                task.doc.path, "not attempted: the time limit was near; the next run resumes"
            )
            return
        try:
            self._do(task)
        except Exception as exc:
            self._fail(task, exc)

    def _out_of_time(self) -> bool:
        left = self.options.time_left
        if left is None or left() > self.options.reserve_s:
            return False
        with self._lock:
            self.out_of_time = True
        return True

    def _fail(self, task: Task, exc: Exception) -> None:
        if isinstance(exc, _FATAL):
            with self._lock:
                if self.fatal is None:
                    self.fatal = exc
            self._stop.set()
            if self.fatal is not exc:  # in flight when the first one stopped the run
                self._record_failure(task.doc.path, f"not stored: the run stopped ({self.fatal})")
                self.reporter.advance(task.doc.path, task.doc.size)
                return
        if isinstance(exc, OSError):
            reason = f"cannot read: {exc.strerror or exc}"
            if isinstance(exc, FileNotFoundError):
                reason = "removed from the source during the run"
        elif isinstance(exc, DocbackupError):
            reason = str(exc)
        else:
            reason = f"unexpected error: {exc!r}"
        self._record_failure(task.doc.path, reason)
        self.reporter.advance(task.doc.path, task.doc.size)

    def _record_failure(self, path: str, reason: str) -> None:
        with self._lock:
            self.failures.append(Problem(path, reason))

    def _do(self, task: Task) -> None:
        if task.kind == "refresh":
            entry = self._refresh(task)
        elif task.kind == "adopt":
            entry = self._adopt(task) or self._send(task)
        else:
            entry = self._send(task)
        with self._lock:
            self.results[task.index] = entry
        self.reporter.advance(task.doc.path, task.doc.size)

    def _send(self, task: Task) -> Entry:
        doc = task.doc
        unless = task.previous.sha256 if task.kind == "recheck" and task.previous else None
        outcome = transfer.store_document(
            self.source,
            self.store,
            task.key,
            doc,
            self.options.encryption,
            multipart_threshold=self.options.multipart_threshold,
            unless_sha256=unless,
        )
        if outcome.stored is None:
            # Re-hashed and found equal: the earlier copy stands, under the new identity.
            same = replace(
                _previous(task), fingerprint=outcome.fingerprint, mtime_ns=outcome.mtime_ns
            )
            if self.started - same.stored_datetime() >= self._refresh_age:
                return self._refresh(replace(task, previous=same, action="refreshed"))
            return same.with_action("unchanged")
        with self._lock:
            self.bytes_sent += outcome.bytes_sent
            self.stored_any = True
        action = task.action
        if action == "healed" and task.previous and outcome.sha256 != task.previous.sha256:
            action = "changed"  # the copy was gone, and the document is not what it held
        return Entry(
            path=doc.path,
            size=outcome.size,
            mtime_ns=outcome.mtime_ns,
            sha256=outcome.sha256,
            key=task.key,
            version_id=outcome.stored.version_id,
            action=action,
            stored_at=self.clock().isoformat(),
            fingerprint=outcome.fingerprint,
        )

    def _refresh(self, task: Task) -> Entry:
        previous = _previous(task)
        try:
            stored = transfer.refresh(self.store, task.key, previous, self.options.encryption)
        except ObjectNotFound:
            # The old copy is gone (nights were missed, or it went behind our back after the
            # listing): send the document again.
            gone = "its copy is gone from the bucket"
            with self._lock:
                self.plan.lost.append(Problem(shown(task.doc.path), f"{gone} ({previous.key})"))
                self.plan.lost_copies.append(
                    LostCopy(previous.path, previous.key, previous.version_id, gone)
                )
            return self._send(replace(task, kind="upload", action="healed"))
        except ObjectArchived:
            # Lifecycle moved the copy to GLACIER or DEEP_ARCHIVE, which S3 does not copy
            # server-side: send the document again from the source, before the copy expires.
            entry = self._send(replace(task, kind="upload", action="resent"))
            # Same identity, other bytes (a same-size edit where file times are too coarse to
            # show it): a change.
            return entry if entry.sha256 == previous.sha256 else entry.with_action("changed")
        with self._lock:
            self.stored_any = True
        return replace(
            previous,
            key=task.key,
            version_id=stored.version_id,
            action="refreshed",
            stored_at=self.clock().isoformat(),
        )

    def _adopt(self, task: Task) -> Entry | None:
        """Reuse a copy an interrupted run of tonight stored, if it is provably this document."""
        info = self.store.head(task.key)
        if info is None or info.metadata is None:
            return None
        if info.storage_class in ARCHIVE_CLASSES:
            # A rerun of a night old enough for its manifest and copies to be archived: the
            # source still has the document, and an archived copy would need a retrieval.
            return None
        meta = info.metadata
        if (
            meta.get(META_FINGERPRINT) != task.doc.fingerprint
            or info.size != task.doc.size
            or not self.options.encryption.confirmed_by(info.sse, info.kms_key_id)
        ):
            return None
        # Multipart uploads and server-side copies learn their SHA-256 only after the fact:
        # reading the stored copy back costs a download, never an upload.
        sha = (
            meta.get(META_SHA256)
            or hash_stored(self.store, task.key, info.version_id, info.size)[0]
        )
        return Entry(
            path=task.doc.path,
            size=info.size,
            mtime_ns=task.doc.mtime_ns,
            sha256=sha,
            key=task.key,
            version_id=info.version_id,
            action=task.action,
            stored_at=info.last_modified.astimezone(dt.UTC).isoformat(),
            fingerprint=task.doc.fingerprint,
        )

    # -- result ---------------------------------------------------------------------------

    def summary(self) -> Summary:
        counts = dict(self.plan.carried)
        documents, total, stored = self.plan.carried_docs, self.plan.carried_bytes, 0
        for entry in self.results:
            if entry is not None:
                counts[entry.action] += 1
                documents += 1
                total += entry.size
                if entry.action in ("new", "changed", "resent", "healed"):
                    stored += entry.size
        return Summary(counts, documents, total, stored)

    def status(self) -> Status:
        return "partial" if self.failures or self.fatal else "complete"

    def sorted_failures(self) -> tuple[Problem, ...]:
        return tuple(sorted(self.failures, key=lambda f: f.path))

    @contextlib.contextmanager
    def write_manifest(
        self, summary: Summary, source: str, finished: dt.datetime
    ) -> Iterator[tuple[BinaryIO, str]]:
        """The manifest written out to a temporary file, and its SHA-256 (base64)."""
        header = ManifestHeader(
            set=self.options.set_name,
            date=self.date,
            status=self.status(),
            started_at=self.started.isoformat(),
            finished_at=finished.isoformat(),
            source=source,
            retention_days=self.options.retention_days,
            encryption=self.options.encryption.describe(),
            tool_version=__version__,
            # The summary counted the entries `_entry_lines` writes: carried and stored alike.
            documents=summary.documents,
            total_bytes=summary.total_bytes,
            failures=self.sorted_failures(),
            bytes_uploaded=self.bytes_sent,
            counts=summary.counts,
            # Not for a night that stopped part-way: what it would have confirmed is unknown.
            checked_at=(
                finished.isoformat() if self.plan.confirmed and self.fatal is None else None
            ),
            lost=self._lost_copies(),
        )
        with temporary_file() as body:
            out = _HashingWriter(body)
            write_json(out, header, self._entry_lines())
            body.seek(0)
            yield body, base64.b64encode(out.sha.digest()).decode()

    def _lost_copies(self) -> tuple[LostCopy, ...]:
        """What the walk found gone, and what the read-back found damaged (also where the
        document has since changed, which the walk never asks about), each copy once."""
        found = list(self.plan.lost_copies)
        seen = {(c.key, c.version_id) for c in found}
        if self.read_back is not None:
            for (key, version), d in self.read_back.damaged.items():
                if (key, version) not in seen:
                    found.append(LostCopy(d.path, key, version, d.reason))
        return tuple(sorted(found, key=lambda c: (c.path, c.key)))

    def unsent(self, paths: set[str]) -> set[str]:
        """Of these paths, the documents tonight meant to send and did not (failed, or not
        reached)."""
        return {
            task.doc.path
            for task, entry in zip(self.plan.tasks, self.results, strict=True)
            if entry is None and task.doc.path in paths
        }

    def carried_and_stored(self, paths: set[str]) -> Iterator[Entry]:
        """Tonight's entries for these paths, carried or stored (read only when the read-back
        found damage, to tell a copy with no good twin from one that has one)."""
        self.plan.lines.seek(0)
        results = iter(self.results)
        for line in self.plan.lines:
            if line.startswith(b"="):
                raw = json.loads(line[1:-1])
                if raw.get("path") in paths:
                    yield entry_from_doc(raw)
            elif (entry := next(results)) is not None and entry.path in paths:
                yield entry

    def _entry_lines(self) -> Iterator[bytes]:
        self.plan.lines.seek(0)
        results = iter(self.results)
        for line in self.plan.lines:
            if line.startswith(b"="):
                yield line[1:-1]
            elif (entry := next(results)) is not None:
                yield entry_line(entry)

    def close(self) -> None:
        self.plan.close()


def _previous(task: Task) -> Entry:
    if task.previous is None:  # the plan only makes such tasks with an earlier copy
        raise DocbackupError(f"{task.doc.path}: internal error, no earlier copy to reuse")
    return task.previous


def store_manifest(
    run: Night, catalog: Catalog, body: BinaryIO, sha: str, at_start: ObjectInfo | None
) -> str:
    """Tonight's manifest, only over the one this run found when it started (or where there was
    none): a manifest another run wrote meanwhile is never replaced without a word."""
    lease = run.lease
    run_id = lease.run_id if lease is not None else ""
    try:
        return catalog.write_body(
            run.date,
            body,
            sha,
            run.options.encryption,
            metadata={MANIFEST_RUN: run_id},
            if_none_match=at_start is None,
            if_match=None if at_start is None else at_start.etag,
        )
    except (PreconditionFailed, ObjectNotFound):
        key = layout.manifest_key(run.date, run.options.set_name)
        now = run.store.head(key)
        meta = (now.metadata or {}) if now is not None else {}
        if now is not None and run_id and meta.get(MANIFEST_RUN) == run_id:
            return key  # our own write landed and botocore's resend of it was refused
        other = meta.get(MANIFEST_RUN)
        raise NightBusy(
            f"another backup (run {other[:12] if other else 'unknown'}) wrote the manifest of "
            f"{key} while this one ran: its manifest stands, this run's is not written, and "
            "the copies this run stored are left in the bucket"
        ) from None


class _HashingWriter:
    """Writes through to a file and hashes what it writes."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.sha = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self._out.write(data)
