"""`docbackup demo`: the whole nightly system on an embedded local AWS, checked end to end.

1. moto's server starts on a free loopback port; lib/TapStack.yml is deployed through the same
   code as `docbackup deploy` (moto's gaps covered by docbackup.sandbox.moto_gaps).
2. Generated office documents go into the source bucket.
3. The deployed function's handler runs in-process with the function's own environment, as the
   02:00 schedule would invoke it; then documents are edited, added and deleted, and a second
   night runs.
4. The office machine backs up a folder of its own, one document in multipart parts.
5. Both nights are listed, verified by re-hashing every stored copy, restored and compared byte
   for byte with the source as it was each night, and so is the office set; every stored object
   must be SSE-KMS under the stack's key; `status` reads the configuration back.

Each step runs as its actor (docbackup.sandbox.rules.actors), every request passing AWS's
authorization rules (docbackup.sandbox.rules.gateway); the demo fails if any is refused.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from docbackup import compose, tuning
from docbackup.engine import BackupOptions, Catalog, backup, restore, verify
from docbackup.sandbox import alarms, fan_out, sample
from docbackup.sandbox.moto_gaps import MotoGaps
from docbackup.sandbox.rules import actors
from docbackup.sandbox.rules.actors import Actor
from docbackup.sandbox.rules.state import ACCOUNT
from docbackup.sandbox.server import LocalAWS, acting_as, environment, local_aws
from docbackup.sources import LocalSource
from docbackup.stack.deploy import DeployRequest, deploy
from docbackup.stack.status import status
from docbackup.storage import Encryption
from docbackup.storage.base import same_key

STACK = "docbackup-demo"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"  # the sandbox's own credentials: the demo's checks
SOURCE_BUCKET = "office-documents"
SOURCE_PREFIX = "shared/"


class _Context:
    """What Lambda hands the handler: a name and a clock running down from 15 minutes."""

    def __init__(self, function_arn: str) -> None:
        self.invoked_function_arn = function_arn
        self.function_name = function_arn.rsplit(":", 1)[-1]
        self.memory_limit_in_mb = 512
        self.aws_request_id = f"demo-{time.time_ns()}"
        self._deadline = time.monotonic() + 900

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def _invoke(
    aws: LocalAWS, function_arn: str, event: dict[str, Any], role: Actor | None = None
) -> dict[str, Any]:
    """Run the deployed function's handler here, with its configured environment and, as
    Lambda gives it, a session of its role (assumed here unless one is given)."""
    config = aws.client("lambda").get_function_configuration(FunctionName=function_arn)
    module, name = config["Handler"].rsplit(".", 1)
    handler = getattr(__import__(module, fromlist=[name]), name)
    role = role or actors.function_role(aws, function_arn)
    env: dict[str, str | None] = {
        "AWS_SESSION_TOKEN": None,
        **{k: str(v) for k, v in config["Environment"]["Variables"].items()},
        **role.credentials,
    }
    printed = io.StringIO()
    # Powertools' logger holds the stdout it found at import: point it here for the call too.
    log_handler = getattr(getattr(sys.modules[module], "logger", None), "registered_handler", None)
    stream = log_handler.setStream(printed) if log_handler else None
    try:
        with environment(env), contextlib.redirect_stdout(printed):
            result: dict[str, Any] = handler(event, _Context(function_arn))
    finally:
        if log_handler:
            log_handler.setStream(stream)
        # As CloudWatch Logs extracts them, from a failed night too (where alarms matter most).
        alarms.put_emf(aws, printed.getvalue())
    result["metrics"] = _emf(printed.getvalue())
    return result


def run_fan_out(
    aws: LocalAWS,
    stack_name: str,
    outputs: dict[str, str],
    event: dict[str, Any],
    function: Actor,
    invoke: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> fan_out.Execution:
    """The 02:00 schedule with FanOut: the schedule's role starts the deployed state machine,
    whose role invokes the function for the plan, each set and the watch (both asked of AWS's
    rules), the handler running here as the function's role for each (or `invoke`)."""
    gateway = aws.gateway
    if gateway is None:
        raise RuntimeError("the local AWS is not running")
    machine = outputs["FanOutStateMachineArn"]
    schedule = aws.client("scheduler").get_schedule(Name=outputs["EventBridgeRuleName"])
    if schedule["Target"]["Arn"] != machine:
        raise RuntimeError(f"the schedule starts {schedule['Target']['Arn']}, not {machine}")
    scheduler = actors.role_session(aws, schedule["Target"]["RoleArn"], "scheduler", "02-00")
    if not gateway.authorize(scheduler.credentials, "states:StartExecution", machine).allowed:
        raise RuntimeError(f"the schedule's role may not start {machine}")
    described = aws.client("stepfunctions").describe_state_machine(stateMachineArn=machine)
    states = actors.role_session(aws, described["roleArn"], "fan-out", "execution")

    def allowed(function_arn: str) -> bool:
        decision = gateway.authorize(states.credentials, "lambda:InvokeFunction", function_arn)
        return decision.allowed

    def night(item: dict[str, Any]) -> dict[str, Any]:
        return _invoke(aws, outputs["BackupLambdaArn"], item, function)

    definition = json.loads(described["definition"])
    return fan_out.run(definition, event, invoke or night, allowed)


