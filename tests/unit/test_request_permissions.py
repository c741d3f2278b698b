"""Which permissions the sandbox asks for a request, as the Service Authorization Reference
lists them (no server: a stand-in for moto's state)."""

from __future__ import annotations

from typing import Any

import pytest

from docbackup.sandbox.rules.actions import Request, UnknownRequest, asks

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/k1"
ROLE = "arn:aws:iam::123456789012:role/Nightly"


class State:
    """The bucket "b" has the stack key as its default; every object is stored under it."""

    account = "123456789012"

    def bucket_policy(self, name: str) -> dict[str, Any] | None:
        return None

    def bucket_default_key(self, name: str) -> tuple[str, str]:
        return "aws:kms", KEY_ARN

    def object_key(self, bucket: str, key: str, version: str | None) -> tuple[str, str] | None:
        return ("aws:kms", KEY_ARN) if key == "d/What?.pdf" or key == "d/a.pdf" else None

    def upload_key(self, bucket: str, upload_id: str) -> tuple[str, str] | None:
        return "", ""  # moto keeps only what the request's headers said

    def kms_key(self, region: str, any_id: str) -> tuple[str, dict[str, Any]] | None:
        return (KEY_ARN, {"Statement": []}) if any_id in (KEY_ARN, "k1") else None

    def is_aws_managed(self, region: str, any_id: str) -> bool:
        return False


def s3(method: str, path: str, query: str = "", **headers: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qs

    request = Request(
        method, path, parse_qs(query, keep_blank_values=True), headers, b"", "s3", "us-east-1", True
    )
    return [(a.action, a.resource) for a in asks(request, State(), ROLE)]  # type: ignore[arg-type]


def test_multipart_steps_and_their_kms_permissions_under_the_bucket_default() -> None:
    obj = "arn:aws:s3:::b/d/big.bin"
    assert s3("POST", "/b/d/big.bin", "uploads") == [
        ("s3:PutObject", obj),
        ("kms:GenerateDataKey", KEY_ARN),
        ("kms:Decrypt", KEY_ARN),
    ]
    assert s3("PUT", "/b/d/big.bin", "partNumber=1&uploadId=u") == [
        ("s3:PutObject", obj),
        ("kms:Decrypt", KEY_ARN),
    ]
    assert s3("POST", "/b/d/big.bin", "uploadId=u") == [
        ("s3:PutObject", obj),
        ("kms:Decrypt", KEY_ARN),
    ]
    assert s3("DELETE", "/b/d/big.bin", "uploadId=u") == [("s3:AbortMultipartUpload", obj)]


def test_a_copy_reads_its_source_by_version_even_with_a_question_mark_in_the_key() -> None:
    got = s3("PUT", "/b/copies/w.pdf", **{"x-amz-copy-source": "b/d/What%3F.pdf?versionId=v1"})
    assert ("s3:GetObjectVersion", "arn:aws:s3:::b/d/What?.pdf") in got
    assert got.count(("kms:Decrypt", KEY_ARN)) == 1  # the source is read back under its key


def test_reads_heads_and_listings() -> None:
    assert s3("HEAD", "/b") == [("s3:ListBucket", "arn:aws:s3:::b")]
    assert s3("HEAD", "/b/d/a.pdf") == [("s3:GetObject", "arn:aws:s3:::b/d/a.pdf")]  # no KMS
    assert s3("GET", "/b/d/a.pdf", "versionId=v") == [
        ("s3:GetObjectVersion", "arn:aws:s3:::b/d/a.pdf"),
        ("kms:Decrypt", KEY_ARN),
    ]
    assert s3("GET", "/b", "list-type=2&prefix=backups/") == [("s3:ListBucket", "arn:aws:s3:::b")]
    assert s3("GET", "/b", "versions&prefix=x") == [("s3:ListBucketVersions", "arn:aws:s3:::b")]


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [("GET", "/b", "inventory"), ("PUT", "/b", "replication"), ("GET", "/b/k", "torrent")],
)
def test_a_sub_resource_it_does_not_know_is_refused(method: str, path: str, query: str) -> None:
    with pytest.raises(UnknownRequest):
        s3(method, path, query)


def test_principal_arn_and_secure_transport_are_in_every_context() -> None:
    request = Request("GET", "/b", {}, {}, b"", "s3", "us-east-1", False)
    (only,) = asks(request, State(), ROLE)  # type: ignore[arg-type]
    assert only.context["aws:principalarn"] == [ROLE]
    assert only.context["aws:securetransport"] == ["false"]
