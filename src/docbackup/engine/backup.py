"""One night's backup of one set: plan against what is stored, transfer, write the manifest.

The plan compares every source document with the copies that earlier manifests describe:
  same identity       -> unchanged (the entry carries over), or refreshed by a server-side
                         copy when that copy nears the end of retention (G2); resent from
                         the source when an archive class holds that copy
  identity in doubt   -> re-hashed; sent only if the bytes differ
  new or different    -> uploaded into tonight's snapshot, hashed in the same read
Copies stored by an interrupted run of the same night are adopted, not sent again (G6).
The manifest is written last; failures make it `partial` and the run says so (G1).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime as dt
import hashlib
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import BinaryIO, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from docbackup import __version__, layout, tuning
from docbackup.engine import transfer
from docbackup.engine.catalog import Catalog
from docbackup.engine.integrity import hash_stored, unconfirmed
from docbackup.engine.lease import Lease, NightBusy
from docbackup.engine.paths import UnsafePath, safe_parts
from docbackup.engine.pool import run_bounded
from docbackup.engine.progress import NullReporter, Reporter
from docbackup.engine.results import BackupResult
from docbackup.engine.spool import temporary_file
from docbackup.errors import (
    AccessDenied,
    BucketNotFound,
    ConfigError,
    DocbackupError,
    EncryptionNotApplied,
    EncryptionNotConfirmed,
    EndpointUnreachable,
    KeyUnusable,
    ManifestArchived,
    ObjectArchived,
    ObjectNotFound,
    PreconditionFailed,
)
from docbackup.manifest import (
    ACTIONS,
    Action,
    Entry,
    Manifest,
    ManifestStream,
    Problem,
    Status,
    entry_line,
    write_json,
)
from docbackup.sources.base import (
    META_FINGERPRINT,
    META_SHA256,
    Document,
    ScanResult,
    Source,
    shown,
)
from docbackup.storage.base import ARCHIVE_CLASSES, Encryption, ObjectInfo, Store

# Errors after which no further request can succeed: the run stops instead of failing every
# document one by one.
_FATAL = (EncryptionNotConfirmed, BucketNotFound, AccessDenied, KeyUnusable, EndpointUnreachable)
Clock = Callable[[], dt.datetime]
# User metadata on a manifest: the run that wrote it, to tell our own landed write from another's.
MANIFEST_RUN = "docbackup-run"
MULTIPART_THRESHOLD = tuning.MULTIPART_THRESHOLD
# A copy is refreshed at least one day before it expires (BackupOptions.margin) and not before
# it is stored: one day of retention leaves no day for that, so two is the least that works.
MIN_RETENTION_DAYS = 2
# How far the server's clock may be behind this machine's before a night dated after the
# server's date is taken for a wrong clock rather than for a run just after midnight.
CLOCK_SLACK = dt.timedelta(hours=1)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class BackupOptions:
    set_name: str = layout.DEFAULT_SET
    date: dt.date | None = None  # None: today in `timezone`
    timezone: str = "UTC"
    encryption: Encryption = field(default_factory=Encryption)
    retention_days: int = 30
    # Refresh a copy this many days before it would expire; None: a quarter of retention.
    refresh_margin_days: int | None = None
    # 8, 16 and 32 took the same time on 500 documents against moto on 2 cores (bench/); 16
    # keeps a slow real endpoint busy without holding many files in memory at once.
    workers: int = tuning.WORKERS
    multipart_threshold: int = MULTIPART_THRESHOLD
    dry_run: bool = False
    # An empty source usually means an unmounted share or a wrong prefix; a snapshot of it would
    # make `latest` restore nothing. Refused unless the caller says it is expected.
    allow_empty: bool = False
    # Seconds left before the caller is stopped (a Lambda's time limit), and how many of them
    # to keep for transfers in flight and the manifest: no transfer starts inside the reserve.
    time_left: Callable[[], float] | None = None
    reserve_s: float = 120.0
    # Without versioning a write over a key replaces the only copy: refused unless the caller
    # says so. Either way no run writes over a copy a manifest lists (see layout).
    allow_unversioned: bool = False
    # A set's nights come from one source; another one would replace the night (and what
    # `latest` restores) without a word. Refused unless the caller says it is meant.
    allow_new_source: bool = False
    # Compare the run's clock with the server's and refuse a night the server would call
    # future-dated. For callers whose clock is the machine's own (the CLI, the function); a
    # test that drives the clock ahead on purpose leaves it off.
    check_clock: bool = False

    def margin(self) -> int:
        if self.refresh_margin_days is not None:
            return self.refresh_margin_days
        return max(1, self.retention_days // 4)


TaskKind = Literal["upload", "recheck", "refresh", "adopt"]


@dataclass(frozen=True, slots=True)
class _Task:
    kind: TaskKind
    doc: Document
    key: str
    action: Action
    previous: Entry | None
    index: int  # position in the plan: where its entry goes in the manifest


def run_date(options: BackupOptions, now: dt.datetime) -> dt.date:
    try:
        tz = ZoneInfo(options.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {options.timezone!r}") from None
    today = now.astimezone(tz).date()
    if options.date is None:
        return today
    if options.date > today:
        raise ConfigError(f"date {options.date} is in the future (today is {today} in {tz})")
    return options.date


def backup(
    store: Store,
    source: Source,
    options: BackupOptions,
    *,
    reporter: Reporter | None = None,
    clock: Clock = utc_now,
) -> BackupResult:
    reporter = reporter or NullReporter()
    started = clock()
    t0 = time.monotonic()
    retention = options.retention_days
    if retention < MIN_RETENTION_DAYS or not 0 <= options.margin() < retention:
        raise ConfigError(
            f"retention must be at least {MIN_RETENTION_DAYS} days and longer than the refresh "
            "margin"
        )
    if options.workers < 1:
        raise ConfigError("--workers must be at least 1")
    date = run_date(options, started)
    catalog = Catalog(store, options.set_name)
    store.check_access()
    if not options.allow_unversioned:
        _refuse_unversioned(store)
    future_nights = _refuse_rewriting_history(catalog, date, ZoneInfo(options.timezone))
    scan = source.scan()
    first = next(scan.documents, None)
    if first is None and not scan.skipped and not options.allow_empty:
        left_out = f" ({scan.excluded} left out by exclude patterns)" if scan.excluded else ""
        raise ConfigError(
            f"source {source.describe()} holds no documents{left_out} (is the share mounted, "
            "the prefix right?); pass --allow-empty if an empty snapshot is what you want"
        )
    documents = scan.documents if first is None else itertools.chain([first], scan.documents)
    # Before tonight's manifest is read: the manifest write at the end is conditional on this
    # answer, so a manifest another run writes meanwhile is never silently replaced.
    tonight_at_start = (
        store.head(layout.manifest_key(date, options.set_name)) if date in catalog.dates() else None
    )
    known, tonight, passed_over = _known_copies(catalog, date)
    if not known or known[0].manifest.encryption != options.encryption.describe():
        # Before the first write. A night whose last manifest was written under this very key
        # needs no question to KMS: S3 itself refuses a key that has since become unusable.
        store.check_encryption(options.encryption)
    run = _Run(store, source, options, date, started, reporter, clock)
    manifest_key = None
    try:
        if known and not options.allow_new_source:
            _refuse_new_source(known[0], source.describe())
        if not options.dry_run:
            run.lease = _take_night(store, options, date, tonight)
            if options.check_clock:
                _refuse_a_wrong_clock(run.lease, options, date, started)
        manifest_key, summary = _plan_and_run(
            run, catalog, source, scan, documents, known, tonight, tonight_at_start
        )
    finally:
        run.close()
        for stream in known:
            stream.close()
    counts, documents_count = summary.counts, summary.documents
    if options.dry_run:
        # Nothing was transferred: report what the run would have done.
        for task in run.tasks:
            counts[task.action] += 1
        documents_count += len(run.tasks)
    if run.fatal is not None or (run.failures and not summary.documents):
        status: Literal["complete", "partial", "failed"] = "failed"
    else:
        status = run.status()
    return BackupResult(
        status=status,
        date=date,
        set=options.set_name,
        documents=documents_count,
        new=counts["new"],
        changed=counts["changed"],
        unchanged=counts["unchanged"],
        refreshed=counts["refreshed"],
        resent=counts["resent"],
        failed=len(run.failures),
        bytes_uploaded=run.planned_bytes if options.dry_run else run.bytes_sent,
        total_bytes=summary.total_bytes,
        duration_s=time.monotonic() - t0,
        manifest_key=manifest_key,
        dry_run=options.dry_run,
        failures=run.sorted_failures(),
        skipped=tuple(Problem(s.path, s.reason) for s in scan.skipped if not s.failure),
        error=None if run.fatal is None else str(run.fatal),
        out_of_time=run.out_of_time,
        bytes_stored=run.planned_bytes if options.dry_run else summary.stored_bytes,
        excluded=scan.excluded,
        manifests_archived=tuple(
            Problem(f"{a.date} manifest", str(a)) for a in sorted(passed_over, key=lambda a: a.date)
        ),
        future_nights=tuple(future_nights),
    )


def _plan_and_run(
    run: _Run,
    catalog: Catalog,
    source: Source,
    scan: ScanResult,
    documents: Iterator[Document],
    known: list[ManifestStream],
    tonight: ManifestStream | None,
    tonight_at_start: ObjectInfo | None,
) -> tuple[str | None, _Summary]:
    """Plan, transfer and write the manifest, with the lease held; returns the manifest's key
    (None when none was written) and what the night holds."""
    options, date = run.options, run.date
    manifest_key = None
    try:
        run.plan(
            documents,
            known,
            interrupted=_interrupted_copies(catalog, date, tonight),
            tonight=tonight is not None,
        )
        for skipped in scan.skipped:
            if skipped.failure:
                run.failures.append(Problem(skipped.path, skipped.reason))
        if not options.dry_run:
            run.execute()
        if run.lease is not None and run.fatal is None and not run.lease.confirm():
            # Another run may own the night now: its manifest, not ours, describes it.
            run.fatal = NightBusy(str(run.lease.lost))
        summary = run.summary()
        # A run stopped by a fatal error still records what it did store, if the bucket lets
        # it; a run that lost the night to another writes nothing.
        if options.dry_run or isinstance(run.fatal, NightBusy):
            return None, summary
        if run.fatal is not None and not run.stored_any:
            return None, summary
        with run.write_manifest(summary, source.describe(), run.clock()) as (body, sha):
            try:
                manifest_key = _write_manifest(run, catalog, body, sha, tonight_at_start)
            except NightBusy as exc:
                run.fatal = exc  # another run's manifest stands; ours is not written
            except ConfigError as exc:
                # Refused (access denied, say): bad input only if nothing was stored tonight;
                # after copies went up it is a failed run, which exit 2 must not claim.
                if run.fatal is None and not run.stored_any:
                    raise
                if run.fatal is None:
                    run.fatal = DocbackupError(f"the manifest could not be written: {exc}")
            except EncryptionNotConfirmed:
                if run.fatal is None:
                    raise
            except DocbackupError as exc:
                # Without its manifest the night restores nothing: the run failed, and its
                # result still lists every document and what happened to it.
                if run.fatal is None:
                    run.fatal = DocbackupError(f"the manifest could not be written: {exc}")
    finally:
        if run.lease is not None:
            run.lease.stop(release=manifest_key is None)
    return manifest_key, summary


def _refuse_unversioned(store: Store) -> None:
    """A bucket that keeps no versions is refused before anything is written (exit 2)."""
    try:
        state = store.versioning()
    except AccessDenied:
        raise AccessDenied(
            f"cannot tell whether bucket {store.bucket!r} keeps versions: these credentials "
            "lack permission s3:GetBucketVersioning; grant it, or pass --allow-unversioned"
        ) from None
    if state != "Enabled":
        what = "has versioning suspended" if state == "Suspended" else "has no versioning"
        raise ConfigError(
            f"bucket {store.bucket!r} {what}: a copy written over would be lost for good; "
            "turn versioning on, or pass --allow-unversioned to back up into it anyway"
        )


def _refuse_new_source(newest: ManifestStream, source: str) -> None:
    """Backing up another source into a set replaces what its nights hold: only when asked."""
    before = newest.manifest
    if before.source != source:
        raise ConfigError(
            f"set {before.set!r} holds backups of {before.source} (last on {before.date}), not "
            f"of {source}: pass --allow-new-source to back this source up into it, or choose "
            "another --set"
        )


def _write_manifest(
    run: _Run, catalog: Catalog, body: BinaryIO, sha: str, at_start: ObjectInfo | None
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


def _take_night(
    store: Store, options: BackupOptions, date: dt.date, tonight: ManifestStream | None
) -> Lease:
    """Hold the night, with the encryption asked for confirmed, before anything else is stored.

    The lease is the run's first write and goes under the run's encryption, so its answer
    shows what the server will do to the documents: one that does not confirm the encryption
    stops the run here (EncryptionNotApplied, a ConfigError: the CLI exits 2), having stored
    the lease and no document. Without this, the first document would be the one to find out,
    and it would already be stored unencrypted. A no-change night pays nothing for the check:
    it writes the lease anyway.
    """
    lease = Lease(store, date, options.set_name, options.encryption, time_left=options.time_left)
    lease.acquire(finished_after=_finished_after(tonight))
    sse, kms_key_id = lease.answer  # read before the release below, a write of its own
    if not options.encryption.confirmed_by(sse, kms_key_id):
        lease.stop(release=True)  # the night is free for a run with the encryption put right
        raise EncryptionNotApplied(
            unconfirmed(
                options.encryption,
                f"this run's first write, {lease.key}",
                sse,
                kms_key_id,
                consequence=", so no document was sent",
            )
        )
    return lease


def _finished_after(tonight: ManifestStream | None) -> Callable[[float], bool]:
    """Did a run that started at t (seconds since the epoch) already write tonight's manifest?"""

    def finished(t: float) -> bool:
        if tonight is None:
            return False
        try:
            return dt.datetime.fromisoformat(tonight.manifest.finished_at).timestamp() >= t
        except ValueError:
            return False

    return finished


