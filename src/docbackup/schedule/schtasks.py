"""A Windows Task Scheduler task, made with schtasks."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from docbackup.errors import DocbackupError
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


def task_fields(document: str) -> dict[str, str]:
    """The text of each element of a task's XML by its local name, the first of each name.
    Windows writes the task namespace on every element; the names are what matters."""
    fields: dict[str, str] = {}
    try:
        root = ET.fromstring(document.strip())  # noqa: S314 (schtasks' own output)
    except ET.ParseError as exc:
        raise DocbackupError(f"schtasks /Query /XML answered what is not XML: {exc}") from exc
    for element in root.iter():
        fields.setdefault(element.tag.rpartition("}")[2], (element.text or "").strip())
    return fields


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
        task = task_fields(done.stdout)
        start = re.search(r"T(\d\d:\d\d):\d\d", task.get("StartBoundary", ""))
        command = f"{task.get('Command', '')} {task.get('Arguments', '')}".strip()
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
