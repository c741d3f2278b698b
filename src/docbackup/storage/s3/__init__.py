"""The S3 implementation of `Store`, over an injected boto3 client.

The client (and its retry mode, timeouts and connection pool) is built in
`docbackup.compose`; this package only speaks the S3 API and turns its errors into
docbackup's. `store` is the store itself; `errors` turns botocore's errors into docbackup's;
`wire` translates docbackup's values into S3's parameters and S3's answers back; `transfer`
holds the managed (multipart) transfers, through s3transfer, imported only when one is needed.
"""

from docbackup.storage.s3.store import S3Store
from docbackup.storage.s3.transfer import TransferSettings

__all__ = ["S3Store", "TransferSettings"]
