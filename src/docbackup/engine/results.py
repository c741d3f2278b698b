"""What the engine returns: frozen results that the adapters render."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

# One class for a path and why, whether a manifest records it or a result reports it.
from docbackup.manifest import Problem

if TYPE_CHECKING:
    from docbackup.engine.archive import ThawPlan

__all__ = [
    "BackupResult",
    "Mismatch",
    "Problem",
    "RestoreResult",
    "RunStatus",
    "SetState",
    "SnapshotInfo",
    "VerifyResult",
    "WatchResult",
]

RunStatus = Literal["complete", "partial", "failed"]


@dataclass(frozen=True, slots=True)
class SetState:
    name: str
    newest: dt.date | None  # its newest date with a manifest or copies; None once all expired
    # When its newest complete night (within retention) finished, in the set's own zone
    # offset as its manifest gives it; None when it has none.
    last_complete: dt.datetime | None
    last_complete_date: dt.date | None
    retired: bool
    stale: bool

    def summary(self) -> dict[str, object]:
        return {
            "set": self.name,
            "newest": self.newest.isoformat() if self.newest else None,
            "last_complete": self.last_complete.isoformat() if self.last_complete else None,
            "last_complete_date": (
                self.last_complete_date.isoformat() if self.last_complete_date else None
            ),
            "retired": self.retired,
            "stale": self.stale,
        }

    def said(self, now: dt.datetime) -> str:
        """One line for a log or a notice."""
        if self.last_complete is None or self.last_complete_date is None:
            newest = f" (newest night {self.newest})" if self.newest else " (none left)"
            return f"set {self.name}: no complete night within retention{newest}"
        hours = (now - self.last_complete).total_seconds() / 3600
        return (
            f"set {self.name}: no complete night for {hours:.0f} hours (last complete "
            f"{self.last_complete_date}, finished {self.last_complete.isoformat()})"
        )


@dataclass(frozen=True, slots=True)
class WatchResult:
    checked_at: dt.datetime
    sets: tuple[SetState, ...]
    # Manifests that could not be read (unreadable, archived): the set is judged without them.
    problems: tuple[Problem, ...] = ()

    @property
    def stale(self) -> tuple[SetState, ...]:
        return tuple(s for s in self.sets if s.stale)

    def summary(self) -> dict[str, object]:
        return {
            "checked_at": self.checked_at.isoformat(),
            "stale": [s.name for s in self.stale],
            "sets": [s.summary() for s in self.sets],
            "problems": [{"path": p.path, "reason": p.reason} for p in self.problems],
        }


@dataclass(frozen=True, slots=True)
class BackupResult:
    status: RunStatus
    date: dt.date
    set: str
    documents: int
    new: int
    changed: int
    unchanged: int
    refreshed: int
    failed: int
    bytes_uploaded: int
    total_bytes: int
    duration_s: float
    manifest_key: str | None
    dry_run: bool
    failures: tuple[Problem, ...]
    skipped: tuple[Problem, ...]
    error: str | None = None
    # Stopped starting transfers because the time limit was near (a Lambda's timeout).
    out_of_time: bool = False
    # Size of the new and changed documents stored tonight, however they travelled (an upload
    # from here, or a copy inside S3 that sent no bytes through this machine).
    bytes_stored: int = 0
    # Left out by the exclude patterns (an excluded folder counts once): not a failure.
    excluded: int = 0
    # Due for a refresh, but sent again from the source: an archive class held the old copy.
    resent: int = 0
    # Unchanged, but their copies were gone from the bucket (or not as the manifest said):
    # sent again from the source. `lost` names each copy found so and why.
    healed: int = 0
    lost: tuple[Problem, ...] = ()
    # Earlier nights whose manifest an archive class holds: not compared with, so what only
    # they listed was sent again.
    manifests_archived: tuple[Problem, ...] = ()
    # Nights dated after this run's today (a clock that ran ahead wrote them): passed over,
    # left as they are.
    future_nights: tuple[dt.date, ...] = ()
    # What tonight's read-back of stored copies did (engine.readback), None if none ran.
    read_back: dict[str, object] | None = None
    # Stored copies found damaged whose document could not be sent again with the same bytes:
    # the only copy of those bytes is bad (the VerifyMismatch metric counts them).
    damaged: tuple[Problem, ...] = ()
    # The nightly function's look at every set in the bucket after its night (engine.watch),
    # or why it could not look; neither on the office machine.
    watched: WatchResult | None = None
    watch_error: str | None = None

    def summary(self) -> dict[str, object]:
        return {
            "status": self.status,
            "date": self.date.isoformat(),
            "set": self.set,
            "documents": self.documents,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "refreshed": self.refreshed,
            "resent": self.resent,
            "healed": self.healed,
            "failed": self.failed,
            "bytes_uploaded": self.bytes_uploaded,
            "bytes_stored": self.bytes_stored,
            "bytes": self.total_bytes,
            "duration_s": round(self.duration_s, 3),
            "manifest_key": self.manifest_key,
            "dry_run": self.dry_run,
            "failures": [{"path": p.path, "reason": p.reason} for p in self.failures],
            "skipped": [{"path": p.path, "reason": p.reason} for p in self.skipped],
            "lost": [{"path": p.path, "reason": p.reason} for p in self.lost],
            "error": self.error,
            "out_of_time": self.out_of_time,
            "excluded": self.excluded,
            "manifests_archived": [
                {"path": p.path, "reason": p.reason} for p in self.manifests_archived
            ],
            "future_nights": [d.isoformat() for d in self.future_nights],
            "read_back": self.read_back,
            "damaged": [{"path": p.path, "reason": p.reason} for p in self.damaged],
            **({"watched": self.watched.summary()} if self.watched else {}),
            **({"watch_error": self.watch_error} if self.watch_error else {}),
        }


@dataclass(frozen=True, slots=True)
class RestoreResult:
    status: RunStatus
    date: dt.date
    set: str
    restored: int
    failed: int
    bytes: int
    failures: tuple[Problem, ...]
    # Of the failed: documents whose copy is in an archive class (GLACIER, DEEP_ARCHIVE), and
    # how many of those a restore request was made for by this run.
    archived: int = 0
    restores_requested: int = 0
    # Set when the night's manifest itself is in an archive class, so that no document could
    # be restored: what is in the way, and whether it was asked back.
    manifest_archived: str | None = None
    # Documents the night itself lacks: its backup could not store them (a partial night).
    not_stored: tuple[Problem, ...] = ()
    # Set when `latest` passed over newer nights that are not complete: which, and what to do.
    latest_note: str | None = None
    # Temporary files an interrupted earlier restore left in the target, removed by this one.
    stale_removed: int = 0
    # Of the restored: documents an earlier run put in place, found byte for byte and left.
    already_there: int = 0
    # The archived copies met, with what asking for them back takes and costs.
    thaw: ThawPlan | None = None
    # Archived copies (or the manifest) on their way back: what `restore --wait` waits for.
    coming_back: int = 0

    def summary(self) -> dict[str, object]:
        return {
            "status": self.status,
            "date": self.date.isoformat(),
            "set": self.set,
            "restored": self.restored,
            "failed": self.failed,
            "bytes": self.bytes,
            "archived": self.archived,
            "restores_requested": self.restores_requested,
            "manifest_archived": self.manifest_archived,
            "failures": [{"path": p.path, "reason": p.reason} for p in self.failures],
            "not_stored": [{"path": p.path, "reason": p.reason} for p in self.not_stored],
            "latest_note": self.latest_note,
            "stale_removed": self.stale_removed,
            "already_there": self.already_there,
            "coming_back": self.coming_back,
            "archive": self.thaw.summary() if self.thaw else None,
        }


@dataclass(frozen=True, slots=True)
class Mismatch:
    """What verify found wrong in one night: a document's copy (`path`), or the night's
    manifest itself (`path` is its key). `date` is None only for a run that stopped."""

    date: dt.date | None
    path: str
    reason: str

    def shown(self) -> str:
        return self.path if self.date is None else f"{self.date} {self.path}"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    status: Literal["ok", "mismatch"]
    dates: tuple[dt.date, ...]
    checked: int
    deep: bool
    mismatches: tuple[Mismatch, ...]
    # Of the copies checked, how many were missing or not as their manifest says (a copy that
    # several nights list is one copy here, and a mismatch of each of those nights).
    bad_copies: int = 0

    def summary(self) -> dict[str, object]:
        return {
            "status": self.status,
            "dates": [d.isoformat() for d in self.dates],
            "checked": self.checked,
            "bad_copies": self.bad_copies,
            "deep": self.deep,
            "mismatches": len(self.mismatches),
            "problems": [
                {
                    "date": None if p.date is None else p.date.isoformat(),
                    "path": p.path,
                    "reason": p.reason,
                }
                for p in self.mismatches
            ],
        }


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """One night of a set as `list`, `status` and the report show it, from its manifest."""

    date: dt.date
    set: str
    # complete, partial, invalid (the manifest could not be read) or archived (an archive
    # class holds the manifest: see Catalog.snapshots)
    status: str
    documents: int
    bytes: int
    failed: int
    restorable: bool
    # Why the snapshot is not fully restorable, when it is not.
    note: str | None
    new: int = 0
    changed: int = 0
    refreshed: int = 0
    bytes_uploaded: int = 0
    duration_s: float | None = None
    # The last day on which the night is still fully restorable: its oldest copy passes
    # retention on that day (or at its very end).
    restorable_until: dt.date | None = None
    # When the night's run ended (from its manifest), None if the manifest did not say.
    finished_at: dt.datetime | None = None
    # When every copy the night points at was last confirmed in the bucket: its own run's
    # check (None for a night whose run could not look, or written before the check existed).
    checked_at: dt.datetime | None = None
    # Copies the night points at that a later night found gone or damaged: the night does not
    # restore those documents.
    missing: int = 0
    # Documents the night stored again because their earlier copy was gone or damaged.
    healed: int = 0

    def summary(self) -> dict[str, object]:
        return {
            "date": self.date.isoformat(),
            "set": self.set,
            "status": self.status,
            "documents": self.documents,
            "bytes": self.bytes,
            "failed": self.failed,
            "restorable": self.restorable,
            "note": self.note,
            "new": self.new,
            "changed": self.changed,
            "refreshed": self.refreshed,
            "bytes_uploaded": self.bytes_uploaded,
            "duration_s": self.duration_s,
            "restorable_until": self.restorable_until.isoformat()
            if self.restorable_until
            else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
            "missing": self.missing,
            "healed": self.healed,
        }
