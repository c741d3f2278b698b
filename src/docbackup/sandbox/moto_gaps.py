"""Where moto 5.2.5's CloudFormation falls short of AWS, and how the sandbox makes up for it.

Measured against moto's server (see the README's limits):
- AWS::KMS::Key with Tags fails (KeyError 'TagKey'); a KeyPolicy given as an object breaks
  DescribeKey afterwards.
- AWS::S3::Bucket applies only the name, encryption algorithm and tags: versioning, bucket key,
  lifecycle, public access block, ownership, logging are ignored.
- AWS::S3::BucketPolicy, AWS::CloudWatch::Alarm, AWS::Scheduler::Schedule,
  AWS::Lambda::EventInvokeConfig and AWS::SNS::Subscription are skipped silently.
- Rules are not evaluated; a stack created through a change set has no Outputs.
- A bucket policy statement for Principal "*" with a Condition is enforced as a Deny of every
  request, whatever the condition says (see _bucket_policy).

So `template_body` gives moto the part of lib/TapStack.yml it can create, and `after_deploy`
applies the rest of the template's own declared settings through the service APIs, resolving
the template's intrinsic functions itself. Nothing here is used on the way to real AWS.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

SKIPPED_BY_MOTO = {
    "AWS::S3::BucketPolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::Scheduler::Schedule",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::SNS::Subscription",
}
_NO_VALUE = object()
_PLACEHOLDER_KEY_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "UntilTheTemplatesPolicyIsApplied",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
)


def load_template(text: str) -> dict[str, Any]:
    import cfn_flip

    doc: dict[str, Any] = json.loads(json.dumps(cfn_flip.load_yaml(text)))
    return doc


def _mentions(value: Any, names: set[str]) -> bool:
    if isinstance(value, dict):
        if value.get("Ref") in names:
            return True
        getatt = value.get("Fn::GetAtt")
        if isinstance(getatt, list) and getatt and getatt[0] in names:
            return True
        if isinstance(value.get("Fn::Sub"), str) and any(
            f"${{{n}" in value["Fn::Sub"] for n in names
        ):
            return True
        return any(_mentions(v, names) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, names) for v in value)
    return False


class MotoGaps:
    def __init__(self) -> None:
        self.template: dict[str, Any] = {}
        self.body = ""
        self.applied: list[str] = []

    # -- before: what moto can create ---------------------------------------------------------

    def template_body(self, template_text: str, stack_name: str) -> str:
        self.template = load_template(template_text)
        created = copy.deepcopy(self.template)
        created.pop("Rules", None)
        resources = created["Resources"]
        skipped = {n for n, r in resources.items() if r["Type"] in SKIPPED_BY_MOTO}
        for name in skipped:
            del resources[name]
        for resource in resources.values():
            if resource["Type"] == "AWS::KMS::Key":
                # moto needs a policy, given as a string; the template's own replaces it after.
                resource["Properties"].pop("Tags", None)
                resource["Properties"]["KeyPolicy"] = _PLACEHOLDER_KEY_POLICY
        outputs = {}
        for key, output in created.get("Outputs", {}).items():
            ref = output["Value"].get("Ref") if isinstance(output["Value"], dict) else None
            if isinstance(ref, str) and ref in skipped:
                # Resources this module creates get a name known now: output it as a literal.
                output = {**output, "Value": physical_name(stack_name, ref)}
            elif _mentions(output, skipped):
                continue
            outputs[key] = output
        created["Outputs"] = outputs
        self.body = json.dumps(created)
        return self.body

    # -- after: the rest of the template, through the service APIs ----------------------------

    def after_deploy(
        self, session: Any, stack_name: str, parameters: dict[str, str], outputs: dict[str, str]
    ) -> dict[str, str]:
        cfn = session.client("cloudformation")
        if not outputs:
            outputs = _outputs_after_change_set(session, stack_name)
        # moto lists resources it did not create (skipped types, false conditions) as rows
        # without a logical id.
        physical = {
            r["LogicalResourceId"]: r.get("PhysicalResourceId") or ""
            for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
            if r.get("LogicalResourceId")
        }
        resolver = Resolver(self.template, parameters, physical, session, stack_name)
        steps: list[tuple[str, Callable[[str, dict[str, Any]], None]]] = [
            ("AWS::KMS::Key", lambda n, p: self._key(session, resolver, n, p)),
            ("AWS::S3::BucketPolicy", lambda n, p: self._bucket_policy(session, p)),
            ("AWS::S3::Bucket", lambda n, p: self._bucket(session, resolver, n, p)),
            ("AWS::Lambda::EventInvokeConfig", lambda n, p: self._invoke_config(session, p)),
            ("AWS::Scheduler::Schedule", lambda n, p: self._schedule(session, resolver, n, p)),
            ("AWS::SNS::Subscription", lambda n, p: self._subscribe(session, p)),
            ("AWS::CloudWatch::Alarm", lambda n, p: self._alarm(session, resolver, n, p)),
        ]
        for kind, apply in steps:
            for name, resource in self.template["Resources"].items():
                if resource["Type"] != kind or not resolver.condition_holds(resource):
                    continue
                apply(name, resolver.resolve(resource.get("Properties", {})))
                self.applied.append(f"{name} ({kind})")
        return {**resolver.outputs(), **outputs}

    def _key(self, session: Any, resolver: Resolver, name: str, props: dict[str, Any]) -> None:
        kms = session.client("kms")
        key_id = resolver.physical[name]
        kms.put_key_policy(
            KeyId=key_id, PolicyName="default", Policy=json.dumps(props["KeyPolicy"])
        )
        tags = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props.get("Tags", [])]
        if tags:
            kms.tag_resource(KeyId=key_id, Tags=tags)
        if props.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=key_id)

    def _bucket_policy(self, session: Any, props: dict[str, Any]) -> None:
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

    def _bucket(self, session: Any, resolver: Resolver, name: str, props: dict[str, Any]) -> None:
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
            s3.put_bucket_encryption(
                Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules}
            )
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

    def _invoke_config(self, session: Any, props: dict[str, Any]) -> None:
        # put_ replaces whatever an earlier deploy set: applying twice is safe.
        session.client("lambda").put_function_event_invoke_config(
            FunctionName=props["FunctionName"],
            Qualifier=props.get("Qualifier", "$LATEST"),
            MaximumRetryAttempts=int(props["MaximumRetryAttempts"]),
            MaximumEventAgeInSeconds=int(props["MaximumEventAgeInSeconds"]),
        )

    def _schedule(self, session: Any, resolver: Resolver, name: str, props: dict[str, Any]) -> None:
        schedule_name = physical_name(resolver.stack_name, name)
        target = dict(props["Target"])
        target["RetryPolicy"] = {k: int(v) for k, v in target.get("RetryPolicy", {}).items()}
        scheduler = session.client("scheduler")
        exists = any(s["Name"] == schedule_name for s in scheduler.list_schedules()["Schedules"])
        (scheduler.update_schedule if exists else scheduler.create_schedule)(
            Name=schedule_name,
            Description=props.get("Description", ""),
            ScheduleExpression=props["ScheduleExpression"],
            ScheduleExpressionTimezone=props.get("ScheduleExpressionTimezone", "UTC"),
            FlexibleTimeWindow=props["FlexibleTimeWindow"],
            State=props.get("State", "ENABLED"),
            Target=target,
        )
        resolver.physical[name] = schedule_name

    def _subscribe(self, session: Any, props: dict[str, Any]) -> None:
        session.client("sns").subscribe(
            TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"]
        )

    def _alarm(self, session: Any, resolver: Resolver, name: str, props: dict[str, Any]) -> None:
        alarm = dict(props)
        alarm["AlarmName"] = alarm.get("AlarmName") or physical_name(resolver.stack_name, name)
        for number in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
            if number in alarm:
                alarm[number] = int(alarm[number])
        alarm["Threshold"] = float(alarm["Threshold"])
        for metric in alarm.get("Metrics", []):
            if "MetricStat" in metric:
                metric["MetricStat"]["Period"] = int(metric["MetricStat"]["Period"])
        session.client("cloudwatch").put_metric_alarm(**alarm)
        resolver.physical[name] = alarm["AlarmName"]


def _outputs_after_change_set(session: Any, stack_name: str) -> dict[str, str]:
    """moto's ExecuteChangeSet creates the resources but never computes the stack's Outputs.

    The sandbox runs moto in this process, so it asks moto's own stack object to compute them
    from the template it was given, as its CreateStack does.
    """
    from moto.cloudformation.models import cloudformation_backends

    account = session.client("sts").get_caller_identity()["Account"]
    backend = cloudformation_backends[account][session.region_name or "us-east-1"]
    stack = next(s for s in backend.stacks.values() if s.name == stack_name)
    stack._parse_template()
    stack.output_map = stack._create_output_map()
    described = session.client("cloudformation").describe_stacks(StackName=stack_name)
    return {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0].get("Outputs", [])}


def physical_name(stack_name: str, logical: str) -> str:
    """The name this module gives a resource it creates (CloudFormation's style, no suffix)."""
    return f"{stack_name}-{logical}"[:64]


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


class Resolver:
    """Evaluates the template's intrinsic functions against the deployed stack."""

    def __init__(
        self,
        template: dict[str, Any],
        parameters: dict[str, str],
        physical: dict[str, str],
        session: Any,
        stack_name: str,
    ) -> None:
        self.template = template
        self.physical = physical
        self.session = session
        self.stack_name = stack_name
        declared = template.get("Parameters", {})
        self.parameters = {k: str(v.get("Default", "")) for k, v in declared.items()}
        self.parameters.update({k: v for k, v in parameters.items() if k in declared})
        identity = session.client("sts").get_caller_identity()
        self.pseudo = {
            "AWS::AccountId": identity["Account"],
            "AWS::Region": session.region_name or "us-east-1",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack_name,
        }
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self._conditions[name]

    def condition_holds(self, block: dict[str, Any]) -> bool:
        return "Condition" not in block or self.condition(block["Condition"])

    def outputs(self) -> dict[str, str]:
        found = {}
        for key, output in self.template.get("Outputs", {}).items():
            if self.condition_holds(output):
                found[key] = str(self.resolve(output["Value"]))
        return found

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((fn, arg),) = value.items()
            handler = _FUNCTIONS.get(fn)
            if handler is not None:
                return handler(self, arg)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.physical[name]

    def get_att(self, name: str, attribute: str) -> str:
        kind = self.template["Resources"][name]["Type"]
        pid = self.physical[name]
        region, account = self.pseudo["AWS::Region"], self.pseudo["AWS::AccountId"]
        if kind == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:aws:s3:::{pid}"
        if kind == "AWS::KMS::Key" and attribute == "Arn":
            arn: str = self.session.client("kms").describe_key(KeyId=pid)["KeyMetadata"]["Arn"]
            return arn
        if kind == "AWS::SQS::Queue":
            if attribute == "QueueName":
                return pid.rsplit("/", 1)[-1]
            attrs = self.session.client("sqs").get_queue_attributes(
                QueueUrl=pid, AttributeNames=["QueueArn"]
            )
            return str(attrs["Attributes"]["QueueArn"])
        if kind == "AWS::Lambda::Function" and attribute == "Arn":
            return f"arn:aws:lambda:{region}:{account}:function:{pid}"
        if kind == "AWS::IAM::Role" and attribute == "Arn":
            return str(self.session.client("iam").get_role(RoleName=pid)["Role"]["Arn"])
        if kind == "AWS::Logs::LogGroup" and attribute == "Arn":
            return f"arn:aws:logs:{region}:{account}:log-group:{pid}:*"
        raise NotImplementedError(f"Fn::GetAtt {name}.{attribute} ({kind})")

    def sub(self, arg: Any) -> str:
        text, names = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
        out, i = [], 0
        while (start := text.find("${", i)) >= 0:
            end = text.index("}", start)
            out.append(text[i:start])
            token = text[start + 2 : end]
            if token in names:
                out.append(str(names[token]))
            elif "." in token and not token.startswith("AWS::"):
                out.append(self.get_att(*token.split(".", 1)))
            else:
                out.append(str(self.ref(token)))
            i = end + 1
        out.append(text[i:])
        return "".join(out)


_FUNCTIONS: dict[str, Callable[[Resolver, Any], Any]] = {
    "Ref": lambda r, a: r.ref(a),
    "Fn::GetAtt": lambda r, a: r.get_att(*(a if isinstance(a, list) else a.split(".", 1))),
    "Fn::Sub": lambda r, a: r.sub(a),
    "Fn::If": lambda r, a: r.resolve(a[1] if r.condition(a[0]) else a[2]),
    "Fn::Equals": lambda r, a: str(r.resolve(a[0])) == str(r.resolve(a[1])),
    "Fn::Not": lambda r, a: not r.resolve(a[0]),
    "Fn::And": lambda r, a: all(r.resolve(x) for x in a),
    "Fn::Or": lambda r, a: any(r.resolve(x) for x in a),
    "Condition": lambda r, a: r.condition(a),
    "Fn::FindInMap": lambda r, a: r.template["Mappings"][r.resolve(a[0])][r.resolve(a[1])][
        r.resolve(a[2])
    ],
    "Fn::Join": lambda r, a: str(r.resolve(a[0])).join(str(x) for x in r.resolve(a[1])),
}
