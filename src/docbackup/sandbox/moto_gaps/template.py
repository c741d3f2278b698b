"""The part of the template moto's CloudFormation can create, and the names of the rest.

Separate from the hooks because it is the one place that knows which resource types moto
skips or cannot take as written: they are left out of what moto is given (a KMS key gets a
placeholder policy and no tags), and the Outputs that name them are given as literals or
dropped.
"""

from __future__ import annotations

import copy
import json
from typing import Any

SKIPPED_BY_MOTO = {
    "AWS::S3::BucketPolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::Scheduler::Schedule",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::SNS::Subscription",
}
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


def for_moto(template: dict[str, Any], stack_name: str) -> dict[str, Any]:
    """The template without what moto skips or cannot create, for moto's CreateStack."""
    created = copy.deepcopy(template)
    created.pop("Rules", None)
    resources = created["Resources"]
    skipped = {n for n, r in resources.items() if r["Type"] in SKIPPED_BY_MOTO}
    for name in skipped:
        del resources[name]
    for resource in resources.values():
        if (
            resource["Type"] == "AWS::StepFunctions::StateMachine"
            and "Definition" in resource["Properties"]
        ):
            # moto's CloudFormation reads DefinitionString only: the same definition, as the
            # JSON text Step Functions makes of Definition, its substitutions put in by Fn::Sub
            # in its one-string form (the list form runs through string.Template, which turns
            # the definition's "$$" context paths into "$").
            props = resource["Properties"]
            text = json.dumps(props.pop("Definition"))
            for key, value in props.pop("DefinitionSubstitutions", {}).items():
                text = text.replace("${" + key + "}", _as_sub(value))
            props["DefinitionString"] = {"Fn::Sub": text}
        if resource["Type"] == "AWS::KMS::Key":
            # moto needs a policy, given as a string; the template's own replaces it after.
            resource["Properties"].pop("Tags", None)
            resource["Properties"]["KeyPolicy"] = _PLACEHOLDER_KEY_POLICY
    outputs = {}
    for key, output in created.get("Outputs", {}).items():
        ref = output["Value"].get("Ref") if isinstance(output["Value"], dict) else None
        if isinstance(ref, str) and ref in skipped:
            # Resources created outside moto get a name known now: output it as a literal.
            output = {**output, "Value": physical_name(stack_name, ref)}
        elif _mentions(output, skipped):
            continue
        outputs[key] = output
    created["Outputs"] = outputs
    return created


def _as_sub(value: Any) -> str:
    """A substitution's value as Fn::Sub's own syntax says it."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    if isinstance(value, dict) and "Ref" in value:
        return "${" + str(value["Ref"]) + "}"
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
        return str(value["Fn::Sub"])
    if isinstance(value, str):
        return value
    raise ValueError(f"a DefinitionSubstitutions value the sandbox cannot give moto: {value}")


def physical_name(stack_name: str, logical: str) -> str:
    """The name a resource created outside moto gets (CloudFormation's style, no suffix)."""
    return f"{stack_name}-{logical}"[:64]
