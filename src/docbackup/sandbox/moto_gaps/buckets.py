"""A bucket's declared settings and its bucket policy, which moto's CloudFormation ignores.

moto applies only a bucket's name, encryption algorithm and tags, and skips the bucket policy;
this applies versioning, encryption with its bucket key, lifecycle (rules translated from
CloudFormation's form to the S3 API's), public access block, ownership and logging, and the
policy, with the one change moto's own policy check needs.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from docbackup.sandbox.moto_gaps.resolver import Resolver


def bucket_policy(session: Any, props: dict[str, Any]) -> None:
    # moto's own check on object requests evaluates a bucket policy without the request's
    # condition values, so each statement for Principal "*" or {"AWS": "*"} with a Condition
    # (TLS only, the stack key only) would refuse every object request. It skips statements
    # whose Principal is any other plain string, so the sandbox stores these Deny statements
    # with the account's ARN as the Principal. The sandbox's authorization layer
    # (rules.policy) reads that as every principal of the account: for the sandbox's one
    # account the same outcome as "*". `status` reads back the same statements and
    # conditions. AWS enforces the template as written.
    document = copy.deepcopy(props["PolicyDocument"])
    account = session.client("sts").get_caller_identity()["Account"]
    for statement in document["Statement"]:
        if statement.get("Principal") in ("*", {"AWS": "*"}) and "Condition" in statement:
            statement["Principal"] = f"arn:aws:iam::{account}:root"
    session.client("s3").put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(document))


def bucket_settings(session: Any, resolver: Resolver, name: str, props: dict[str, Any]) -> None:
    s3 = session.client("s3")
    bucket = resolver.physical[name]
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration=props["VersioningConfiguration"]
        )
    if "BucketEncryption" in props:
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"],
                "BucketKeyEnabled": bool(r.get("BucketKeyEnabled", False)),
            }
            for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules})
    if "LifecycleConfiguration" in props:
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={
                "Rules": [_lifecycle_rule(r) for r in props["LifecycleConfiguration"]["Rules"]]
            },
        )
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"],
        )
    if "OwnershipControls" in props:
        s3.put_bucket_ownership_controls(
            Bucket=bucket, OwnershipControls=props["OwnershipControls"]
        )
    if "LoggingConfiguration" in props:
        logging = props["LoggingConfiguration"]
        s3.put_bucket_logging(
            Bucket=bucket,
            BucketLoggingStatus={
                "LoggingEnabled": {
                    "TargetBucket": logging["DestinationBucketName"],
                    "TargetPrefix": logging.get("LogFilePrefix", ""),
                }
            },
        )


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A lifecycle rule as CloudFormation writes it, as the S3 API takes it."""
    out: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"]}
    prefix = rule.get("Prefix")
    size = rule.get("ObjectSizeGreaterThan")
    if prefix is not None and size is not None:
        out["Filter"] = {"And": {"Prefix": prefix, "ObjectSizeGreaterThan": int(size)}}
    elif size is not None:
        out["Filter"] = {"ObjectSizeGreaterThan": int(size)}
    else:
        out["Filter"] = {"Prefix": prefix or ""}
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if rule.get("ExpiredObjectDeleteMarker"):
        out["Expiration"] = {"ExpiredObjectDeleteMarker": True}
    if "NoncurrentVersionExpiration" in rule:
        out["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        }
    if "AbortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(
                rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
            )
        }
    if "Transitions" in rule:
        out["Transitions"] = [
            {"Days": int(t["TransitionInDays"]), "StorageClass": t["StorageClass"]}
            for t in rule["Transitions"]
        ]
    return out
