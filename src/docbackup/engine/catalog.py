"""The snapshots of one set: which nights exist, reading and writing their manifests."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator, Mapping
from typing import BinaryIO

from docbackup import layout
from docbackup.engine.integrity import confirm
from docbackup.engine.results import SnapshotInfo
from docbackup.engine.spool import temporary_file
from docbackup.errors import (
    ConfigError,
    ManifestArchived,
    ManifestError,
    ObjectArchived,
    ObjectNotFound,
)
from docbackup.manifest import ManifestStream
from docbackup.storage.base import Encryption, Store

_SPOOL_CHUNK = 1 << 20


class Catalog:
    def __init__(self, store: Store, set_name: str) -> None:
        self.store = store
        self.set = layout.check_set_name(set_name)
        self._dates: list[dt.date] | None = None
        # Nights newer than the one `latest` chose, passed over because they are not complete.
        self.passed_over: list[dt.date] = []

    def dates(self) -> list[dt.date]:
        """Dates that have anything stored, newest first (one LIST per 1,000 dates)."""
        if self._dates is None:
            found = (layout.date_from_prefix(p) for p in self.store.folders(layout.ROOT))
            self._dates = sorted((d for d in found if d is not None), reverse=True)
        return self._dates

    def has_snapshot(self, date: dt.date) -> bool:
        """Does this set have anything stored on `date` (a manifest or copies)?"""
        if self.store.head(layout.manifest_key(date, self.set)) is not None:
            return True
        return (
            next(iter(self.store.objects(layout.snapshot_prefix(date, self.set))), None) is not None
        )

    def _open(self, date: dt.date) -> BinaryIO:
        key = layout.manifest_key(date, self.set)
        try:
            return self.store.open(key)
        except ObjectArchived as exc:
            where = exc.storage_class or "an archive storage class"
            raise ManifestArchived(
                f"the manifest of {date} ({key}) is in {where}: run `docbackup restore {date} "
                "--to DIR --tier bulk|standard|expedited` to have S3 bring it back first",
                exc.storage_class,
                key=key,
                date=date,
            ) from None

    def stream(self, date: dt.date) -> ManifestStream | None:
        """The manifest of `date`, None if that night has none; the body goes to a temporary file
        and is read a line at a time. ManifestError if untrustworthy, ManifestArchived if an
        archive class holds it."""
        spool = temporary_file()  # closed by the stream, or below
        try:
            try:
                with self._open(date) as body:
                    shutil.copyfileobj(body, spool, _SPOOL_CHUNK)
            except ObjectNotFound:
                spool.close()
                return None
            return ManifestStream(spool, expect_set=self.set, expect_date=date)
        except BaseException:
            spool.close()
            raise

    def streams(
        self, *, on_or_before: dt.date, archived: list[ManifestArchived] | None = None
    ) -> Iterator[ManifestStream]:
        """The manifests up to `on_or_before`, streamed: newest first, unreadable ones skipped;
        those skipped because an archive class holds them are added to `archived`."""
        for date in self.dates():
            if date > on_or_before:
                continue
            try:
                found = self.stream(date)
            except ManifestError:
                continue
            except ManifestArchived as exc:
                if archived is not None:
                    archived.append(exc)
                continue
            if found is not None:
                yield found

    def resolve(self, when: str) -> ManifestStream:
        """`latest` (the newest complete night, else the newest) or a YYYY-MM-DD date, streamed;
        the caller closes it."""
        if when == "latest":
            found = self._latest()
            if found is None:
                raise ConfigError(
                    f"no snapshot of set {self.set!r} in bucket {self.store.bucket!r}"
                )
            return found
        date = layout.parse_date(when)
        found = self.stream(date)
        if found is None:
            raise ConfigError(
                f"no snapshot of set {self.set!r} on {date}; `docbackup list` shows the dates"
            )
        return found

    def _latest(self) -> ManifestStream | None:
        """The newest complete night, else the newest; an unreadable or archived one on the way
        is an error, never silently passed over for an older night."""
        newest = None
        self.passed_over = []
        try:
            for date in self.dates():
                found = self.stream(date)
                if found is None:
                    continue
                if found.manifest.status == "complete":
                    if newest is not None:
                        newest.close()
                    return found
                self.passed_over.append(date)
                if newest is None:
                    newest = found
                else:
                    found.close()
        except BaseException:
            if newest is not None:
                newest.close()
            raise
        self.passed_over = []  # none is complete: `latest` is the newest night itself
        return newest

    def write_body(
        self,
        date: dt.date,
        body: BinaryIO,
        sha256_b64: str,
        encryption: Encryption,
        *,
        metadata: Mapping[str, str] | None = None,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> str:
        """Store a manifest already written out (see manifest.write_json), from a file; with a
        condition, PreconditionFailed when the stored manifest is not the one expected."""
        key = layout.manifest_key(date, self.set)
        stored = self.store.put(
            key,
            body,
            sha256_b64=sha256_b64,
            metadata=metadata or {},
            encryption=encryption,
            if_none_match=if_none_match,
            if_match=if_match,
        )
        confirm(encryption, f"the manifest {key}", stored.sse, stored.kms_key_id)
        return key

    def lost_after(self, date: dt.date) -> dict[tuple[str, str | None], tuple[dt.date, str]]:
        """The copies nights after `date` found gone or damaged (their manifests' `lost`): by
        key and version, the first night that found each, and why. A manifest that cannot be
        read is passed over: what it found is not known."""
        lost: dict[tuple[str, str | None], tuple[dt.date, str]] = {}
        for newer in sorted(d for d in self.dates() if d > date):
            try:
                found = self.stream(newer)
            except (ManifestError, ManifestArchived):
                continue
            if found is None:
                continue
            with found:
                _note_lost(lost, found)
        return lost

    def snapshots(self, *, now: dt.datetime, limit: int | None = None) -> list[SnapshotInfo]:
        """The nights newest first (at most `limit`), each manifest streamed, not held.

        A night is read after every newer one, so the copies newer nights found gone or
        damaged (their manifests' `lost`) are known when its entries are counted."""
        infos: list[SnapshotInfo] = []
        lost: dict[tuple[str, str | None], tuple[dt.date, str]] = {}
        for date in self.dates():
            if limit is not None and len(infos) >= limit:
                break
            try:
                found = self.stream(date)
            except ManifestError as exc:
                infos.append(SnapshotInfo(date, self.set, "invalid", 0, 0, 0, False, str(exc)))
                continue
            except ManifestArchived as exc:
                infos.append(archived_night(exc, self.set))
                continue
            if found is None:
                continue
            with found:
                infos.append(describe(found, now=now, lost=lost))
                _note_lost(lost, found)
        return infos


def _note_lost(
    lost: dict[tuple[str, str | None], tuple[dt.date, str]], night: ManifestStream
) -> None:
    """Add the copies `night` found gone or damaged; a copy already noted keeps its night."""
    for copy in night.manifest.lost:
        lost.setdefault((copy.key, copy.version_id), (night.manifest.date, copy.reason))


def archived_night(exc: ManifestArchived, set_name: str) -> SnapshotInfo:
    """A night known only from its key: its counts are in the manifest S3 cannot read yet."""
    where = exc.storage_class or "an archive storage class"
    note = f"manifest in {where}: restore {exc.date} --tier bulk|standard|expedited first"
    return SnapshotInfo(exc.date, set_name, "archived", 0, 0, 0, False, note)


def describe(
    stream: ManifestStream,
    *,
    now: dt.datetime,
    lost: Mapping[tuple[str, str | None], tuple[dt.date, str]] | None = None,
) -> SnapshotInfo:
    """Is every copy this night lists still within retention, and not known gone? (G3: which
    dates restore fully). `lost`: copies newer nights found gone, with the night that found
    each and why."""
    header = stream.manifest
    retention_days = header.retention_days
    oldest: dt.datetime | None = None
    missing: list[tuple[dt.date, str, str]] = []
    for e in stream.entries():
        stored = e.stored_datetime()
        oldest = stored if oldest is None or stored < oldest else oldest
        if lost:
            found = lost.get((e.key, e.version_id))
            if found is not None:
                missing.append((found[0], e.path, found[1]))
    until = None
    note = None
    if oldest is not None:
        expires = oldest + dt.timedelta(days=retention_days)
        until = (expires - dt.timedelta(microseconds=1)).date()
        if expires <= now:
            note = f"copies stored {oldest.date()} have passed the {retention_days}-day retention"
    if header.unreadable:
        # Entries that cannot be trusted restore nothing: the night does not restore fully.
        first = header.unreadable[0]
        more = f" and {len(header.unreadable) - 1} more" if len(header.unreadable) > 1 else ""
        note = f"{first.path}{more}: entry cannot be trusted: {first.reason}"
    if missing:
        when, path, why = min(missing)
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        note = f"{path}{more}: copy found missing by the night of {when}: {why}"
    if header.status != "complete":
        note = f"partial run: {len(header.failures)} document(s) were not stored"
    return SnapshotInfo(
        date=header.date,
        set=header.set,
        status=header.status,
        documents=header.documents,
        bytes=header.total_bytes,
        failed=len(header.failures),
        restorable=note is None,
        note=note,
        new=header.counts.get("new", 0),
        changed=header.counts.get("changed", 0),
        refreshed=header.counts.get("refreshed", 0),
        bytes_uploaded=header.bytes_uploaded,
        duration_s=_duration(header.started_at, header.finished_at),
        restorable_until=until,
        finished_at=moment(header.finished_at),
        checked_at=moment(header.checked_at) if header.checked_at else None,
        missing=len(missing),
        healed=header.counts.get("healed", 0),
    )


def moment(text: str) -> dt.datetime | None:
    """A manifest's timestamp as a datetime with a zone (UTC when it has none), or None."""
    try:
        when = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _duration(started: str, finished: str) -> float | None:
    try:
        seconds = dt.datetime.fromisoformat(finished) - dt.datetime.fromisoformat(started)
    except (TypeError, ValueError):
        return None
    return round(seconds.total_seconds(), 1)
