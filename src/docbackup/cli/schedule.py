"""`docbackup schedule`: run the configured backups every night from the machine's own scheduler.

One entry per machine: a systemd user timer where a user manager answers, else one line in the
user's crontab, and on Windows a Task Scheduler task. `install` compares what is there with what
it would write, so running it again changes nothing; `remove` takes away only what `install`
wrote; `show` also prints the Windows command, so one page of instructions serves every office
machine.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import html
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal, Protocol

import click

from docbackup.cli import config as cfg
from docbackup.cli import render
from docbackup.cli.options import fail, json_option
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
    said = _one_line(done.stderr) or _one_line(done.stdout) or "no output"
    return ExternalCommandFailed(
        f"`{shlex.join(done.args)}` failed (exit {done.returncode}): {said}"
    )


def _one_line(text: str, limit: int = 300) -> str:
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


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable, "")
    # The XDG spec says a relative value is invalid and is to be ignored.
    return Path(value) if os.path.isabs(value) else Path.home() / fallback


def unit_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config") / "systemd" / "user"


def log_path() -> Path:
    """Where the cron job's output goes, so a failed night leaves a trace someone can read."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Logs" / "docbackup" / "schedule.log"
    return _xdg("XDG_STATE_HOME", os.path.join(".local", "state")) / "docbackup" / "schedule.log"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --- The schedulers ---------------------------------------------------------------------------


class Scheduler(Protocol):
    method: Method

    def unavailable(self) -> str | None:
        """Why this scheduler cannot be used here, or None when it can."""

    def installed(self) -> Entry | None: ...

    def install(self, job: Job) -> Action: ...

    def remove(self) -> Entry | None:
        """What was removed; None when there was nothing."""


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
        self.service = unit_dir() / f"{UNIT}.service"
        self.timer = unit_dir() / f"{UNIT}.timer"

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
        timer, service = _read(self.timer), _read(self.service)
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
            _next_run(self._state().get("NextElapseUSecRealtime", "")),
        )

    def install(self, job: Job) -> Action:
        wanted = self.units(job)
        existed = self.timer.exists() or self.service.exists()
        same = all(_read(path) == text for path, text in wanted.items())
        state = self._state()
        if (
            same
            and state.get("UnitFileState") == "enabled"
            and state.get("ActiveState") == "active"
        ):
            return "unchanged"
        self.timer.parent.mkdir(parents=True, exist_ok=True)
        for path, text in wanted.items():
            _write_atomically(path, text)
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


def _next_run(value: str) -> str | None:
    if value in ("", "0", "n/a"):
        return None
    if value.isdigit():  # some versions print microseconds since the epoch
        return f"{dt.datetime.fromtimestamp(int(value) / 1e6).astimezone():%a %Y-%m-%d %H:%M %Z}"
    return value


def cron_line(job: Job, log: Path) -> str:
    command = f"{shlex.join(job.command)} >>{shlex.quote(str(log))} 2>&1"
    if job.random_delay_minutes:
        n = job.random_delay_minutes * 60
        # cron runs the line with /bin/sh, which has no $RANDOM in dash; od and awk are POSIX.
        # The remainder is written without `%`, which cron would turn into a line break.
        command = (
            f"sleep $(od -An -N4 -tu4 /dev/urandom | awk '{{print $1 - int($1 / {n}) * {n}}}'); "
            + command
        )
    # Quoted paths may still hold a `%`: escaped, cron hands it to the shell as it is.
    escaped = command.replace("%", "\\%")
    return f"{job.minute} {job.hour} * * * {escaped} {MARKER}"


def _ours(line: str) -> bool:
    return line.rstrip().endswith(MARKER)


