"""Ctrl-C (SIGINT) and SIGTERM: the command stops, says so in its usual form, and exits 130/143.

The signal becomes an exception (`Interrupted`, not an Exception, so no `except Exception` in
the engine or botocore takes it for a failed request) raised in the main thread. It unwinds
through the engine's `finally` blocks, so a backup gives its night's lease up and its workers
finish the transfer each has in hand, and then `main` prints one line on stderr and, under
`--json`, the one JSON object a caller parses. A second signal while that cleanup runs stops
the process at once; a lease left behind then runs out by itself (see engine.lease).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

import click

from docbackup.cli import render

_NAMES: dict[int, str] = {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM"}


class Interrupted(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {_NAMES.get(signum, signum)}")
        self.signum = signum


# What the running command has asked for and done so far, for the report after a signal: the
# command's own context is gone by the time `main` catches the exception.
_state: dict[str, object] = {"json": False, "reported": False}
_progress: dict[str, Callable[[], object]] = {}


def want_json(as_json: bool) -> None:
    _state["json"] = as_json


def track(name: str, value: Callable[[], object]) -> None:
    """Report `value()` under `name` if the command is interrupted (what it did so far)."""
    _progress[name] = value


def exit_code(signum: int) -> int:
    return 128 + signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


def report(exc: Interrupted) -> None:
    """One line on stderr; with --json also the one JSON object, saying the command failed."""
    if _state["reported"]:
        return
    _state["reported"] = True
    line = (
        f"{exc}: stopped before the command finished; what was already stored or restored "
        "stays, and running it again carries on"
    )
    click.echo(f"docbackup: error: {line}", err=True)
    if _state["json"]:
        done = {name: value() for name, value in _progress.items()}
        render.emit_json(
            {
                "status": "failed",
                "interrupted": True,
                "signal": signal.Signals(exc.signum).name,
                "error": line,
                **done,
            }
        )


def install() -> None:
    """Turn SIGINT and SIGTERM into Interrupted; a signal the caller chose to ignore (a job
    started with nohup, say) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _first)


def _first(signum: int, frame: FrameType | None) -> None:
    for again in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(again) is _first:
            signal.signal(again, _again)
    raise Interrupted(signum)


def _again(signum: int, frame: FrameType | None) -> None:
    # The user asked twice: no more waiting on cleanup (a slow server, say).
    report(Interrupted(signum))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code(signum))


class Tally:
    """A reporter that only counts (under --json or without a terminal there is no bar), so
    that an interrupted command can say how far it got."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._phase: str | None = None
        self._of = self._documents = self._bytes = 0

    def start(self, phase: str, documents: int, total_bytes: int) -> None:
        with self._lock:
            self._phase, self._of, self._documents, self._bytes = phase, documents, 0, 0

    def advance(self, path: str, nbytes: int) -> None:
        with self._lock:
            self._documents += 1
            self._bytes += nbytes

    def finish(self) -> None:
        pass

    def summary(self) -> dict[str, object] | None:
        with self._lock:
            if self._phase is None:
                return None
            return {
                "phase": self._phase,
                "documents": self._documents,
                "of": self._of,
                "bytes": self._bytes,
            }
