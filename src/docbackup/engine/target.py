"""The restore folder: checked before anything is written, then written only through directory
descriptors, so that nothing swapped in while a restore runs can send a file outside it.

Every folder on the way to a document is opened relative to the one above it with O_NOFOLLOW
and O_DIRECTORY: a symbolic link or a file put where a folder was fails to open, whenever it
appears. A folder that is moved elsewhere after it was opened is caught after the rename, by
walking the names again from the top: the file is then removed and the document reported.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Callable
from typing import BinaryIO

from docbackup.engine.paths import UnsafePath
from docbackup.errors import ConfigError
from docbackup.folders import DESCRIPTORS, FOLDER, NotAFolder, descend

_NEW_FILE = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
# The temporary name of a file being restored: fixed, short and ASCII, since the document's own
# name may already be at the length limit. One left by a killed restore is removed by the next.
TEMP = re.compile(r"\.docbackup-[0-9a-f]{16}\.tmp")


def temp_name() -> str:
    return f".docbackup-{secrets.token_hex(8)}.tmp"


def check_target(target: str) -> str:
    """The absolute folder a restore into `target` writes to; ConfigError (exit 2) if it is not
    a folder and cannot become one. Writes nothing."""
    if not target.strip():
        # abspath("") is the current folder: an unset variable must not restore into it.
        raise ConfigError("the restore target is empty; name a folder with --to")
    path = os.path.abspath(target)
    probe = path
    while not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        if probe == path:
            raise ConfigError(f"restore target {target} exists and is not a folder")
        raise ConfigError(f"cannot create restore target {target}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write in {probe}, so the restore target {target} cannot be used")
    return os.path.realpath(path)


def in_the_way(root: str, relative: str, *, folder: bool) -> str | None:
    """Why what is at `relative` under `root` stops a folder (or a document) being put there;
    None if nothing is there or it is the folder wanted. `lstat`: a link is never followed."""
    try:
        st = os.lstat(os.path.join(root, relative))
    except (FileNotFoundError, NotADirectoryError):
        return None  # nothing there, or a file higher up, which its own check reports
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return None  # past PATH_MAX: only the descriptor walk reaches it, and refuses links
        return f"cannot be checked: {exc.strerror}"
    if folder and stat.S_ISLNK(st.st_mode):
        return "is a symbolic link"
    if folder and not stat.S_ISDIR(st.st_mode):
        return "is a file where a folder of the night goes"
    if not folder and stat.S_ISDIR(st.st_mode):
        return "is a folder where a document of the night goes"
    return None


def stale_temporaries(root: str, relative: str) -> list[str]:
    """Temporary files a killed restore left in the folder `relative` (relative paths)."""
    folder = os.path.join(root, relative) if relative else root
    try:
        with os.scandir(folder) as it:
            names = [
                e.name for e in it if TEMP.fullmatch(e.name) and e.is_file(follow_symlinks=False)
            ]
    except OSError:
        return []  # not there (yet): nothing left in it
    return [f"{relative}/{n}" if relative else n for n in names]


def identity(path: str) -> tuple[int, int] | None:
    """What `path` is (device and inode), None if nothing is there: to notice it replaced."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class Target:
    """The restore folder, created if needed and held open while the restore runs.

    `seen`: the folder's identity when the restore was planned, if it existed then; a folder
    swapped in under its name since is refused rather than written into."""

    def __init__(self, root: str, seen: tuple[int, int] | None = None) -> None:
        self.fd = -1
        try:
            os.makedirs(root, exist_ok=True)
            if os.path.islink(root):
                raise OSError(errno.ELOOP, "a symbolic link")
            # The last step never through a link: one put at the name after the check is refused.
            if DESCRIPTORS:
                self.fd = os.open(root, FOLDER)
        except OSError as exc:
            if os.path.islink(root):
                raise ConfigError(
                    f"restore target {root} became a symbolic link while the restore was "
                    "planned; nothing was restored"
                ) from None
            raise ConfigError(f"cannot create restore target {root}: {exc.strerror}") from None
        self.root = root
        st = os.fstat(self.fd) if DESCRIPTORS else os.stat(root)
        self.identity = st.st_dev, st.st_ino
        if seen is not None and seen != self.identity:
            self.close()
            raise ConfigError(f"restore target {root} was replaced while the restore was planned")

    def still_there(self) -> bool:
        """Is the folder restored into still at the target's name (not moved or replaced)?"""
        return identity(self.root) == self.identity

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _folder(self, folders: list[str], *, create: bool) -> int:
        """A descriptor of the folder `folders` under the root (the caller closes it unless it
        is the root's), each step opened relative to the last and never through a link."""
        try:
            return descend(self.fd, folders, create=create)
        except NotAFolder as exc:
            raise UnsafePath(
                f"{'/'.join(folders[: exc.depth])} is a symbolic link or not a folder "
                f"({exc}); not restoring through it"
            ) from None

    def _same_folder(self, folders: list[str], fd: int) -> bool:
        try:
            again = self._folder(folders, create=False)
        except UnsafePath:
            return False
        try:
            a, b = os.fstat(again), os.fstat(fd)
        finally:
            if again != self.fd:
                os.close(again)
        return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)

    def write(
        self,
        parts: list[str],
        fill: Callable[[BinaryIO], None],
        mtime_ns: int,
        *,
        overwrite: bool,
    ) -> None:
        """Create the document at `parts` from what `fill` writes (it raises to refuse the
        content): under a temporary name, given its own only once `fill` returned. Without
        `overwrite`, a file that appeared at the name since the plan is kept: FileExistsError."""
        if not DESCRIPTORS:
            self._write_by_path(parts, fill, mtime_ns, overwrite=overwrite)
            return
        folders, name = parts[:-1], parts[-1]
        parent = self._folder(folders, create=True)
        try:
            tmp = temp_name()
            fd = os.open(tmp, _NEW_FILE, 0o644, dir_fd=parent)
            try:
                # Unbuffered: the fill writes whole chunks, and a buffer would only copy them.
                with open(fd, "wb", buffering=0) as out:
                    fill(out)
                    os.utime(out.fileno(), ns=(mtime_ns, mtime_ns))
                _publish(tmp, name, parent, overwrite=overwrite)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=parent)
                raise
            if not self._same_folder(folders, parent):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=parent)
                raise UnsafePath(
                    f"{'/'.join(folders)} was moved or replaced during the restore; "
                    "the file written into it was removed again"
                )
        finally:
            if parent != self.fd:
                os.close(parent)

    def _write_by_path(
        self,
        parts: list[str],
        fill: Callable[[BinaryIO], None],
        mtime_ns: int,
        *,
        overwrite: bool,
    ) -> None:
        """`write` where folders cannot be held by descriptor: each is checked just before."""
        folder = self.root
        for depth, name in enumerate(parts[:-1], 1):
            folder = os.path.join(folder, name)
            with contextlib.suppress(FileExistsError):
                os.mkdir(folder, 0o755)
            if os.path.islink(folder) or not os.path.isdir(folder):
                raise UnsafePath(
                    f"{'/'.join(parts[:depth])} is a symbolic link or not a folder; "
                    "not restoring through it"
                )
        tmp, dest = os.path.join(folder, temp_name()), os.path.join(folder, parts[-1])
        fd = os.open(tmp, _NEW_FILE, 0o644)
        try:
            with os.fdopen(fd, "wb") as out:
                fill(out)
            os.utime(tmp, ns=(mtime_ns, mtime_ns))
            if not overwrite and os.path.lexists(dest):
                raise FileExistsError(errno.EEXIST, "exists", dest)
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def remove_temporary(self, relative: str) -> bool:
        """Remove a temporary file a killed restore left, without following any link on the
        way; False if it is gone, no longer a plain file, or cannot be removed."""
        if not DESCRIPTORS:
            path = os.path.join(self.root, *relative.split("/"))
            if os.path.islink(path) or not os.path.isfile(path):
                return False
            try:
                os.unlink(path)
            except OSError:
                return False
            return True
        *folders, name = relative.split("/")
        try:
            parent = self._folder(folders, create=False)
        except UnsafePath:
            return False
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                return False
            os.unlink(name, dir_fd=parent)
        except OSError:
            return False  # a read-only folder, say: left as it is, and not counted
        finally:
            if parent != self.fd:
                os.close(parent)
        return True


def _publish(tmp: str, name: str, folder: int, *, overwrite: bool) -> None:
    if overwrite:
        # A symbolic link already at the name is replaced, not followed.
        os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
        return
    try:
        # A second name, made only if none is there: a file that appeared since the plan
        # (saved by the user while the restore ran) raises FileExistsError and is kept.
        os.link(tmp, name, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
            raise
        # No hard links on this file system (FAT, some shares): check at the last moment.
        with contextlib.suppress(FileNotFoundError):
            os.stat(name, dir_fd=folder, follow_symlinks=False)
            raise FileExistsError(errno.EEXIST, "exists", name) from None
        os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
        return
    os.unlink(tmp, dir_fd=folder)
