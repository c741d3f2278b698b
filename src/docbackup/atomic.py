"""One way to replace a small text file: the config, the schedule's units, the HTML report.

A temporary file beside the target, flushed to disk, then renamed over it: a reader (or a
power cut) sees the old file or the new one, never half of either. Restore writes documents
its own way (`engine.target`), through folder descriptors.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_text(path: str | Path, text: str, *, mode: int = 0o644) -> None:
    """Write `text` to `path` atomically, created with `mode` (before the umask) when new.
    The temporary file is removed if anything fails; the old file is then as it was."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
