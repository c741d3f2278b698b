"""Stored bytes read back on a schedule: a night's share of the copies it carries, re-hashed.

Each document has a turn: a hash of its path picks one night in every refresh cycle (`turn`;
the cycle is retention less the refresh margin, the most nights a copy stays the one a
document's manifest entry points at before it is refreshed under a new key). So whichever copy
a document has, it is read while it is current, at least once per retention period, and the
turns spread the documents evenly and unpredictably over the nights. A refresh copies a copy
server-side without reading it, so damaged bytes would travel with it: the copy it made keeps
the manifest's SHA-256 and is found at the document's next turn. Tonight's copies are those
whose turn it is among the ones the earlier manifests carry (the copies tonight's manifest will
point at, less what tonight sends anew). They are read in a random order up to a byte
budget, on the night's workers, before the plan: a copy whose bytes are not the manifest's is
handed to the plan as damaged (see Presence), which sends the document again from the source,
and only when the source no longer holds those bytes is the copy the last one, and lost.

What the budget or the time did not cover tonight is counted (`left`), so a budget too small
for the bucket is said every night rather than found out later.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from docbackup.engine.integrity import CopyMismatch, fetch_verified
from docbackup.engine.pool import run_bounded
from docbackup.errors import DocbackupError, ObjectArchived, StoredChecksumMismatch
from docbackup.manifest import Entry, ManifestStream, Problem
from docbackup.storage.base import Store

Copy = tuple[str, str | None]


def turn(path: str, cycle_days: int) -> int:
    """Which night, counted modulo `cycle_days`, reads this document's copy back."""
    digest = hashlib.sha256(path.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % cycle_days


def tonight_turn(date: dt.date, cycle_days: int) -> int:
    return date.toordinal() % cycle_days


@dataclass(frozen=True, slots=True)
class Damage:
    """A copy whose bytes are not its manifest's: which document, the bytes it should hold,
    and what was found."""

    path: str
    sha256: str
    reason: str


@dataclass(slots=True)
class ReadBack:
    """What one night's read-back did."""

    due: int = 0  # copies whose turn tonight was
    read: int = 0
    bytes_read: int = 0
    # Due, but not read: beyond the byte budget, or the night's time for reading ran out.
    left: int = 0
    # In an archive class (Glacier, Deep Archive): S3 must restore them before they can be read.
    archived: int = 0
    # Copies whose bytes are not the manifest's: their key and version, and what was found.
    damaged: dict[Copy, Damage] = field(default_factory=dict)
    # Could not be read (the bucket refused, or kept failing): neither good nor bad.
    unread: list[Problem] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "due": self.due,
            "read": self.read,
            "bytes_read": self.bytes_read,
            "left": self.left,
            "archived": self.archived,
            "damaged": len(self.damaged),
            "unread": [{"path": p.path, "reason": p.reason} for p in self.unread],
        }


def due_copies(manifests: Iterable[ManifestStream], date: dt.date, cycle_days: int) -> list[Entry]:
    """The copies the manifests carry whose document's turn is tonight, each once."""
    wanted = tonight_turn(date, cycle_days)
    seen: set[Copy] = set()
    due: list[Entry] = []
    for stream in manifests:
        for entry in stream.entries():
            copy = (entry.key, entry.version_id)
            if copy not in seen and turn(entry.path, cycle_days) == wanted:
                seen.add(copy)
                due.append(entry)
    return due


def read_back(
    store: Store,
    due: list[Entry],
    *,
    budget_bytes: int,
    workers: int,
    seconds: float | None = None,
    rng: random.Random | None = None,
) -> ReadBack:
    """Read and hash `due` copies in a random order, up to `budget_bytes` and, when given, for
    at most `seconds` (no read starts after that)."""
    report = ReadBack(due=len(due))
    order = list(due)
    # Which due copies a small budget reaches changes every night; nothing here is secret.
    (rng or random.Random()).shuffle(order)  # noqa: S311
    chosen: list[Entry] = []
    room = budget_bytes
    for entry in order:
        if entry.size <= room:
            chosen.append(entry)
            room -= entry.size
    report.left = len(due) - len(chosen)
    started = time.monotonic()
    lock = threading.Lock()

    def one(entry: Entry) -> None:
        if seconds is not None and time.monotonic() - started > seconds:
            with lock:
                report.left += 1
            return
        problem: Damage | None = None
        try:
            fetch_verified(store, entry)
        except CopyMismatch as exc:
            if exc.size != entry.size:
                found = f"{exc.size} bytes, the manifest says {entry.size}"
            else:
                found = f"its bytes hash to {exc.sha256[:16]}..., not {entry.sha256[:16]}..."
            problem = Damage(entry.path, entry.sha256, f"its stored copy is damaged: {found}")
        except StoredChecksumMismatch:
            # S3 itself finds the bytes are not what it stored, every time they are sent.
            reason = "its stored copy is damaged: its bytes do not match the checksum S3 stored"
            problem = Damage(entry.path, entry.sha256, reason)
        except ObjectArchived:
            with lock:
                report.archived += 1
            return
        except DocbackupError as exc:
            with lock:
                report.unread.append(Problem(entry.path, f"{exc} ({entry.key})"))
            return
        with lock:
            report.read += 1
            report.bytes_read += entry.size
            if problem is not None:
                report.damaged[(entry.key, entry.version_id)] = problem

    run_bounded(workers, one, chosen, name="docbackup-readback")
    report.unread.sort(key=lambda p: p.path)
    return report


def reading_time(time_left: Callable[[], float] | None, reserve_s: float) -> float | None:
    """At most half of what the night has before its reserve: the night's own uploads come
    first, and a read-back that ran into the time limit would leave them no time."""
    if time_left is None:
        return None
    return max(0.0, (time_left() - reserve_s) / 2)
