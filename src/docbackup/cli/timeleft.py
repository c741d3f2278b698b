"""The progress bar's time left: steady, from files and bytes together.

A rate of bytes alone jumps whenever a large file finishes (its bytes arrive at once) and
stalls over a run of small ones; a rate of files alone does the opposite. The fraction done is
taken as the mean of the two fractions, the raw estimate is what that fraction says is left,
and the shown estimate follows it smoothly: between updates it counts down with the clock, and
it moves toward each new raw estimate by a share that grows with the time since the last one
(a time constant of SMOOTHING_S), so a burst of updates in one second moves it little.
"""

from __future__ import annotations

import math

SMOOTHING_S = 5.0
# No estimate until this much has been done: the first files say little about the rest.
WARM_UP_FRACTION = 0.02


class TimeLeft:
    def __init__(self, files: int, total_bytes: int) -> None:
        self.files = files
        self.total_bytes = total_bytes
        self._shown: float | None = None
        self._at = 0.0

    def fraction(self, files_done: int, bytes_done: int) -> float:
        parts = []
        if self.files:
            parts.append(min(1.0, files_done / self.files))
        if self.total_bytes:
            parts.append(min(1.0, bytes_done / self.total_bytes))
        return sum(parts) / len(parts) if parts else 1.0

    def update(self, elapsed: float, files_done: int, bytes_done: int) -> float | None:
        """Seconds left, or None while too little is done to say; `elapsed` since the start."""
        done = self.fraction(files_done, bytes_done)
        if done >= 1.0:
            self._shown, self._at = 0.0, elapsed
            return 0.0
        if done < WARM_UP_FRACTION or elapsed <= 0:
            return None
        raw = elapsed * (1 - done) / done
        if self._shown is None:
            self._shown, self._at = raw, elapsed
            return raw
        step = max(0.0, elapsed - self._at)
        counted_down = max(0.0, self._shown - step)
        share = 1 - math.exp(-step / SMOOTHING_S)
        self._shown = counted_down + share * (raw - counted_down)
        self._at = elapsed
        return self._shown
