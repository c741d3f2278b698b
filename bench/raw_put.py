"""The "boto3 loop" peer of bench/compare.py: the simplest possible upload of a folder.

32 threads, one put_object per file with the whole file read into memory, SSE-KMS like
docbackup's when a key is given. No listing, no comparison, no manifest: a floor for what a
first backup costs through boto3. The endpoint and credentials come from the environment
(AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...).

    .venv/bin/python bench/raw_put.py SRC --bucket B [--prefix raw/] [--kms-key-id KEY]
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config

THREADS = 32


def files_under(root: str) -> list[str]:
    return sorted(os.path.join(d, f) for d, _, names in os.walk(root) for f in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source")
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", default="raw/")
    parser.add_argument("--kms-key-id")
    args = parser.parse_args()
    # One pooled connection per thread, or the threads queue for the pool's default 10.
    s3 = boto3.client("s3", config=Config(max_pool_connections=THREADS))
    sse: dict[str, Any] = (
        {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": args.kms_key_id}
        if args.kms_key_id
        else {}
    )

    def put(path: str) -> int:
        with open(path, "rb") as f:
            body = f.read()
        key = args.prefix + os.path.relpath(path, args.source).replace(os.sep, "/")
        s3.put_object(Bucket=args.bucket, Key=key, Body=body, **sse)
        return len(body)

    with ThreadPoolExecutor(THREADS) as pool:
        sizes = list(pool.map(put, files_under(args.source)))  # re-raises the first failure
    print(f'{{"files": {len(sizes)}, "bytes": {sum(sizes)}}}')


if __name__ == "__main__":
    main()
