"""What the stack costs a month for a workload: a pure model over a dated price table.

Nothing here calls AWS. The estimate is the steady state of a month of nights: every stored
copy has reached its expiry and been replaced, so storage no longer grows. It leaves out the
first night's full copy of the source, restores, data sent out of the region, and the source
bucket's own storage and requests other than the listing the nightly run makes.

The stack's fixed items (alarms, dashboards, keys, custom metrics, log retention) are a
`StackShape`. `STACK` is what lib/TapStack.yml and the nightly function declare today; a test
derives it again from the template and the code with `shape_from_template`, so the two cannot
drift apart while the installed package needs neither file.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from docbackup.engine.backup import BackupOptions
from docbackup.errors import ConfigError

# --- Prices ---------------------------------------------------------------------------------
# us-east-1 list prices, first volume tier only (a small office never leaves it), checked on
# PRICES_CHECKED against the pages each item names. "Confirmed" items were found in pages
# current on that date, quoting AWS's page: KMS (key, rotation, requests), CloudWatch (custom
# metrics prorated by the hour, alarms per alarm metric, dashboards, Logs), Lambda on arm64,
# EventBridge Scheduler, SNS, SQS, and AWS Backup's terms for S3 (128 KB minimum per object, GET
# and LIST requests on the source billed, versioning required). The rest are AWS's long-standing
# list prices, unchanged for years but not seen in a current page that day: S3 Standard storage
# and requests (the page's own figures did not render in the copies read) and AWS Backup's warm
# storage for S3.
PRICES_CHECKED = "2026-11-22"
REGION = "us-east-1"

S3_PAGE = "https://aws.amazon.com/s3/pricing/"
KMS_PAGE = "https://aws.amazon.com/kms/pricing/"
CLOUDWATCH_PAGE = "https://aws.amazon.com/cloudwatch/pricing/"
LAMBDA_PAGE = "https://aws.amazon.com/lambda/pricing/"
SCHEDULER_PAGE = "https://aws.amazon.com/eventbridge/pricing/"
SNS_PAGE = "https://aws.amazon.com/sns/pricing/"
SQS_PAGE = "https://aws.amazon.com/sqs/pricing/"
BACKUP_PAGE = "https://aws.amazon.com/backup/pricing/"

# AWS bills storage in binary gigabytes.
GB = 2**30
HOURS_PER_MONTH = 730  # AWS's own month for hourly proration
NIGHTS_PER_MONTH = 365 / 12


@dataclass(frozen=True, slots=True)
class Price:
    """`usd` for every `per` units of `unit`, from `source`."""

    usd: float
    per: int
    unit: str
    source: str
    confirmed: bool

    def __str__(self) -> str:
        # At least cents ("$0.30"), and every digit a small price has ("$0.0000133334").
        digits = f"{self.usd:.10f}".rstrip("0")
        amount = "$" + (f"{self.usd:.2f}" if len(digits.split(".")[1]) < 2 else digits)
        return (
            f"{amount} per {self.unit}"
            if self.per == 1
            else f"{amount} per {self.per:,} {self.unit}"
        )

    def cost(self, quantity: float) -> float:
        return quantity / self.per * self.usd


@dataclass(frozen=True, slots=True)
class Prices:
    checked: str
    region: str
    s3_standard: Price
    s3_put_copy_post_list: Price
    s3_get_head: Price
    kms_key: Price
    # Each of a key's first two rotations adds a key-month; later rotations are not billed.
    kms_rotation: Price
    kms_requests: Price
    cloudwatch_metric: Price
    cloudwatch_alarm_metric: Price
    cloudwatch_dashboard: Price
    logs_ingestion: Price
    logs_storage: Price
    lambda_arm64: Price
    lambda_x86: Price
    lambda_requests: Price
    scheduler_invocations: Price
    sns_publishes: Price
    sns_email: Price
    sqs_requests: Price
    backup_s3_warm: Price


PRICES = Prices(
    checked=PRICES_CHECKED,
    region=REGION,
    s3_standard=Price(0.023, 1, "GB-month", S3_PAGE, confirmed=False),
    s3_put_copy_post_list=Price(0.005, 1000, "requests", S3_PAGE, confirmed=False),
    s3_get_head=Price(0.0004, 1000, "requests", S3_PAGE, confirmed=False),
    kms_key=Price(1.00, 1, "key-month", KMS_PAGE, confirmed=True),
    kms_rotation=Price(1.00, 1, "rotation-month", KMS_PAGE, confirmed=True),
    kms_requests=Price(0.03, 10_000, "requests", KMS_PAGE, confirmed=True),
    cloudwatch_metric=Price(0.30, 1, "metric-month", CLOUDWATCH_PAGE, confirmed=True),
    cloudwatch_alarm_metric=Price(0.10, 1, "alarm-metric-month", CLOUDWATCH_PAGE, confirmed=True),
    cloudwatch_dashboard=Price(3.00, 1, "dashboard-month", CLOUDWATCH_PAGE, confirmed=True),
    logs_ingestion=Price(0.50, 1, "GB", CLOUDWATCH_PAGE, confirmed=True),
    logs_storage=Price(0.03, 1, "GB-month", CLOUDWATCH_PAGE, confirmed=True),
    lambda_arm64=Price(0.0000133334, 1, "GB-second", LAMBDA_PAGE, confirmed=True),
    lambda_x86=Price(0.0000166667, 1, "GB-second", LAMBDA_PAGE, confirmed=True),
    lambda_requests=Price(0.20, 1_000_000, "requests", LAMBDA_PAGE, confirmed=True),
    scheduler_invocations=Price(1.00, 1_000_000, "invocations", SCHEDULER_PAGE, confirmed=True),
    sns_publishes=Price(0.50, 1_000_000, "publishes", SNS_PAGE, confirmed=True),
    sns_email=Price(2.00, 100_000, "emails", SNS_PAGE, confirmed=True),
    sqs_requests=Price(0.40, 1_000_000, "requests", SQS_PAGE, confirmed=True),
    backup_s3_warm=Price(0.05, 1, "GB-month", BACKUP_PAGE, confirmed=False),
)

# Always-free monthly allowances, per account. They are shown beside the total, never taken
# off it: the account may already spend them on something else.
FREE_CLOUDWATCH_METRICS = 10
FREE_CLOUDWATCH_ALARM_METRICS = 10
FREE_CLOUDWATCH_DASHBOARDS = 3  # of up to 50 metrics each
FREE_LOGS_GB = 5.0  # ingestion and storage together; counted against ingestion here
FREE_LAMBDA_REQUESTS = 1_000_000
FREE_LAMBDA_GB_SECONDS = 400_000
FREE_KMS_REQUESTS = 20_000
FREE_SCHEDULER_INVOCATIONS = 14_000_000
FREE_SNS_PUBLISHES = 1_000_000
FREE_SNS_EMAILS = 1_000
FREE_SQS_REQUESTS = 1_000_000

# --- What one night does (measured or read from the code) -------------------------------------
# src/docbackup/sources/s3.py ObjectSource.store: a document from the source bucket is copied
# server-side and the copy read back once to hash it, so 1 COPY and 1 GET each. (An office agent
# backing up a folder sends 1 PUT instead; that path does not run in the stack.)
COPIES_PER_STORED_DOCUMENT = 1
GETS_PER_STORED_DOCUMENT = 1
# README, "Speed": whatever the size of the set, a night makes one HEAD of the bucket, one LIST
# of dates, one GET of the last manifest, one PUT of the lease and one PUT of the manifest.
FIXED_PUT_CLASS_REQUESTS = 3  # LIST, PUT lease, PUT manifest
FIXED_GET_CLASS_REQUESTS = 2  # HEAD bucket, GET manifest
# The source is listed a page of up to 1,000 keys at a time (ListObjectsV2).
KEYS_PER_LIST_PAGE = 1000
# README, "Past one machine": the manifest is about 390 bytes per document, one a night.
MANIFEST_BYTES_PER_DOCUMENT = 390

# README, "What it costs" (bench/handler_night.py, 512 MB): a first night of 500 documents takes
# about 10 s, a night with no change to the same 500 about 2 s. README, "Past one machine": an
# unchanged document costs about 70 us of a bench core; 512 MB buys about 0.3 vCPU.
MEASURED_DOCUMENTS = 500
MEASURED_FIRST_NIGHT_S = 10.0
MEASURED_NO_CHANGE_NIGHT_S = 2.0
LAMBDA_VCPU_AT_512_MB = 0.3
UNCHANGED_DOCUMENT_S = 70e-6 / LAMBDA_VCPU_AT_512_MB
NIGHT_BASE_S = MEASURED_NO_CHANGE_NIGHT_S - MEASURED_DOCUMENTS * UNCHANGED_DOCUMENT_S
STORED_DOCUMENT_S = (MEASURED_FIRST_NIGHT_S - MEASURED_NO_CHANGE_NIGHT_S) / MEASURED_DOCUMENTS
# A refresh is one server-side COPY with no read-back; priced as a stored document (an upper
# bound) until it is measured on its own.
REFRESHED_DOCUMENT_S = STORED_DOCUMENT_S

# KMS with S3 Bucket Keys: S3 asks KMS for a bucket-level key and reuses it for a limited
# time, so a night's thousand objects cost about one GenerateDataKey (writes) and one Decrypt
# (reads), not one per object. Add one Decrypt of the function's environment at its cold start
# (every nightly run is one) and about one for the KMS-encrypted log group.
KMS_REQUESTS_PER_NIGHT = 4
# Without Bucket Keys S3 calls KMS for every object it writes and every encrypted object it
# reads: a stored document is a write and a read-back, a refresh reads one copy and writes one.
KMS_REQUESTS_WITHOUT_BUCKET_KEY_PER_DOCUMENT = 2

# 1.1 KB measured for the EMF object and the "backup finished" line with its summary (Powertools
# 3.37); Lambda's START/END/REPORT lines and the injected context fields add under 1 KB.
LOG_BYTES_PER_NIGHT = 2_000
# The nightly EMF object reaches CloudWatch once, so each custom metric receives data in one
# hour a night; custom metrics are prorated by the hour they receive data.
METRIC_HOURS_PER_NIGHT = 1
# An S3 server access log record is 400-500 bytes; lifecycle writes two more per expired copy
# (the delete marker, then the removal of the noncurrent version).
ACCESS_LOG_RECORD_BYTES = 500
ACCESS_LOG_RECORDS_PER_EXPIRY = 2

# AWS Backup for S3 bills an object smaller than 128 KB as 128 KB.
BACKUP_MINIMUM_OBJECT_BYTES = 128 * 1024

# --- The stack ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StackShape:
    """The stack's billable fixed items, as lib/TapStack.yml and the nightly function declare."""

    alarms: int
    # An alarm on a metric math expression is billed once per metric it reads.
    alarm_metrics: int
    dashboards: int
    kms_keys: int
    kms_rotation_period_days: int | None  # None: rotation off
    metric_names: tuple[str, ...]
    metric_dimension_sets: int
    log_retention_days: int
    # A versioned bucket's lifecycle expiry only makes a copy noncurrent; it is billed until the
    # noncurrent-version rule removes it this many days later.
    noncurrent_grace_days: int
    access_log_days: int | None  # None: no server access logging
    function_memory_mb: int
    function_arm64: bool

    @property
    def custom_metrics(self) -> int:
        return len(self.metric_names) * self.metric_dimension_sets


