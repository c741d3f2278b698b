"""The template's intrinsic functions, evaluated against the deployed stack.

moto resolves them only for what it creates; the settings applied after the deploy (`keys`,
`buckets`, `skipped`) and the Outputs are resolved here: Ref, Fn::GetAtt, Fn::Sub, the
conditions, Fn::FindInMap and Fn::Join, with the stack's parameters and physical ids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_NO_VALUE = object()


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
