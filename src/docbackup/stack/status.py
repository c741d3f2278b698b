"""`docbackup status`: the last nights, the alarms, and the live configuration read back.

Each configuration item is read from the deployed resources themselves (not the template), so
a setting changed by hand after the deploy shows up as a failed check.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

from docbackup import compose
from docbackup.compose import Aws
from docbackup.engine.catalog import Catalog
from docbackup.engine.results import SnapshotInfo
from docbackup.errors import ConfigError, EndpointUnreachable
from docbackup.storage.base import Store, same_key

SUPPORTED_RUNTIMES = ("python3.12", "python3.13", "python3.14")


@dataclass(frozen=True, slots=True)
class Check:
    item: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class StatusReport:
    stack: str
    outputs: dict[str, str]
    nights: list[SnapshotInfo]  # newest first
    alarms: dict[str, str]
    checks: list[Check]
    set_name: str = "documents"
    days: int = 30  # how many calendar days the chart covers

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def summary(self) -> dict[str, object]:
        return {
            "status": "ok" if self.ok else "failed",
            "stack": self.stack,
            "set": self.set_name,
            "nights": [n.summary() for n in self.nights],
            "alarms": self.alarms,
            "checks": [asdict(c) for c in self.checks],
            "outputs": self.outputs,
        }


def stack_outputs(session: Aws, stack_name: str) -> dict[str, str]:
    return describe_stack(session, stack_name)[0]


def describe_stack(session: Aws, stack_name: str) -> tuple[dict[str, str], dict[str, str]]:
    """The stack's outputs and its parameters' current values."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
    )

    try:
        stack = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as exc:
        raise ConfigError(f"stack {stack_name}: {exc.response['Error'].get('Message')}") from None
    except (EndpointConnectionError, ConnectTimeoutError) as exc:
        # The server went away: a fault (exit 1), not a mistake in what was asked (exit 2).
        raise EndpointUnreachable(f"stack {stack_name}: {exc}") from None
    except BotoCoreError as exc:
        raise ConfigError(f"stack {stack_name}: {exc}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    parameters = {
        p["ParameterKey"]: p.get("ResolvedValue", p.get("ParameterValue", ""))
        for p in stack.get("Parameters", [])
    }
    return outputs, parameters


def status(
    stack_name: str,
    *,
    session: Aws | None = None,
    outputs: dict[str, str] | None = None,
    nights: int = 30,
    set_name: str | None = None,
    region: str | None = None,
) -> StatusReport:
    """`region`: the config file's, for the clients made here (see compose)."""
    session = session or compose.session(region)
    outputs = outputs or stack_outputs(session, stack_name)
    needed = ("BackupBucketName", "KMSKeyArn", "BackupLambdaArn", "EventBridgeRuleName")
    missing = [k for k in needed if k not in outputs]
    if missing:
        raise ConfigError(
            f"stack {stack_name} has no output(s) {missing}: is it a docbackup stack?"
        )
    store = compose.backup_store(outputs["BackupBucketName"], workers=4, region=region)
    set_name = set_name or outputs.get("BackupSetName", "documents")
    recent = Catalog(store, set_name).snapshots(now=dt.datetime.now(dt.UTC), limit=nights)
    checks: list[Check] = []
    alarms = _alarms(session, stack_name, checks)
    checks += _checks(session, store, outputs)
    return StatusReport(stack_name, outputs, recent, alarms, checks, set_name, nights)


_NOT_AUTHORIZED = re.compile(r"not authorized to perform: ([\w-]+:\w+)")


def cannot_read(exc: Exception) -> str:
    """What a check says when its setting could not be read, naming a missing permission."""
    found = _NOT_AUTHORIZED.search(str(exc))
    if found:
        return (
            f"cannot read: permission {found[1]} is not granted to these credentials "
            "(the stack's OperatorPolicy grants what status reads)"
        )
    return f"could not read: {exc}"


def stack_alarms(session: Aws, stack_name: str) -> dict[str, str]:
    """The stack's own alarms and their states, for `status` and the report (botocore's
    errors pass through: each says in its own way what it could not read)."""
    pages = session.client("cloudwatch").get_paginator("describe_alarms")
    # CloudFormation names them "<stack>-<logical id>-...": the prefix keeps out another
    # stack whose name merely starts with this one's.
    return {
        a["AlarmName"]: a["StateValue"]
        for page in pages.paginate(AlarmNamePrefix=f"{stack_name}-")
        for a in page["MetricAlarms"]
    }


