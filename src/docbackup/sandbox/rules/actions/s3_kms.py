"""The calls S3 makes to KMS with the caller's identity, and the key each one uses.

A read or write of an SSE-KMS object makes S3 call KMS as the caller: kms:GenerateDataKey to
write, kms:GenerateDataKey and kms:Decrypt to start a multipart upload, kms:Decrypt for each
part, the completion and every read (the UploadPart and CreateMultipartUpload API references).
Separate from `s3` because these are KMS permissions, judged by the key's policy, and the key
they name comes from the request, the bucket's default or the upload's creation.
"""

from __future__ import annotations

from docbackup.sandbox.rules.actions.request import Base, Request
from docbackup.sandbox.rules.policy import Ask
from docbackup.sandbox.rules.state import MotoState


def write_encryption(request: Request, state: MotoState, bucket: str) -> tuple[str, str]:
    """(algorithm, KMS key) a write is stored under: its headers, else the bucket default.
    `aws:kms` without a key id means the AWS managed key aws/s3 (key "")."""
    algorithm = request.header("x-amz-server-side-encryption")
    if algorithm is None:
        return state.bucket_default_key(bucket)
    return algorithm, request.header("x-amz-server-side-encryption-aws-kms-key-id") or ""


def upload_encryption(state: MotoState, bucket: str, upload_id: str) -> tuple[str, str] | None:
    """What a multipart upload is encrypted under: what it was created with, else (moto keeps
    only headers) the bucket's default."""
    upload = state.upload_key(bucket, upload_id)
    if upload is None:
        return None
    return upload if upload[0] else state.bucket_default_key(bucket)


def kms_asks(
    request: Request,
    state: MotoState,
    base: Base,
    bucket: str,
    encryption: tuple[str, str] | None,
    operation: str,
) -> list[Ask]:
    if encryption is None or encryption[0] != "aws:kms":
        return []
    key_id = encryption[1]
    if not key_id or state.is_aws_managed(request.region, key_id):
        # The AWS managed key aws/s3: its policy lets every principal of the account use it
        # through S3, so there is nothing here for a customer's policies to refuse.
        return []
    found = state.kms_key(request.region, key_id)
    if found is None:
        return []  # KMS answers for an unknown key itself (moto raises NotFound)
    arn, key_policy = found
    context = {
        **base,
        "kms:viaservice": [f"s3.{request.region}.amazonaws.com"],
        "kms:calleraccount": [state.account],
        # With a bucket key, S3 asks KMS for a bucket-level key: its context is the bucket.
        "kms:encryptioncontext:aws:s3:arn": [f"arn:aws:s3:::{bucket}"],
    }
    return [Ask(f"kms:{operation}", arn, context, key_policy, "key policy")]
