"""Copies an archive class holds (GLACIER, DEEP_ARCHIVE), as restore meets them.

S3 reads such a copy only after a restore request has made a temporary copy of it, which takes
minutes to two days. Restore says so for each document, and with a retrieval tier it makes the
request, so that the same restore run again later finds the copies readable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from docbackup.errors import DocbackupError, ObjectArchived
from docbackup.storage.base import RestoreTier, Store

# How long S3 keeps the temporary copy: a Deep Archive bulk retrieval takes up to 48 hours, and
# someone must then run the restore again. Each day is billed as S3 Standard storage.
RESTORE_DAYS = 7

# How long a retrieval usually takes, from the S3 user guide ("Understanding archive retrieval
# options"). Deep Archive offers no expedited tier.
_RETRIEVAL: dict[tuple[str, RestoreTier], str] = {
    ("GLACIER", "expedited"): "1-5 minutes",
    ("GLACIER", "standard"): "3-5 hours",
    ("GLACIER", "bulk"): "5-12 hours",
    ("DEEP_ARCHIVE", "standard"): "12 hours",
    ("DEEP_ARCHIVE", "bulk"): "48 hours",
}


# What a retrieval costs (us-east-1 list prices, S3 pricing page, "Requests & data retrievals"):
# USD per GB retrieved, and per 1,000 restore requests. Glacier's bulk tier is free. The
# temporary copy is billed as S3 Standard for the days it is kept.
_COST: dict[tuple[str, RestoreTier], tuple[float, float]] = {
    ("GLACIER", "expedited"): (0.03, 10.00),
    ("GLACIER", "standard"): (0.01, 0.05),
    ("GLACIER", "bulk"): (0.0, 0.0),
    ("DEEP_ARCHIVE", "standard"): (0.02, 0.10),
    ("DEEP_ARCHIVE", "bulk"): (0.0025, 0.025),
}
# The longest each usually takes, in hours, to find the slowest of several classes.
_HOURS: dict[tuple[str, RestoreTier], float] = {
    ("GLACIER", "expedited"): 5 / 60,
    ("GLACIER", "standard"): 5,
    ("GLACIER", "bulk"): 12,
    ("DEEP_ARCHIVE", "standard"): 12,
    ("DEEP_ARCHIVE", "bulk"): 48,
}
_KNOWN = {"GLACIER", "DEEP_ARCHIVE"}
STANDARD_GB_MONTH = 0.023
GB = 2**30
TIERS: tuple[RestoreTier, ...] = ("bulk", "standard", "expedited")


@dataclass(frozen=True, slots=True)
class Frozen:
    """A document whose copy an archive class holds, as restore met it."""

    path: str
    key: str
    version_id: str | None
    size: int
    storage_class: str
    thawing: bool  # a restore of it was asked for earlier and is not done


@dataclass(frozen=True)
class ThawPlan:
    """The archived copies a restore met: what asking S3 for them back would take and cost."""

    copies: tuple[Frozen, ...] = field(default_factory=tuple)

    @property
    def to_ask(self) -> tuple[Frozen, ...]:
        return tuple(c for c in self.copies if not c.thawing)

    @property
    def thawing(self) -> int:
        return sum(c.thawing for c in self.copies)

    def by_class(self) -> dict[str, tuple[int, int]]:
        """Storage class -> (copies, bytes) of those still to ask for."""
        out: dict[str, tuple[int, int]] = {}
        for c in self.to_ask:
            n, b = out.get(c.storage_class, (0, 0))
            out[c.storage_class] = (n + 1, b + c.size)
        return out

    def offered(self, tier: RestoreTier) -> bool:
        """Every class to ask for offers this tier (Deep Archive has no expedited). A class S3
        did not name is asked with the tier chosen: S3 itself refuses what it does not offer."""
        return all((cls, tier) in _COST or cls not in _KNOWN for cls in self.by_class())

    def cost(self, tier: RestoreTier) -> float:
        """USD: retrieval, requests, and the temporary copies for RESTORE_DAYS."""
        total = 0.0
        for cls, (n, nbytes) in self.by_class().items():
            per_gb, per_1000 = _COST.get((cls, tier), (0.0, 0.0))
            gb = nbytes / GB
            total += gb * per_gb + n / 1000 * per_1000
            total += gb * STANDARD_GB_MONTH * RESTORE_DAYS / 30
        return total

    def wait(self, tier: RestoreTier) -> str:
        """The longest usual wait of the classes to ask for."""
        known = [(cls, tier) for cls in self.by_class() if (cls, tier) in _RETRIEVAL]
        if not known:
            return "an unknown time"
        return _RETRIEVAL[max(known, key=lambda k: _HOURS[k])]

    def summary(self) -> dict[str, object]:
        return {
            "to_ask": {
                cls: {"copies": n, "bytes": b} for cls, (n, b) in sorted(self.by_class().items())
            },
            "coming_back": self.thawing,
            "tiers": {
                t: {"wait": self.wait(t), "usd": round(self.cost(t), 4)}
                for t in TIERS
                if self.to_ask and self.offered(t)
            },
        }

    def describe(self, tier: RestoreTier | None = None) -> list[str]:
        """Lines for a person deciding: how many, where, how long and what each tier costs."""
        lines = self.held()
        tiers = (tier,) if tier else TIERS
        for t in tiers:
            if self.to_ask and self.offered(t):
                lines.append(
                    f"{t}: about {self.wait(t)}, about ${self.cost(t):.2f} (retrieval, and the "
                    f"temporary copies kept {RESTORE_DAYS} days; the download itself is billed "
                    "as any other)"
                )
        return lines

    def held(self) -> list[str]:
        """How many copies are where, and how many are already coming back."""
        lines = []
        held = ", ".join(
            f"{n} in {cls} ({_mb(b)})" for cls, (n, b) in sorted(self.by_class().items())
        )
        if held:
            lines.append(f"{len(self.to_ask)} stored copies are in the archive: {held}.")
        if self.thawing:
            lines.append(
                f"{self.thawing} more are already coming back from an earlier request "
                "(not asked for again)."
            )
        return lines


def _mb(nbytes: int) -> str:
    # In the unit the prices are in (AWS bills binary gigabytes).
    return f"{nbytes / GB:.2f} GB" if nbytes >= GB // 10 else f"{nbytes / 2**20:.1f} MiB"


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why a document was not restored, and whether this run asked S3 for its copy back."""

    reason: str
    requested: bool
    # S3 says a readable copy is there already: a second read may succeed at once.
    ready: bool = False
    # A restore of it is under way, asked for now or earlier: waiting will bring it back.
    pending: bool = False


