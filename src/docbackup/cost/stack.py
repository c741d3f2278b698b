"""The stack's billable fixed items, as the template and the nightly function declare them."""

from __future__ import annotations

from dataclasses import dataclass

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
    alarms=6,
    alarm_metrics=7,
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
        "DocumentsHealed",
        "DocumentsUploaded",
        "StaleSets",
        "VerifyMismatch",
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
