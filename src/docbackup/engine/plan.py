"""The plan of a night: every source document beside the copies earlier manifests describe,
walked side by side in path order, and what each needs (carried over, refreshed, re-hashed,
adopted from an interrupted run, or sent)."""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Literal

from docbackup import layout
from docbackup.engine.catalog import Catalog
from docbackup.engine.options import BackupOptions
from docbackup.engine.paths import UnsafePath, safe_parts
from docbackup.engine.presence import Presence
from docbackup.engine.spool import temporary_file
from docbackup.errors import DocbackupError, ManifestArchived
from docbackup.manifest import (
    ACTIONS,
    Action,
    Entry,
    LostCopy,
    ManifestStream,
    Problem,
    entry_line,
)
from docbackup.sources.base import Document, shown

TaskKind = Literal["upload", "recheck", "refresh", "adopt"]


@dataclass(frozen=True, slots=True)
class Task:
    kind: TaskKind
    doc: Document
    key: str
    action: Action
    previous: Entry | None
    index: int  # position in the plan: where its entry goes in the manifest


def restore_problem(path: str) -> str | None:
    """A path restore would refuse must not be reported as backed up (S3 keys can be anything)."""
    try:
        safe_parts(path)
    except UnsafePath as exc:
        return f"cannot be restored as a file: {exc}"
    return None


def one_tree(
    documents: Iterable[Document], failures: list[Problem], storable: Callable[[str], bool]
) -> Iterator[Document]:
    """The documents in the same order, less each file whose name is also a folder of them.

    An S3 source can hold both `Report` and `Report/2026.pdf`; a disk cannot, so a night listing
    both could never be restored in full. The file is reported (the night is partial, naming
    it) and the folder's documents are stored: one object to rename, rather than a folder that
    does not come back. A local folder never has such a pair.

    In path order everything between a file F and the first path under F/ starts with F and a
    character that sorts before '/' (`Report-old.pdf`, `Report.pdf`), and nothing after a path
    F + (a character above '/') can be under F/. So a file is held back only while such names
    follow it, together with them; `candidates` is the chain of held files that each later path
    so far has started with, each a prefix of the next.
    """
    held: collections.deque[Document] = collections.deque()
    candidates: list[Document] = []
    dropped: set[str] = set()
    for doc in documents:
        path = doc.path
        # A path the plan reports (a '..', a key too long) is never a file or folder on disk.
        restorable = storable(path)
        while restorable and candidates:
            name = candidates[-1].path
            after = path[len(name)] if path.startswith(name) and len(path) > len(name) else "~"
            if after < "/":
                break  # still perhaps a folder further on; so is every shorter candidate
            candidates.pop()
            if after == "/":
                dropped.add(name)
                failures.append(
                    Problem(
                        shown(name),
                        f"a folder of the same name holds {shown(path)!r}, and a file and a "
                        "folder cannot share a name on disk: not stored, so that the night "
                        "restores in full; rename one of them",
                    )
                )
        held.append(doc)
        if restorable:
            candidates.append(doc)
        while held and (not candidates or held[0] is not candidates[0]):
            yield from _unless_dropped(held.popleft(), dropped)
    for doc in held:
        yield from _unless_dropped(doc, dropped)


def _unless_dropped(doc: Document, dropped: set[str]) -> Iterator[Document]:
    if doc.path in dropped:
        dropped.discard(doc.path)
    else:
        yield doc


def known_copies(
    catalog: Catalog, date: dt.date
) -> tuple[list[ManifestStream], ManifestStream | None, list[ManifestArchived]]:
    """Manifests whose copies tonight may reuse: newest first, down to the newest complete one.

    Partial nights newer than that are included, so documents they did store are not sent
    again. Also returns tonight's own manifest if this date already has one (a rerun).

    A manifest an archive class holds is passed over (and returned, to be said): nothing is
    known from that night, so what only it listed is sent again rather than pointed at. That
    costs uploads, never a copy: every entry tonight does reuse comes from a manifest it read,
    goes through the same refresh-before-expiry check, and a refresh of an archived copy is
    sent again from the source (see Night._refresh).
    """
    known: list[ManifestStream] = []
    tonight = None
    passed_over: list[ManifestArchived] = []
    try:
        for stream in catalog.streams(on_or_before=date, archived=passed_over):
            if stream.manifest.date == date:
                tonight = stream
            known.append(stream)
            if stream.manifest.status == "complete":
                break
    except BaseException:
        for stream in known:
            stream.close()
        raise
    return known, tonight, passed_over


class Cursor:
    """One manifest's entries, walked forward alongside the source's documents."""

    def __init__(self, entries: Iterator[Entry]) -> None:
        self._entries = entries
        self._head = next(entries, None)

    def take(self, path: str) -> Entry | None:
        while self._head is not None and self._head.path < path:
            self._head = next(self._entries, None)
        if self._head is not None and self._head.path == path:
            return self._head
        return None


def interrupted_copies(catalog: Catalog, date: dt.date, tonight: ManifestStream | None) -> set[str]:
    """Keys already under tonight's snapshot that no manifest lists: a run was cut off.

    Costs nothing on an ordinary night: the date listing already says tonight is empty. Keys
    tonight's manifest lists count too: a rerun of the night may have been cut off after
    replacing them. Adoption checks each one against the document before trusting it.
    """
    if date not in catalog.dates():
        return set()
    return {
        o.key
        for o in catalog.store.objects(layout.copies_prefix(date, catalog.set))
        if layout.is_copy_of_set(o.key, date, catalog.set)
    }


