"""The sandbox's lifecycle transitions (docbackup.sandbox.archive_aging), and what moto then
answers for an archived copy: the answers S3 gives, which the store and engine tests rely on."""

from __future__ import annotations

import os

import pytest
from botocore.exceptions import ClientError

from docbackup.sandbox import archive_aging
from docbackup.sandbox.server import LocalAWS

LARGE = 200_000  # over the 128 KB floor
# The stack's ArchiveLargerCopies rule with ArchiveTransition=glacier-30-deep-archive-180.
RULES = [
    {
        "ID": "ArchiveLargerCopies",
        "Status": "Enabled",
        "Filter": {"And": {"Prefix": "backups/", "ObjectSizeGreaterThan": 131072}},
        "Transitions": [
            {"Days": 30, "StorageClass": "GLACIER"},
            {"Days": 180, "StorageClass": "DEEP_ARCHIVE"},
        ],
    }
]


def test_aging_follows_the_rules_and_moto_then_answers_as_s3_does(
    moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    bucket, _ = moto_bucket
    s3 = aws_env.client("s3")
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": RULES})
    # moto 5.2.5 keeps no size filter, so the rules go in as the bucket was given them.
    kept = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]["Filter"]
    assert "ObjectSizeGreaterThan" not in kept["And"]
    rules = RULES
    big = os.urandom(LARGE)
    for key, body in (
        ("backups/2025-10-01/documents/lease.pdf", big),
        ("backups/2025-10-01/documents/note.txt", b"small"),
        ("elsewhere/lease.pdf", big),
    ):
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    old = "backups/2025-10-01/documents/lease.pdf"

    # Rounded up to the midnight after the 30th day: nothing moves before that.
    assert archive_aging.age(s3, bucket, days=29, rules=rules) == []
    (moved,) = archive_aging.age(s3, bucket, days=31, rules=rules)
    assert (moved.key, moved.was, moved.storage_class) == (old, "STANDARD", "GLACIER")
    assert [m.storage_class for m in archive_aging.age(s3, bucket, days=181, rules=rules)] == [
        "DEEP_ARCHIVE"
    ]
    assert archive_aging.age(s3, bucket, days=400, rules=rules) == []  # never back up

    # What moto then answers, as S3 does: the class on HEAD, refusals on GET and COPY.
    assert s3.head_object(Bucket=bucket, Key=old)["StorageClass"] == "DEEP_ARCHIVE"
    with pytest.raises(ClientError) as get:
        s3.get_object(Bucket=bucket, Key=old)
    assert get.value.response["Error"]["Code"] == "InvalidObjectState"
    assert get.value.response["Error"]["StorageClass"] == "DEEP_ARCHIVE"
    with pytest.raises(ClientError) as copy:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": old})
    assert copy.value.response["Error"]["Code"] == "ObjectNotInActiveTierError"
    for key in ("backups/2025-10-01/documents/note.txt", "elsewhere/lease.pdf"):
        assert "StorageClass" not in s3.head_object(Bucket=bucket, Key=key)  # STANDARD


def test_aging_reads_the_bucket_rules_and_ages_noncurrent_versions(
    moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    bucket, _ = moto_bucket
    s3 = aws_env.client("s3")
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "old-versions",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "backups/"},
                    "NoncurrentVersionTransitions": [
                        {"NoncurrentDays": 10, "StorageClass": "GLACIER"}
                    ],
                }
            ]
        },
    )
    key = "backups/2025-10-01/documents/lease.pdf"
    first = s3.put_object(Bucket=bucket, Key=key, Body=os.urandom(LARGE))["VersionId"]
    s3.put_object(Bucket=bucket, Key=key, Body=os.urandom(LARGE))
    s3.put_object(Bucket=bucket, Key="backups/small.txt", Body=b"under 128 KB, never moved")
    s3.put_object(Bucket=bucket, Key="backups/small.txt", Body=b"again")

    # Read from the bucket itself; only the version that stopped being current moves.
    moved = archive_aging.age(s3, bucket, days=12)
    assert [(m.key, m.version_id, m.storage_class) for m in moved] == [(key, first, "GLACIER")]
    assert "StorageClass" not in s3.head_object(Bucket=bucket, Key=key)
