"""Managed (multipart) transfers through s3transfer, boto3's transfer manager.

Separate from the store because it is the one place the multipart numbers are chosen and
s3transfer is imported, and only when a large object needs it: a night of small documents
never loads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from docbackup import tuning

# CopyObject takes at most 5 GiB in one request; above it the managed copy goes multipart.
COPY_LIMIT = 5 * 1024**3


@dataclass(frozen=True, slots=True)
class TransferSettings:
    """Managed (multipart) transfers: above the threshold, parts of part_size, `concurrency`
    at a time, and no more parts than that read ahead of a read-once stream."""

    multipart_threshold: int = tuning.MULTIPART_THRESHOLD
    part_size: int = tuning.PART_SIZE
    concurrency: int = 4

    def manager(self, client: Any) -> Any:
        from s3transfer.manager import TransferConfig, TransferManager

        config = TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.part_size,
            max_request_concurrency=self.concurrency,
            # s3transfer's default is 10 parts held per read-once stream; this bounds memory.
            max_in_memory_upload_chunks=self.concurrency,
        )
        return TransferManager(client, config)
