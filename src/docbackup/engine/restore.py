"""Restoring a night: every file verified by SHA-256 before it takes its name.

A copy an archive class holds is not read until S3 has restored it (see engine.archive): that
document fails, saying so, and the rest of the night is restored. With a tier, once the rest is
done, restore shows what asking S3 for those copies would take and cost (`confirm`) and asks
for the ones not already coming back; the same restore run again later finds a document it
already put in place (same size, same SHA-256) and leaves it, and restores what has thawed. A
night whose manifest an archive class holds restores nothing until the manifest is back: with a
tier, restore asks for it, and the same restore run again later proceeds to the documents.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import BinaryIO

from docbackup import tuning
from docbackup.engine import archive
from docbackup.engine.catalog import Catalog
from docbackup.engine.integrity import Interrupted, fetch_verified
from docbackup.engine.match import Selection
from docbackup.engine.paths import UnsafePath, safe_parts
from docbackup.engine.pool import run_bounded
from docbackup.engine.progress import NullReporter, Reporter
from docbackup.engine.results import Problem, RestoreResult, RunStatus
from docbackup.engine.target import (
    TEMP,
    Target,
    check_target,
    identity,
    in_the_way,
    stale_temporaries,
)
from docbackup.errors import (
    ConfigError,
    DocbackupError,
    EndpointUnreachable,
    ManifestArchived,
    ObjectArchived,
)
from docbackup.hashing import HashingReader
from docbackup.manifest import Entry, ManifestStream
from docbackup.storage.base import RestoreTier, Store


def restore(
    store: Store,
    set_name: str,
    when: str,
    target: str,
    *,
    include: tuple[str, ...] = (),
    overwrite: bool = False,
    workers: int = tuning.WORKERS,
    reporter: Reporter | None = None,
    tier: RestoreTier | None = None,
    under: str = "",
    confirm: Callable[[archive.ThawPlan, RestoreTier], bool] | None = None,
) -> RestoreResult:
    """`tier`: ask S3 to restore copies an archive class holds, with that retrieval tier;
    `confirm` (if given) sees what that would take and cost first, and may decline.
    `under`: only the document, or the folder's documents, at exactly this path."""
    reporter = reporter or NullReporter()
    selection = Selection(include, under=under)
    root = check_target(target)
    store.check_access()
    catalog = Catalog(store, set_name)
    try:
        night = catalog.resolve(when)
    except ManifestArchived as exc:
        unavailable = archive.ask_back(
            store, exc.key, None, exc, tier, what=f"the manifest of {exc.date}"
        )
        if not unavailable.ready:
            return _manifest_unavailable(exc, catalog.set, unavailable)
        night = catalog.resolve(when)  # it came back between the read and the request
    note = _latest_note(night.manifest.date, catalog.passed_over) if when == "latest" else None
    with night:
        job = _Restore(store, night, root, selection, overwrite, reporter, tier, confirm)
        return replace(job.run(workers), latest_note=note)


def _latest_note(chosen: dt.date, passed_over: list[dt.date]) -> str | None:
    if not passed_over:
        return None
    newer = ", ".join(d.isoformat() for d in sorted(passed_over))
    return (
        f"latest is {chosen}, the newest complete night; newer nights that are not complete "
        f"were passed over: {newer} (restore one by its date for what it holds)"
    )


def _manifest_unavailable(
    exc: ManifestArchived, set_name: str, unavailable: archive.Unavailable
) -> RestoreResult:
    # Nothing is written, not even the target folder: the documents are not known yet.
    problem = Problem(f"{exc.date} manifest", unavailable.reason)
    return RestoreResult(
        "failed",
        exc.date,
        set_name,
        0,
        1,
        0,
        (problem,),
        archived=1,
        restores_requested=int(unavailable.requested),
        manifest_archived=unavailable.reason,
        coming_back=int(unavailable.pending),
    )


Chosen = tuple[Entry, "list[str] | UnsafePath"]


