"""Which permissions AWS checks for an S3 request: its action, resource and condition keys.

The mapping follows the Service Authorization Reference: HeadBucket is s3:ListBucket,
HeadObject is s3:GetObject, every step of a multipart upload but the abort is s3:PutObject, and
a copy also needs s3:GetObject (or s3:GetObjectVersion) on its source. The calls S3 makes to
KMS on the caller's behalf are `s3_kms`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import parse_qs, unquote

from docbackup.sandbox.rules.actions.request import Base, Request, UnknownRequest
from docbackup.sandbox.rules.actions.s3_kms import kms_asks, upload_encryption, write_encryption
from docbackup.sandbox.rules.policy import Ask
from docbackup.sandbox.rules.state import MotoState

_BUCKET_GET = {
    "versions": "ListBucketVersions",
    "uploads": "ListBucketMultipartUploads",
    "versioning": "GetBucketVersioning",
    "encryption": "GetEncryptionConfiguration",
    "lifecycle": "GetLifecycleConfiguration",
    "publicAccessBlock": "GetBucketPublicAccessBlock",
    "policy": "GetBucketPolicy",
    "policyStatus": "GetBucketPolicyStatus",
    "ownershipControls": "GetBucketOwnershipControls",
    "logging": "GetBucketLogging",
    "location": "GetBucketLocation",
    "object-lock": "GetBucketObjectLockConfiguration",
    "tagging": "GetBucketTagging",
    "acl": "GetBucketAcl",
    "cors": "GetBucketCORS",
    "notification": "GetBucketNotification",
    "replication": "GetReplicationConfiguration",
    "website": "GetBucketWebsite",
    "accelerate": "GetAccelerateConfiguration",
    "requestPayment": "GetBucketRequestPayment",
}
_BUCKET_PUT = {
    "versioning": "PutBucketVersioning",
    "encryption": "PutEncryptionConfiguration",
    "lifecycle": "PutLifecycleConfiguration",
    "publicAccessBlock": "PutBucketPublicAccessBlock",
    "policy": "PutBucketPolicy",
    "ownershipControls": "PutBucketOwnershipControls",
    "logging": "PutBucketLogging",
    "object-lock": "PutBucketObjectLockConfiguration",
    "tagging": "PutBucketTagging",
    "acl": "PutBucketAcl",
    "cors": "PutBucketCORS",
    "notification": "PutBucketNotification",
}
_BUCKET_DELETE = {
    "policy": "DeleteBucketPolicy",
    "lifecycle": "PutLifecycleConfiguration",
    "encryption": "PutEncryptionConfiguration",
    "tagging": "PutBucketTagging",
    "publicAccessBlock": "PutBucketPublicAccessBlock",
    "ownershipControls": "PutBucketOwnershipControls",
    "cors": "PutBucketCORS",
}
_OBJECT_SUB = {
    ("GET", "tagging"): "GetObjectTagging",
    ("GET", "acl"): "GetObjectAcl",
    ("GET", "attributes"): "GetObjectAttributes",
    ("GET", "retention"): "GetObjectRetention",
    ("GET", "legal-hold"): "GetObjectLegalHold",
    ("GET", "uploadId"): "ListMultipartUploadParts",
    ("PUT", "tagging"): "PutObjectTagging",
    ("PUT", "acl"): "PutObjectAcl",
    ("PUT", "retention"): "PutObjectRetention",
    ("PUT", "legal-hold"): "PutObjectLegalHold",
    ("DELETE", "tagging"): "DeleteObjectTagging",
    ("DELETE", "uploadId"): "AbortMultipartUpload",
    ("POST", "restore"): "RestoreObject",
}
# Versioned forms: the same request naming a versionId is authorised as another action.
_VERSIONED = {
    "GetObject": "GetObjectVersion",
    "DeleteObject": "DeleteObjectVersion",
    "GetObjectTagging": "GetObjectVersionTagging",
    "GetObjectAcl": "GetObjectVersionAcl",
    "GetObjectAttributes": "GetObjectVersionAttributes",
    "PutObjectTagging": "PutObjectVersionTagging",
    "DeleteObjectTagging": "DeleteObjectVersionTagging",
}


# Query parameters that carry no sub-resource: listing options, a version, a part, response
# overrides, botocore's operation marker. Anything else unknown is refused, not guessed at.
_PLAIN_PARAMS = {
    "list-type",
    "prefix",
    "delimiter",
    "max-keys",
    "continuation-token",
    "start-after",
    "encoding-type",
    "fetch-owner",
    "marker",
    "key-marker",
    "version-id-marker",
    "upload-id-marker",
    "max-uploads",
    "max-parts",
    "part-number-marker",
    "versionId",
    "partNumber",
    "x-id",
}


def _unknown_params(query: Mapping[str, list[str]], known: set[str]) -> list[str]:
    return sorted(
        k
        for k in query
        if k not in known
        and k not in _PLAIN_PARAMS
        and not k.startswith(("response-", "X-Amz-", "x-amz-"))
    )


def s3_asks(request: Request, state: MotoState, base: Base) -> list[Ask]:
    bucket, _, key = request.path.lstrip("/").partition("/")
    if not bucket:
        return [Ask("s3:ListAllMyBuckets", "arn:aws:s3:::*", base)]
    policy = state.bucket_policy(bucket)

    def ask(action: str, resource: str, extra: Mapping[str, list[str]] | None = None) -> Ask:
        return Ask(f"s3:{action}", resource, {**base, **(extra or {})}, policy, "bucket policy")

    q, method = request.query, request.method
    if not key:
        return _bucket_asks(request, bucket, ask)
    known = {s for (m, s) in _OBJECT_SUB if m == method} | {"uploads", "uploadId"}
    unknown = _unknown_params(q, known)
    if unknown:
        raise UnknownRequest(f"S3 {method} object with {unknown}")
    resource = f"arn:aws:s3:::{bucket}/{key}"
    version = q.get("versionId", [""])[0] or None
    bypass = _bypass(request, ask, resource)
    sub = next((s for (m, s) in _OBJECT_SUB if m == method and s in q), None)
    if sub is not None:
        action = _OBJECT_SUB[(method, sub)]
        if sub == "uploadId" and method == "DELETE":
            return [ask(action, resource)]
        if sub == "uploadId":  # ListParts of an SSE-KMS upload is a plain read
            return [ask(action, resource)]
        return [ask(_VERSIONED.get(action, action) if version else action, resource), *bypass]
    if method in ("GET", "HEAD"):
        action = "GetObjectVersion" if version else "GetObject"
        out = [ask(action, resource, {"s3:versionid": [version]} if version else None)]
        if method == "GET":
            out += kms_asks(
                request, state, base, bucket, state.object_key(bucket, key, version), "Decrypt"
            )
        return out
    if method == "DELETE":
        action = "DeleteObjectVersion" if version else "DeleteObject"
        return [ask(action, resource), *bypass]
    if method == "POST" and "uploads" in q:
        # S3 makes the upload's data key now and decrypts it for every part.
        encryption = write_encryption(request, state, bucket)
        return [
            ask("PutObject", resource, _sse_keys(request)),
            *kms_asks(request, state, base, bucket, encryption, "GenerateDataKey"),
            *kms_asks(request, state, base, bucket, encryption, "Decrypt"),
        ]
    if method == "POST" and "uploadId" in q:
        # Completing reads the parts back: S3 decrypts them with the caller's identity.
        upload = upload_encryption(state, bucket, q["uploadId"][0])
        return [
            ask("PutObject", resource),
            *kms_asks(request, state, base, bucket, upload, "Decrypt"),
        ]
    if method == "PUT":
        out = [ask("PutObject", resource, _sse_keys(request))]
        if "uploadId" in q:
            # UploadPart and UploadPartCopy need kms:Decrypt of the upload's data key.
            upload = upload_encryption(state, bucket, q["uploadId"][0])
            out += kms_asks(request, state, base, bucket, upload, "Decrypt")
        else:
            encryption = write_encryption(request, state, bucket)
            out += kms_asks(request, state, base, bucket, encryption, "GenerateDataKey")
        source = request.header("x-amz-copy-source")
        if source:
            out += _copy_source(request, state, base, source)
        return out
    raise UnknownRequest(f"S3 {method} {request.path} ({sorted(q)})")


def _bypass(request: Request, ask: Callable[..., Ask], resource: str) -> list[Ask]:
    """Object Lock's governance bypass is a permission of its own."""
    if (request.header("x-amz-bypass-governance-retention") or "").lower() == "true":
        return [ask("BypassGovernanceRetention", resource)]
    return []


