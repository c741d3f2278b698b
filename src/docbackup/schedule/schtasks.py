"""A Windows Task Scheduler task, made with schtasks."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections.abc import Sequence

from docbackup.schedule import base
from docbackup.schedule.base import (
    TASK_NAME,
    Action,
    Entry,
    Job,
    Method,
    run_external,
)


def windows_task_run(command: Sequence[str]) -> str:
    """The /TR value: a command line with every path in double quotes. A path can hold spaces
    (or expand to some, as %APPDATA% does), and on Windows a path cannot hold a `"`."""
    return " ".join(a if re.fullmatch(r"[\w-]+", a) else f'"{a}"' for a in command)


def schtasks_create(job: Job) -> list[str]:
    return [
        "schtasks",
        "/Create",
        "/TN",
        TASK_NAME,
        "/SC",
        "DAILY",
        "/ST",
        job.at,
        "/TR",
        windows_task_run(job.command),
        "/F",
    ]


def windows_command(job: Job) -> str:
    """The schtasks command line, quoted as schtasks itself will parse it."""
    return subprocess.list2cmdline(schtasks_create(job))


class TaskScheduler:
    method: Method = "schtasks"

    def unavailable(self) -> str | None:
        if not base.on_windows():
            return "Task Scheduler is only on Windows"
        return None if shutil.which("schtasks") else "schtasks is not on PATH"

    def installed(self) -> Entry | None:
        if self.unavailable():
            return None
        done = run_external(["schtasks", "/Query", "/TN", TASK_NAME, "/XML"], check=False)
        if done.returncode != 0:
            return None

        def element(name: str) -> str:
            found = re.search(rf"<{name}>(.*?)</{name}>", done.stdout, re.S)
            return html.unescape(found.group(1)).strip() if found else ""

        start = re.search(r"T(\d\d:\d\d):\d\d", element("StartBoundary"))
        command = f"{element('Command')} {element('Arguments')}".strip()
        return Entry("schtasks", start.group(1) if start else None, 0, command, TASK_NAME)

    def install(self, job: Job) -> Action:
        before = self.installed()
        # Task Scheduler splits /TR into program and arguments and may drop the quotes.
        wanted = windows_task_run(job.command).replace('"', "")
        if before and before.at == job.at and before.command.replace('"', "") == wanted:
            return "unchanged"
        # /F replaces a task of the same name, so there is never more than one.
        run_external(schtasks_create(job))
        return "updated" if before else "installed"

    def remove(self) -> Entry | None:
        entry = self.installed()
        if entry is not None:
            run_external(["schtasks", "/Delete", "/TN", TASK_NAME, "/F"])
        return entry
