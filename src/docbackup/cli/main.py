"""`docbackup`: a thin click group; each command parses, calls the engine and renders."""

from __future__ import annotations

import importlib
import os
import sys

import click

from docbackup import __version__
from docbackup.cli import config as cfg
from docbackup.cli import interrupt
from docbackup.cli.options import State, fail
from docbackup.errors import DocbackupError

# Commands that never read the config file: a broken file must not stand between the user and
# the cost estimate, the demo, or removing the schedule that runs it. (`schedule install`
# checks the file itself.)
_WITHOUT_CONFIG = frozenset({"cost", "demo", "schedule"})


# The commands, each module one thing a person does (`--help` lists them A to Z): by name,
# the module and the function. A command's module is imported only when that command runs (or
# help lists them all): a night imports neither the report's, the cost model's nor the web
# app's code, which was a tenth of its start-up.
_COMMANDS = {
    "backup": ("backing_up", "backup_cmd"),  # backing up
    "list": ("snapshots", "list_cmd"),  # the snapshots
    "restore": ("snapshots", "restore_cmd"),
    "verify": ("snapshots", "verify_cmd"),
    "deploy": ("stack_commands", "deploy_cmd"),  # the stack
    "status": ("stack_commands", "status_cmd"),
    "demo": ("stack_commands", "demo_cmd"),
    "init": ("agent", "init_cmd"),  # the office machine
    "run": ("agent", "run_cmd"),
    "ls": ("browse", "ls_cmd"),  # browsing a night
    "find": ("browse", "find_cmd"),
    "diff": ("browse", "diff_cmd"),
    "cat": ("browse", "cat_cmd"),
    "report": ("report", "report_cmd"),
    "cost": ("costs", "cost_cmd"),
    "schedule": ("schedule", "schedule"),
    "set": ("sets", "set_group"),
    "ui": ("ui", "ui_cmd"),  # the local web app
}


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            module, name = _COMMANDS[cmd_name]
            command = getattr(importlib.import_module(f"docbackup.cli.{module}"), name)
            _name_environment(command)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # click's parser consumes the list it is given
        rest = super().parse_args(ctx, args)
        # Remembered so that `docbackup CMD --help` works while the config file is broken.
        ctx.meta["docbackup.help"] = self._asks_help(ctx, given, rest)
        return rest

    def _asks_help(self, ctx: click.Context, args: list[str], rest: list[str]) -> bool:
        """Does the subcommand's own command line hold its help flag? Read with the
        subcommand's parser, so that `--set -h` (a value) is not taken for it."""
        if len(args) <= len(rest):
            return False
        name = args[len(args) - len(rest) - 1]
        command = self.get_command(ctx, name)
        if command is None:
            return False
        probe = click.Context(command, parent=ctx, info_name=name, resilient_parsing=True)
        flag = command.get_help_option(probe)
        try:
            values, _, _ = command.make_parser(probe).parse_args(list(rest))
        except click.UsageError:
            return False
        return flag is not None and values.get(flag.name) is True


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="docbackup")
@click.option(
    "--config",
    "config_path",
    envvar=cfg.ENV,
    type=click.Path(dir_okay=False),
    help="Config file (default: config.toml in the platform's config folder).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Nightly, verified, encrypted backups of documents into S3 as dated snapshots."""
    config = None
    # `init` writes the file, so a missing one is not an error there.
    if ctx.invoked_subcommand != "init" or (config_path and os.path.exists(config_path)):
        try:
            config = cfg.load(config_path)
        except DocbackupError as exc:
            if not (ctx.invoked_subcommand in _WITHOUT_CONFIG or ctx.meta["docbackup.help"]):
                fail(exc)
    ctx.obj = State(config_path, config)
    if config is not None:
        ctx.default_map = config.default_map()


def _name_environment(command: click.Command) -> None:
    """Every option an environment variable can set names it in its help, wherever the
    option was written: a user learns DOCBACKUP_SET from `--help`, not from the source."""
    for param in command.params:
        if isinstance(param, click.Option) and param.envvar:
            param.show_envvar = True
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _name_environment(sub)


_name_environment(cli)  # the group's own options; each command's when it is loaded


def main() -> None:
    interrupt.install()
    try:
        cli(prog_name="docbackup")
    except interrupt.Interrupted as exc:
        interrupt.report(exc)
        sys.exit(interrupt.exit_code(exc.signum))
