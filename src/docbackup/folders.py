"""Folders held by descriptor, each opened from the one above it without following a link.

What restore writes and what backup reads both go down a path one folder at a time this way,
so that a folder swapped for a link (or a file) while they run is refused when it is reached,
whenever that is. Where the system opens no folder by descriptor (Windows), DESCRIPTORS is
False and the callers go by path.
"""

from __future__ import annotations

import contextlib
import os

DESCRIPTORS = (
    os.open in os.supports_dir_fd and hasattr(os, "O_DIRECTORY") and hasattr(os, "O_NOFOLLOW")
)
# A folder, never through a link at its own name (O_NOFOLLOW), never a file (O_DIRECTORY).
FOLDER = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


class NotAFolder(Exception):
    """The `depth`-th name on the way could not be opened as a folder; `cause` says why
    (ELOOP: a link, ENOTDIR: not a folder, or any other error of the open)."""

    def __init__(self, depth: int, cause: OSError) -> None:
        super().__init__(cause.strerror)
        self.depth = depth
        self.cause = cause


def descend(top: int, names: list[str], *, create: bool = False) -> int:
    """A descriptor of the folder `names` below the descriptor `top`, each step opened from the
    last (with `create`, made first if missing). The caller closes it unless it is `top`."""
    fd = top
    try:
        for depth, name in enumerate(names, 1):
            try:
                try:
                    step = os.open(name, FOLDER, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    # Made only when missing: most documents go where others already went.
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(name, 0o755, dir_fd=fd)
                    step = os.open(name, FOLDER, dir_fd=fd)
            except OSError as exc:
                raise NotAFolder(depth, exc) from None
            if fd != top:
                os.close(fd)
            fd = step
    except BaseException:
        if fd != top:
            os.close(fd)
        raise
    return fd
