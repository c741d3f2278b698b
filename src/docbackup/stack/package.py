"""The function's package: docbackup and its non-boto3 dependencies, as one deterministic zip.

Lambda's Python runtime provides boto3 (and botocore, s3transfer); everything else the handler
imports is copied from this installation, so the function runs the code that was tested.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import docbackup

# Distributions the handler needs beyond the runtime's boto3: all pure Python. tzdata so that
# zoneinfo, which needs a database even for UTC, does not depend on the runtime image having one.
BUNDLED = ("aws-lambda-powertools", "typing-extensions", "jmespath", "pathspec", "tzdata")
# Not needed inside the function: the office CLI, the local sandbox and the template it is
# deployed by (which would otherwise change the code key with every template edit).
_LEFT_OUT = (
    "docbackup/cli/",
    "docbackup/sandbox/",
    "docbackup/web/",  # `docbackup ui`: a person's machine, never the function
    "docbackup/stack/TapStack.yml",
    "__pycache__/",
)
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same code gives the same zip and key


@dataclass(frozen=True, slots=True)
class Package:
    data: bytes
    sha256: str

    @property
    def key(self) -> str:
        return f"docbackup/lambda-{docbackup.__version__}-{self.sha256[:16]}.zip"


def _files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    root = Path(docbackup.__file__).parent
    for path in root.rglob("*"):
        arc = "docbackup/" + path.relative_to(root).as_posix()
        if path.is_file() and not any(part in arc for part in _LEFT_OUT) and path.suffix != ".pyc":
            found[arc] = path
    for name in BUNDLED:
        dist = importlib.metadata.distribution(name)
        for file in dist.files or ():
            arc = file.as_posix()
            if arc.endswith(".pyc") or ".dist-info/" in arc or arc.startswith(".."):
                continue
            found[arc] = Path(str(dist.locate_file(file)))
    return found


def build() -> Package:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for arc, path in sorted(_files().items()):
            info = zipfile.ZipInfo(arc, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    data = buffer.getvalue()
    return Package(data, hashlib.sha256(data).hexdigest())