def _interrupted_copies(
    catalog: Catalog, date: dt.date, tonight: ManifestStream | None
) -> set[str]:
    """Keys already under tonight's snapshot that no manifest lists: a run was cut off.

    Costs nothing on an ordinary night: the date listing already says tonight is empty. Keys
    tonight's manifest lists count too: a rerun of the night may have been cut off after
    replacing them. Adoption checks each one against the document before trusting it.
    """
    if date not in catalog.dates():
        return set()
    return {
        o.key
        for o in catalog.store.objects(layout.copies_prefix(date, catalog.set))
        if layout.is_copy_of_set(o.key, date, catalog.set)
    }


def _refuse_rewriting_history(catalog: Catalog, date: dt.date, tz: dt.tzinfo) -> list[dt.date]:
    """A night older than the set's newest may not be written: newer nights point at its copies.

    Writing a new version under an older night's key would make the version a newer manifest
    lists noncurrent, and lifecycle would then delete it.

    A night dated after the day the server stored its manifest is not newer, though: a run
    whose clock was ahead wrote it, and honouring it would refuse every night until the date
    caught up. The server's clock decides, never this machine's (a clock behind would take last
    night for such a one and write over the night before). Tonight's keys are its own date's,
    which that night never saw, so it loses nothing; such nights are returned (the result names
    them), passed over for comparison (see _known_copies) and left as they are.
    """
    future = []
    for newer in catalog.dates():
        if newer <= date:
            break
        manifest = catalog.store.head(layout.manifest_key(newer, catalog.set))
        # When the server stored that night: its manifest, else its copies (a run dated ahead
        # that stored copies but no manifest must not block the nights after it either).
        stored = manifest.last_modified if manifest is not None else _copies_stored(catalog, newer)
        if stored is None:
            continue  # nothing of this set that night (another set's, or a lease alone)
        if newer > _stored_on(stored, tz):
            future.append(newer)
            continue
        raise ConfigError(
            f"set {catalog.set!r} already has a snapshot on {newer}, after {date}: "
            "only the newest night can be backed up again"
        )
    return sorted(future)


