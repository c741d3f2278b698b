"""Which permissions AWS checks for an HTTP request: the action, the resource, the condition
keys, the resource-based policy that applies, and the permissions a service uses on the
caller's behalf (S3's calls to KMS, the source of a copy, SNS's calls to KMS).

The S3 mapping follows the Service Authorization Reference: HeadBucket is s3:ListBucket,
HeadObject is s3:GetObject, every step of a multipart upload but the abort is s3:PutObject, a
copy also needs s3:GetObject (or s3:GetObjectVersion) on its source, and a read or write of an
SSE-KMS object makes S3 call KMS with the caller's identity: kms:GenerateDataKey to write,
kms:GenerateDataKey and kms:Decrypt to start a multipart upload, kms:Decrypt for each part, the
completion and every read (the UploadPart and CreateMultipartUpload API references).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from docbackup.sandbox.rules.policy import Ask
from docbackup.sandbox.rules.state import MotoState


class UnknownRequest(Exception):
    """A request this layer cannot map to its permissions: answered loudly, never allowed."""


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # percent-decoded
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes  # read only for the services whose parameters travel in the body
    service: str  # from the signature's credential scope
    region: str
    secure: bool

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


Base = dict[str, list[str]]  # the condition keys every request carries
Mapper = Callable[[Request, MotoState, Base], list[Ask]]


def asks(request: Request, state: MotoState, principal_arn: str) -> list[Ask]:
    base = {
        "aws:securetransport": ["true" if request.secure else "false"],
        "aws:principalarn": [principal_arn],
        "aws:principalaccount": [state.account],
    }
    mapper = _MAPPERS.get(request.service)
    if mapper is None:
        raise UnknownRequest(f"no permission mapping for service {request.service!r}")
    return mapper(request, state, base)


# -- S3 -----------------------------------------------------------------------------------------

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


def _s3(request: Request, state: MotoState, base: Base) -> list[Ask]:
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
            out += _kms_asks(
                request, state, base, bucket, state.object_key(bucket, key, version), "Decrypt"
            )
        return out
    if method == "DELETE":
        action = "DeleteObjectVersion" if version else "DeleteObject"
        return [ask(action, resource), *bypass]
    if method == "POST" and "uploads" in q:
        # S3 makes the upload's data key now and decrypts it for every part.
        encryption = _write_encryption(request, state, bucket)
        return [
            ask("PutObject", resource, _sse_keys(request)),
            *_kms_asks(request, state, base, bucket, encryption, "GenerateDataKey"),
            *_kms_asks(request, state, base, bucket, encryption, "Decrypt"),
        ]
    if method == "POST" and "uploadId" in q:
        # Completing reads the parts back: S3 decrypts them with the caller's identity.
        upload = _upload_encryption(state, bucket, q["uploadId"][0])
        return [
            ask("PutObject", resource),
            *_kms_asks(request, state, base, bucket, upload, "Decrypt"),
        ]
    if method == "PUT":
        out = [ask("PutObject", resource, _sse_keys(request))]
        if "uploadId" in q:
            # UploadPart and UploadPartCopy need kms:Decrypt of the upload's data key.
            upload = _upload_encryption(state, bucket, q["uploadId"][0])
            out += _kms_asks(request, state, base, bucket, upload, "Decrypt")
        else:
            encryption = _write_encryption(request, state, bucket)
            out += _kms_asks(request, state, base, bucket, encryption, "GenerateDataKey")
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


def _write_encryption(request: Request, state: MotoState, bucket: str) -> tuple[str, str]:
    """(algorithm, KMS key) a write is stored under: its headers, else the bucket default.
    `aws:kms` without a key id means the AWS managed key aws/s3 (key "")."""
    algorithm = request.header("x-amz-server-side-encryption")
    if algorithm is None:
        return state.bucket_default_key(bucket)
    return algorithm, request.header("x-amz-server-side-encryption-aws-kms-key-id") or ""


def _upload_encryption(state: MotoState, bucket: str, upload_id: str) -> tuple[str, str] | None:
    """What a multipart upload is encrypted under: what it was created with, else (moto keeps
    only headers) the bucket's default."""
    upload = state.upload_key(bucket, upload_id)
    if upload is None:
        return None
    return upload if upload[0] else state.bucket_default_key(bucket)