def _bucket_asks(request: Request, bucket: str, ask: Callable[..., Ask]) -> list[Ask]:
    q, method, arn = request.query, request.method, f"arn:aws:s3:::{bucket}"
    listing = {f"s3:{k}": q[k] for k in ("prefix", "delimiter", "max-keys") if k in q}
    table = {"GET": _BUCKET_GET, "PUT": _BUCKET_PUT, "DELETE": _BUCKET_DELETE}.get(method, {})
    unknown = _unknown_params(q, set(table) | ({"delete"} if method == "POST" else set()))
    if unknown:
        raise UnknownRequest(f"S3 {method} /{bucket} with {unknown}")
    if method == "HEAD":
        return [ask("ListBucket", arn)]  # HeadBucket needs s3:ListBucket
    sub = next((s for s in table if s in q), None)
    if sub is not None:
        action = table[sub]
        return [ask(action, arn, listing if action == "ListBucketVersions" else None)]
    if method == "GET":
        return [ask("ListBucket", arn, listing)]
    if method == "PUT":
        return [ask("CreateBucket", arn)]
    if method == "DELETE":
        return [ask("DeleteBucket", arn)]
    if method == "POST" and "delete" in q:
        # DeleteObjects is authorised key by key, a version as s3:DeleteObjectVersion.
        asks = []
        for key, version in _deleted_keys(request.body):
            resource = f"{arn}/{key}"
            asks.append(ask("DeleteObjectVersion" if version else "DeleteObject", resource))
            asks += _bypass(request, ask, resource)
        return asks
    raise UnknownRequest(f"S3 {method} /{bucket} ({sorted(q)})")


def _deleted_keys(body: bytes) -> list[tuple[str, str]]:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(body)  # noqa: S314 - a request from a client on this machine
    found = []
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] != "Object":
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in element}
        found.append((fields.get("Key", ""), fields.get("VersionId", "")))
    return found


def _sse_keys(request: Request) -> dict[str, list[str]]:
    """The request's encryption headers as the S3 condition keys; absent headers stay absent."""
    out = {}
    for header in ("x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id"):
        value = request.header(header)
        if value is not None:
            out[f"s3:{header}"] = [value]
    return out


def _copy_source(request: Request, state: MotoState, base: Base, source: str) -> list[Ask]:
    # Split off the version first: the key itself may hold a percent-encoded "?".
    path, _, query = source.lstrip("/").partition("?")
    bucket, _, key = unquote(path).partition("/")
    version = parse_qs(query).get("versionId", [""])[0] or None
    action = "s3:GetObjectVersion" if version else "s3:GetObject"
    read = Ask(
        action, f"arn:aws:s3:::{bucket}/{key}", base, state.bucket_policy(bucket), "bucket policy"
    )
    encryption = state.object_key(bucket, key, version)
    return [read, *kms_asks(request, state, base, bucket, encryption, "Decrypt")]
