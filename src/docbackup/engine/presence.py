"""Is every copy a night is about to point at still in the bucket, with its version and size?

Asked of a listing, not of each copy: the versions under each night's snapshot prefix, listed
once (1,000 to a request) and walked forward beside the plan, which meets the copies in path
order, the order S3 lists keys in. A night that carries N documents stored over D nights costs
about N / 1,000 + D requests, where a HEAD per copy would cost N.

A copy is gone when no version of its key has the version id the manifest names (deleted by
someone with the rights to, or expired early by a lifecycle rule), when its size is not the
manifest's, or when a delete marker or a later write hides it: a noncurrent version is one
lifecycle's noncurrent rule removes within days. The night then stores the document again from
the source (`healed`), so that what tonight's manifest points at is there when it is written.

In a bucket that keeps no versions (`--allow-unversioned`) there is only the current object to
list: ListObjectsV2, and the size alone to compare.

A listing that fails (refused, say, where s3:ListBucketVersions is not granted) does not stop
the night: its copies are carried unconfirmed, as before this check existed, and `unconfirmed`
says which nights' copies and why, which the run reports as a failure (a partial night).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping

from docbackup import layout
from docbackup.errors import AccessDenied, StoreError
from docbackup.manifest import Entry
from docbackup.storage.base import ObjectVersion, Store

# What a listing or a HEAD can raise that leaves a copy unconfirmed rather than the night failed.
_UNANSWERED = (StoreError, AccessDenied)


class Presence:
    """Answers, for the copies of one set, `problem(entry)`: why the copy is not as the
    manifest says, or None when it is."""

    def __init__(
        self,
        store: Store,
        set_name: str,
        *,
        versioned: bool,
        damaged: Mapping[tuple[str, str | None], str] | None = None,
    ) -> None:
        self.store = store
        self.set = set_name
        self.versioned = versioned
        # Copies tonight's read-back found with other bytes than the manifest's: present, but
        # as good as gone.
        self.damaged = damaged or {}
        self._first: dict[dt.date, _Walk] = {}  # the nights' first copies, `<set>/...`
        self._later: dict[dt.date, dict[str, list[ObjectVersion]]] = {}  # `<set>.<n>/...`
        # Listings that failed: their prefix, and what the bucket said.
        self.unconfirmed: dict[str, str] = {}

    def problem(self, entry: Entry) -> str | None:
        damaged = self.damaged.get((entry.key, entry.version_id))
        if damaged is not None:
            return damaged
        try:
            versions = self._versions_of(entry.key, entry.version_id)
        except _UNANSWERED as exc:
            self._could_not(entry.key, exc)
            return None
        if versions is None:
            return None  # its night's listing failed earlier: unconfirmed, said once
        return judge(entry, versions, versioned=self.versioned)

    def _could_not(self, key: str, exc: StoreError | AccessDenied) -> None:
        date = layout.date_of_key(key)
        where = layout.snapshot_prefix(date, self.set) if date else key
        reason = str(exc)
        if isinstance(exc, AccessDenied):
            need = "s3:ListBucketVersions" if self.versioned else "s3:ListBucket"
            reason = f"{reason}; these credentials may lack {need}"
        self.unconfirmed.setdefault(where, reason)

    def _versions_of(self, key: str, version_id: str | None) -> list[ObjectVersion] | None:
        date = layout.date_of_key(key)
        if date is None or not layout.is_copy_of_set(key, date, self.set):
            return self._asked(key, version_id)  # not where this set keeps copies: asked alone
        prefix = layout.snapshot_prefix(date, self.set)
        if not key.startswith(prefix):
            if date not in self._later:  # copies of a rerun of that night: few, held at once
                found: dict[str, list[ObjectVersion]] = {}
                for v in self._listing(layout.copies_prefix(date, self.set) + "."):
                    found.setdefault(v.key, []).append(v)
                self._later[date] = found
            return self._later[date].get(key, [])
        walk = self._first.get(date)
        if walk is None:
            walk = self._first[date] = _Walk(self._listing(prefix))
        if walk.failed:
            return None
        try:
            found_here = walk.take(key)
        except _UNANSWERED:
            walk.failed = True  # a generator that raised is finished: nothing more from it
            raise
        return self._asked(key, version_id) if found_here is None else found_here

    def _listing(self, prefix: str) -> Iterator[ObjectVersion]:
        if self.versioned:
            return self.store.versions(prefix)
        return (ObjectVersion(o.key, "null", o.size, True) for o in self.store.objects(prefix))

    def _asked(self, key: str, version_id: str | None) -> list[ObjectVersion]:
        """One copy the walks cannot answer (out of order, or outside the set): one HEAD of
        the version the manifest names (a HEAD cannot tell whether it is still the latest)."""
        info = self.store.head(key, version_id if self.versioned else None)
        if info is None:
            return []
        return [ObjectVersion(key, info.version_id or version_id or "null", info.size, True)]


def judge(entry: Entry, versions: list[ObjectVersion], *, versioned: bool) -> str | None:
    """Why the copy `entry` names is not among `versions` (its key's, newest first), or None."""
    if not versions:
        return "its copy is gone from the bucket"
    if versioned:
        wanted = entry.version_id or "null"
        found = next((v for v in versions if v.version_id == wanted), None)
        if found is None:
            return f"the version of its copy that the manifest names ({wanted}) is gone"
    else:
        found = versions[0]
    if found.size != entry.size:
        return f"its copy is {found.size} bytes in the bucket, {entry.size} in the manifest"
    if not found.latest:
        return (
            "its copy was deleted or written over (a later version or a delete marker hides "
            "it), and lifecycle removes hidden versions"
        )
    return None


class _Walk:
    """A listing walked forward: each key's versions, for keys asked in increasing order."""

    def __init__(self, listing: Iterator[ObjectVersion]) -> None:
        self._listing = listing
        self._head: ObjectVersion | None = None
        self._started = False
        self._last: str | None = None
        self.failed = False

    def take(self, key: str) -> list[ObjectVersion] | None:
        """The key's versions ([] if it has none); None for a key at or before the last one
        asked, which a forward walk has passed."""
        if self._last is not None and key <= self._last:
            return None
        self._last = key
        if not self._started:  # the first request goes when the first key is asked
            self._started = True
            self._head = next(self._listing, None)
        while self._head is not None and self._head.key < key:
            self._head = next(self._listing, None)
        found = []
        while self._head is not None and self._head.key == key:
            found.append(self._head)
            self._head = next(self._listing, None)
        return found
