"""A local folder as a source: walked without following links."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

from docbackup.errors import ConfigError
from docbackup.sources.base import Document, FileOrigin, ScanResult, Skipped, shown


def file_fingerprint(st: os.stat_result) -> str:
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


class LocalSource:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def describe(self) -> str:
        return self.root

    def check(self) -> None:
        if not os.path.exists(self.root):
            raise ConfigError(f"source folder {self.root} does not exist")
        if not os.path.isdir(self.root):
            raise ConfigError(f"source {self.root} is not a folder")
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise ConfigError(f"source folder {self.root} cannot be read by this user")

    def scan(self) -> ScanResult:
        self.check()
        skipped: list[Skipped] = []
        return ScanResult(self._walk(self.root, "", skipped), skipped)

    def _walk(self, folder: str, rel: str, skipped: list[Skipped]) -> Iterator[Document]:
        """Depth first, in the order of the full relative paths: a folder sorts as its name plus
        '/', so "a-b.pdf" < "a/x.pdf" < "a0.pdf" as the strings compare. Only one folder's
        listing is held at a time."""
        try:
            with os.scandir(folder) as it:
                listed = [_lstat(e) for e in it]
        except OSError as exc:
            skipped.append(
                Skipped(shown(rel) or ".", f"folder cannot be read: {exc.strerror}", True)
            )
            return
        # One lstat per entry decides both where it sorts and whether it is walked into, so a
        # rename between the two cannot put the walk out of order.
        listed.sort(key=lambda item: item[0])
        for _, entry, st in listed:
            path = f"{rel}{entry.name}"
            if isinstance(st, OSError):
                if not isinstance(st, FileNotFoundError):
                    skipped.append(Skipped(shown(path), f"cannot stat: {st.strerror}", True))
                continue
            if stat.S_ISDIR(st.st_mode):
                yield from self._walk(entry.path, path + "/", skipped)
            elif stat.S_ISREG(st.st_mode):
                origin = FileOrigin(entry.path, file_fingerprint(st))
                yield Document(path, st.st_size, st.st_mtime_ns, origin)
            elif stat.S_ISLNK(st.st_mode):
                skipped.append(Skipped(shown(path), "symbolic link, not followed", False))
            else:
                skipped.append(
                    Skipped(shown(path), "not a regular file (socket, FIFO or device)", False)
                )


def _lstat(entry: os.DirEntry[str]) -> tuple[str, os.DirEntry[str], os.stat_result | OSError]:
    """(sort key, entry, its lstat or the error): a folder sorts as its name plus '/'."""
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError as exc:
        return entry.name, entry, exc
    return (entry.name + "/" if stat.S_ISDIR(st.st_mode) else entry.name), entry, st
