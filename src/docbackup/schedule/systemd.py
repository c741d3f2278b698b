"""A systemd user timer and its service: the preferred scheduler where a user manager answers."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

from docbackup import atomic, places
from docbackup.schedule.base import (
    PROBE_TIMEOUT_S,
    UNIT,
    Action,
    Entry,
    ExternalCommandFailed,
    Job,
    Method,
    read_if_there,
    run_external,
)


def systemd_quote(arg: str) -> str:
    """One argument as systemd reads ExecStart=: `%` starts a specifier and `$` a variable in
    every position, so both are doubled; spaces, quotes and backslashes need double quotes."""
    escaped = arg.replace("%", "%%").replace("$", "$$")
    if escaped and not re.search(r"[\s\"'\\;]", escaped):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Systemd:
    method: Method = "systemd"

    def __init__(self) -> None:
        self.service = places.systemd_user_units() / f"{UNIT}.service"
        self.timer = places.systemd_user_units() / f"{UNIT}.timer"

    def unavailable(self) -> str | None:
        if shutil.which("systemctl") is None:
            return "systemctl is not on PATH"
        try:
            run_external(["systemctl", "--user", "show-environment"], timeout=PROBE_TIMEOUT_S)
        except ExternalCommandFailed as exc:
            return f"no systemd user manager answers ({exc})"
        return None

    def units(self, job: Job) -> dict[Path, str]:
        header = (
            "# Written by `docbackup schedule install`; `docbackup schedule remove` deletes it.\n"
        )
        delay = f"{job.random_delay_minutes}min" if job.random_delay_minutes else "0"
        return {
            self.service: header
            + "[Unit]\n"
            + "Description=docbackup: back up the configured document sets\n\n"
            + "[Service]\n"
            + "Type=oneshot\n"
            + f"ExecStart={' '.join(systemd_quote(a) for a in job.command)}\n",
            self.timer: header
            + "[Unit]\n"
            + f"Description=docbackup: nightly backup at {job.at}\n\n"
            + "[Timer]\n"
            + f"OnCalendar=*-*-* {job.at}:00\n"
            + "# A night missed while the machine was off runs at the next boot or login.\n"
            + "Persistent=true\n"
            + f"RandomizedDelaySec={delay}\n\n"
            + "[Install]\n"
            + "WantedBy=timers.target\n",
        }

    def _state(self) -> dict[str, str]:
        """The timer as the user manager sees it; empty when no manager answers."""
        try:
            done = run_external(
                [
                    "systemctl",
                    "--user",
                    "show",
                    f"{UNIT}.timer",
                    "--property=ActiveState,UnitFileState,NextElapseUSecRealtime",
                ],
                check=False,
                timeout=PROBE_TIMEOUT_S,
            )
        except ExternalCommandFailed:
            return {}
        if done.returncode != 0:
            return {}
        pairs = (line.partition("=") for line in done.stdout.splitlines())
        return {key: value for key, _, value in pairs}

    def installed(self) -> Entry | None:
        timer, service = read_if_there(self.timer), read_if_there(self.service)
        if timer is None and service is None:
            return None
        when = re.search(r"^OnCalendar=\*-\*-\* (\d\d:\d\d):00$", timer or "", re.M)
        delay = re.search(r"^RandomizedDelaySec=(?:(\d+)min|0)$", timer or "", re.M)
        command = re.search(r"^ExecStart=(.*)$", service or "", re.M)
        return Entry(
            "systemd",
            when.group(1) if when else None,
            int(delay.group(1) or 0) if delay else None,
            command.group(1) if command else "",
            f"{self.timer}, {self.service.name}",
            next_run(self._state().get("NextElapseUSecRealtime", "")),
        )

    def install(self, job: Job) -> Action:
        wanted = self.units(job)
        existed = self.timer.exists() or self.service.exists()
        same = all(read_if_there(path) == text for path, text in wanted.items())
        state = self._state()
        if (
            same
            and state.get("UnitFileState") == "enabled"
            and state.get("ActiveState") == "active"
        ):
            return "unchanged"
        self.timer.parent.mkdir(parents=True, exist_ok=True)
        for path, text in wanted.items():
            atomic.write_text(path, text)
        # daemon-reload re-reads OnCalendar= for a timer that is already running. A new time
        # between the last run and now makes systemd catch up at once (systemd issue 16732).
        run_external(["systemctl", "--user", "daemon-reload"])
        run_external(["systemctl", "--user", "enable", "--now", f"{UNIT}.timer"])
        return "updated" if existed else "installed"

    def remove(self) -> Entry | None:
        entry = self.installed()
        if entry is None:
            return None
        if self.timer.exists():
            run_external(["systemctl", "--user", "disable", "--now", f"{UNIT}.timer"])
        for path in (self.timer, self.service):
            path.unlink(missing_ok=True)
        run_external(["systemctl", "--user", "daemon-reload"])
        return entry


def next_run(value: str) -> str | None:
    if value in ("", "0", "n/a"):
        return None
    if value.isdigit():  # some versions print microseconds since the epoch
        return f"{dt.datetime.fromtimestamp(int(value) / 1e6).astimezone():%a %Y-%m-%d %H:%M %Z}"
    return value
