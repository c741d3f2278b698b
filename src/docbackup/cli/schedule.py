"""`docbackup schedule`: run the configured backups every night from the machine's own scheduler.

One entry per machine: a systemd user timer where a user manager answers, else one line in the
user's crontab, and on Windows a Task Scheduler task. `install` compares what is there with what
it would write, so running it again changes nothing; `remove` takes away only what `install`
wrote; `show` also prints the Windows command, so one page of instructions serves every office
machine.
"""

from __future__ import annotations

import os
import re
from typing import Any

import click

from docbackup.cli import config as cfg
from docbackup.cli import render
from docbackup.cli.options import fail, json_option
from docbackup.errors import DocbackupError
from docbackup.schedule import base, install, remove, show
from docbackup.schedule.base import (
    LABELS,
    WINDOWS_EXE_PLACEHOLDER,
    Entry,
    Job,
    job_command,
)

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
    if base.on_windows():
        click.echo("the same task by hand, in a Command Prompt:")
    else:
        click.echo("on Windows, run in a Command Prompt (cmd.exe):")
    click.echo(f"  {shown.windows_command}")
    if not base.on_windows():
        click.echo(f"  with {WINDOWS_EXE_PLACEHOLDER} replaced by what `where docbackup` prints")


def _when(entry: Entry) -> str:
    if entry.at is None:
        return "on a schedule edited by hand"
    delay = entry.random_delay_minutes
    return f"daily at {entry.at}" + (f" (random delay up to {delay} min)" if delay else "")
