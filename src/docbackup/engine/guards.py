"""The checks before a night stores anything: each refuses, in one line, a run that would
do harm (no versions to fall back on, another source, a history rewritten, a wrong clock, an
encryption the server does not apply)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from docbackup import layout
from docbackup.engine.catalog import Catalog
from docbackup.engine.integrity import unconfirmed
from docbackup.engine.lease import Lease
from docbackup.engine.options import BackupOptions
from docbackup.errors import AccessDenied, ConfigError, EncryptionNotApplied
from docbackup.manifest import ManifestStream
from docbackup.storage.base import Store

# How far the server's clock may be behind this machine's before a night dated after the
# server's date is taken for a wrong clock rather than for a run just after midnight.
CLOCK_SLACK = dt.timedelta(hours=1)


def refuse_unversioned(store: Store) -> None:
    """A bucket that keeps no versions is refused before anything is written (exit 2).

    The answer also shows the bucket is there and these credentials reach it, so a run that
    asks needs no HeadBucket: one request less each night."""
    try:
        state = store.versioning()
    except AccessDenied:
        store.check_access()  # refused the bucket as a whole: say that, not a missing permission
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


def refuse_new_source(newest: ManifestStream, source: str) -> None:
    """Backing up another source into a set replaces what its nights hold: only when asked."""
    before = newest.manifest
    if before.source != source:
        raise ConfigError(
            f"set {before.set!r} holds backups of {before.source} (last on {before.date}), not "
            f"of {source}: pass --allow-new-source to back this source up into it, or choose "
            "another --set"
        )


def take_night(
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


def refuse_rewriting_history(catalog: Catalog, date: dt.date, tz: dt.tzinfo) -> list[dt.date]:
    """A night older than the set's newest may not be written: newer nights point at its copies.

    Writing a new version under an older night's key would make the version a newer manifest
    lists noncurrent, and lifecycle would then delete it.

    A night dated after the day the server stored its manifest is not newer, though: a run
    whose clock was ahead wrote it, and honouring it would refuse every night until the date
    caught up. The server's clock decides, never this machine's (a clock behind would take last
    night for such a one and write over the night before). Tonight's keys are its own date's,
    which that night never saw, so it loses nothing; such nights are returned (the result names
    them), passed over for comparison (see known_copies) and left as they are.
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


def refuse_a_wrong_clock(
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
