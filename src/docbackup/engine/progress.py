"""Progress flows out of the engine through a reporter; the default does nothing."""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    def start(self, phase: str, documents: int, total_bytes: int) -> None: ...

    def advance(self, path: str, nbytes: int) -> None: ...

    def finish(self) -> None: ...


class NullReporter:
    def start(self, phase: str, documents: int, total_bytes: int) -> None:
        pass

    def advance(self, path: str, nbytes: int) -> None:
        pass

    def finish(self) -> None:
        pass
