"""Copies an archive class holds (GLACIER, DEEP_ARCHIVE), as restore meets them.

S3 reads such a copy only after a restore request has made a temporary copy of it, which takes
minutes to two days. Restore says so for each document, and with a retrieval tier it makes the
request, so that the same restore run again later finds the copies readable.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why a document was not restored, and whether this run asked S3 for its copy back."""

    reason: str
    requested: bool
    # S3 says a readable copy is there already: a second read may succeed at once.
    ready: bool = False


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
        )
    if state == "in-progress":
        return Unavailable(
            f"{what} is in {where}: a restore from the archive is already in progress; "
            f"run this restore again {later}",
            requested=False,
        )
    return Unavailable(
        f"{what} is in {where} and its restored copy has just become readable: run this "
        "restore again",
        requested=False,
        ready=True,
    )