class _Restore:
    """One restore: a planning pass over the manifest that writes nothing, then the writing
    pass. Both read the spooled manifest one entry at a time, so memory stays flat whatever
    the night's size (only the night's folder names are held)."""

    def __init__(
        self,
        store: Store,
        night: ManifestStream,
        root: str,
        selection: Selection,
        overwrite: bool,
        reporter: Reporter,
        tier: RestoreTier | None,
        confirm: Callable[[archive.ThawPlan, RestoreTier], bool] | None = None,
    ) -> None:
        self.store, self.night, self.root = store, night, root
        self.selection, self.overwrite = selection, overwrite
        self.reporter, self.tier, self.confirm = reporter, tier, confirm
        self.frozen: list[archive.Frozen] = []
        # Documents an earlier run of this restore put in place, byte for byte: left as they are.
        self.already: dict[str, tuple[int, int, int, int]] = {}  # path -> identity at plan
        self.plan_of_thaw: archive.ThawPlan | None = None
        self.coming = 0  # archived copies on their way back, asked for now or before
        self.kept = 0  # of the restored: documents found in place, byte for byte
        self.folders: set[str] = set()  # every folder the chosen documents need, relative
        self.stale: list[str] = []
        self.seen: tuple[int, int] | None = None
        # The endpoint went away: every later download would fail the same way, so it stops
        # the restore and is said once, not once per document.
        self.gone: EndpointUnreachable | None = None
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.problems: list[Problem] = []
        self.restored = self.nbytes = self.archived = self.requested = 0

    def chosen(self) -> Iterator[Chosen]:
        for entry in self.night.entries():
            if not self.selection.matches(entry.path):
                continue
            try:
                yield entry, safe_parts(entry.path)
            except UnsafePath as exc:
                yield entry, exc

    def plan(self) -> tuple[int, int]:
        """Count what is to be restored and refuse (ConfigError, nothing written) if anything
        in the target is in the way."""
        count = total = conflicts = 0
        first_conflict = ""
        in_way: list[str] = []
        # A folder where a document goes, judged once every folder of the night is known: a
        # name the night holds both ways ("Report" and "Report/x") sorts before its folder.
        folder_at_document: list[str] = []
        named_like_temporary: set[str] = set()
        self.seen = identity(self.root)
        self.stale = stale_temporaries(self.root, "")
        for entry, parts in self.chosen():
            if isinstance(parts, UnsafePath):
                continue
            count += 1
            total += entry.size
            if TEMP.fullmatch(parts[-1]):
                named_like_temporary.add(entry.path)
            for folder in self._new_folders(parts):
                if why := in_the_way(self.root, folder, folder=True):
                    in_way.append(f"{folder} {why}")
                else:
                    self.stale.extend(stale_temporaries(self.root, folder))
            if why := in_the_way(self.root, entry.path, folder=False):
                folder_at_document.append(entry.path)
            elif os.path.lexists(os.path.join(self.root, *parts)):
                # Put there by an earlier run of this restore (or as good as): kept, not read
                # again from S3, with or without --overwrite.
                if (seen := _same_bytes(os.path.join(self.root, *parts), entry)) is not None:
                    self.already[entry.path] = seen
                elif not self.overwrite:
                    conflicts += 1
                    first_conflict = first_conflict or entry.path
        in_way += [
            f"{path} is a folder where a document of the night goes"
            for path in folder_at_document
            if path not in self.folders  # else the night holds it both ways: reported below
        ]
        # A document of the night may bear such a name; it is not ours to remove.
        self.stale = [path for path in self.stale if path not in named_like_temporary]
        if in_way:
            raise ConfigError(
                f"{len(in_way)} thing(s) in {self.root} are in the way of the restore "
                f"(first: {in_way[0]}); move them or restore into an empty folder"
            )
        if conflicts:
            raise ConfigError(
                f"{conflicts} file(s) already exist in {self.root} (first: {first_conflict}); "
                "restore into an empty folder or pass --overwrite"
            )
        return count, total

    def _new_folders(self, parts: list[str]) -> list[str]:
        # Deepest first, stopping at one already seen: its own parents were seen with it, so a
        # tree of any depth costs a few string joins per document, not one per level.
        new = []
        for depth in range(len(parts) - 1, 0, -1):
            folder = "/".join(parts[:depth])
            if folder in self.folders:
                break
            self.folders.add(folder)
            new.append(folder)
        return new

    def run(self, workers: int) -> RestoreResult:
        count, total = self.plan()
        header = self.night.manifest
        not_stored = tuple(
            Problem(f.path, f.reason) for f in header.failures if self.selection.matches(f.path)
        )
        # Entries the manifest holds but that cannot be trusted: failed by name, never followed.
        self.problems = [
            Problem(bad.path, f"not restored, its entry cannot be trusted: {bad.reason}")
            for bad in header.unreadable
            if self.selection.matches(bad.path)
        ]
        untrusted = len(self.problems)  # not among the `count` chosen documents
        if count == 0 and not self.problems and not self._any_unsafe():
            return self._nothing(header.date, header.set, not_stored)
        with Target(self.root, self.seen) as target:
            removed = sum(target.remove_temporary(relative) for relative in self.stale)
            self.reporter.start("restore", count, total)
            try:
                run_bounded(
                    workers,
                    lambda item: self.one(target, item),
                    self.chosen(),
                    name="restore",
                    stop=self.stop,
                )
            finally:
                self.reporter.finish()
            self._thaw(workers)
            left = 0
            if self.gone is not None:
                left = count - self.restored - (len(self.problems) - untrusted)
                self.problems.append(
                    Problem(
                        "(stopped)",
                        f"{self.gone}; {left} more document(s) not restored: once S3 answers, "
                        "run the same restore again into the same folder (what is in place "
                        "is kept)",
                    )
                )
            if not target.still_there():
                self.problems.append(
                    Problem(
                        "--to",
                        f"{self.root} was moved or replaced during the restore: what was "
                        "restored is in the folder that was there when it started",
                    )
                )
        failures = tuple(sorted(self.problems, key=lambda p: p.path))
        status: RunStatus
        if failures:
            status = "failed" if self.restored == 0 else "partial"
        else:
            # A partial night's failures say what it lacks: a selection of none of them is whole.
            whole = header.status == "complete" or bool(self.selection and header.failures)
            complete = whole and not not_stored
            status = "complete" if complete else "partial"
        return RestoreResult(
            status,
            header.date,
            header.set,
            self.restored,
            # Stopped at an unreachable endpoint: the documents never tried failed too.
            len(failures) + (left - 1 if self.gone is not None else 0),
            self.nbytes,
            failures,
            archived=self.archived,
            restores_requested=self.requested,
            not_stored=not_stored,
            stale_removed=removed,
            already_there=self.kept,
            thaw=self.plan_of_thaw,
            coming_back=self.coming,
        )

    def _any_unsafe(self) -> bool:
        return any(isinstance(parts, UnsafePath) for _, parts in self.chosen())

    def _nothing(
        self, date: dt.date, set_name: str, not_stored: tuple[Problem, ...]
    ) -> RestoreResult:
        # Restoring nothing is not success: a mistyped --include must not look like a restore.
        if self.selection.under and not self.selection.patterns:
            why = Problem(
                self.selection.under,
                f"the {date} snapshot holds no document or folder of this name",
            )
        elif self.selection:
            why = Problem(
                "--include",
                f"no document of the {date} snapshot matches {self.selection.describe()} "
                "(a pattern without '/' matches a document's name, one with '/' its whole "
                "path, e.g. 'Invoices/*')",
            )
        else:
            why = Problem("(night)", f"the {date} snapshot holds no documents")
        return RestoreResult("failed", date, set_name, 0, 1, 0, (why,), not_stored=not_stored)

    def one(self, target: Target, item: Chosen) -> None:
        entry, parts = item
        if self.stop.is_set():
            return  # interrupted: not started, and not counted as a failure
        if isinstance(parts, UnsafePath):
            with self.lock:
                self.problems.append(
                    Problem(entry.path, f"unsafe path in manifest, not followed: {parts}")
                )
            self.reporter.advance(entry.path, entry.size)
            return
        if entry.path in self.already:
            # Still the file judged at the plan (not edited, replaced or linked since)?
            if _identity(os.path.join(self.root, *parts)) == self.already[entry.path]:
                with self.lock:
                    self.restored += 1
                    self.nbytes += entry.size
                    self.kept += 1
            else:
                reason = "changed in the folder during the restore: kept, not replaced"
                with self.lock:
                    self.problems.append(Problem(entry.path, reason))
            self.reporter.advance(entry.path, entry.size)
            return
        try:
            if entry.path in self.folders:
                raise UnsafePath(
                    "the night also holds documents inside a folder of this name; "
                    "a name cannot be both"
                )
            target.write(
                parts, lambda out: self._fill(entry, out), entry.mtime_ns, overwrite=self.overwrite
            )
        except ObjectArchived as exc:
            frozen = self._frozen(entry, exc)
            with self.lock:
                self.frozen.append(frozen)
                self.archived += 1
        except UnsafePath as exc:
            with self.lock:
                self.problems.append(Problem(entry.path, f"not followed: {exc}"))
        except Interrupted:
            return  # stopped mid-download (its file removed): neither restored nor failed
        except EndpointUnreachable as exc:
            with self.lock:
                if self.gone is None:
                    self.gone = exc
                self.stop.set()
            return
        except FileExistsError:
            reason = "a file appeared at this name during the restore: kept, not replaced"
            with self.lock:
                self.problems.append(Problem(entry.path, reason))
        except (OSError, DocbackupError, ValueError, OverflowError) as exc:
            # ValueError, OverflowError: a manifest value the system refuses (an mtime past
            # what utime takes, say) fails this document, not the night.
            with self.lock:
                self.problems.append(Problem(entry.path, str(exc)))
        else:
            with self.lock:
                self.restored += 1
                self.nbytes += entry.size
        self.reporter.advance(entry.path, entry.size)

    def _frozen(self, entry: Entry, exc: ObjectArchived) -> archive.Frozen:
        # HEAD says whether a restore asked for earlier is still under way: that copy is not
        # asked for again (S3 would refuse it: RestoreAlreadyInProgress).
        try:
            info = self.store.head(entry.key, entry.version_id)
        except DocbackupError:
            info = None
        return archive.Frozen(
            entry.path,
            entry.key,
            entry.version_id,
            entry.size,
            # HEAD's class when S3's error named none; never STANDARD for an archived copy.
            exc.storage_class
            or (info.storage_class if info and info.storage_class != "STANDARD" else ""),
            thawing=info is not None and info.restore == "in-progress",
        )

    def _thaw(self, workers: int) -> None:
        """After the rest of the night: say why each archived document is not restored, and
        with a tier (and the person's yes, where asked) ask S3 for the copies back."""
        if not self.frozen:
            return
        plan = archive.ThawPlan(tuple(sorted(self.frozen, key=lambda f: f.path)))
        self.plan_of_thaw = plan
        if self.gone is not None:
            # S3 stopped answering: nothing to ask of it, and no cost to put to the person.
            for copy in plan.copies:
                self.problems.append(
                    Problem(copy.path, f"stored copy is in {copy.storage_class}; {self.gone}")
                )
            return
        tier = self.tier
        offered = tier is not None and plan.offered(tier)
        ask = offered and bool(plan.to_ask)
        if ask and tier is not None and self.confirm is not None:
            ask = self.confirm(plan, tier)
        self.coming = plan.thawing
        for copy in plan.copies:
            if copy.thawing:
                self.problems.append(Problem(copy.path, archive.coming_back(copy, tier)))
            elif not ask:
                reason = archive.not_asked(copy, tier, offered=offered or tier is None)
                self.problems.append(Problem(copy.path, reason))

        def one(copy: archive.Frozen) -> None:
            exc = ObjectArchived(copy.key, storage_class=copy.storage_class)
            unavailable = archive.ask_back(self.store, copy.key, copy.version_id, exc, self.tier)
            with self.lock:
                self.problems.append(Problem(copy.path, unavailable.reason))
                self.requested += unavailable.requested
                self.coming += unavailable.pending

        if ask:
            run_bounded(workers, one, iter(plan.to_ask), name="thaw")
            # What the page and --json show from now on: those copies are on their way.
            self.plan_of_thaw = archive.ThawPlan(
                tuple(replace(c, thawing=True) for c in plan.copies)
            )

    def _fill(self, entry: Entry, out: BinaryIO) -> None:
        fetch_verified(self.store, entry, out, stop=self.stop)


def _same_bytes(path: str, entry: Entry) -> tuple[int, int, int, int] | None:
    """The identity of a regular file (never a link: O_NOFOLLOW; never a FIFO's wait:
    O_NONBLOCK) of the entry's size whose SHA-256 is the manifest's; None if it is not one."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        try:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_size != entry.size:
                return None
            sha256, _ = HashingReader(f).drain()
            after = os.fstat(f.fileno())
        except OSError:
            return None
    seen = _key(st)
    if sha256 != entry.sha256 or _key(after) != seen:
        return None
    return seen


def _identity(path: str) -> tuple[int, int, int, int] | None:
    try:
        return _key(os.lstat(path))
    except OSError:
        return None


def _key(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