def _copies_stored(catalog: Catalog, date: dt.date) -> dt.datetime | None:
    """When the server stored the newest of `date`'s copies (the first 1,000 listed), or None."""
    newest = None
    for n, info in enumerate(catalog.store.objects(layout.snapshot_prefix(date, catalog.set))):
        newest = info.last_modified if newest is None else max(newest, info.last_modified)
        if n >= 999:
            break
    return newest


def _stored_on(moment: dt.datetime, tz: dt.tzinfo) -> dt.date:
    """The latest night the server's clock allowed at `moment`, with the slack clocks need."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return (moment + CLOCK_SLACK).astimezone(tz).date()


def _refuse_a_wrong_clock(
    lease: Lease, options: BackupOptions, date: dt.date, now: dt.datetime
) -> None:
    """Every night, before any document is sent, this machine's date against the server's
    (the Date of its answer to the lease's write: no extra request). Ahead, the night would be
    stored under a future date; behind, with no --date given, a rerun would write tonight's
    files over last night. Either is refused (exit 2). One hour of slack either way."""
    server = lease.server_time()
    if server is None:
        return  # nothing to compare with: the date the clock gives stands
    tz = ZoneInfo(options.timezone)
    ahead = date > _stored_on(server, tz)
    behind = options.date is None and date < (server - CLOCK_SLACK).astimezone(tz).date()
    if not (ahead or behind):
        return
    lease.stop(release=True)
    said = "in the future" if ahead else "before the server's today"
    raise ConfigError(
        f"this machine's clock says {now.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC but the bucket's "
        f"server says {server.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC: night {date} would be dated "
        f"{said}; set the clock right and run again"
    )


def _previous(task: _Task) -> Entry:
    if task.previous is None:  # the plan only makes such tasks with an earlier copy
        raise DocbackupError(f"{task.doc.path}: internal error, no earlier copy to reuse")
    return task.previous


def _restore_problem(path: str) -> str | None:
    """A path restore would refuse must not be reported as backed up (S3 keys can be anything)."""
    try:
        safe_parts(path)
    except UnsafePath as exc:
        return f"cannot be restored as a file: {exc}"
    return None


def _one_tree(
    documents: Iterable[Document], failures: list[Problem], storable: Callable[[str], bool]
) -> Iterator[Document]:
    """The documents in the same order, less each file whose name is also a folder of them.

    An S3 source can hold both `Report` and `Report/2026.pdf`; a disk cannot, so a night listing
    both could never be restored in full. The file is reported (the night is partial, naming
    it) and the folder's documents are stored: one object to rename, rather than a folder that
    does not come back. A local folder never has such a pair.

    In path order everything between a file F and the first path under F/ starts with F and a
    character that sorts before '/' (`Report-old.pdf`, `Report.pdf`), and nothing after a path
    F + (a character above '/') can be under F/. So a file is held back only while such names
    follow it, together with them; `candidates` is the chain of held files that each later path
    so far has started with, each a prefix of the next.
    """
    held: collections.deque[Document] = collections.deque()
    candidates: list[Document] = []
    dropped: set[str] = set()
    for doc in documents:
        path = doc.path
        # A path the plan reports (a '..', a key too long) is never a file or folder on disk.
        restorable = storable(path)
        while restorable and candidates:
            name = candidates[-1].path
            after = path[len(name)] if path.startswith(name) and len(path) > len(name) else "~"
            if after < "/":
                break  # still perhaps a folder further on; so is every shorter candidate
            candidates.pop()
            if after == "/":
                dropped.add(name)
                failures.append(
                    Problem(
                        shown(name),
                        f"a folder of the same name holds {shown(path)!r}, and a file and a "
                        "folder cannot share a name on disk: not stored, so that the night "
                        "restores in full; rename one of them",
                    )
                )
        held.append(doc)
        if restorable:
            candidates.append(doc)
        while held and (not candidates or held[0] is not candidates[0]):
            yield from _unless_dropped(held.popleft(), dropped)
    for doc in held:
        yield from _unless_dropped(doc, dropped)


def _unless_dropped(doc: Document, dropped: set[str]) -> Iterator[Document]:
    if doc.path in dropped:
        dropped.discard(doc.path)
    else:
        yield doc


def _known_copies(
    catalog: Catalog, date: dt.date
) -> tuple[list[ManifestStream], ManifestStream | None, list[ManifestArchived]]:
    """Manifests whose copies tonight may reuse: newest first, down to the newest complete one.

    Partial nights newer than that are included, so documents they did store are not sent
    again. Also returns tonight's own manifest if this date already has one (a rerun).

    A manifest an archive class holds is passed over (and returned, to be said): nothing is
    known from that night, so what only it listed is sent again rather than pointed at. That
    costs uploads, never a copy: every entry tonight does reuse comes from a manifest it read,
    goes through the same refresh-before-expiry check, and a refresh of an archived copy is
    sent again from the source (see _Run._refresh).
    """
    known: list[ManifestStream] = []
    tonight = None
    passed_over: list[ManifestArchived] = []
    try:
        for stream in catalog.streams(on_or_before=date, archived=passed_over):
            if stream.manifest.date == date:
                tonight = stream
            known.append(stream)
            if stream.manifest.status == "complete":
                break
    except BaseException:
        for stream in known:
            stream.close()
        raise
    return known, tonight, passed_over


class _Cursor:
    """One manifest's entries, walked forward alongside the source's documents."""

    def __init__(self, entries: Iterator[Entry]) -> None:
        self._entries = entries
        self._head = next(entries, None)

    def take(self, path: str) -> Entry | None:
        while self._head is not None and self._head.path < path:
            self._head = next(self._entries, None)
        if self._head is not None and self._head.path == path:
            return self._head
        return None


@dataclass(slots=True)
class _Summary:
    counts: dict[str, int]
    documents: int
    total_bytes: int
    stored_bytes: int


class _Run:
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
        self.prefix = layout.snapshot_prefix(date, options.set_name)
        # The manifest-to-be, in path order, on disk: a carried-over entry's JSON line after
        # "=", or "?" where a task's entry goes. Only the tasks' entries are held in memory, so
        # a night that changes little needs little memory however many documents it tracks.
        self._lines: BinaryIO = temporary_file()  # closed by close()
        self._carried: dict[str, int] = dict.fromkeys(ACTIONS, 0)
        self._carried_docs = 0
        self._carried_bytes = 0
        self.results: list[Entry | None] = []
        self.failures: list[Problem] = []
        self.tasks: list[_Task] = []
        self.bytes_sent = 0
        self.planned_bytes = 0
        self.fatal: DocbackupError | None = None
        self.lease: Lease | None = None
        self.out_of_time = False
        self.stored_any = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._refresh_age = dt.timedelta(days=options.retention_days - options.margin())

    # -- planning ---------------------------------------------------------------------------

    def plan(
        self,
        documents: Iterable[Document],
        known: list[ManifestStream],
        interrupted: set[str],
        *,
        tonight: bool = False,
    ) -> None:
        """Walk the source and the known manifests side by side, all in path order.

        `tonight`: known[0] is this night's own manifest (a rerun). A copy it lists is never
        written over: without versioning that would destroy it (see layout)."""
        cursors = [_Cursor(m.entries()) for m in known]
        last = None
        for doc in _one_tree(documents, self.failures, self._storable):
            if last is not None and doc.path <= last:
                # The walk sorts; S3 lists general-purpose buckets in this order. A server that
                # does not cannot be compared side by side with the manifests: stop, loudly.
                raise DocbackupError(
                    f"the source listed {shown(doc.path)!r} after {shown(last)!r}, out of key "
                    "order; this S3 server or bucket type is not supported as a source"
                )
            last = doc.path
            # Newest first; the last is the newest complete night, the base for "changed".
            found = [c.take(doc.path) for c in cursors]
            key = self.prefix + doc.path  # layout.document_key, without re-formatting the date
            listed = found[0] if tonight else None
            if listed is not None:
                generation = layout.generation_of(
                    listed.key, self.date, self.options.set_name, doc.path
                )
                if generation is not None:  # tonight's manifest lists a copy of tonight's
                    key = layout.document_key(
                        self.date, self.options.set_name, doc.path, generation + 1
                    )
            problem = layout.key_problem(key) or _restore_problem(doc.path)
            if problem:
                self.failures.append(Problem(shown(doc.path), problem))
                continue
            match = next((e for e in found if e and e.fingerprint == doc.fingerprint), None)
            if match is not None:
                self._plan_same(doc, key, match)
                continue
            previous = found[-1] if found else None
            action: Action = "new" if previous is None else "changed"
            if key in interrupted:
                self._add_task("adopt", doc, key, action, previous)
            elif previous is not None and doc.origin.match(previous.fingerprint) == "maybe":
                self._add_task("recheck", doc, key, action, previous)
            else:
                self._add_task("upload", doc, key, action, previous)

    def _storable(self, path: str) -> bool:
        """Will the plan store this path (before a rerun's generation lengthens its key)?"""
        return layout.key_problem(self.prefix + path) is None and _restore_problem(path) is None

    def _plan_same(self, doc: Document, key: str, entry: Entry) -> None:
        if self.started - entry.stored_datetime() >= self._refresh_age:
            self._add_task("refresh", doc, key, "refreshed", entry)
            return
        self._lines.write(b"=" + entry_line(entry.with_action("unchanged")) + b"\n")
        self._carried["unchanged"] += 1
        self._carried_docs += 1
        self._carried_bytes += entry.size

    def _add_task(
        self, kind: TaskKind, doc: Document, key: str, action: Action, previous: Entry | None
    ) -> None:
        self._lines.write(b"?\n")
        self.tasks.append(_Task(kind, doc, key, action, previous, len(self.tasks)))
        self.results.append(None)
        if kind != "refresh":
            self.planned_bytes += doc.size

    # -- execution --------------------------------------------------------------------------

    def execute(self) -> None:
        tasks = self.tasks
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

    def _guarded(self, task: _Task) -> None:
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

    def _fail(self, task: _Task, exc: Exception) -> None:
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

    def _do(self, task: _Task) -> None:
        if task.kind == "refresh":
            entry = self._refresh(task)
        elif task.kind == "adopt":
            entry = self._adopt(task) or self._send(task)
        else:
            entry = self._send(task)
        with self._lock:
            self.results[task.index] = entry
        self.reporter.advance(task.doc.path, task.doc.size)

    def _send(self, task: _Task) -> Entry:
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
        return Entry(
            path=doc.path,
            size=outcome.size,
            mtime_ns=outcome.mtime_ns,
            sha256=outcome.sha256,
            key=task.key,
            version_id=outcome.stored.version_id,
            action=task.action,
            stored_at=self.clock().isoformat(),
            fingerprint=outcome.fingerprint,
        )

    def _refresh(self, task: _Task) -> Entry:
        previous = _previous(task)
        try:
            stored = transfer.refresh(self.store, task.key, previous, self.options.encryption)
        except ObjectNotFound:
            # The old copy is already gone (nights were missed): send the document again.
            return self._send(replace(task, kind="upload", action="changed"))
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

    def _adopt(self, task: _Task) -> Entry | None:
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
        sha = meta.get(META_SHA256) or hash_stored(self.store, task.key, info.version_id)[0]
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

    def summary(self) -> _Summary:
        counts = dict(self._carried)
        documents, total, stored = self._carried_docs, self._carried_bytes, 0
        for entry in self.results:
            if entry is not None:
                counts[entry.action] += 1
                documents += 1
                total += entry.size
                if entry.action in ("new", "changed", "resent"):
                    stored += entry.size
        return _Summary(counts, documents, total, stored)

    def status(self) -> Status:
        return "partial" if self.failures or self.fatal else "complete"

    def sorted_failures(self) -> tuple[Problem, ...]:
        return tuple(sorted(self.failures, key=lambda f: f.path))

    @contextlib.contextmanager
    def write_manifest(
        self, summary: _Summary, source: str, finished: dt.datetime
    ) -> Iterator[tuple[BinaryIO, str]]:
        """The manifest written out to a temporary file, and its SHA-256 (base64)."""
        head = Manifest(
            set=self.options.set_name,
            date=self.date,
            status=self.status(),
            started_at=self.started.isoformat(),
            finished_at=finished.isoformat(),
            source=source,
            retention_days=self.options.retention_days,
            encryption=self.options.encryption.describe(),
            tool_version=__version__,
            entries={},
            bytes_uploaded=self.bytes_sent,
            counts=summary.counts,
        ).head() | {"documents": summary.documents, "bytes": summary.total_bytes}
        with temporary_file() as body:
            out = _HashingWriter(body)
            write_json(out, head, self._entry_lines(), self.sorted_failures())
            body.seek(0)
            yield body, base64.b64encode(out.sha.digest()).decode()

    def _entry_lines(self) -> Iterator[bytes]:
        self._lines.seek(0)
        results = iter(self.results)
        for line in self._lines:
            if line.startswith(b"="):
                yield line[1:-1]
            elif (entry := next(results)) is not None:
                yield entry_line(entry)

    def close(self) -> None:
        self._lines.close()


class _HashingWriter:
    """Writes through to a file and hashes what it writes."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.sha = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self._out.write(data)