class Cron:
    method: Method = "cron"

    def unavailable(self) -> str | None:
        return None if shutil.which("crontab") else "crontab is not on PATH"

    def table(self) -> list[str]:
        done = run_external(["crontab", "-l"], check=False)
        if done.returncode != 0:
            # "no crontab for USER" is exit 1 and no table; anything else is a failure.
            if done.returncode == 1 and not done.stdout.strip():
                return []
            raise failure(done)
        lines = done.stdout.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        # Old Vixie crons list the header they add on install; writing it back would stack it.
        if lines and lines[0].startswith("# DO NOT EDIT THIS FILE"):
            del lines[0]
            while lines and lines[0].startswith("# (") and lines[0].endswith(")"):
                del lines[0]
        return lines

    def write(self, lines: list[str]) -> None:
        run_external(["crontab", "-"], stdin="".join(f"{line}\n" for line in lines))

    def installed(self) -> Entry | None:
        if self.unavailable():
            return None
        ours = [line for line in self.table() if _ours(line)]
        return _cron_entry(ours[0]) if ours else None

    def install(self, job: Job) -> Action:
        log = log_path()
        # Every night's `>>` needs the folder; someone may have cleaned it out since.
        log.parent.mkdir(parents=True, exist_ok=True)
        wanted = cron_line(job, log)
        lines = self.table()
        marked = [i for i, line in enumerate(lines) if _ours(line)]
        if [lines[i] for i in marked] == [wanted]:
            return "unchanged"
        kept = [line for line in lines if not _ours(line)]
        # A replaced line stays where the user's table had it.
        kept.insert(marked[0] if marked else len(kept), wanted)
        self.write(kept)
        return "updated" if marked else "installed"

    def remove(self) -> Entry | None:
        if self.unavailable():
            return None
        lines = self.table()
        ours = [line for line in lines if _ours(line)]
        if not ours:
            return None
        self.write([line for line in lines if not _ours(line)])
        return _cron_entry(ours[0])


def _cron_entry(line: str) -> Entry:
    shape = re.match(r"(\d+) (\d+) \* \* \* (.*) " + re.escape(MARKER) + r"\s*$", line)
    if shape is None:
        return Entry("cron", None, None, line, "crontab")
    delay = re.search(r"int\(\$1 / (\d+)\)", shape.group(3))
    return Entry(
        "cron",
        f"{int(shape.group(2)):02d}:{int(shape.group(1)):02d}",
        int(delay.group(1)) // 60 if delay else 0,
        shape.group(3).replace("\\%", "%"),
        "crontab",
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
        if not on_windows():
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


def schedulers() -> dict[Method, Scheduler]:
    """The schedulers that can exist on this platform, in order of preference."""
    if on_windows():
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
    if on_windows():
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
            f"output goes to {log_path()}",
            "cron skips a night the machine is off; AWS credentials come from ~/.aws",
        ]
        if sys.platform == "darwin":
            notes.append("macOS: give cron Full Disk Access to read Documents and Desktop")
        return tuple(notes)
    if random_delay_minutes:
        return ("schtasks cannot add a random delay: the task starts on the minute",)
    return ()


# --- The click group ------------------------------------------------------------------------------


class TimeOfDay(click.ParamType[tuple[int, int], Any]):
    """HH:MM, 00:00 to 23:59; anything else is a usage error (exit 2) before anything runs."""

    name = "HH:MM"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(value).strip())
        if match is None:
            self.fail(f"{value!r} is not a time of day as HH:MM (00:00 to 23:59)", param, ctx)
        return int(match.group(1)), int(match.group(2))


def _config_option(f: Any) -> Any:
    return click.option(
        "--config",
        "config_path",
        envvar=cfg.ENV,
        type=click.Path(dir_okay=False),
        help="Config file the nightly run reads (default: config.toml in the config folder).",
    )(f)


def _config_path(ctx: click.Context, given: str | None) -> str:
    # `docbackup --config X schedule install` names the file on the group instead.
    parent = ctx.find_root().params.get("config_path")
    chosen = given or (parent if isinstance(parent, str) else None) or cfg.default_path()
    return os.path.abspath(chosen)


_METHODS = click.Choice(["auto", "systemd", "cron", "schtasks"])


@click.group("schedule")
def schedule() -> None:
    """Run every backup of the config file each night, from this machine's scheduler."""


