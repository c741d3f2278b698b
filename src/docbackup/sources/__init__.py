"""Sources: where the documents come from (a local folder or an S3 prefix), and how each is
stored (`Source` in sources.base: the folder uploads, the prefix copies server-side)."""

from docbackup.sources.base import (
    Document,
    FileOrigin,
    ObjectOrigin,
    Origin,
    Outcome,
    ScanResult,
    Skipped,
    Source,
)
from docbackup.sources.exclude import DEFAULT_EXCLUDES, IGNORE_FILE, Excluder
from docbackup.sources.local import LocalSource
from docbackup.sources.s3 import ObjectSource

__all__ = [
    "DEFAULT_EXCLUDES",
    "IGNORE_FILE",
    "Document",
    "Excluder",
    "FileOrigin",
    "LocalSource",
    "ObjectOrigin",
    "ObjectSource",
    "Origin",
    "Outcome",
    "ScanResult",
    "Skipped",
    "Source",
]
