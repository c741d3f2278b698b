"""AWS list prices for the cost model, dated, with the page each comes from."""

from __future__ import annotations

from dataclasses import dataclass

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
