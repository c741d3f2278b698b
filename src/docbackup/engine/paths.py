"""Turning a manifest path into a place inside the restore folder, or refusing to.

A manifest is data from a bucket, and a bucket can be written by others: no path it lists may
lead outside the target folder, whatever it contains.
"""

from __future__ import annotations

import os
import re

_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafePath(ValueError):
    pass


def safe_parts(path: str) -> list[str]:
    """The components of a relative path, or UnsafePath with the reason."""
    if not path:
        raise UnsafePath("empty path")
    if "\x00" in path:
        raise UnsafePath("path contains a NUL byte")
    try:
        # A lone surrogate (JSON can spell one) is no file name: open() would raise
        # UnicodeEncodeError, which is not the per-document problem it should be.
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafePath("path is not valid Unicode text") from None
    if path.startswith(("/", "\\")) or _DRIVE.match(path):
        raise UnsafePath("absolute path or drive letter")
    parts = path.split("/")
    if os.sep != "/" or os.altsep:
        # On Windows a backslash separates folders too, and names cannot carry one.
        parts = [p for part in parts for p in part.split("\\")]
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafePath(f"path has an empty, '.' or '..' component: {path!r}")
    return parts


def prepare_parent(root: str, parts: list[str]) -> str:
    """Create the folders for `parts` under `root`, never through a symlink; return the parent.

    Raises UnsafePath if something already in the target would redirect the write.
    """
    current = root
    for name in parts[:-1]:
        current = os.path.join(current, name)
        if os.path.islink(current):
            raise UnsafePath(f"{current} is a symbolic link; not restoring through it")
        try:
            os.mkdir(current, 0o755)
        except FileExistsError:
            if not os.path.isdir(current) or os.path.islink(current):
                raise UnsafePath(f"{current} exists and is not a folder") from None
    return current
