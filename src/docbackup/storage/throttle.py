"""A cap on the bytes a run sends (`--limit-upload`), shared by all its connections.

An office uplink of a few Mbit/s is the office's only way out: a first backup that fills it
for hours stops the phones and the mail. Both upload paths take their bytes from one
`Throttle`: botocore's connections before every block they send (storage/deadline.py), the CRT
fast path as it reads a body (`ThrottledBody`). What is received is not capped.
"""

from __future__ import annotations

import io
import re
import threading
import time

from docbackup.errors import ConfigError

# Sent at once after a pause: a small burst keeps a lone request from waiting on an idle link.
BURST_S = 0.25
# "/s" only: "Mbps" is megabits to some and megabytes to others, so it is refused; and so is a
# lowercase "b" ("10Mb/s"), bits in networking's spelling: B is a byte, bit is spelt out.
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([kmg])(i)?)?(b|bit)?(?:/s)?\s*$", re.IGNORECASE)
_POWERS = {"k": 1, "m": 2, "g": 3}


def parse_rate(text: str) -> float:
    """Bytes a second in '500KB/s', '2MB/s', '1.5MiB/s' or '10Mbit/s' ('/s' may be left out;
    KB, MB and GB are powers of 1,000, KiB, MiB and GiB of 1,024, bit is an eighth of a byte)."""
    found = _RATE.match(text)
    if found is None or found[4] == "b" or (found[4] or "").lower() not in ("b", "bit", ""):
        raise ConfigError(
            f"unreadable upload limit {text!r}: give bytes a second, such as 500KB/s, 2MB/s, "
            "1.5MiB/s or 10Mbit/s"
        )
    number, prefix, binary, unit = float(found[1]), found[2], found[3], found[4] or ""
    scale = 1 if prefix is None else (1024 if binary else 1000) ** _POWERS[prefix.lower()]
    rate = number * scale / (8 if unit.lower() == "bit" else 1)
    if rate < 1000:
        raise ConfigError(f"upload limit {text!r} is below 1 KB/s: no night would finish")
    return rate


class Throttle:
    """At most `rate` bytes a second over time, plus a burst of BURST_S seconds' worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._free_at = time.monotonic()  # when every byte taken so far will have gone out

    def take(self, nbytes: int) -> None:
        """Wait until `nbytes` more may be sent."""
        with self._lock:
            now = time.monotonic()
            self._free_at = max(self._free_at, now) + nbytes / self.rate
            wait = self._free_at - now - BURST_S
        if wait > 0:
            time.sleep(wait)


class ThrottledBody(io.RawIOBase):
    """`data` as a stream whose reads take their bytes from `throttle`: a body the CRT sends."""

    def __init__(self, data: bytes, throttle: Throttle) -> None:
        super().__init__()
        self._view = memoryview(data)
        self._at = 0
        self._throttle = throttle

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), len(self._view) - self._at, 64 * 1024)
        if n <= 0:
            return 0
        self._throttle.take(n)
        buffer[:n] = self._view[self._at : self._at + n]
        self._at += n
        return n
