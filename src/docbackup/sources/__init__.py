"""Sources: where the documents come from (a local folder or an S3 prefix)."""

from docbackup.sources.base import Document, FileOrigin, ObjectOrigin, ScanResult, Skipped
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
    "ScanResult",
    "Skipped",
]