@schedule.command("install")
@_config_option
@click.option(
    "--time", "at", type=TimeOfDay(), default="02:00", show_default=True, help="Local time."
)
@click.option(
    "--random-delay",
    type=click.IntRange(0, 1439),
    default=0,
    show_default=True,
    metavar="MINUTES",
    help="Start up to this many minutes late, so machines do not all start at once.",
)
@click.option(
    "--method",
    type=_METHODS,
    default="auto",
    show_default=True,
    help="auto: a systemd user timer if a user manager runs, else cron (Windows: schtasks).",
)
@click.pass_context
def install_cmd(
    ctx: click.Context,
    config_path: str | None,
    at: tuple[int, int],
    random_delay: int,
    method: str,
) -> None:
    """Add the nightly run, or bring it up to date.

    Running it again with the same options changes nothing."""
    try:
        path = _config_path(ctx, config_path)
        if os.path.exists(path):
            cfg.load(path)  # a broken file would fail every night: say so now instead
        result = install(Job(*at, random_delay, job_command(path)), method)
    except DocbackupError as exc:
        fail(exc)
    entry = result.entry
    what = LABELS[entry.method]
    if result.action == "unchanged":
        click.echo(f"unchanged: the {what} already runs {_when(entry)}")
    else:
        click.echo(f"{result.action}: {what}, {_when(entry)}")
    click.echo(f"  command: {entry.command}")
    click.echo(f"  where:   {entry.location}")
    for note in result.notes:
        click.echo(f"  note: {note}")
    if not os.path.exists(path):
        click.echo(
            f"docbackup: warning: {path} does not exist yet; `docbackup init` writes it", err=True
        )


@schedule.command("remove")
@click.option(
    "--method",
    type=_METHODS,
    default="auto",
    show_default=True,
    help="auto: from every scheduler that has it.",
)
def remove_cmd(method: str) -> None:
    """Remove the nightly run that `install` added.

    That is the timer and its two unit files, the marked crontab line, or the Windows task."""
    try:
        removed = remove(method)
    except DocbackupError as exc:
        fail(exc)
    if not removed:
        click.echo("nothing to remove: no docbackup schedule is installed")
    for entry in removed:
        click.echo(f"removed: {LABELS[entry.method]} ({entry.location})")


@schedule.command("show")
@_config_option
@click.option(
    "--time",
    "at",
    type=TimeOfDay(),
    help="For the Windows command (default: the installed time, else 02:00).",
)
@json_option
@click.pass_context
def show_cmd(
    ctx: click.Context, config_path: str | None, at: tuple[int, int] | None, as_json: bool
) -> None:
    """Show the nightly run, when it next runs, and the Windows command."""
    try:
        shown = show(_config_path(ctx, config_path), at)
    except DocbackupError as exc:
        fail(exc, as_json)
    if as_json:
        render.emit_json(shown.summary())
        return
    if not shown.entries:
        click.echo("installed: nothing (`docbackup schedule install` adds the nightly run)")
    for entry in shown.entries:
        click.echo(f"installed: {LABELS[entry.method]}, {_when(entry)}")
        click.echo(f"  command:  {entry.command}")
        click.echo(f"  where:    {entry.location}")
        if entry.next_run:
            click.echo(f"  next run: {entry.next_run}")
    for note in shown.notes:
        click.echo(f"  note: {note}")
    click.echo("")
    if on_windows():
        click.echo("the same task by hand, in a Command Prompt:")
    else:
        click.echo("on Windows, run in a Command Prompt (cmd.exe):")
    click.echo(f"  {shown.windows_command}")
    if not on_windows():
        click.echo(f"  with {WINDOWS_EXE_PLACEHOLDER} replaced by what `where docbackup` prints")


def _when(entry: Entry) -> str:
    if entry.at is None:
        return "on a schedule edited by hand"
    delay = entry.random_delay_minutes
    return f"daily at {entry.at}" + (f" (random delay up to {delay} min)" if delay else "")