def _emf(printed: str) -> dict[str, Any]:
    for line in printed.splitlines():
        if '"_aws"' in line:
            doc = json.loads(line)
            names = [m["Name"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
            return {n: doc[n][0] if isinstance(doc[n], list) else doc[n] for n in names}
    return {}


def _metrics_line(metrics: dict[str, Any]) -> str:
    """The function's metrics as a person reads them: whole counts, seconds to a tenth."""
    shown = []
    for name, value in metrics.items():
        if name.endswith("Duration"):
            shown.append(f"{name} {float(value):.1f} s")
        elif name.startswith("Bytes"):
            shown.append(f"{name} {int(value):,}")
        else:
            shown.append(f"{name} {int(value)}")
    return ", ".join(shown) or "none"


class _SourceBucket:
    """The office's documents in the source bucket, with a local mirror of what is there."""

    def __init__(self, aws: LocalAWS, folder: str) -> None:
        self.s3 = aws.client("s3")
        self.folder = folder
        self.state: dict[str, str] = {}

    def fill(self, documents: int) -> None:
        self.s3.create_bucket(Bucket=SOURCE_BUCKET)
        sample.generate(self.folder, documents)
        for rel in sample.tree_hashes(self.folder):
            with open(os.path.join(self.folder, rel), "rb") as f:
                self.put(rel, f.read())

    def put(self, rel: str, data: bytes) -> None:
        self.s3.put_object(Bucket=SOURCE_BUCKET, Key=SOURCE_PREFIX + rel, Body=data)
        self.state[rel] = hashlib.sha256(data).hexdigest()

    def edit(self) -> str:
        rng = random.Random(2)  # noqa: S311 - a reproducible choice of edits
        victims = rng.sample(sorted(self.state), 6)
        for rel in victims[:5]:
            with open(os.path.join(self.folder, rel), "rb") as f:
                self.put(rel, f.read() + b"\namended")
        self.s3.delete_object(Bucket=SOURCE_BUCKET, Key=SOURCE_PREFIX + victims[5])
        del self.state[victims[5]]
        self.put("memos/new/minutes.txt", b"added after night 1\n")
        self.put("reports/new/summary.csv", b"month,total\n10,1200\n")
        return "edited 5 documents, added 2, deleted 1"


def _all_under_stack_key(aws: LocalAWS, bucket: str, key_arn: str) -> bool:
    """Is every version of every object in the bucket (copies, manifests, leases) SSE-KMS
    under the stack's key?"""
    s3 = aws.client("s3")
    versions = [
        (v["Key"], v["VersionId"])
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
        for v in page.get("Versions", [])
    ]
    for key, version in versions:
        head = s3.head_object(Bucket=bucket, Key=key, VersionId=version)
        used = head.get("SSEKMSKeyId", "")
        if head.get("ServerSideEncryption") != "aws:kms" or not same_key(used, key_arn):
            return False
    return bool(versions)


def _office_night(
    out: dict[str, str],
    work: str,
    office: Actor,
    checks: dict[str, bool],
    tell: Callable[[str], Any],
) -> dict[str, str]:
    """As the office machine (OfficeAgentPolicy): a folder with a document above the multipart
    threshold, backed up under the stack key into a set of its own."""
    folder = os.path.join(work, "office-pc")
    sample.generate(folder, 20, seed=7)
    big = os.path.join(folder, "scans", "archive-9MiB.pdf")
    os.makedirs(os.path.dirname(big), exist_ok=True)
    with open(big, "wb") as f:
        f.write(random.Random(9).randbytes(9 * 1024 * 1024))  # noqa: S311 - sample bytes
    expected = sample.tree_hashes(folder)
    options = BackupOptions(set_name="office", encryption=Encryption("aws:kms", out["KMSKeyArn"]))
    with acting_as(office.credentials):
        store = compose.backup_store(out["BackupBucketName"], workers=tuning.WORKERS)
        result = backup(store, LocalSource(folder), options)
    checks["office machine's night complete"] = result.status == "complete"
    tell(
        f"office machine (set office): {result.status}, {result.documents} documents, one of "
        "9 MiB in parts"
    )
    return expected


def _restore_office(
    bucket: str,
    expected: dict[str, str],
    work: str,
    checks: dict[str, bool],
    tell: Callable[[str], Any],
) -> None:
    target = os.path.join(work, "restore-office")
    result = restore(
        compose.backup_store(bucket, workers=tuning.WORKERS), "office", "latest", target
    )
    same = sample.tree_hashes(target) == expected
    checks["office set restored byte-identical"] = same and result.status == "complete"
    tell(f"restore of the office set: {result.restored} documents, byte-identical: {same}")


def _restore_every_night(
    bucket: str,
    states: dict[dt.date, dict[str, str]],
    work: str,
    checks: dict[str, bool],
    tell: Callable[[str], Any],
) -> tuple[list[dict[str, Any]], Any]:
    """As a restorer: list, verify every copy's bytes, restore each night and compare."""
    store = compose.backup_store(bucket, workers=tuning.WORKERS)
    listed = Catalog(store, "documents").snapshots(now=dt.datetime.now(dt.UTC))
    checks["both nights listed restorable"] = sorted(
        s.date for s in listed if s.restorable
    ) == sorted(states)
    deep = verify(store, "documents", None, all_dates=True, deep=True)
    checks["verify --all --deep"] = deep.status == "ok"
    tell(f"verify --all --deep: {deep.status}, {deep.checked} stored copies re-hashed")
    restores = []
    for date, expected in states.items():
        target = os.path.join(work, f"restore-{date}")
        result = restore(store, "documents", date.isoformat(), target)
        same = sample.tree_hashes(target) == expected
        checks[f"restore {date} byte-identical"] = same and result.status == "complete"
        tell(f"restore {date}: {result.restored} documents, byte-identical: {same}")
        restores.append(result.summary() | {"identical": same})
    return restores, deep


def run(*, documents: int, say: Callable[[str], Any] | None = None) -> dict[str, Any]:
    tell = say or (lambda _m: None)
    started = time.monotonic()
    checks: dict[str, bool] = {}
    with local_aws() as aws, tempfile.TemporaryDirectory(prefix="docbackup-demo-") as work:
        tell(f"local AWS (moto) on {aws.endpoint}")
        source = _SourceBucket(aws, os.path.join(work, "office"))
        source.fill(documents)
        tell(f"{documents} generated documents in s3://{SOURCE_BUCKET}/{SOURCE_PREFIX}")
        gaps = MotoGaps()
        deployed = deploy(
            DeployRequest(
                STACK,
                environment="prod",
                source_bucket=SOURCE_BUCKET,
                source_prefix=SOURCE_PREFIX,
                # Not ./cfn-outputs: that file describes a real deploy, if there is one.
                outputs_file=Path(work) / "cfn-outputs" / "flat-outputs.json",
            ),
            hooks=gaps,
            say=lambda m: tell(f"  {m}"),
        )
        out = deployed.outputs
        tell(
            f"stack {STACK} {deployed.action}: bucket {out['BackupBucketName']}, "
            f"key {out['KMSKeyId']}, schedule {out['EventBridgeRuleName']}"
        )
        tell(
            f"  applied outside moto's CloudFormation: {len(gaps.applied)} resources "
            "(see docbackup.sandbox.moto_gaps)"
        )

        crew = actors.stack_actors(aws, STACK, out)
        tell(
            "actors with exactly the stack's policies: the function's role, "
            "the office machine (OfficeAgentPolicy), a restorer (RestorePolicy), "
            "an operator (OperatorPolicy)"
        )
        aws.requests.reset()  # from here on, every request is an actor's

        today = dt.datetime.now(dt.UTC).date()
        dates = (today - dt.timedelta(days=1), today)
        states: dict[dt.date, dict[str, str]] = {}
        nights = []
        for number, date in enumerate(dates, start=1):
            if number == 2:
                tell(source.edit())
            states[date] = dict(source.state)
            event = {"trigger": "schedule", "scheduled_time": f"{date}T02:00:00Z"}
            t0 = time.monotonic()
            summary = _invoke(aws, out["BackupLambdaArn"], event, crew.function)
            took = time.monotonic() - t0
            tell(
                f"night {number} ({date}): {summary['status']}, {summary['documents']} documents "
                f"({summary['new']} new, {summary['changed']} changed, {summary['unchanged']} "
                f"unchanged), handler {took:.1f} s"
            )
            tell(f"  metrics: {_metrics_line(summary['metrics'])}")
            checks[f"night {number} complete"] = summary["status"] == "complete"
            nights.append(summary | {"handler_s": round(took, 2)})

        office = _office_night(out, work, crew.office, checks, tell)
        with acting_as(crew.restorer.credentials):
            restores, deep = _restore_every_night(
                out["BackupBucketName"], states, work, checks, tell
            )
            _restore_office(out["BackupBucketName"], office, work, checks, tell)
        checks["every stored object under the stack key"] = _all_under_stack_key(
            aws, out["BackupBucketName"], out["KMSKeyArn"]
        )
        # What CloudWatch would make of the nights' metrics, before the operator looks.
        changed = alarms.evaluate(aws, prefix=STACK)
        moved = ", ".join(
            f"{c.alarm.removeprefix(STACK + '-')} {c.old} -> {c.new}" for c in changed
        )
        tell(f"  alarms evaluated on the nights' metrics: {moved or 'every state stands'}")
        with acting_as(crew.operator.credentials):
            report = status(STACK, session=None, outputs=out)
        for c in report.checks:
            tell(f"  status: {'pass' if c.ok else 'FAIL'} {c.item}: {c.detail}")
        checks["status read-back"] = report.ok
        alarm_states = (
            f"{name.removeprefix(STACK + '-')} {state}" for name, state in report.alarms.items()
        )
        tell(f"  alarms: {', '.join(alarm_states)}")
        log = aws.requests
        checks["no request refused"] = not log.denied
        own = log.by_principal[ROOT]
        tell(
            f"AWS's rules: {log.evaluated - own} requests of the actors evaluated "
            f"(and {own} of the demo's own checks, as the account's root user), "
            f"{len(log.denied)} refused"
        )
        for refusal in log.denied:
            tell(f"  refused: {refusal}")
        ok = all(checks.values())
        for name, passed in checks.items():
            if not passed:
                tell(f"FAILED: {name}")
        seconds = time.monotonic() - started
        tell(f"demo: {'ok' if ok else 'FAILED'} in {seconds:.0f} s")
        first = {k: v for k, v in nights[0].items() if k != "status"}
        return first | {
            "status": "ok" if ok else "failed",
            "checks": checks,
            "stack": {"name": STACK, "action": deployed.action, "outputs": out},
            "nights": nights,
            "restores": restores,
            "verify": deep.summary(),
            "status_report": report.summary(),
            "requests": {
                "evaluated": log.evaluated,
                "by_actors": log.evaluated - own,
                "refused": list(log.denied),
            },
            "duration_s": round(seconds, 1),
        }
