"""Derives the cost model's StackShape again from lib/TapStack.yml and the nightly function's
source, so the shape the installed package carries cannot drift from what is deployed."""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from docbackup.cost.stack import DEFAULT_ROTATION_DAYS, StackShape


def emitted_metric_names(source: str) -> frozenset[str]:
    """The metric names a module's source passes to `add_metric` as literals."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_metric"
        ):
            continue
        args = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "name")]
        names.update(
            a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)
        )
    return frozenset(names)


def shape_from_template(template: Mapping[str, Any], metric_names: Collection[str]) -> StackShape:
    """Count the stack's fixed items in a parsed template (the JSON form of lib/TapStack.yml).

    `metric_names` are the custom metrics the function emits (see `emitted_metric_names`); the
    template says under which namespace and dimensions. Conditional resources count as present.
    """
    # The fan-out (FanOut) is opt-in and billed per night it runs, not as a fixed item: its
    # resources are left out here (the README prices it per item).
    resources: Mapping[str, Mapping[str, Any]] = {
        name: r for name, r in template["Resources"].items() if r.get("Condition") != "UseFanOut"
    }

    def props(kind: str) -> list[Mapping[str, Any]]:
        return [r.get("Properties", {}) for r in resources.values() if r["Type"] == kind]

    alarms = props("AWS::CloudWatch::Alarm")
    (function,) = props("AWS::Lambda::Function")
    variables = function["Environment"]["Variables"]
    namespace = variables["POWERTOOLS_METRICS_NAMESPACE"]
    dimension_sets = {
        tuple(sorted(d["Name"] for d in stat.get("Dimensions", [])))
        for stat in _alarm_metric_stats(alarms)
        if stat.get("Namespace") == namespace
    }
    keys = props("AWS::KMS::Key")
    periods = [
        k.get("RotationPeriodInDays", DEFAULT_ROTATION_DAYS)
        for k in keys
        if k.get("EnableKeyRotation")
    ]
    (log_group,) = props("AWS::Logs::LogGroup")
    backup_bucket = resources[variables["BACKUP_BUCKET"]["Ref"]]["Properties"]
    log_target = backup_bucket.get("LoggingConfiguration", {}).get("DestinationBucketName")
    return StackShape(
        alarms=len(alarms),
        alarm_metrics=sum(_billed_alarm_metrics(a) for a in alarms),
        # A dashboard behind a Condition is opt-in: the default deploy does not pay for it.
        dashboards=sum(
            1
            for r in resources.values()
            if r["Type"] == "AWS::CloudWatch::Dashboard" and "Condition" not in r
        ),
        kms_keys=len(keys),
        kms_rotation_period_days=min(periods) if periods else None,
        metric_names=tuple(sorted(metric_names)),
        metric_dimension_sets=len(dimension_sets),
        log_retention_days=int(log_group["RetentionInDays"]),
        noncurrent_grace_days=_noncurrent_days(backup_bucket),
        access_log_days=(
            None
            if log_target is None
            else _bucket_keep_days(resources[log_target["Ref"]]["Properties"])
        ),
        function_memory_mb=int(function["MemorySize"]),
        function_arm64="arm64" in function.get("Architectures", ["x86_64"]),
    )


def _alarm_metric_stats(alarms: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    stats: list[Mapping[str, Any]] = []
    for alarm in alarms:
        if "Metrics" in alarm:
            stats += [q["MetricStat"]["Metric"] for q in alarm["Metrics"] if "MetricStat" in q]
        else:
            stats.append(alarm)
    return stats


def _billed_alarm_metrics(alarm: Mapping[str, Any]) -> int:
    if "Metrics" in alarm:
        return sum(1 for q in alarm["Metrics"] if "MetricStat" in q)
    return 1


def _expiry_rule(bucket: Mapping[str, Any]) -> Mapping[str, Any]:
    for rule in bucket["LifecycleConfiguration"]["Rules"]:
        if "ExpirationInDays" in rule:
            found: Mapping[str, Any] = rule
            return found
    raise ValueError("a bucket of the stack has no expiry rule")


def _noncurrent_days(bucket: Mapping[str, Any]) -> int:
    """Days an expired copy stays billed as a noncurrent version of a versioned bucket."""
    rule = _expiry_rule(bucket)
    return int(rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays", 0))


def _bucket_keep_days(bucket: Mapping[str, Any]) -> int:
    """Days an object written to a bucket is billed: its expiry plus the noncurrent grace."""
    return int(_expiry_rule(bucket)["ExpirationInDays"]) + _noncurrent_days(bucket)


# --- The workload ---------------------------------------------------------------------------
