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

import itertools
import time
from collections.abc import Iterator
from typing import Literal
from zoneinfo import ZoneInfo

from docbackup import layout
from docbackup.engine.catalog import Catalog
from docbackup.engine.guards import (
    refuse_a_wrong_clock,
    refuse_new_source,
    refuse_rewriting_history,
    refuse_unversioned,
    take_night,
)
from docbackup.engine.lease import NightBusy
from docbackup.engine.night import Night, Summary, store_manifest
from docbackup.engine.options import MIN_RETENTION_DAYS, BackupOptions, Clock, run_date, utc_now
from docbackup.engine.plan import interrupted_copies, known_copies
from docbackup.engine.presence import Presence
from docbackup.engine.progress import NullReporter, Reporter
from docbackup.engine.readback import ReadBack, due_copies, read_back, reading_time
from docbackup.engine.results import BackupResult
from docbackup.errors import ConfigError, DocbackupError, EncryptionNotConfirmed
from docbackup.manifest import ManifestStream, Problem
from docbackup.sources.base import Document, ScanResult, Source
from docbackup.storage.base import ObjectInfo, Store


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
    if options.allow_unversioned:
        store.check_access()
    else:
        refuse_unversioned(store)  # which also checks access
    future_nights = refuse_rewriting_history(catalog, date, ZoneInfo(options.timezone))
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
    known, tonight, passed_over = known_copies(catalog, date)
    if not known or known[0].manifest.encryption != options.encryption.describe():
        # Before the first write. A night whose last manifest was written under this very key
        # needs no question to KMS: S3 itself refuses a key that has since become unusable.
        store.check_encryption(options.encryption)
    run = Night(store, source, options, date, started, reporter, clock)
    manifest_key = None
    try:
        if known and not options.allow_new_source:
            refuse_new_source(known[0], source.describe())
        if not options.dry_run:
            run.lease = take_night(store, options, date, tonight)
            if options.check_clock:
                refuse_a_wrong_clock(run.lease, options, date, started)
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
        for task in run.plan.tasks:
            counts[task.action] += 1
        documents_count += len(run.plan.tasks)
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
        healed=counts["healed"],
        lost=tuple(sorted(run.plan.lost, key=lambda p: p.path)),
        failed=len(run.failures),
        bytes_uploaded=run.plan.planned_bytes if options.dry_run else run.bytes_sent,
        total_bytes=summary.total_bytes,
        duration_s=time.monotonic() - t0,
        manifest_key=manifest_key,
        dry_run=options.dry_run,
        failures=run.sorted_failures(),
        skipped=tuple(Problem(s.path, s.reason) for s in scan.skipped if not s.failure),
        error=None if run.fatal is None else str(run.fatal),
        out_of_time=run.out_of_time,
        bytes_stored=run.plan.planned_bytes if options.dry_run else summary.stored_bytes,
        excluded=scan.excluded,
        manifests_archived=tuple(
            Problem(f"{a.date} manifest", str(a)) for a in sorted(passed_over, key=lambda a: a.date)
        ),
        future_nights=tuple(future_nights),
        read_back=run.read_back.summary() if run.read_back else None,
        damaged=run.damaged,
    )


def _read_back(run: Night, known: list[ManifestStream]) -> ReadBack | None:
    """Tonight's share of the stored copies, read and re-hashed before the plan (which heals
    a damaged one); none on a dry run or without a budget."""
    options = run.options
    if options.dry_run or options.read_back_bytes <= 0 or not known:
        return None
    try:
        return _read_some(run, known)
    except DocbackupError as exc:
        # A manifest that would not read again, say: the night goes on without the check,
        # and says so (the notice is due for an unread copy).
        return ReadBack(unread=[Problem("(read-back)", f"not done tonight: {exc}")])


def _read_some(run: Night, known: list[ManifestStream]) -> ReadBack:
    options = run.options
    # The refresh cycle: a carried copy is replaced by its refresh after this many nights.
    cycle = options.retention_days - options.margin()
    due = due_copies(known, run.date, cycle)
    return read_back(
        run.store,
        due,
        budget_bytes=options.read_back_bytes,
        workers=options.workers,
        seconds=reading_time(options.time_left, options.reserve_s),
    )


def _beyond_repair(run: Night) -> tuple[Problem, ...]:
    """Damaged copies whose bytes tonight holds no good copy of, nor will: the source no
    longer has them (the document changed or is gone). The damaged copy was the last.

    A document whose sending failed or was not reached (a partial night) is not counted: the
    source may still have its bytes, and the next run sends it."""
    if run.read_back is None or not run.read_back.damaged:
        return ()
    damaged = run.read_back.damaged
    paths = {d.path for d in damaged.values()}
    try:
        # A good copy of the same bytes under another key: stored tonight, or carried.
        good = {
            (e.path, e.sha256)
            for e in run.carried_and_stored(paths)
            if (e.key, e.version_id) not in damaged
        }
        pending = run.unsent(paths)
    except (OSError, ValueError) as exc:
        # Tonight's own lists could not be read again: say every damaged copy, not none.
        return tuple(
            Problem(d.path, f"{d.reason}; whether a good copy is left is not known ({exc})")
            for d in damaged.values()
        )
    return tuple(
        sorted(
            (
                Problem(d.path, f"{d.reason}; no good copy is left ({key})")
                for (key, _), d in damaged.items()
                if (d.path, d.sha256) not in good and d.path not in pending
            ),
            key=lambda p: p.path,
        )
    )


def _plan_and_run(
    run: Night,
    catalog: Catalog,
    source: Source,
    scan: ScanResult,
    documents: Iterator[Document],
    known: list[ManifestStream],
    tonight: ManifestStream | None,
    tonight_at_start: ObjectInfo | None,
) -> tuple[str | None, Summary]:
    """Plan, transfer and write the manifest, with the lease held; returns the manifest's key
    (None when none was written) and what the night holds."""
    options, date = run.options, run.date
    manifest_key = None
    try:
        # Inside the try: whatever the read-back raises, the lease is let go below.
        run.read_back = _read_back(run, known)
        damaged = {c: d.reason for c, d in run.read_back.damaged.items()} if run.read_back else None
        # Versions are listed where the run saw versioning on; otherwise the current objects.
        presence = Presence(
            run.store, options.set_name, versioned=not options.allow_unversioned, damaged=damaged
        )
        run.make_plan(
            documents,
            known,
            interrupted=interrupted_copies(catalog, date, tonight),
            tonight=tonight is not None,
            presence=presence,
        )
        for where, reason in presence.unconfirmed.items():
            # Carried as before, but a night that could not look is not called complete.
            run.failures.append(
                Problem(where, f"could not confirm that these copies are still stored: {reason}")
            )
        for skipped in scan.skipped:
            if skipped.failure:
                run.failures.append(Problem(skipped.path, skipped.reason))
        if not options.dry_run:
            run.execute()
        run.damaged = _beyond_repair(run)
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
                manifest_key = store_manifest(run, catalog, body, sha, tonight_at_start)
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
