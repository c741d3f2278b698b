"""What the stack costs a month for a workload: a pure model over a dated price table.

Nothing here calls AWS. The estimate is the steady state of a month of nights: every stored
copy has reached its expiry and been replaced, so storage no longer grows. It leaves out the
first night's full copy of the source, restores, data sent out of the region, and the source
bucket's own storage and requests other than the listing the nightly run makes.

The prices are in `prices`, what a night does in `measured`, the stack's fixed items in
`stack` and the workload in `workload`; this module only combines them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from docbackup.cost.measured import (
    ACCESS_LOG_RECORD_BYTES,
    ACCESS_LOG_RECORDS_PER_EXPIRY,
    BACKUP_MINIMUM_OBJECT_BYTES,
    COPIES_PER_STORED_DOCUMENT,
    FIXED_GET_CLASS_REQUESTS,
    FIXED_PUT_CLASS_REQUESTS,
    GETS_PER_STORED_DOCUMENT,
    KEYS_PER_LIST_PAGE,
    KMS_REQUESTS_PER_NIGHT,
    KMS_REQUESTS_WITHOUT_BUCKET_KEY_PER_DOCUMENT,
    LOG_BYTES_PER_NIGHT,
    MANIFEST_BYTES_PER_DOCUMENT,
    METRIC_HOURS_PER_NIGHT,
    NIGHT_BASE_S,
    READ_BACK_BUDGET_BYTES,
    READ_BACK_BYTES_PER_S,
    REFRESHED_DOCUMENT_S,
    STORED_DOCUMENT_S,
    UNCHANGED_DOCUMENT_S,
    WATCH_GETS_PER_SET,
)
from docbackup.cost.prices import (
    FREE_CLOUDWATCH_ALARM_METRICS,
    FREE_CLOUDWATCH_DASHBOARDS,
    FREE_CLOUDWATCH_METRICS,
    FREE_KMS_REQUESTS,
    FREE_LAMBDA_GB_SECONDS,
    FREE_LAMBDA_REQUESTS,
    FREE_LOGS_GB,
    FREE_SCHEDULER_INVOCATIONS,
    FREE_SNS_EMAILS,
    FREE_SNS_PUBLISHES,
    FREE_SQS_REQUESTS,
    GB,
    HOURS_PER_MONTH,
    NIGHTS_PER_MONTH,
    PRICES,
    Price,
    Prices,
)
from docbackup.cost.stack import BILLED_ROTATIONS_CAP, STACK, StackShape
from docbackup.cost.workload import REFERENCE, Workload, whole_number

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
        whole_number("key age", key_age_days, least=0, unit=" days")
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
    # Each document's copy is read back once a refresh cycle (within the stack's default
    # budget): one GET each, and the bytes through the function.
    read_back = min(w.live / cycle, READ_BACK_BUDGET_BYTES / w.average_size)
    return Night(
        stored=stored,
        refreshed=refreshed,
        unchanged=unchanged,
        put_class_requests=(
            stored * COPIES_PER_STORED_DOCUMENT
            + refreshed
            + FIXED_PUT_CLASS_REQUESTS
            # The copies the manifest points at, confirmed by listing their versions: a page
            # of 1,000 a request under each night that stored some (at most one per day kept).
            + math.ceil(w.live / KEYS_PER_LIST_PAGE)
            + w.retention_days
            # Every set watched: the dates listed, and each date kept.
            + 1
            + w.retention_days
        ),
        get_class_requests=(
            stored * GETS_PER_STORED_DOCUMENT
            + FIXED_GET_CLASS_REQUESTS
            + read_back
            + WATCH_GETS_PER_SET  # the set's newest manifest, read by the watch
        ),
        source_list_requests=math.ceil(w.live / KEYS_PER_LIST_PAGE),
        lambda_seconds=(
            NIGHT_BASE_S
            + stored * STORED_DOCUMENT_S
            + refreshed * REFRESHED_DOCUMENT_S
            + unchanged * UNCHANGED_DOCUMENT_S
            + read_back * w.average_size / READ_BACK_BYTES_PER_S
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
