"""Sources: where the documents come from (a local folder or an S3 prefix)."""

from docbackup.sources.base import Document, FileOrigin, ObjectOrigin, ScanResult, Skipped
from docbackup.sources.local import LocalSource
from docbackup.sources.s3 import ObjectSource

__all__ = [
    "Document",
    "FileOrigin",
    "LocalSource",
    "ObjectOrigin",
    "ObjectSource",
    "ScanResult",
    "Skipped",
]