STACK = StackShape(
    alarms=4,
    alarm_metrics=5,
    dashboards=0,  # opt-in (CreateDashboard), so not in the stack as deployed by default
    kms_keys=1,
    kms_rotation_period_days=2560,
    metric_names=(
        "BackupDuration",
        "BackupFailure",
        "BackupIncomplete",
        "BackupSuccess",
        "BytesStored",
        "DocumentsBackedUp",
        "DocumentsFailed",
        "DocumentsUploaded",
    ),
    metric_dimension_sets=1,
    log_retention_days=365,
    noncurrent_grace_days=7,
    access_log_days=91,
    function_memory_mb=512,
    function_arm64=True,
)

# KMS's default when a key rotates without a RotationPeriodInDays.
DEFAULT_ROTATION_DAYS = 365
BILLED_ROTATIONS_CAP = 2


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
    resources: Mapping[str, Mapping[str, Any]] = template["Resources"]

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

REFERENCE_DOCUMENTS_PER_DAY = 500
# 200 KB read as 200 x 1,000 bytes, the way the seeds state sizes; 500 of them are the README's
# "about 100 MB a day".
REFERENCE_AVERAGE_SIZE = 200 * 1000
REFERENCE_RETENTION_DAYS = 30

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(i)?)?b?\s*$", re.IGNORECASE)
_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(text: str) -> int:
    """Bytes in '204800', '200KB', '1.5 MB' (powers of 1,000) or '200KiB' (powers of 1,024)."""
    found = _SIZE.match(text)
    if found is None:
        raise ConfigError(
            f"unreadable size {text!r}: give bytes, or a number with KB, MB, GB, TB "
            "(powers of 1,000) or KiB, MiB, GiB, TiB (powers of 1,024)"
        )
    number, prefix, binary = float(found[1]), found[2], found[3]
    scale = 1 if prefix is None else (1024 if binary else 1000) ** _POWERS[prefix.lower()]
    size = round(number * scale)
    if size < 1:
        raise ConfigError(f"size {text!r} is less than one byte")
    return size