class Plan:
    """What tonight will do, decided before anything is sent: the manifest-to-be, in path
    order, on disk (a carried-over entry's JSON line after "=", or "?" where a task's entry
    goes), and the tasks. Only the tasks are held in memory, so a night that changes little
    needs little memory however many documents it tracks."""

    def __init__(self, options: BackupOptions, date: dt.date, started: dt.datetime) -> None:
        self.options = options
        self.date = date
        self.started = started
        self.prefix = layout.snapshot_prefix(date, options.set_name)
        self.lines: BinaryIO = temporary_file()  # closed by close()
        self.carried: dict[str, int] = dict.fromkeys(ACTIONS, 0)
        self.carried_docs = 0
        self.carried_bytes = 0
        # What the walk found wrong; the night adds what went wrong while sending.
        self.failures: list[Problem] = []
        self.tasks: list[Task] = []
        # Copies the earlier manifests point at that the bucket no longer holds as they say:
        # each document is sent again tonight (`healed`).
        self.lost: list[Problem] = []
        self.lost_copies: list[LostCopy] = []  # the same copies, as tonight's manifest names them
        self.planned_bytes = 0
        self._refresh_age = dt.timedelta(days=options.retention_days - options.margin())
        self._presence: Presence | None = None

    # -- planning ---------------------------------------------------------------------------

    def walk(
        self,
        documents: Iterable[Document],
        known: list[ManifestStream],
        interrupted: set[str],
        *,
        tonight: bool = False,
        presence: Presence | None = None,
    ) -> None:
        """Walk the source and the known manifests side by side, all in path order.

        `tonight`: known[0] is this night's own manifest (a rerun). A copy it lists is never
        written over: without versioning that would destroy it (see layout).
        `presence`: where each copy tonight would point at again is confirmed first."""
        self._presence = presence
        cursors = [Cursor(m.entries()) for m in known]
        last = None
        for doc in one_tree(documents, self.failures, self._storable):
            if last is not None and doc.path <= last:
                # The walk sorts; S3 lists general-purpose buckets in this order. A server that
                # does not cannot be compared side by side with the manifests: stop, loudly.
                raise DocbackupError(
                    f"the source listed {shown(doc.path)!r} after {shown(last)!r}, out of key "
                    "order; this S3 server or bucket type is not supported as a source"
                )
            last = doc.path
            # Newest first; the last is the newest complete night, the base for "changed".
            found = [c.take(doc.path) for c in cursors]
            key = self.prefix + doc.path  # layout.document_key, without re-formatting the date
            listed = found[0] if tonight else None
            if listed is not None:
                generation = layout.generation_of(
                    listed.key, self.date, self.options.set_name, doc.path
                )
                if generation is not None:  # tonight's manifest lists a copy of tonight's
                    key = layout.document_key(
                        self.date, self.options.set_name, doc.path, generation + 1
                    )
            problem = layout.key_problem(key) or restore_problem(doc.path)
            if problem:
                self.failures.append(Problem(shown(doc.path), problem))
                continue
            match = next((e for e in found if e and e.fingerprint == doc.fingerprint), None)
            if match is not None:
                if self._lost(doc, match):
                    self._add_task("upload", doc, key, "healed", match)
                else:
                    self._plan_same(doc, key, match)
                continue
            previous = found[-1] if found else None
            action: Action = "new" if previous is None else "changed"
            if key in interrupted:
                self._add_task("adopt", doc, key, action, previous)
            elif previous is not None and doc.origin.match(previous.fingerprint) == "maybe":
                # A re-hash that finds the same bytes keeps the earlier copy: only if it is
                # there. If not, the document goes up (healed, or changed if the bytes differ).
                if self._lost(doc, previous):
                    self._add_task("upload", doc, key, "healed", previous)
                else:
                    self._add_task("recheck", doc, key, action, previous)
            else:
                self._add_task("upload", doc, key, action, previous)

    def _lost(self, doc: Document, entry: Entry) -> bool:
        problem = self._presence.problem(entry) if self._presence is not None else None
        if problem is not None:
            self.lost.append(Problem(shown(doc.path), f"{problem} ({entry.key})"))
            self.lost_copies.append(LostCopy(entry.path, entry.key, entry.version_id, problem))
        return problem is not None

    @property
    def confirmed(self) -> bool:
        """Did the walk confirm every copy it carries (each night's listing answered)?"""
        return self._presence is not None and not self._presence.unconfirmed

    def _storable(self, path: str) -> bool:
        """Will the plan store this path (before a rerun's generation lengthens its key)?"""
        return layout.key_problem(self.prefix + path) is None and restore_problem(path) is None

    def _plan_same(self, doc: Document, key: str, entry: Entry) -> None:
        if self.started - entry.stored_datetime() >= self._refresh_age:
            self._add_task("refresh", doc, key, "refreshed", entry)
            return
        self.lines.write(b"=" + entry_line(entry.with_action("unchanged")) + b"\n")
        self.carried["unchanged"] += 1
        self.carried_docs += 1
        self.carried_bytes += entry.size

    def _add_task(
        self, kind: TaskKind, doc: Document, key: str, action: Action, previous: Entry | None
    ) -> None:
        self.lines.write(b"?\n")
        self.tasks.append(Task(kind, doc, key, action, previous, len(self.tasks)))
        if kind != "refresh":
            self.planned_bytes += doc.size

    def close(self) -> None:
        self.lines.close()
