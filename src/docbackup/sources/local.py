"""A local folder as a source: walked without following links."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

from docbackup.errors import ConfigError
from docbackup.folders import DESCRIPTORS, FOLDER
from docbackup.sources import upload
from docbackup.sources.base import Document, FileOrigin, Outcome, ScanResult, Skipped, shown
from docbackup.sources.exclude import IGNORE_FILE, MAX_IGNORE_FILE, Excluder, ignore_file_lines
from docbackup.sources.files import NotRegular, file_fingerprint, open_regular
from docbackup.storage.base import Encryption, Store


class LocalSource:
    """`exclude` defaults to the built-in exclusions (office lock and temporary files); the
    folder's own .docbackupignore is added to it at each scan."""

    def __init__(self, root: str, *, exclude: Excluder | None = None) -> None:
        self.root = os.path.abspath(root)
        self.exclude = Excluder() if exclude is None else exclude

    def describe(self) -> str:
        return self.root

    def check(self) -> None:
        try:
            self.root.encode("utf-8")
        except UnicodeEncodeError:
            # The manifest names its source; bytes that are not UTF-8 cannot be written there.
            raise ConfigError(
                f"source folder {shown(self.root)} has a name that is not valid UTF-8; "
                "rename it or back up a folder above it"
            ) from None
        if not os.path.exists(self.root):
            raise ConfigError(f"source folder {self.root} does not exist")
        if not os.path.isdir(self.root):
            raise ConfigError(f"source {self.root} is not a folder")
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise ConfigError(f"source folder {self.root} cannot be read by this user")

    def store(
        self,
        document: Document,
        store: Store,
        key: str,
        encryption: Encryption,
        *,
        multipart_threshold: int,
        unless_sha256: str | None = None,
    ) -> Outcome:
        """Upload the file, read through the folders the scan found it in."""
        return upload.store_file(
            store,
            key,
            document,
            encryption,
            multipart_threshold=multipart_threshold,
            unless_sha256=unless_sha256,
        )

    def scan(self) -> ScanResult:
        self.check()
        # Before the walk starts, so a bad line stops the run before anything is sent.
        excluder = self._with_ignore_file()
        found = ScanResult(iter(()))
        found.documents = self._walk(excluder, found)
        return found

    def _with_ignore_file(self) -> Excluder:
        """`exclude` plus the top folder's ignore file, if there is one (only the top folder's
        is read). The file itself is backed up: it is the user's own setting, and a restored
        folder should leave out what the original did."""
        path = os.path.join(self.root, IGNORE_FILE)
        try:
            # A link to the file is followed, as it always was; a FIFO of that name (or a link
            # to one) must not hold the run, and with it the night's lease, forever.
            with os.fdopen(open_regular(path, follow_symlinks=True), "rb") as f:
                data = f.read(MAX_IGNORE_FILE + 1)
        except FileNotFoundError:
            if os.path.islink(path):
                # A link to nothing: the patterns the user meant are somewhere, not here.
                raise ConfigError(
                    f"{path} is a symbolic link to nothing ({os.readlink(path)}); without the "
                    "exclude patterns it should hold, the run would send what they leave out"
                ) from None
            return self.exclude
        except NotRegular as exc:
            raise ConfigError(
                f"{path} cannot be read: it is {exc.kind}, not a regular file of exclude patterns"
            ) from None
        except OSError as exc:
            # Going on without it could send what the user left out on purpose.
            raise ConfigError(f"{path} cannot be read: {exc.strerror}") from None
        return self.exclude.with_ignore_file(ignore_file_lines(data, path), path)

    def _walk(self, excluder: Excluder, found: ScanResult) -> Iterator[Document]:
        """Depth first, in the order of the full relative paths: a folder sorts as its name plus
        '/', so "a-b.pdf" < "a/x.pdf" < "a0.pdf" as the strings compare. Each folder on the way
        down holds what is left of its listing, and an excluded folder is never opened.

        A stack of those listings, not recursion: a tree deeper than Python's recursion limit
        (1,000 frames) is as much a folder as any other.
        """
        skipped = found.skipped
        stack: list[tuple[str, str, Iterator[_Listed]]] = []
        top = _listing(self.root, "", skipped, top=True)
        if top is not None:
            stack.append(("", self.root, iter(top)))
        while stack:
            rel, folder, listing = stack[-1]
            item = next(listing, None)
            if item is None:
                stack.pop()
                continue
            _, entry, st = item
            path = f"{rel}{entry.name}"
            abspath = os.path.join(folder, entry.name)
            if isinstance(st, OSError):
                if isinstance(st, FileNotFoundError):
                    continue
                # Whether it is a folder is unknown: left out if either would be.
                if excluder.matches(path) or excluder.matches(path + "/"):
                    found.excluded += 1
                else:
                    skipped.append(Skipped(shown(path), f"cannot stat: {st.strerror}", True))
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            # Its folders were checked on the way down: only the entry itself is left to ask.
            if excluder.matches(path + "/" if is_dir else path):
                found.excluded += 1
            elif is_dir:
                below = _listing(abspath, path + "/", skipped, seen=st)
                if below is not None:
                    stack.append((path + "/", abspath, iter(below)))
            elif stat.S_ISREG(st.st_mode):
                origin = FileOrigin(abspath, file_fingerprint(st), self.root)
                yield Document(path, st.st_size, st.st_mtime_ns, origin)
            elif stat.S_ISLNK(st.st_mode):
                skipped.append(Skipped(shown(path), "symbolic link, not followed", False))
            else:
                skipped.append(
                    Skipped(shown(path), "not a regular file (socket, FIFO or device)", False)
                )


