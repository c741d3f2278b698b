"""The workload a cost estimate is for: how many documents a day, how large, kept how long."""

from __future__ import annotations

import re
from dataclasses import dataclass

from docbackup.engine.options import BackupOptions
from docbackup.errors import ConfigError

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
        whole_number("documents per day", self.documents_per_day, least=1)
        whole_number("average size", self.average_size, least=1, unit=" bytes")
        whole_number("retention", self.retention_days, least=2, unit=" days")
        if self.live_documents is not None:
            whole_number("live documents", self.live_documents, least=1)
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


def whole_number(what: str, value: object, *, least: int, unit: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{what} must be a whole number, got {value!r}")
    if value < least:
        # Retention's floor is the engine's: a copy is refreshed at least a day before expiry.
        raise ConfigError(f"{what} must be at least {least}{unit}, got {value}")


REFERENCE = Workload()
