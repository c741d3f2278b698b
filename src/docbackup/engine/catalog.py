"""The snapshots of one set: which nights exist, reading and writing their manifests."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Iterator

from docbackup import layout
from docbackup.engine.results import SnapshotInfo
from docbackup.errors import ConfigError, EncryptionNotConfirmed, ManifestError, ObjectNotFound
from docbackup.manifest import Manifest
from docbackup.storage.base import Encryption, Store


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

    def resolve(self, when: str) -> Manifest:
        """`latest` (the newest complete night, else the newest) or a YYYY-MM-DD date."""
        if when == "latest":
            manifest = self._latest()
            if manifest is None:
                raise ConfigError(
                    f"no snapshot of set {self.set!r} in bucket {self.store.bucket!r}"
                )
            return manifest
        date = layout.parse_date(when)
        manifest = self.load(date)
        if manifest is None:
            raise ConfigError(
                f"no snapshot of set {self.set!r} on {date}; `docbackup list` shows the dates"
            )
        return manifest

    def _latest(self) -> Manifest | None:
        """The newest complete night, else the newest; an unreadable one on the way is an error,
        never silently passed over for an older night."""
        newest = None
        for date in self.dates():
            manifest = self.load(date)
            if manifest is None:
                continue
            if manifest.status == "complete":
                return manifest
            newest = newest or manifest
        return newest

    def write(self, manifest: Manifest, encryption: Encryption) -> str:
        key = layout.manifest_key(manifest.date, manifest.set)
        data = manifest.to_json()
        sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
        stored = self.store.put(key, data, sha256_b64=sha, metadata={}, encryption=encryption)
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
