"""What every scheduler shares: the job, what is installed, where things live, and running
the scheduler's own command with a bound on its time.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Literal, Protocol

from docbackup.errors import ConfigError, DocbackupError

Method = Literal["systemd", "cron", "schtasks"]
Action = Literal["installed", "updated", "unchanged"]

UNIT = "docbackup"
TASK_NAME = "docbackup nightly"
MARKER = "# docbackup: nightly backup (managed by docbackup schedule)"
LABELS: dict[Method, str] = {
    "systemd": "systemd user timer",
    "cron": "crontab line",
    "schtasks": "Task Scheduler task",
}
# A user manager answers `systemctl --user` in milliseconds; one that does not answer in a few
# seconds is not there for the timer either.
PROBE_TIMEOUT_S = 5.0
# daemon-reload on a busy desktop session can take several seconds.
COMMAND_TIMEOUT_S = 60.0
# Shown on machines that are not Windows, where the Windows paths cannot be known.
WINDOWS_EXE_PLACEHOLDER = "C:\\path\\to\\docbackup.exe"
WINDOWS_DEFAULT_CONFIG = "%APPDATA%\\docbackup\\config.toml"


class ExternalCommandFailed(DocbackupError):
    """A scheduler tool (systemctl, crontab, schtasks) failed: a failure, not bad input."""


def on_windows() -> bool:
    return sys.platform == "win32"


def run_external(
    argv: Sequence[str],
    *,
    stdin: str | None = None,
    check: bool = True,
    timeout: float = COMMAND_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Run a scheduler tool found on PATH. Every external program goes through here.

    Bytes are decoded with surrogateescape, not in text mode, so a crontab comes back and goes
    out byte for byte (text mode would also turn a stray CR into a line break)."""
    shown = shlex.join(argv)
    try:
        done = subprocess.run(  # noqa: S603 - fixed tool names and argument lists, no shell
            list(argv),
            input=None if stdin is None else stdin.encode("utf-8", "surrogateescape"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise ExternalCommandFailed(f"`{shown}`: {argv[0]} is not on PATH") from None
    except subprocess.TimeoutExpired:
        raise ExternalCommandFailed(f"`{shown}` did not finish within {timeout:g} s") from None
    except OSError as exc:
        raise ExternalCommandFailed(f"`{shown}`: {exc}") from None
    result = subprocess.CompletedProcess(
        done.args,
        done.returncode,
        done.stdout.decode("utf-8", "surrogateescape"),
        done.stderr.decode("utf-8", "surrogateescape"),
    )
    if check and result.returncode != 0:
        raise failure(result)
    return result


def failure(done: subprocess.CompletedProcess[str]) -> ExternalCommandFailed:
    """One line naming the command, its exit status and what it said."""
    said = one_line(done.stderr) or one_line(done.stdout) or "no output"
    return ExternalCommandFailed(
        f"`{shlex.join(done.args)}` failed (exit {done.returncode}): {said}"
    )


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split()).encode("utf-8", "replace").decode("utf-8")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- What runs, and when --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    hour: int
    minute: int
    random_delay_minutes: int
    command: tuple[str, ...]  # argv, the executable first

    def __post_init__(self) -> None:
        # Neither a crontab line nor a unit file setting can hold a line break.
        if any("\n" in a or "\r" in a for a in self.command):
            raise ConfigError(f"cannot schedule a command with a line break: {self.command!r}")

    @property
    def at(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"


@dataclass(frozen=True, slots=True)
class Entry:
    """An installed schedule as read back; `at` is None when it was edited past recognition."""

    method: Method
    at: str | None
    random_delay_minutes: int | None
    command: str  # in the scheduler's own syntax
    location: str
    next_run: str | None = None


def docbackup_executable() -> tuple[str, ...]:
    """How a scheduler starts docbackup: this very program when it was started by name, else
    the one on PATH, else this interpreter with the package. Symlinks are kept, not resolved:
    pipx and friends upgrade behind a stable link."""
    argv0 = sys.argv[0] if sys.argv else ""
    if Path(argv0).stem == "docbackup" and os.path.isfile(argv0):
        return (os.path.abspath(argv0),)
    found = shutil.which("docbackup")
    if found:
        return (os.path.abspath(found),)
    if find_spec("docbackup.__main__") is not None:
        return (sys.executable, "-m", "docbackup")
    return (sys.executable, "-c", "from docbackup.cli.main import main; main()")


def job_command(config_path: str) -> tuple[str, ...]:
    # `--config` belongs to the top-level group: `run` reads the file through it.
    return (*docbackup_executable(), "--config", os.path.abspath(config_path), "run")


# --- Where things live ------------------------------------------------------------------------


def read_if_there(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


# --- The schedulers ---------------------------------------------------------------------------


class Scheduler(Protocol):
    method: Method

    def unavailable(self) -> str | None:
        """Why this scheduler cannot be used here, or None when it can."""

    def installed(self) -> Entry | None: ...

    def install(self, job: Job) -> Action: ...

    def remove(self) -> Entry | None:
        """What was removed; None when there was nothing."""