@dataclass(frozen=True, slots=True)
class Workload:
    """What the office stores. `live_documents`: documents kept at the source, whose unchanged
    members are refreshed; None means documents_per_day x retention_days."""

    documents_per_day: int = REFERENCE_DOCUMENTS_PER_DAY
    average_size: int = REFERENCE_AVERAGE_SIZE
    retention_days: int = REFERENCE_RETENTION_DAYS
    live_documents: int | None = None
    # The stack's NotifyOnSuccess: one SNS notice (and email) after every good night.
    notify_on_success: bool = False

    def __post_init__(self) -> None:
        _whole("documents per day", self.documents_per_day, least=1)
        _whole("average size", self.average_size, least=1, unit=" bytes")
        _whole("retention", self.retention_days, least=2, unit=" days")
        if self.live_documents is not None:
            _whole("live documents", self.live_documents, least=1)
            if self.live_documents < self.documents_per_day:
                raise ConfigError(
                    f"live documents ({self.live_documents}) cannot be fewer than documents per "
                    f"day ({self.documents_per_day}): each night's documents are at the source"
                )

    @property
    def live(self) -> int:
        if self.live_documents is not None:
            return self.live_documents
        return self.documents_per_day * self.retention_days

    @property
    def refresh_cycle_days(self) -> int:
        """Days between refreshes of an unchanged document: the engine's own rule."""
        options = BackupOptions(retention_days=self.retention_days)
        return self.retention_days - options.margin()