_Listed = tuple[str, os.DirEntry[str], os.stat_result | OSError]


def _listing(
    folder: str,
    rel: str,
    skipped: list[Skipped],
    *,
    top: bool = False,
    seen: os.stat_result | None = None,
) -> list[_Listed] | None:
    """A folder's entries in walk order, or None (reported) when it cannot be listed.

    Listed through a descriptor opened without following a link (but the top folder, which
    may be one the user chose), and only if it is still the folder its parent's listing saw
    (`seen`): a folder swapped for a link since, or one above it, is not walked into.
    """
    if not DESCRIPTORS:
        return _listing_by_path(folder, rel, skipped)
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | (0 if top else FOLDER))
        try:
            now = os.fstat(fd)
            if seen is not None and (now.st_dev, now.st_ino) != (seen.st_dev, seen.st_ino):
                skipped.append(Skipped(shown(rel), "folder was replaced while walked", True))
                return None
            with os.scandir(fd) as it:
                listed = [_lstat(e) for e in it]
        finally:
            os.close(fd)
    except OSError as exc:
        skipped.append(Skipped(shown(rel) or ".", f"folder cannot be read: {exc.strerror}", True))
        return None
    # One lstat per entry decides both where it sorts and whether it is walked into, so a
    # rename between the two cannot put the walk out of order.
    listed.sort(key=lambda item: item[0])
    return listed


def _listing_by_path(folder: str, rel: str, skipped: list[Skipped]) -> list[_Listed] | None:
    try:
        with os.scandir(folder) as it:
            listed = [_lstat(e) for e in it]
    except OSError as exc:
        skipped.append(Skipped(shown(rel) or ".", f"folder cannot be read: {exc.strerror}", True))
        return None
    listed.sort(key=lambda item: item[0])
    return listed


def _lstat(entry: os.DirEntry[str]) -> _Listed:
    """(sort key, entry, its lstat or the error): a folder sorts as its name plus '/'."""
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError as exc:
        return entry.name, entry, exc
    return (entry.name + "/" if stat.S_ISDIR(st.st_mode) else entry.name), entry, st
