"""Which permissions AWS checks for a request to the stack's other services.

KMS, SNS, CloudWatch, CloudFormation, STS, IAM, SQS, CloudWatch Logs and EventBridge take
their parameters in the body (a form, or JSON named by X-Amz-Target); Lambda and EventBridge
Scheduler name them in a REST path. Each mapping is a few lines, so they share one module,
apart from S3's, which is most of the requests and most of the rules.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from docbackup.sandbox.rules.actions.request import Base, Mapper, Request
from docbackup.sandbox.rules.policy import Ask
from docbackup.sandbox.rules.state import MotoState


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


def kms(request: Request, state: MotoState, base: Base) -> list[Ask]:
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


def sns(request: Request, state: MotoState, base: Base) -> list[Ask]:
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


def cloudwatch(request: Request, state: MotoState, base: Base) -> list[Ask]:
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


def cloudformation(request: Request, state: MotoState, base: Base) -> list[Ask]:
    form = _form(request)
    stack = form.get("StackName")
    resource = state.stack_arn(request.region, stack) if stack else "*"
    return [Ask(f"cloudformation:{form.get('Action', '')}", resource, base)]


def query(service: str) -> Mapper:
    def mapper(request: Request, state: MotoState, base: Base) -> list[Ask]:
        return [Ask(f"{service}:{_form(request).get('Action', '')}", "*", base)]

    return mapper


def sts(request: Request, state: MotoState, base: Base) -> list[Ask]:
    form = _form(request)
    if form.get("Action") == "GetCallerIdentity":
        return []  # AWS needs no permission to say who is calling
    return [Ask(f"sts:{form.get('Action', '')}", form.get("RoleArn", "*"), base)]


def json_service(
    service: str, resource_of: Callable[[Request, MotoState, dict[str, Any]], str] | None = None
) -> Mapper:
    def mapper(request: Request, state: MotoState, base: Base) -> list[Ask]:
        operation, params = _params(request)
        resource = resource_of(request, state, params) if resource_of else "*"
        return [Ask(f"{service}:{operation}", resource, base)]

    return mapper


def queue(request: Request, state: MotoState, params: dict[str, Any]) -> str:
    url = params.get("QueueUrl")
    return state.queue_arn(request.region, str(url)) if url else "*"


def lambda_function(request: Request, state: MotoState, base: Base) -> list[Ask]:
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


def scheduler(request: Request, state: MotoState, base: Base) -> list[Ask]:
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
