"""The CRT fast path signs its PUTs and GETs as S3 expects, for awkward keys too.

moto checks SigV4 signatures (recomputed with botocore's S3 signer, the reference real S3
agrees with) once its first few unauthenticated calls are used up. The test sends documents
through the fast path only, so a signature S3 would refuse shows up as "not done".
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from docbackup.errors import DocbackupError
from docbackup.storage.crt import CrtClient
from docbackup.storage.s3 import S3Store

pytest.importorskip("awscrt.s3")

KEYS = [
    "plain.txt",
    "backups/2025-10-15/documents/Contract 0001 - signed (2).pdf",
    "ünï/cöde+plus%percent.txt",
    "x~tilde'quote*star!bang;semi=eq&amp@at,comma.pdf",
    "spaces  twice/ trailing .txt",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def signing_moto() -> Iterator[str]:
    port = _free_port()
    server_bin = os.path.join(os.path.dirname(sys.executable), "moto_server")
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    proc = subprocess.Popen(
        [server_bin, "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait()


def _client(endpoint: str, service: str, key: str, secret: str) -> object:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
    )


def test_fast_path_signatures_are_accepted_and_wrong_ones_refused(signing_moto: str) -> None:
    # The three unauthenticated calls make a user allowed to use S3, with real keys.
    iam = _client(signing_moto, "iam", "bootstrap", "bootstrap")
    iam.create_user(UserName="office")  # type: ignore[attr-defined]
    iam.put_user_policy(  # type: ignore[attr-defined]
        UserName="office",
        PolicyName="s3",
        PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        '"Action":"s3:*","Resource":"*"}]}',
    )
    made = iam.create_access_key(UserName="office")["AccessKey"]  # type: ignore[attr-defined]
    s3 = _client(signing_moto, "s3", made["AccessKeyId"], made["SecretAccessKey"])
    s3.create_bucket(Bucket="signed")  # type: ignore[attr-defined]

    uploader = _uploader(s3, "signed")
    for key in KEYS:
        data = key.encode() * 3
        sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
        answer = uploader.put(key, data, {"x-amz-checksum-sha256": sha, "x-amz-meta-k": "v"})
        assert answer is not None, f"refused: {key}"
        stored = s3.get_object(Bucket="signed", Key=key)  # type: ignore[attr-defined]
        assert stored["Body"].read() == data
        assert stored["Metadata"] == {"k": "v"}

    # Reads through the fast path, signed the same way, the older version by its id.
    s3.put_bucket_versioning(  # type: ignore[attr-defined]
        Bucket="signed", VersioningConfiguration={"Status": "Enabled"}
    )
    versions = {}
    for key in KEYS:
        for data in (b"first " + key.encode(), b"second " + key.encode() * 2):
            put = s3.put_object(Bucket="signed", Key=key, Body=data)  # type: ignore[attr-defined]
            versions[key, data] = put["VersionId"]
    for (key, data), version in versions.items():
        assert uploader.get(key, version, len(data)) == data, f"not read: {key}"
    newest = b"second plain.txt" + b"plain.txt"
    assert uploader.get("plain.txt", None, len(newest)) == newest
    assert uploader.get("no such key", None, 10) is None  # botocore then reports it
    assert uploader.get("plain.txt", None, 2 * 1024 * 1024) is None  # too large for it

    # A wrong secret is refused, both ways: the checks above could fail.
    wrong = _client(signing_moto, "s3", made["AccessKeyId"], "not-the-secret")
    refused = _uploader(wrong, "signed", check=False)
    assert refused.put("plain.txt", b"x", {}) is None
    assert refused.get("plain.txt", None, len(newest)) is None


def _uploader(s3: Any, bucket: str, *, check: bool = True) -> CrtClient:
    """The fast path as a backup builds it: from the HeadBucket request botocore sent."""
    store = S3Store(
        s3,
        bucket,
        fast=functools.partial(
            CrtClient.for_request,
            bucket=bucket,
            credentials=s3._request_signer._credentials,
            connections=4,
            timeout_s=10,
        ),
    )
    if check:
        store.check_access()
    else:  # refused, as it should be: it is the request it sent that counts
        with contextlib.suppress(DocbackupError):
            store.check_access()
    uploader = store._fast_path()
    assert uploader is not None
    return uploader
