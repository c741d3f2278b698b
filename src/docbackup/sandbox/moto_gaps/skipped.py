"""The resources moto's CloudFormation skips silently, created through their service APIs.

An event invoke config, a schedule, a subscription and an alarm, each from its resolved
properties (numbers as the APIs take them). A schedule, and an alarm the template does not
name, get the name `template.physical_name` gives: the name the Outputs that refer to them
were given before the deploy. The bucket policy, also skipped, is `buckets`'s.
"""

from __future__ import annotations

from typing import Any

from docbackup.sandbox.moto_gaps.resolver import Resolver
from docbackup.sandbox.moto_gaps.template import physical_name


def invoke_config(session: Any, props: dict[str, Any]) -> None:
    # put_ replaces whatever an earlier deploy set: applying twice is safe.
    session.client("lambda").put_function_event_invoke_config(
        FunctionName=props["FunctionName"],
        Qualifier=props.get("Qualifier", "$LATEST"),
        MaximumRetryAttempts=int(props["MaximumRetryAttempts"]),
        MaximumEventAgeInSeconds=int(props["MaximumEventAgeInSeconds"]),
    )


def schedule(session: Any, resolver: Resolver, name: str, props: dict[str, Any]) -> None:
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


def subscription(session: Any, props: dict[str, Any]) -> None:
    session.client("sns").subscribe(
        TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"]
    )


def alarm(session: Any, resolver: Resolver, name: str, props: dict[str, Any]) -> None:
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
