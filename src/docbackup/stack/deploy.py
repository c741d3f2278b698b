"""`docbackup deploy`: package the function, create or update the stack through a change set.

Talks to whatever the standard AWS chain points at (AWS, or AWS_ENDPOINT_URL). The local
sandbox passes `Hooks` to cover its emulator's gaps; the path to AWS passes none.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Protocol

from docbackup import compose
from docbackup.compose import Aws
from docbackup.errors import ConfigError, DocbackupError
from docbackup.stack import package

# Package data, so an installed docbackup deploys without a checkout. In the source tree it is
# a symlink to lib/TapStack.yml, the template's one copy; a wheel holds its bytes.
TEMPLATE: Traversable = files("docbackup.stack") / "TapStack.yml"
OUTPUTS_FILE = Path("cfn-outputs") / "flat-outputs.json"
# CloudFormation takes a template body of up to 51,200 bytes; larger ones go through S3.
_BODY_LIMIT = 51_200
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


class DeployError(DocbackupError):
    """The stack could not be created or updated; the message names the resource and why."""


@dataclass(frozen=True, slots=True)
class DeployRequest:
    stack_name: str
    environment: str | None = None
    bucket_name: str | None = None
    source_bucket: str | None = None
    source_prefix: str | None = None
    alert_email: str | None = None
    artifact_bucket: str | None = None
    template: Traversable = TEMPLATE
    outputs_file: Path = OUTPUTS_FILE
    extra_parameters: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeployResult:
    stack_name: str
    action: str  # created, updated, unchanged
    outputs: dict[str, str]
    code_key: str


class Hooks(Protocol):
    """Where an emulator's gaps are covered (docbackup.sandbox.moto_gaps); AWS needs none."""

    def template_body(self, template_text: str, stack_name: str) -> str: ...

    def after_deploy(
        self, session: Aws, stack_name: str, parameters: dict[str, str], outputs: dict[str, str]
    ) -> dict[str, str]: ...


def default_bucket_name(stack_name: str) -> str:
    """A BackupBucketName from the stack name: lowercase, hyphens, at most 37 characters."""
    name = re.sub(r"[^a-z0-9-]+", "-", stack_name.lower()).strip("-")[:37].strip("-")
    if len(name) < 3:
        raise ConfigError("--bucket-name is needed: the stack name gives no usable bucket name")
    return name


