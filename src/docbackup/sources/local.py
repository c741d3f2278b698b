"""A local folder as a source: walked without following links."""

from __future__ import annotations

import os
import stat

from docbackup.errors import ConfigError
from docbackup.sources.base import Document, FileOrigin, ScanResult, Skipped


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
        result = ScanResult()
        self._walk(self.root, "", result)
        result.documents.sort(key=lambda d: d.path)
        return result

    def _walk(self, folder: str, rel: str, result: ScanResult) -> None:
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            result.skipped.append(
                Skipped(rel or ".", f"folder cannot be read: {exc.strerror}", True)
            )
            return
        for entry in sorted(entries, key=lambda e: e.name):
            path = f"{rel}{entry.name}"
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                if not isinstance(exc, FileNotFoundError):
                    result.skipped.append(Skipped(path, f"cannot stat: {exc.strerror}", True))
                continue
            if stat.S_ISDIR(st.st_mode):
                self._walk(entry.path, path + "/", result)
            elif stat.S_ISREG(st.st_mode):
                origin = FileOrigin(entry.path, file_fingerprint(st))
                result.documents.append(Document(path, st.st_size, st.st_mtime_ns, origin))
            elif stat.S_ISLNK(st.st_mode):
                result.skipped.append(Skipped(path, "symbolic link, not followed", False))
            else:
                result.skipped.append(
                    Skipped(path, "not a regular file (socket, FIFO or device)", False)
                )
