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
        path.encode("utf-8")
    except UnicodeEncodeError:
        # JSON can carry a lone surrogate ("\ud800"); no file name is made of one.
        raise UnsafePath("path is not valid Unicode (a lone surrogate)") from None
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
