"""Running the configured backups every night from the machine's own scheduler.

One entry per machine: a systemd user timer where a user manager answers, else one line in the
user's crontab, and on Windows a Task Scheduler task. `install` compares what is there with what
it would write, so running it again changes nothing; `remove` takes away only what `install`
wrote; `show` also prints the Windows command, so one page of instructions serves every office
machine.

The choice of scheduler and the three commands, as results: `cli/schedule.py` only parses
and renders.
"""

from __future__ import annotations

import dataclasses
import getpass
import shlex
import sys
from dataclasses import dataclass

from docbackup import places
from docbackup.errors import ConfigError
from docbackup.schedule import base
from docbackup.schedule.base import (
    LABELS,
    UNIT,
    WINDOWS_DEFAULT_CONFIG,
    WINDOWS_EXE_PLACEHOLDER,
    Action,
    Entry,
    Job,
    Method,
    Scheduler,
    job_command,
)
from docbackup.schedule.cron import Cron
from docbackup.schedule.schtasks import TaskScheduler, windows_command
from docbackup.schedule.systemd import Systemd


def schedulers() -> dict[Method, Scheduler]:
    """The schedulers that can exist on this platform, in order of preference."""
    if base.on_windows():
        return {"schtasks": TaskScheduler()}
    return {"systemd": Systemd(), "cron": Cron()}


def scheduler_named(method: str) -> Scheduler:
    kinds: dict[str, type[Systemd | Cron | TaskScheduler]] = {
        "systemd": Systemd,
        "cron": Cron,
        "schtasks": TaskScheduler,
    }
    return kinds[method]()


def choose(method: str) -> Scheduler:
    """The scheduler `install` uses: the one asked for, or the first that works here."""
    if method != "auto":
        scheduler = scheduler_named(method)
        why = scheduler.unavailable()
        if why:
            raise ConfigError(f"cannot use {LABELS[scheduler.method]}s here: {why}")
        return scheduler
    reasons = []
    for scheduler in schedulers().values():
        why = scheduler.unavailable()
        if why is None:
            return scheduler
        reasons.append(why)
    raise ConfigError(
        f"no scheduler to install into ({'; '.join(reasons)}); "
        "install cron, or have another scheduler run `docbackup run` every night"
    )


# --- What each command does, as results ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Installed:
    action: Action
    entry: Entry
    notes: tuple[str, ...]


def install(job: Job, method: str = "auto") -> Installed:
    scheduler = choose(method)
    action = scheduler.install(job)
    entry = scheduler.installed() or Entry(
        scheduler.method, job.at, job.random_delay_minutes, shlex.join(job.command), ""
    )
    others = [
        other.method
        for other in schedulers().values()
        if other.method != scheduler.method and other.installed() is not None
    ]
    notes = list(notes_for(entry, job.random_delay_minutes))
    for other in others:
        notes.append(
            f"a {LABELS[other]} from an earlier install is still there, so the backup runs "
            f"twice; `docbackup schedule remove --method {other}` removes it"
        )
    return Installed(action, entry, tuple(notes))


def remove(method: str = "auto") -> list[Entry]:
    """Remove what `install` wrote: with auto, from every scheduler that has it."""
    chosen = list(schedulers().values()) if method == "auto" else [scheduler_named(method)]
    return [entry for s in chosen if (entry := s.remove()) is not None]


@dataclass(frozen=True, slots=True)
class Shown:
    entries: tuple[Entry, ...]
    windows_command: str
    notes: tuple[str, ...]

    def summary(self) -> dict[str, object]:
        return {
            "installed": [dataclasses.asdict(e) for e in self.entries],
            "windows_command": self.windows_command,
            "notes": list(self.notes),
        }


def show(config_path: str, at: tuple[int, int] | None = None) -> Shown:
    """What is installed, and the Windows command for the same schedule (the installed time
    unless `at` is given)."""
    entries = tuple(e for s in schedulers().values() if (e := s.installed()) is not None)
    notes = [n for e in entries for n in notes_for(e, e.random_delay_minutes or 0)]
    if len(entries) > 1:
        notes.append("more than one schedule is installed, so the backup runs once for each")
    if at is None:
        known = next((e.at for e in entries if e.at), "02:00")
        at = (int(known[:2]), int(known[3:]))
    if base.on_windows():
        command = job_command(config_path)
    else:  # this machine's paths mean nothing there
        command = (WINDOWS_EXE_PLACEHOLDER, "--config", WINDOWS_DEFAULT_CONFIG, "run")
    return Shown(entries, windows_command(Job(*at, 0, command)), tuple(notes))


def notes_for(entry: Entry, random_delay_minutes: int) -> tuple[str, ...]:
    if entry.method == "systemd":
        return (
            f"output goes to the journal: journalctl --user -u {UNIT}.service",
            "the timer runs only while you are logged in, unless lingering is on: "
            f"loginctl enable-linger {getpass.getuser()}",
        )
    if entry.method == "cron":
        notes = [
            f"output goes to {places.schedule_log()}",
            "cron skips a night the machine is off; AWS credentials come from ~/.aws",
        ]
        if sys.platform == "darwin":
            notes.append("macOS: give cron Full Disk Access to read Documents and Desktop")
        return tuple(notes)
    if random_delay_minutes:
        return ("schtasks cannot add a random delay: the task starts on the minute",)
    return ()