def ask_back(
    store: Store,
    key: str,
    version_id: str | None,
    exc: ObjectArchived,
    tier: RestoreTier | None,
    *,
    what: str = "stored copy",
) -> Unavailable:
    """`what` names the object in the reason: a document's copy, or a night's manifest."""
    where = exc.storage_class or "an archive storage class"
    if tier is None:
        return Unavailable(
            f"{what} is in {where}: it must be restored from the archive first; run "
            "restore again with --tier bulk, standard or expedited",
            requested=False,
        )
    wait = _RETRIEVAL.get((exc.storage_class or "", tier))
    if exc.storage_class == "DEEP_ARCHIVE" and wait is None:
        return Unavailable(
            f"{what} is in DEEP_ARCHIVE, which has no {tier} retrieval: use --tier "
            "standard (about 12 hours) or bulk (up to 48 hours)",
            requested=False,
        )
    try:
        state = store.request_restore(key, version_id, tier=tier, days=RESTORE_DAYS)
    except DocbackupError as exc2:
        return Unavailable(
            f"{what} is in {where}; the restore request failed: {exc2}", requested=False
        )
    later = f"in about {wait}" if wait else "later"
    if state == "requested":
        return Unavailable(
            f"{what} is in {where}: restore from the archive requested ({tier} tier); "
            f"run this restore again {later}",
            requested=True,
            pending=True,
        )
    if state == "in-progress":
        return Unavailable(
            f"{what} is in {where}: a restore from the archive is already in progress; "
            f"run this restore again {later}",
            requested=False,
            pending=True,
        )
    return Unavailable(
        f"{what} is in {where} and its restored copy has just become readable: run this "
        "restore again",
        requested=False,
        ready=True,
        pending=True,  # one more pass reads it
    )


def coming_back(copy: Frozen, tier: RestoreTier | None) -> str:
    """Why a copy whose restore is under way is not restored yet (it is not asked for again)."""
    wait = _RETRIEVAL.get((copy.storage_class, tier)) if tier else None
    later = f"in about {wait}" if wait else "later"
    return (
        f"stored copy is in {copy.storage_class}: a restore from the archive is already in "
        f"progress; run this restore again {later}"
    )


def not_asked(copy: Frozen, tier: RestoreTier | None, *, offered: bool = True) -> str:
    """Why an archived copy was not asked for: no tier given, a tier some copy's class does not
    offer (none is asked for then: the person picks again), or the person said no."""
    where = copy.storage_class or "an archive storage class"
    if tier is None:
        return (
            f"stored copy is in {where}: it must be restored from the archive first; run "
            "restore again with --tier bulk, standard or expedited"
        )
    if not offered:
        if (copy.storage_class, tier) not in _COST:
            return (
                f"stored copy is in {where}, which has no {tier} retrieval: use --tier "
                "standard or bulk"
            )
        return (
            f"stored copy is in {where}: not asked back, since other copies' class has no "
            f"{tier} retrieval: use --tier standard or bulk"
        )
    return f"stored copy is in {where}: not asked back from the archive (not confirmed)"
