"""The two hooks `docbackup.stack.deploy` calls to deploy the template to moto.

`template_body`, before the stack is created: the part moto can create (`template`).
`after_deploy`, once it is: every other declared setting, one resource kind after another,
and the stack's Outputs. What each kind needs is in its own module (`keys`, `buckets`,
`skipped`); this holds the order they run in and the record of what was applied.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from docbackup.sandbox.moto_gaps import buckets, keys, skipped
from docbackup.sandbox.moto_gaps.change_set import outputs_after_change_set
from docbackup.sandbox.moto_gaps.resolver import Resolver
from docbackup.sandbox.moto_gaps.template import for_moto, load_template


class MotoGaps:
    def __init__(self) -> None:
        self.template: dict[str, Any] = {}
        self.body = ""
        self.applied: list[str] = []

    # -- before: what moto can create ---------------------------------------------------------

    def template_body(self, template_text: str, stack_name: str) -> str:
        self.template = load_template(template_text)
        self.body = json.dumps(for_moto(self.template, stack_name))
        return self.body

    # -- after: the rest of the template, through the service APIs ----------------------------

    def after_deploy(
        self, session: Any, stack_name: str, parameters: dict[str, str], outputs: dict[str, str]
    ) -> dict[str, str]:
        cfn = session.client("cloudformation")
        if not outputs:
            outputs = outputs_after_change_set(session, stack_name)
        # moto lists resources it did not create (skipped types, false conditions) as rows
        # without a logical id.
        physical = {
            r["LogicalResourceId"]: r.get("PhysicalResourceId") or ""
            for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
            if r.get("LogicalResourceId")
        }
        resolver = Resolver(self.template, parameters, physical, session, stack_name)
        steps: list[tuple[str, Callable[[str, dict[str, Any]], None]]] = [
            ("AWS::KMS::Key", lambda n, p: keys.key_settings(session, resolver, n, p)),
            ("AWS::S3::BucketPolicy", lambda n, p: buckets.bucket_policy(session, p)),
            ("AWS::S3::Bucket", lambda n, p: buckets.bucket_settings(session, resolver, n, p)),
            ("AWS::Lambda::EventInvokeConfig", lambda n, p: skipped.invoke_config(session, p)),
            ("AWS::Scheduler::Schedule", lambda n, p: skipped.schedule(session, resolver, n, p)),
            ("AWS::SNS::Subscription", lambda n, p: skipped.subscription(session, p)),
            ("AWS::CloudWatch::Alarm", lambda n, p: skipped.alarm(session, resolver, n, p)),
        ]
        for kind, apply in steps:
            for name, resource in self.template["Resources"].items():
                if resource["Type"] != kind or not resolver.condition_holds(resource):
                    continue
                apply(name, resolver.resolve(resource.get("Properties", {})))
                self.applied.append(f"{name} ({kind})")
        return {**resolver.outputs(), **outputs}