def _kms_asks(
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
    return [read, *_kms_asks(request, state, base, bucket, encryption, "Decrypt")]


# -- services whose parameters are in the body ------------------------------------------------


def _form(request: Request) -> dict[str, str]:
    fields = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    fields.update({k: v for k, v in request.query.items() if k not in fields})
    return {k: v[0] for k, v in fields.items()}


def _json_target(request: Request) -> tuple[str, dict[str, Any]]:
    target = request.header("x-amz-target") or ""
    try:
        params = json.loads(request.body or b"{}")
    except ValueError:
        params = {}
    return target.rsplit(".", 1)[-1], params if isinstance(params, dict) else {}


def _kms(request: Request, state: MotoState, base: Base) -> list[Ask]:
    operation, params = _json_target(request)
    key_id = params.get("KeyId") or params.get("TargetKeyId")
    if not key_id and params.get("CiphertextBlob"):
        key_id = state.ciphertext_key(request.region, str(params["CiphertextBlob"]))
    if not key_id:
        return [Ask(f"kms:{operation}", "*", base)]
    found = state.kms_key(request.region, str(key_id))
    if found is None:
        return [Ask(f"kms:{operation}", str(key_id), base)]
    arn, key_policy = found
    context = {**base, "kms:calleraccount": [state.account]}
    return [Ask(f"kms:{operation}", arn, context, key_policy, "key policy")]


def _sns(request: Request, state: MotoState, base: Base) -> list[Ask]:
    form = _form(request)
    operation, topic = form.get("Action", ""), form.get("TopicArn", "*")
    out = [Ask(f"sns:{operation}", topic, base)]
    key_id = state.topic_key(request.region, topic) if operation == "Publish" else ""
    found = state.kms_key(request.region, key_id) if key_id else None
    if found is not None:
        # Publishing to an encrypted topic: SNS uses the key with the publisher's identity.
        arn, key_policy = found
        context = {**base, "kms:viaservice": [f"sns.{request.region}.amazonaws.com"]}
        for operation in ("GenerateDataKey", "Decrypt"):
            out.append(Ask(f"kms:{operation}", arn, context, key_policy, "key policy"))
    return out


def _params(request: Request) -> tuple[str, dict[str, Any]]:
    """The operation and its parameters, whether sent as JSON (X-Amz-Target) or as a form."""
    operation, params = _json_target(request)
    if operation:
        return operation, params
    form: dict[str, Any] = _form(request)
    return str(form.get("Action", "")), form


def _cloudwatch(request: Request, state: MotoState, base: Base) -> list[Ask]:
    operation, form = _params(request)
    region, account = request.region, state.account
    if operation == "DescribeAlarms":
        # By name, each named alarm; by prefix or with no filter, AWS checks every alarm of
        # the account and region (alarm:*), whatever the prefix.
        names = list(form.get("AlarmNames") or []) or [
            v for k, v in form.items() if k.startswith("AlarmNames.member.")
        ]
        return [
            Ask(
                "cloudwatch:DescribeAlarms",
                f"arn:aws:cloudwatch:{region}:{account}:alarm:{n}",
                base,
            )
            for n in names or ["*"]
        ]
    if "AlarmName" in form:
        arn = f"arn:aws:cloudwatch:{region}:{account}:alarm:{form['AlarmName']}"
        return [Ask(f"cloudwatch:{operation}", arn, base)]
    return [Ask(f"cloudwatch:{operation}", "*", base)]


def _cloudformation(request: Request, state: MotoState, base: Base) -> list[Ask]:
    form = _form(request)
    stack = form.get("StackName")
    resource = state.stack_arn(request.region, stack) if stack else "*"
    return [Ask(f"cloudformation:{form.get('Action', '')}", resource, base)]


def _query(service: str) -> Mapper:
    def mapper(request: Request, state: MotoState, base: Base) -> list[Ask]:
        return [Ask(f"{service}:{_form(request).get('Action', '')}", "*", base)]

    return mapper


def _sts(request: Request, state: MotoState, base: Base) -> list[Ask]:
    form = _form(request)
    if form.get("Action") == "GetCallerIdentity":
        return []  # AWS needs no permission to say who is calling
    return [Ask(f"sts:{form.get('Action', '')}", form.get("RoleArn", "*"), base)]


def _json_service(
    service: str, resource_of: Callable[[Request, MotoState, dict[str, Any]], str] | None = None
) -> Mapper:
    def mapper(request: Request, state: MotoState, base: Base) -> list[Ask]:
        operation, params = _params(request)
        resource = resource_of(request, state, params) if resource_of else "*"
        return [Ask(f"{service}:{operation}", resource, base)]

    return mapper


def _queue(request: Request, state: MotoState, params: dict[str, Any]) -> str:
    url = params.get("QueueUrl")
    return state.queue_arn(request.region, str(url)) if url else "*"


def _lambda(request: Request, state: MotoState, base: Base) -> list[Ask]:
    # REST paths: /2015-03-31/functions/NAME[/configuration|/invocations|...]
    parts = request.path.strip("/").split("/")
    if len(parts) >= 3 and parts[1] == "functions":
        name = parts[2]
        arn = (
            name
            if name.startswith("arn:")
            else (f"arn:aws:lambda:{request.region}:{state.account}:function:{name}")
        )
        tail = parts[3] if len(parts) > 3 else ""
        operation = {
            ("GET", "configuration"): "GetFunctionConfiguration",
            ("GET", ""): "GetFunction",
            ("POST", "invocations"): "InvokeFunction",
            ("PUT", "event-invoke-config"): "PutFunctionEventInvokeConfig",
            ("GET", "event-invoke-config"): "GetFunctionEventInvokeConfig",
        }.get((request.method, tail), f"{request.method}:{tail}")
        return [Ask(f"lambda:{operation}", arn, base)]
    return [Ask("lambda:ListFunctions", "*", base)]


def _scheduler(request: Request, state: MotoState, base: Base) -> list[Ask]:
    parts = request.path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "schedules":
        group = (request.query.get("groupName") or ["default"])[0]
        arn = f"arn:aws:scheduler:{request.region}:{state.account}:schedule/{group}/{parts[1]}"
        operation = {
            "GET": "GetSchedule",
            "POST": "CreateSchedule",
            "PUT": "UpdateSchedule",
            "DELETE": "DeleteSchedule",
        }.get(request.method, request.method)
        return [Ask(f"scheduler:{operation}", arn, base)]
    return [Ask("scheduler:ListSchedules", "*", base)]


_MAPPERS: dict[str, Mapper] = {
    "s3": _s3,
    "kms": _kms,
    "sns": _sns,
    "monitoring": _cloudwatch,
    "cloudformation": _cloudformation,
    "sts": _sts,
    "iam": _query("iam"),
    "sqs": _json_service("sqs", _queue),
    "logs": _json_service("logs"),
    "events": _json_service("events"),
    "lambda": _lambda,
    "scheduler": _scheduler,
}