def _alarms(session: Aws, stack_name: str, checks: list[Check]) -> dict[str, str]:
    """The stack's alarms and their states; an alarm check that fails when they cannot be read."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return stack_alarms(session, stack_name)
    except (ClientError, BotoCoreError) as exc:
        checks.append(Check("alarms", False, cannot_read(exc)))
        return {}


def _checks(session: Aws, store: Store, out: dict[str, str]) -> list[Check]:
    s3, kms = session.client("s3"), session.client("kms")
    bucket, key_arn = out["BackupBucketName"], out["KMSKeyArn"]
    checks: list[Check] = []

    def check(item: str, read: Callable[[], tuple[bool, str]]) -> None:
        try:
            ok, detail = read()
        except Exception as exc:  # a setting that cannot be read is a failed check
            ok, detail = False, cannot_read(exc)
        checks.append(Check(item, ok, detail))

    def encryption() -> tuple[bool, str]:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
            "Rules"
        ]
        rule = rules[0]
        default = rule["ApplyServerSideEncryptionByDefault"]
        key = default.get("KMSMasterKeyID", "")
        ok = (
            default["SSEAlgorithm"] == "aws:kms"
            and same_key(key, key_arn)
            and bool(rule.get("BucketKeyEnabled"))
        )
        return ok, f"{default['SSEAlgorithm']} {key}, bucket key {rule.get('BucketKeyEnabled')}"

    def versioning() -> tuple[bool, str]:
        # The same question a backup asks before it writes, so the two never disagree.
        state = store.versioning()
        return state == "Enabled", state

    def lifecycle() -> tuple[bool, str]:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        days = {r.get("Expiration", {}).get("Days") for r in rules if r["Status"] == "Enabled"}
        grace = any("NoncurrentVersionExpiration" in r for r in rules)
        aborts = any("AbortIncompleteMultipartUpload" in r for r in rules)
        want = int(out.get("RetentionDays", "0"))
        ok = want in days and grace and aborts
        return (
            ok,
            f"expire after {sorted(d for d in days if d)} days (stack: {want}), "
            f"noncurrent grace {grace}, abort multipart {aborts}",
        )

    def public_access() -> tuple[bool, str]:
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        return all(block.values()), ", ".join(f"{k} {v}" for k, v in block.items())

    def logging() -> tuple[bool, str]:
        enabled = s3.get_bucket_logging(Bucket=bucket).get("LoggingEnabled")
        target = (enabled or {}).get("TargetBucket")
        return target == out.get("LoggingBucketName"), f"to {target}"

    def policy() -> tuple[bool, str]:
        doc = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        tls = any(
            s["Effect"] == "Deny"
            and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            for s in doc["Statement"]
        )
        key = any(
            s["Effect"] == "Deny" and key_arn in json.dumps(s.get("Condition", {}))
            for s in doc["Statement"]
        )
        return tls and key, f"denies non-TLS {tls}, denies other keys {key}"

    def rotation() -> tuple[bool, str]:
        on = bool(kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"])
        return on, "on" if on else "off"

    def schedule() -> tuple[bool, str]:
        got = session.client("scheduler").get_schedule(Name=out["EventBridgeRuleName"])
        ok = got["State"] == "ENABLED"
        return (
            ok,
            f"{got['State']} {got['ScheduleExpression']} {got.get('ScheduleExpressionTimezone')}",
        )

    def runtime() -> tuple[bool, str]:
        got = session.client("lambda").get_function_configuration(
            FunctionName=out["BackupLambdaArn"]
        )
        return got["Runtime"] in SUPPORTED_RUNTIMES, got["Runtime"]

    for item, read in (
        ("encryption under the stack key with bucket key", encryption),
        ("versioning", versioning),
        ("lifecycle", lifecycle),
        ("public access block", public_access),
        ("access logging", logging),
        ("bucket policy", policy),
        ("key rotation", rotation),
        ("schedule enabled", schedule),
        ("supported runtime", runtime),
    ):
        check(item, read)
    return checks