def _whole(what: str, value: object, *, least: int, unit: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{what} must be a whole number, got {value!r}")
    if value < least:
        # Retention's floor is the engine's: a copy is refreshed at least a day before expiry.
        raise ConfigError(f"{what} must be at least {least}{unit}, got {value}")


REFERENCE = Workload()

# --- The estimate -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineItem:
    service: str
    item: str
    quantity: float  # in price.unit
    price: Price
    # Part of `quantity` the account's always-free tier would cover, if nothing else uses it.
    free_quantity: float = 0.0
    # Fixed: the same whatever the workload (the stack's alarms, keys, dashboards...).
    fixed: bool = False

    @property
    def unit(self) -> str:
        return self.price.unit

    @property
    def unit_price(self) -> str:
        return str(self.price)

    @property
    def monthly_usd(self) -> float:
        return self.price.cost(self.quantity)

    @property
    def monthly_usd_in_free_tier(self) -> float:
        return self.price.cost(max(0.0, self.quantity - self.free_quantity))


@dataclass(frozen=True, slots=True)
class Night:
    """One ordinary night of the steady state."""

    stored: float  # new or changed documents copied from the source
    refreshed: float  # unchanged documents whose copy was about to expire
    unchanged: float  # carried over in the manifest, no request
    put_class_requests: float  # COPY, PUT and LIST on the backup bucket
    get_class_requests: float  # GET and HEAD on the backup bucket
    source_list_requests: int
    lambda_seconds: float
    copies_held: float  # stored copies in the bucket at any time, noncurrent ones included


@dataclass(frozen=True, slots=True)
class Estimate:
    workload: Workload
    stack: StackShape
    night: Night
    items: tuple[LineItem, ...]
    aws_backup: tuple[LineItem, ...]
    notes: tuple[str, ...]

    @property
    def total(self) -> float:
        return sum(i.monthly_usd for i in self.items)

    @property
    def total_in_free_tier(self) -> float:
        """The total if the account's always-free allowances were all unused."""
        return sum(i.monthly_usd_in_free_tier for i in self.items)

    @property
    def fixed_total(self) -> float:
        return sum(i.monthly_usd for i in self.items if i.fixed)

    @property
    def aws_backup_total(self) -> float:
        return sum(i.monthly_usd for i in self.aws_backup)

    def largest(self, count: int = 3) -> tuple[LineItem, ...]:
        return tuple(sorted(self.items, key=lambda i: -i.monthly_usd)[:count])


def estimate(
    workload: Workload = REFERENCE,
    stack: StackShape = STACK,
    prices: Prices = PRICES,
    *,
    key_age_days: int | None = 365,
) -> Estimate:
    """A month of the stack for `workload`.

    `key_age_days`: the KMS key's age, which sets how many rotations are billed (default: a
    year-old key); None is the lasting state, once the billed rotations reached their cap of two.
    """
    if key_age_days is not None:
        _whole("key age", key_age_days, least=0, unit=" days")
    w, p = workload, prices
    night = _night(w, stack)
    nights = NIGHTS_PER_MONTH
    size_gb = w.average_size / GB
    stored_days = w.retention_days + stack.noncurrent_grace_days
    manifest_gb_month = w.live * MANIFEST_BYTES_PER_DOCUMENT * stored_days / GB
    lambda_price = p.lambda_arm64 if stack.function_arm64 else p.lambda_x86
    arch = "arm64" if stack.function_arm64 else "x86_64"
    gb_seconds = night.lambda_seconds * stack.function_memory_mb / 1024 * nights
    notices = nights if w.notify_on_success else 0.0
    rotations = _billed_rotations(stack, key_age_days)
    log_gb = LOG_BYTES_PER_NIGHT * nights / GB
    metric_months = stack.custom_metrics * METRIC_HOURS_PER_NIGHT * nights / HOURS_PER_MONTH

    items = [
        LineItem("S3", "backup copies (Standard)", night.copies_held * size_gb, p.s3_standard),
        LineItem("S3", "manifests", manifest_gb_month, p.s3_standard),
        LineItem(
            "S3",
            "COPY, PUT and LIST requests (the source's listing included)",
            (night.put_class_requests + night.source_list_requests) * nights,
            p.s3_put_copy_post_list,
        ),
        LineItem("S3", "GET and HEAD requests", night.get_class_requests * nights, p.s3_get_head),
    ]
    if stack.access_log_days is not None:
        records = night.put_class_requests + night.get_class_requests
        records += ACCESS_LOG_RECORDS_PER_EXPIRY * (night.stored + night.refreshed)
        log_bytes = records * ACCESS_LOG_RECORD_BYTES * stack.access_log_days
        items.append(LineItem("S3", "server access logs", log_bytes / GB, p.s3_standard))
    items += [
        LineItem("KMS", "customer managed keys", stack.kms_keys, p.kms_key, fixed=True),
        LineItem(
            "KMS", "billed key rotations", stack.kms_keys * rotations, p.kms_rotation, fixed=True
        ),
        LineItem(
            "KMS",
            "requests (S3 Bucket Keys: per key lifetime, not per object)",
            KMS_REQUESTS_PER_NIGHT * nights,
            p.kms_requests,
            free_quantity=FREE_KMS_REQUESTS,
        ),
        LineItem(
            "CloudWatch",
            f"custom metrics ({stack.custom_metrics}, prorated to the hours they receive data)",
            metric_months,
            p.cloudwatch_metric,
            free_quantity=FREE_CLOUDWATCH_METRICS,
            fixed=True,
        ),
        LineItem(
            "CloudWatch",
            f"alarms ({stack.alarms}, billed per metric they read)",
            stack.alarm_metrics,
            p.cloudwatch_alarm_metric,
            free_quantity=FREE_CLOUDWATCH_ALARM_METRICS,
            fixed=True,
        ),
        LineItem(
            "CloudWatch",
            "dashboards",
            stack.dashboards,
            p.cloudwatch_dashboard,
            free_quantity=FREE_CLOUDWATCH_DASHBOARDS,
            fixed=True,
        ),
        LineItem(
            "CloudWatch", "Logs ingestion", log_gb, p.logs_ingestion, free_quantity=FREE_LOGS_GB
        ),
        # Logs are stored compressed; their raw size here is an upper bound.
        LineItem(
            "CloudWatch",
            f"Logs storage ({stack.log_retention_days} days)",
            log_gb / nights * stack.log_retention_days,
            p.logs_storage,
        ),
        LineItem(
            "Lambda",
            f"duration ({stack.function_memory_mb} MB, {arch})",
            gb_seconds,
            lambda_price,
            free_quantity=FREE_LAMBDA_GB_SECONDS,
        ),
        LineItem(
            "Lambda", "requests", nights, p.lambda_requests, free_quantity=FREE_LAMBDA_REQUESTS
        ),
        LineItem(
            "EventBridge Scheduler",
            "invocations",
            nights,
            p.scheduler_invocations,
            free_quantity=FREE_SCHEDULER_INVOCATIONS,
        ),
        LineItem("SNS", "publishes", notices, p.sns_publishes, free_quantity=FREE_SNS_PUBLISHES),
        LineItem("SNS", "email notifications", notices, p.sns_email, free_quantity=FREE_SNS_EMAILS),
        # The dead-letter queue is only written when a night fails every retry.
        LineItem(
            "SQS", "dead-letter queue requests", 0, p.sqs_requests, free_quantity=FREE_SQS_REQUESTS
        ),
    ]
    aws_backup = _aws_backup(w, night, p)
    return Estimate(
        workload=w,
        stack=stack,
        night=night,
        items=tuple(items),
        aws_backup=aws_backup,
        notes=_notes(w, stack, night, p, tuple(items), rotations),
    )


def _night(w: Workload, stack: StackShape) -> Night:
    cycle = w.refresh_cycle_days
    # Live documents with no upload in the last `cycle` nights are the ones being refreshed,
    # each once a cycle; this counts each night's uploads as distinct documents, and treats
    # the unchanged ones as long-lived with their refresh nights spread evenly.
    in_rotation = max(0, w.live - w.documents_per_day * cycle)
    refreshed = in_rotation / cycle
    stored = float(w.documents_per_day)
    unchanged = w.live - stored - refreshed
    return Night(
        stored=stored,
        refreshed=refreshed,
        unchanged=unchanged,
        put_class_requests=(
            stored * COPIES_PER_STORED_DOCUMENT + refreshed + FIXED_PUT_CLASS_REQUESTS
        ),
        get_class_requests=stored * GETS_PER_STORED_DOCUMENT + FIXED_GET_CLASS_REQUESTS,
        source_list_requests=math.ceil(w.live / KEYS_PER_LIST_PAGE),
        lambda_seconds=(
            NIGHT_BASE_S
            + stored * STORED_DOCUMENT_S
            + refreshed * REFRESHED_DOCUMENT_S
            + unchanged * UNCHANGED_DOCUMENT_S
        ),
        copies_held=(stored + refreshed) * (w.retention_days + stack.noncurrent_grace_days),
    )


def _billed_rotations(stack: StackShape, key_age_days: int | None) -> int:
    period = stack.kms_rotation_period_days
    if period is None:
        return 0
    if key_age_days is None:
        return BILLED_ROTATIONS_CAP
    return min(BILLED_ROTATIONS_CAP, key_age_days // period)


def _aws_backup(w: Workload, night: Night, p: Prices) -> tuple[LineItem, ...]:
    """The same workload on AWS Backup: daily periodic backups of the source bucket kept
    `retention_days`. The first backup is full, the later ones incremental, so the vault holds
    every live document once plus the versions that left the live set within retention."""
    billed_size = max(w.average_size, BACKUP_MINIMUM_OBJECT_BYTES)
    held = w.live + w.documents_per_day * w.retention_days
    return (
        LineItem("AWS Backup", "S3 backup warm storage", held * billed_size / GB, p.backup_s3_warm),
        LineItem(
            "S3",
            "GET of each new or changed source object",
            w.documents_per_day * NIGHTS_PER_MONTH,
            p.s3_get_head,
        ),
        LineItem(
            "S3",
            "LIST of the source bucket",
            night.source_list_requests * NIGHTS_PER_MONTH,
            p.s3_put_copy_post_list,
        ),
        # AWS Backup tells nobody by itself; a missed night needs an alarm, as G7 asks.
        LineItem(
            "CloudWatch",
            "alarm on AWS/Backup job failures",
            1,
            p.cloudwatch_alarm_metric,
            free_quantity=FREE_CLOUDWATCH_ALARM_METRICS,
            fixed=True,
        ),
    )


def _notes(
    w: Workload,
    stack: StackShape,
    night: Night,
    p: Prices,
    items: tuple[LineItem, ...],
    rotations: int,
) -> tuple[str, ...]:
    total = sum(i.monthly_usd for i in items)
    free = sum(i.monthly_usd_in_free_tier for i in items)
    per_object = (
        (night.stored + night.refreshed)
        * KMS_REQUESTS_WITHOUT_BUCKET_KEY_PER_DOCUMENT
        * NIGHTS_PER_MONTH
    )
    full_month_metrics = p.cloudwatch_metric.cost(stack.custom_metrics)
    period = stack.kms_rotation_period_days
    rotation = "rotation off" if period is None else f"one every {period} days"
    return (
        f"Prices: {p.region} list prices checked {p.checked}; first volume tier only.",
        f"Free tiers are not subtracted (an account may already use them): with CloudWatch's "
        f"{FREE_CLOUDWATCH_DASHBOARDS} dashboards, {FREE_CLOUDWATCH_METRICS} metrics and "
        f"{FREE_CLOUDWATCH_ALARM_METRICS} alarm metrics, and the Lambda, KMS, SNS, SQS and "
        f"Scheduler allowances all unused, ${total:.2f} would be ${free:.2f}.",
        f"KMS: ${p.kms_key.usd:.2f} a key-month plus ${p.kms_rotation.usd:.2f} for each of its "
        f"first two rotations ({rotation}): {rotations} billed in this estimate.",
        f"KMS with S3 Bucket Keys: about {KMS_REQUESTS_PER_NIGHT} requests a night whatever the "
        f"number of objects; without them about {per_object:,.0f} a month "
        f"(${p.kms_requests.cost(per_object):.4f}).",
        f"Custom metrics are billed for the hours they receive data ({METRIC_HOURS_PER_NIGHT} a "
        f"night here); billed as full metric-months they would cost ${full_month_metrics:.2f}.",
        f"Each copy is billed {w.retention_days} days current plus {stack.noncurrent_grace_days} "
        f"noncurrent (the versioned bucket's lifecycle grace); {night.refreshed:,.0f} refresh "
        f"copies a night keep unchanged documents restorable.",
        "AWS Backup for S3 needs versioning on the source bucket (its old versions are billed at "
        "S3 rates until a lifecycle rule removes them), bills objects under 128 KB as 128 KB, "
        "and charges per GB restored; none of that is in its line items.",
    )
