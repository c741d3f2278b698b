"""The stack Outputs moto does not compute for a stack created through a change set.

Separate because it is the one patch that reaches into moto's own objects rather than going
through a service API: it works only because the sandbox runs moto in this process.
"""

from __future__ import annotations

from typing import Any


def outputs_after_change_set(session: Any, stack_name: str) -> dict[str, str]:
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
