"""What a manifest holds: its header (the run's facts and totals) and one entry per document.

No JSON here: `codec` writes these and reads them back, checking every value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

# resent: unchanged, and due for a refresh, but its copy could not be copied server-side (an
# archive class holds it), so the document was sent again from the source.
# healed: unchanged, but the copy an earlier night stored was gone from the bucket (or not as
# its manifest said), so the document was sent again from the source.
Action = Literal["new", "changed", "unchanged", "refreshed", "resent", "healed"]
Status = Literal["complete", "partial"]
ACTIONS: tuple[Action, ...] = ("new", "changed", "unchanged", "refreshed", "resent", "healed")


@dataclass(frozen=True, slots=True)
class Entry:
    """One live document and where its verified copy is stored."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    key: str
    version_id: str | None
    action: Action
    # When the stored copy was written (UTC); lifecycle expiry counts from here (G2).
    stored_at: str
    # Source-specific identity used for change detection (see docbackup.sources).
    fingerprint: str

    def with_action(self, action: Action) -> Entry:
        # Positional and by hand: dataclasses.replace costs several times more, once per
        # unchanged document of every night.
        return Entry(
            self.path,
            self.size,
            self.mtime_ns,
            self.sha256,
            self.key,
            self.version_id,
            action,
            self.stored_at,
            self.fingerprint,
        )

    def stored_datetime(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.stored_at)


@dataclass(frozen=True, slots=True)
class Problem:
    """A document, and why it is not as it should be: a failure of a night, a copy that does
    not verify, a manifest line that cannot be trusted."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class LostCopy:
    """A stored copy an earlier night points at, found gone or damaged by this night's run
    (which sent the document again where the source still had its bytes)."""

    path: str
    key: str
    version_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ManifestHeader:
    """Everything a manifest says but its entries, which are read one at a time beside it
    (`ManifestStream`): a night of any size is handled in flat memory.

    `documents` and `total_bytes` are the entries' count and total size, known where the
    entries are: the run that writes them, or the reader that has checked them (an entry that
    cannot be trusted counts in neither, and is in `unreadable` instead).
    """

    set: str
    date: dt.date
    status: Status
    started_at: str
    finished_at: str
    source: str
    retention_days: int
    encryption: str
    tool_version: str
    documents: int
    total_bytes: int
    failures: tuple[Problem, ...] = ()
    bytes_uploaded: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)
    # Entries that could not be trusted (a value of the wrong type or out of range), by name:
    # each is a problem of that one document, never followed, and never written out again.
    unreadable: tuple[Problem, ...] = ()
    # When this night's run had confirmed every copy it points at (the carried ones listed
    # with their versions and sizes, the new ones stored tonight against their SHA-256); None
    # for a run that could not look or stopped part-way, or one written before the check.
    checked_at: str | None = None
    # Copies of earlier nights this run found gone or damaged: those nights no longer restore
    # them (see Catalog.snapshots).
    lost: tuple[LostCopy, ...] = ()
