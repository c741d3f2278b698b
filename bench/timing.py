"""One timed run of one command: its own process, measured with os.wait4 as in backup_scale.py.

Wall time from time.perf_counter around the process, client CPU = ru_utime + ru_stime and peak
RSS = ru_maxrss of that process (and of any child it waited for), and the S3 requests the
endpoint logged between its start and its end. The command is started and waited for by
bench/spawn.py, a small launcher: started straight from this (large) process it would report at
least this process's peak RSS, which Linux carries across fork and exec (see spawn.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field

from endpoints import ROOT, Endpoint

LAUNCHER = [sys.executable, "-S", os.path.join(ROOT, "bench", "spawn.py")]


class RunFailed(SystemExit):
    """A run exited non-zero: the harness stops, with the tail of its output."""


@dataclass(frozen=True)
class Command:
    argv: list[str]
    env: dict[str, str]
    cwd: str | None = None


@dataclass
class Run:
    tool: str
    case: str
    wall_s: float
    cpu_s: float
    rss_mb: float
    requests: Counter[str] | None
    stdout: str = field(repr=False)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def measure(
    tool: str,
    case: str,
    command: Command,
    endpoint: Endpoint | None,
    *,
    timeout_s: float = 3600.0,
) -> Run:
    mark = endpoint.mark() if endpoint else 0
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile(suffix=".json") as figures,
    ):
        proc = subprocess.Popen(
            [*LAUNCHER, figures.name, *command.argv],
            env=command.env,
            cwd=command.cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # a process group of its own, for the watchdog below
        )
        # A hung peer must not hang the harness; killing it makes the run fail below.
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            _kill_group(proc.pid)

        watchdog = threading.Timer(timeout_s, kill)
        watchdog.start()
        try:
            code = proc.wait()
        except BaseException:  # Ctrl-C does not reach a new session: take the run down too
            _kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            watchdog.cancel()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        measured = json.loads(figures.read() or b"{}")
        if code != 0 or not measured:
            stderr = err.read().decode(errors="replace")
            why = f"killed after {timeout_s:.0f} s" if timed_out.is_set() else f"exit {code}"
            raise RunFailed(
                f"{tool}, {case}: {why}\n"
                f"$ {' '.join(command.argv)}\n--- stderr (tail) ---\n{stderr[-3000:]}"
                f"\n--- stdout (tail) ---\n{stdout[-1000:]}"
            )
    requests = endpoint.requests_since(mark) if endpoint else None
    return Run(
        tool=tool,
        case=case,
        wall_s=measured["wall_s"],
        cpu_s=measured["cpu_s"],
        rss_mb=measured["maxrss_kb"] / 1024,
        requests=requests,
        stdout=stdout,
    )
