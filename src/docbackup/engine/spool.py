"""Anonymous temporary files in TMPDIR, whose failures say which folder failed.

Manifests are spooled there a line at a time (backup, restore, list, verify) and `cat` spools a
download there before writing it out. A full temporary folder used to surface as a raw OSError
(ENOSPC) from deep inside a buffered write, a flush or a seek, with a traceback; every write
here goes through `_Guarded`, so it surfaces as one TemporaryFolderError naming the folder.
"""

from __future__ import annotations

import errno
import io
import tempfile
from typing import Any, BinaryIO, cast

from docbackup.errors import TemporaryFolderError

_FULL = {errno.ENOSPC, errno.EDQUOT}
# Larger than io's default: fewer calls through the Python layer for a large manifest.
_BUFFER = 256 * 1024


def temporary_file() -> BinaryIO:
    """A read-write temporary file, gone when closed."""
    try:
        raw = tempfile.TemporaryFile(buffering=0)  # noqa: SIM115 - closed with the spool
    except OSError as exc:
        raise _error(exc, "cannot create a file in") from None
    return cast(BinaryIO, io.BufferedRandom(_Guarded(raw), _BUFFER))


def _error(exc: OSError, doing: str) -> TemporaryFolderError:
    folder = tempfile.gettempdir()
    if exc.errno in _FULL:
        return TemporaryFolderError(
            f"the temporary folder {folder} is full ({exc.strerror}): free space there, or "
            "set TMPDIR to a folder with room"
        )
    return TemporaryFolderError(f"{doing} the temporary folder {folder}: {exc.strerror or exc}")


class _Guarded(io.RawIOBase):
    """The temporary file's own unbuffered file, its OSErrors turned into ours."""

    def __init__(self, raw: Any) -> None:
        super().__init__()
        self._raw = raw

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return int(self._raw.fileno())

    def readinto(self, buffer: Any) -> int:
        try:
            return int(self._raw.readinto(buffer))
        except OSError as exc:
            raise _error(exc, "cannot read from") from None

    def write(self, data: Any) -> int:
        try:
            return int(self._raw.write(data))
        except OSError as exc:
            raise _error(exc, "cannot write to") from None

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return int(self._raw.seek(offset, whence))

    def tell(self) -> int:
        return int(self._raw.tell())

    def truncate(self, size: int | None = None) -> int:
        return int(self._raw.truncate(size))

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()
