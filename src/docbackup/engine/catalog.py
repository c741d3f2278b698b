"""The snapshots of one set: which nights exist, reading and writing their manifests."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import shutil
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from docbackup import layout
from docbackup.engine.results import SnapshotInfo
from docbackup.errors import ConfigError, EncryptionNotConfirmed, ManifestError, ObjectNotFound
from docbackup.manifest import Manifest, ManifestStream
from docbackup.storage.base import Encryption, Store

_SPOOL_CHUNK = 1 << 20


class Catalog:
    def __init__(self, store: Store, set_name: str) -> None:
        self.store = store
        self.set = layout.check_set_name(set_name)
        self._dates: list[dt.date] | None = None

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

    def load(self, date: dt.date) -> Manifest | None:
        """The manifest of `date`, None if that night has none; ManifestError if untrustworthy."""
        try:
            with self.store.open(layout.manifest_key(date, self.set)) as body:
                data = body.read()
        except ObjectNotFound:
            return None
        return Manifest.from_json(data, expect_set=self.set, expect_date=date)

    def stream(self, date: dt.date) -> ManifestStream | None:
        """Like `load`, but the body goes to a temporary file and is read a line at a time."""
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the stream, or below
        try:
            try:
                with self.store.open(layout.manifest_key(date, self.set)) as body:
                    shutil.copyfileobj(body, spool, _SPOOL_CHUNK)
            except ObjectNotFound:
                spool.close()
                return None
            return ManifestStream(spool, expect_set=self.set, expect_date=date)
        except BaseException:
            spool.close()
            raise

    def streams(self, *, on_or_before: dt.date) -> Iterator[ManifestStream]:
        """`manifests`, streamed: newest first, unreadable ones skipped."""
        for date in self.dates():
            if date > on_or_before:
                continue
            try:
                found = self.stream(date)
            except ManifestError:
                continue
            if found is not None:
                yield found

    def manifests(self, *, on_or_before: dt.date | None = None) -> Iterator[Manifest]:
        """Manifests newest first; unreadable ones are skipped here (list shows them)."""
        for date in self.dates():
            if on_or_before is not None and date > on_or_before:
                continue
            try:
                manifest = self.load(date)
            except ManifestError:
                continue
            if manifest is not None:
                yield manifest

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
        """The newest complete night, else the newest; an unreadable one on the way is an error,
        never silently passed over for an older night."""
        newest = None
        try:
            for date in self.dates():
                found = self.stream(date)
                if found is None:
                    continue
                if found.manifest.status == "complete":
                    if newest is not None:
                        newest.close()
                    return found
                if newest is None:
                    newest = found
                else:
                    found.close()
        except BaseException:
            if newest is not None:
                newest.close()
            raise
        return newest

    def write(self, manifest: Manifest, encryption: Encryption) -> str:
        data = manifest.to_json()
        sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
        return self.write_body(manifest.date, io.BytesIO(data), sha, encryption)

    def write_body(
        self, date: dt.date, body: BinaryIO, sha256_b64: str, encryption: Encryption
    ) -> str:
        """Store a manifest already written out (see manifest.write_json), from a file."""
        key = layout.manifest_key(date, self.set)
        stored = self.store.put(
            key, body, sha256_b64=sha256_b64, metadata={}, encryption=encryption
        )
        if not encryption.confirmed_by(stored.sse, stored.kms_key_id):
            raise EncryptionNotConfirmed(
                f"the server did not confirm {encryption.describe()} for the manifest {key}"
            )
        return key

    def snapshots(self, *, now: dt.datetime) -> list[SnapshotInfo]:
        infos = []
        for date in self.dates():
            try:
                manifest = self.load(date)
            except ManifestError as exc:
                infos.append(SnapshotInfo(date, self.set, "invalid", 0, 0, 0, False, str(exc)))
                continue
            if manifest is None:
                continue
            infos.append(describe(manifest, now=now))
        return infos


def describe(manifest: Manifest, *, now: dt.datetime) -> SnapshotInfo:
    """Is every copy this night lists still within retention? (G3: which dates restore fully)."""
    retention_days = manifest.retention_days
    note = None
    if manifest.status != "complete":
        note = f"partial run: {len(manifest.failures)} document(s) were not stored"
    elif manifest.entries:
        oldest = min(e.stored_datetime() for e in manifest.entries.values())
        expires = oldest + dt.timedelta(days=retention_days)
        if expires <= now:
            note = f"copies stored {oldest.date()} have passed the {retention_days}-day retention"
    return SnapshotInfo(
        date=manifest.date,
        set=manifest.set,
        status=manifest.status,
        documents=len(manifest.entries),
        bytes=manifest.total_bytes,
        failed=len(manifest.failures),
        restorable=note is None,
        note=note,
    )