def deploy(
    request: DeployRequest,
    *,
    session: Aws | None = None,
    hooks: Hooks | None = None,
    say: Callable[[str], object] = lambda _m: None,
    region: str | None = None,
) -> DeployResult:
    """`region`: the config file's, for the clients made here (see compose)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _deploy(request, session or compose.session(region), hooks, say)
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(f"deploying {request.stack_name}: {exc}") from None


def _deploy(
    request: DeployRequest, session: Aws, hooks: Hooks | None, say: Callable[[str], object]
) -> DeployResult:
    cfn = session.client("cloudformation")
    if not re.match(r"^[A-Za-z][A-Za-z0-9-]{0,127}$", request.stack_name):
        raise ConfigError(f"invalid stack name {request.stack_name!r}")
    if not request.template.is_file():
        raise ConfigError(f"template {request.template} not found")
    existing = _stack(cfn, request.stack_name)
    if existing and existing["StackStatus"] in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED"):
        raise ConfigError(
            f"stack {request.stack_name} is {existing['StackStatus']}: delete it, then deploy again"
        )
    creating = existing is None or existing["StackStatus"] == "REVIEW_IN_PROGRESS"
    if creating and not request.source_bucket:
        raise ConfigError("--source-bucket is needed to create the stack: the bucket to back up")

    pkg = package.build()
    code_bucket = request.artifact_bucket or _artifact_bucket(session)
    _upload_once(session, code_bucket, pkg.key, pkg.data)
    say(f"function package s3://{code_bucket}/{pkg.key} ({len(pkg.data):,} bytes)")

    given = {
        "Environment": request.environment,
        "BackupBucketName": request.bucket_name
        or (default_bucket_name(request.stack_name) if creating else None),
        "SourceBucketName": request.source_bucket,
        "SourcePrefix": request.source_prefix,
        "AlertEmail": request.alert_email,
        "CodeBucket": code_bucket,
        "CodeKey": pkg.key,
        **request.extra_parameters,
    }
    parameters = _parameters(given, [] if creating else (existing or {}).get("Parameters", []))
    text = request.template.read_text()
    body = hooks.template_body(text, request.stack_name) if hooks else text
    template_arg = _template_argument(session, code_bucket, body)

    name = f"docbackup-{time.strftime('%Y%m%d%H%M%S')}"
    try:
        cfn.create_change_set(
            StackName=request.stack_name,
            ChangeSetName=name,
            ChangeSetType="CREATE" if creating else "UPDATE",
            Parameters=parameters,
            Capabilities=["CAPABILITY_IAM"],
            **template_arg,
        )
        cfn.get_waiter("change_set_create_complete").wait(
            StackName=request.stack_name, ChangeSetName=name, WaiterConfig={"Delay": 3}
        )
    except Exception as exc:  # botocore's ClientError and WaiterError
        if any(phrase in _reason(cfn, request.stack_name, name, exc) for phrase in _NO_CHANGES):
            say("no changes to deploy")
            with contextlib.suppress(Exception):  # AWS keeps the FAILED change set otherwise
                cfn.delete_change_set(StackName=request.stack_name, ChangeSetName=name)
            outputs = _finish(session, cfn, request, hooks)
            return DeployResult(request.stack_name, "unchanged", outputs, pkg.key)
        raise DeployError(
            f"change set for {request.stack_name} failed: "
            f"{_reason(cfn, request.stack_name, name, exc)}"
        ) from None

    say(f"{'creating' if creating else 'updating'} stack {request.stack_name}")
    since = _now()
    cfn.execute_change_set(StackName=request.stack_name, ChangeSetName=name)
    waiter = "stack_create_complete" if creating else "stack_update_complete"
    try:
        cfn.get_waiter(waiter).wait(
            StackName=request.stack_name, WaiterConfig={"Delay": 5, "MaxAttempts": 720}
        )
    except Exception:
        raise DeployError(_failure(cfn, request.stack_name, since)) from None
    outputs = _finish(session, cfn, request, hooks)
    return DeployResult(request.stack_name, "created" if creating else "updated", outputs, pkg.key)


def _parameters(
    given: Mapping[str, str | None], current: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """What this deploy sets, and every other parameter the stack has kept as it is.

    A parameter left out of an update falls back to the template's default, which would, for
    example, shorten a long retention and let lifecycle delete the older backups.
    """
    chosen = [
        {"ParameterKey": key, "ParameterValue": value}
        for key, value in given.items()
        if value is not None
    ]
    named = {p["ParameterKey"] for p in chosen}
    kept = [
        {"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
        for p in current
        if p["ParameterKey"] not in named
    ]
    return chosen + kept


def _finish(session: Aws, cfn: Any, request: DeployRequest, hooks: Hooks | None) -> dict[str, str]:
    stack = _stack(cfn, request.stack_name) or {}
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if hooks:
        current = {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}
        outputs = hooks.after_deploy(session, request.stack_name, current, outputs)
    request.outputs_file.parent.mkdir(parents=True, exist_ok=True)
    request.outputs_file.write_text(json.dumps(outputs, indent=2, sort_keys=True) + "\n")
    return outputs


def _stack(cfn: Any, name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return stacks[0] if stacks else None


def _reason(cfn: Any, stack: str, change_set: str, exc: Exception) -> str:
    try:
        described = cfn.describe_change_set(StackName=stack, ChangeSetName=change_set)
        return str(described.get("StatusReason") or exc)
    except Exception:
        return str(exc)


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)


def _failure(cfn: Any, stack: str, since: Any) -> str:
    """The first resource that failed in this deploy, and CloudFormation's reason."""
    events = [
        e
        for page in cfn.get_paginator("describe_stack_events").paginate(StackName=stack)
        for e in page["StackEvents"]
        if e["Timestamp"] >= since
    ]
    for event in sorted(events, key=lambda e: e["Timestamp"]):  # the first failure caused the rest
        reason = event.get("ResourceStatusReason") or ""
        if event["ResourceStatus"].endswith("FAILED") and "cancelled" not in reason:
            return (
                f"stack {stack} failed at {event['LogicalResourceId']} "
                f"({event['ResourceType']}): {reason}"
            )
    status = (_stack(cfn, stack) or {}).get("StackStatus", "unknown")
    return f"stack {stack} did not deploy (status {status})"


def _artifact_bucket(session: Aws) -> str:
    account = session.client("sts").get_caller_identity()["Account"]
    region = session.region_name or "us-east-1"
    return f"docbackup-artifacts-{account}-{region}"


def _upload_once(session: Aws, bucket: str, key: str, data: bytes) -> None:
    from botocore.exceptions import ClientError

    s3 = session.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("403", "AccessDenied"):
            raise ConfigError(
                f"artifact bucket {bucket} exists but cannot be used: pass --artifact-bucket"
            ) from None
        region = session.region_name or "us-east-1"
        extra = (
            {}
            if region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        s3.create_bucket(Bucket=bucket, **extra)
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        s3.put_object(Bucket=bucket, Key=key, Body=data, ServerSideEncryption="AES256")


def _template_argument(session: Aws, bucket: str, body: str) -> dict[str, str]:
    if len(body.encode()) <= _BODY_LIMIT:
        return {"TemplateBody": body}
    key = f"docbackup/template-{hashlib.sha256(body.encode()).hexdigest()[:16]}.yml"
    _upload_once(session, bucket, key, body.encode())
    s3 = session.client("s3")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
    return {"TemplateURL": url}
