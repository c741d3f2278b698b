"""Credentials for each actor of a deployed stack, carrying exactly the policies it grants them.

- the nightly function: a session of the stack's BackupFunctionRole, as Lambda assumes it;
- the office machine: an IAM user with OfficeAgentPolicy attached;
- a restorer: an IAM user with RestorePolicy attached;
- an operator: an IAM user with OperatorPolicy attached (status, report).
Each is a real identity in moto's IAM, so the authorization layer (rules.gateway) finds its
policies exactly as the stack created them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    arn: str
    credentials: dict[str, str]  # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY[, AWS_SESSION_TOKEN]


@dataclass(frozen=True, slots=True)
class StackActors:
    function: Actor
    office: Actor
    restorer: Actor
    operator: Actor


def function_role(aws: Any, function_arn: str) -> Actor:
    config = aws.client("lambda").get_function_configuration(FunctionName=function_arn)
    return role_session(aws, config["Role"], "function", "nightly")


def role_session(aws: Any, role_arn: str, name: str, session: str) -> Actor:
    """A session of a role, as the service that the role trusts would assume it."""
    assumed = aws.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session)
    creds = assumed["Credentials"]
    return Actor(
        name,
        assumed["AssumedRoleUser"]["Arn"],
        {
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"],
        },
    )


def user_with(aws: Any, name: str, policy_arn: str) -> Actor:
    """An IAM user holding one managed policy and nothing else (made once, then reused)."""
    iam = aws.client("iam")
    try:
        user = iam.get_user(UserName=name)["User"]
    except iam.exceptions.NoSuchEntityException:
        user = iam.create_user(UserName=name)["User"]
    attached = iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
    for policy in attached:
        if policy["PolicyArn"] != policy_arn:
            iam.detach_user_policy(UserName=name, PolicyArn=policy["PolicyArn"])
    if not any(p["PolicyArn"] == policy_arn for p in attached):
        iam.attach_user_policy(UserName=name, PolicyArn=policy_arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Actor(
        name,
        user["Arn"],
        {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]},
    )


def stack_actors(aws: Any, stack_name: str, outputs: dict[str, str]) -> StackActors:
    return StackActors(
        function=function_role(aws, outputs["BackupLambdaArn"]),
        office=user_with(aws, f"{stack_name}-office", outputs["OfficeAgentPolicyArn"]),
        restorer=user_with(aws, f"{stack_name}-restorer", outputs["RestorePolicyArn"]),
        operator=user_with(aws, f"{stack_name}-operator", outputs["OperatorPolicyArn"]),
    )
