"""Opening a document at the source for reading: never a wait, never through a link.

Shared by the walk that finds documents (`local`) and the upload that reads them (`upload`).
"""

from __future__ import annotations

import errno
import os
import stat

from docbackup.folders import DESCRIPTORS, NotAFolder, descend


def file_fingerprint(st: os.stat_result) -> str:
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


class NotRegular(Exception):
    """What was opened is not a regular file; `kind` says what it is ("a FIFO", ...)."""

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(f"{path} is {kind}, not a regular file")
        self.kind = kind


def kind_of(mode: int) -> str:
    """What a file of this mode is, for a message."""
    for test, kind in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return kind
    return "an unknown kind of file"


# Windows has neither the flag nor FIFOs that block an open.
_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)


class LeftTheSource(Exception):
    """A folder on a document's path is now a symbolic link or not a folder: not followed."""


def open_regular_below(root: str, abspath: str) -> int:
    """`open_regular` for a file found under `root`, each folder on the way opened from the one
    above it without following links: a folder swapped for a link to somewhere else since the
    scan raises LeftTheSource instead of leading the read outside the source."""
    if not DESCRIPTORS:
        return open_regular(abspath)
    *folders, name = abspath[len(root) :].lstrip(os.sep).split(os.sep)
    top = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            parent = descend(top, folders)
        except NotAFolder as exc:
            if exc.cause.errno in (errno.ELOOP, errno.ENOTDIR):
                raise LeftTheSource(abspath) from None
            raise exc.cause from None
        try:
            return open_regular(name, dir_fd=parent)
        finally:
            if parent != top:
                os.close(parent)
    finally:
        os.close(top)


def open_regular(path: str, *, follow_symlinks: bool = False, dir_fd: int | None = None) -> int:
    """A descriptor of the regular file at `path`, or NotRegular: never a wait.

    What the scan saw as a file can be anything by the time it is read. Opening a FIFO for
    reading waits for a writer, which may never come, and a device may wait for its hardware:
    O_NONBLOCK makes the open itself return at once, fstat on the descriptor (not the path, which
    can change again) says what was opened, and only then is the descriptor made blocking again
    for ordinary reads. O_NOCTTY: a terminal opened here must not become the process's own.
    """
    flags = os.O_RDONLY | _NONBLOCK | getattr(os, "O_NOCTTY", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise NotRegular(path, "a symbolic link") from None
        if exc.errno == errno.ENXIO:
            # A socket, or a device without its driver, cannot be opened at all.
            try:
                kind = kind_of(os.stat(path, dir_fd=dir_fd, follow_symlinks=False).st_mode)
            except OSError:
                kind = "a socket or device"
            raise NotRegular(path, kind) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegular(path, kind_of(mode))
        if _NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd
