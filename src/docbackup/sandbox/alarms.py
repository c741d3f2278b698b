"""CloudWatch's part of the nightly metrics, which moto leaves out.

moto stores metric data and alarms but never evaluates an alarm, and nothing there turns the
function's EMF log lines into metrics. Here the sandbox does both, as AWS would:

- `put_emf`: every EMF document the function printed becomes metric data, with its
  dimensions and timestamp (what CloudWatch Logs extracts from a log group);
- `evaluate`: each single-metric alarm is evaluated at a moment against that data, over its
  EvaluationPeriods periods ending then, with its statistic, threshold, comparison,
  DatapointsToAlarm and TreatMissingData; a change of state is set on the alarm and published
  to the topics of its actions, in CloudWatch's message format.

Simplified where AWS is more elaborate, and said so: periods end at the moment evaluated
(CloudWatch aligns them and waits out late data), an alarm with fewer values than
DatapointsToAlarm decides on the values it has, and alarms on metric math are not evaluated
(left in the state they have). The actions are published with the sandbox's own credentials,
where AWS publishes as the CloudWatch service. moto creates an alarm in OK, where AWS starts it
in INSUFFICIENT_DATA, so a first evaluation that finds nothing wrong changes nothing here.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from docbackup.sandbox.rules.state import ACCOUNT
from docbackup.sandbox.server import REGION, LocalAWS

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


@dataclass(frozen=True, slots=True)
class Transition:
    alarm: str
    old: str
    new: str
    reason: str


def put_emf(aws: LocalAWS, printed: str) -> int:
    """The EMF documents among `printed` lines, put as metric data; how many values went."""
    cloudwatch = aws.client("cloudwatch")
    sent = 0
    for line in printed.splitlines():
        if '"_aws"' not in line:
            continue
        doc = json.loads(line)
        meta = doc["_aws"]
        when = dt.datetime.fromtimestamp(meta["Timestamp"] / 1000, dt.UTC)
        for directive in meta["CloudWatchMetrics"]:
            dimensions = [
                {"Name": name, "Value": str(doc[name])}
                for group in directive.get("Dimensions", [])
                for name in group
            ]
            data = []
            for metric in directive["Metrics"]:
                values = doc[metric["Name"]]
                for value in values if isinstance(values, list) else [values]:
                    data.append(
                        {
                            "MetricName": metric["Name"],
                            "Dimensions": dimensions,
                            "Timestamp": when,
                            "Value": float(value),
                            "Unit": metric.get("Unit", "None"),
                        }
                    )
            for start in range(0, len(data), 20):
                cloudwatch.put_metric_data(
                    Namespace=directive["Namespace"], MetricData=data[start : start + 20]
                )
            sent += len(data)
    return sent


def forget_metrics() -> None:
    """Drop every metric value moto holds. moto's backends live in this process, shared by
    every server it starts, and the stack's metrics are keyed by Environment alone: a test that
    evaluates alarms starts from no values, not from the last test's nights."""
    from moto.cloudwatch.models import cloudwatch_backends

    cloudwatch_backends[ACCOUNT][REGION].metric_data.clear()


def evaluate(
    aws: LocalAWS, *, now: dt.datetime | None = None, prefix: str = ""
) -> list[Transition]:
    """Every alarm named with `prefix`, evaluated at `now`; the changes of state made."""
    cloudwatch, sns = aws.client("cloudwatch"), aws.client("sns")
    at = now or dt.datetime.now(dt.UTC)
    changes = []
    pages = cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix)
    for alarm in (a for page in pages for a in page.get("MetricAlarms", [])):
        if not alarm.get("MetricName"):
            continue  # metric math: not evaluated here (see the module's docstring)
        new, reason = _state(cloudwatch, alarm, at)
        old = alarm["StateValue"]
        if new is None or new == old:
            continue
        cloudwatch.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue=new, StateReason=reason)
        actions = {
            "ALARM": "AlarmActions",
            "OK": "OKActions",
            "INSUFFICIENT_DATA": "InsufficientDataActions",
        }[new]
        for topic in alarm.get(actions, []):
            sns.publish(
                TopicArn=topic,
                Subject=f'{new}: "{alarm["AlarmName"]}" in {REGION}'[:100],
                Message=json.dumps(_message(alarm, old, new, reason, at)),
            )
        changes.append(Transition(alarm["AlarmName"], old, new, reason))
    return changes


def _state(cloudwatch: Any, alarm: dict[str, Any], at: dt.datetime) -> tuple[str | None, str]:
    period = int(alarm["Period"])
    periods = int(alarm["EvaluationPeriods"])
    needed = int(alarm.get("DatapointsToAlarm") or periods)
    start = at - dt.timedelta(seconds=period * periods)
    points = cloudwatch.get_metric_statistics(
        Namespace=alarm["Namespace"],
        MetricName=alarm["MetricName"],
        Dimensions=alarm.get("Dimensions", []),
        StartTime=start,
        EndTime=at + dt.timedelta(seconds=1),
        Period=60,
        Statistics=["Sum", "Maximum", "Minimum", "SampleCount"],
    )["Datapoints"]
    buckets: list[list[dict[str, Any]]] = [[] for _ in range(periods)]
    for point in points:
        back = int((at - point["Timestamp"]).total_seconds() // period)
        if 0 <= back < periods:
            buckets[back].append(point)
    missing = alarm.get("TreatMissingData", "missing")
    compare = _COMPARE[alarm["ComparisonOperator"]]
    threshold = float(alarm["Threshold"])
    judged: list[bool] = []  # breaching or not, per period with a value (or treated as one)
    for bucket in buckets:
        if bucket:
            judged.append(compare(_statistic(alarm["Statistic"], bucket), threshold))
        elif missing == "breaching":
            judged.append(True)
        elif missing == "notBreaching":
            judged.append(False)
    if not judged:
        if missing == "ignore":
            return None, ""
        return "INSUFFICIENT_DATA", f"no data in the last {periods} period(s) of {period} s"
    breaching = sum(judged)
    alarm_now = breaching >= min(needed, len(judged)) and breaching > 0
    reason = (
        f"Threshold Crossed: {breaching} of the last {len(judged)} period(s) of {period} s "
        f"{'were' if alarm_now else 'were not enough to be'} {alarm['ComparisonOperator']} "
        f"{threshold:g} ({needed} needed)"
    )
    return ("ALARM" if alarm_now else "OK"), reason


def _statistic(name: str, points: list[dict[str, Any]]) -> float:
    if name == "Maximum":
        return float(max(p["Maximum"] for p in points))
    if name == "Minimum":
        return float(min(p["Minimum"] for p in points))
    total = float(sum(p["Sum"] for p in points))
    if name == "Sum":
        return total
    count = float(sum(p["SampleCount"] for p in points))
    if name == "SampleCount":
        return count
    return total / count  # Average


def _message(
    alarm: dict[str, Any], old: str, new: str, reason: str, at: dt.datetime
) -> dict[str, Any]:
    """The JSON CloudWatch sends to an SNS action (the fields a reader or a rule looks at)."""
    return {
        "AlarmName": alarm["AlarmName"],
        "AlarmDescription": alarm.get("AlarmDescription"),
        "AlarmArn": alarm["AlarmArn"],
        "NewStateValue": new,
        "NewStateReason": reason,
        "OldStateValue": old,
        "StateChangeTime": at.isoformat(),
        "Region": REGION,
        "Trigger": {
            "MetricName": alarm["MetricName"],
            "Namespace": alarm["Namespace"],
            "Statistic": alarm["Statistic"],
            "Dimensions": alarm.get("Dimensions", []),
            "Period": alarm["Period"],
            "EvaluationPeriods": alarm["EvaluationPeriods"],
            "ComparisonOperator": alarm["ComparisonOperator"],
            "Threshold": alarm["Threshold"],
            "TreatMissingData": alarm.get("TreatMissingData"),
        },
    }
