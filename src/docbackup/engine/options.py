"""What a backup is asked to do (`BackupOptions`), and the night it runs for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from docbackup import layout, tuning
from docbackup.errors import ConfigError
from docbackup.storage.base import Encryption

Clock = Callable[[], dt.datetime]
MULTIPART_THRESHOLD = tuning.MULTIPART_THRESHOLD
# A copy is refreshed at least one day before it expires (BackupOptions.margin) and not before
# it is stored: one day of retention leaves no day for that, so two is the least that works.
MIN_RETENTION_DAYS = 2
# The product's 30 days (G5), where neither the caller nor the stack says otherwise.
DEFAULT_RETENTION_DAYS = 30


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class BackupOptions:
    set_name: str = layout.DEFAULT_SET
    date: dt.date | None = None  # None: today in `timezone`
    timezone: str = "UTC"
    encryption: Encryption = field(default_factory=Encryption)
    retention_days: int = DEFAULT_RETENTION_DAYS
    # Refresh a copy this many days before it would expire; None: a quarter of retention.
    refresh_margin_days: int | None = None
    # 8, 16 and 32 took the same time on 500 documents against moto on 2 cores (bench/); 16
    # keeps a slow real endpoint busy without holding many files in memory at once.
    workers: int = tuning.WORKERS
    multipart_threshold: int = MULTIPART_THRESHOLD
    dry_run: bool = False
    # An empty source usually means an unmounted share or a wrong prefix; a snapshot of it would
    # make `latest` restore nothing. Refused unless the caller says it is expected.
    allow_empty: bool = False
    # Seconds left before the caller is stopped (a Lambda's time limit), and how many of them
    # to keep for transfers in flight and the manifest: no transfer starts inside the reserve.
    time_left: Callable[[], float] | None = None
    reserve_s: float = 120.0
    # Without versioning a write over a key replaces the only copy: refused unless the caller
    # says so. Either way no run writes over a copy a manifest lists (see layout).
    allow_unversioned: bool = False
    # A set's nights come from one source; another one would replace the night (and what
    # `latest` restores) without a word. Refused unless the caller says it is meant.
    allow_new_source: bool = False
    # Compare the run's clock with the server's and refuse a night the server would call
    # future-dated. For callers whose clock is the machine's own (the CLI, the function); a
    # test that drives the clock ahead on purpose leaves it off.
    check_clock: bool = False
    # Bytes of stored copies to read back and re-hash tonight (see engine.readback); 0 reads
    # none. The function sets it from the stack; an office machine only when configured, since
    # its uplink pays for the reads.
    read_back_bytes: int = 0

    def margin(self) -> int:
        if self.refresh_margin_days is not None:
            return self.refresh_margin_days
        return max(1, self.retention_days // 4)


def run_date(options: BackupOptions, now: dt.datetime) -> dt.date:
    try:
        tz = ZoneInfo(options.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {options.timezone!r}") from None
    today = now.astimezone(tz).date()
    if options.date is None:
        return today
    if options.date > today:
        raise ConfigError(f"date {options.date} is in the future (today is {today} in {tz})")
    return options.date
