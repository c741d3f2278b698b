"""The one streaming SHA-256: what was read is what was hashed, in one pass.

Top level rather than in the engine because both sides of the source seam need it: a source
hashes the bytes it sends as it sends them, and the engine hashes stored copies it reads back.
"""

from __future__ import annotations

import hashlib
from typing import BinaryIO, Protocol

# Reads of a megabyte: few calls per large file, little memory per worker.
CHUNK = 1 << 20


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class HashingReader:
    """A read-once, non-seekable view of a stream that hashes what it hands out.

    Non-seekable on purpose: s3transfer then reads it strictly in order, so the digest is of
    exactly the bytes that were sent, and memory stays at a few part sizes.
    """

    def __init__(self, raw: Readable | BinaryIO) -> None:
        self._raw = raw
        self.sha = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.sha.update(data)
        self.count += len(data)
        return data

    def drain(self) -> tuple[str, int]:
        """Read to the end; the SHA-256 (hex) and the size of all that was read."""
        while self.read(CHUNK):
            pass
        return self.sha.hexdigest(), self.count


def sha256_of(raw: Readable | BinaryIO) -> tuple[str, int]:
    """SHA-256 (hex) and size of what is left in `raw`."""
    return HashingReader(raw).drain()
