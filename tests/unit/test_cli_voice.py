"""One voice on the command line: every option explained, every environment variable named,
usage that shows what may be left out, and one name per idea across commands."""

from __future__ import annotations

import json
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from docbackup.cli.main import cli

# As click finds them (the top level loads each command's module on first use).
_CTX = click.Context(cli)


def commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, click.Group):
        for name in sorted(command.list_commands(_CTX)):
            sub = command.get_command(_CTX, name)
            assert sub is not None, name
            yield from commands(sub, (*path, name))


def lookup(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(_CTX, name)
        assert found is not None, name
        command = found
    return command


ALL = list(commands(cli))


def help_of(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="docbackup", terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "docbackup")
def test_every_option_has_help_and_names_its_environment_variable(path: tuple[str, ...]) -> None:
    text = help_of(path)
    for param in lookup(path).params:
        if not isinstance(param, click.Option) or param.hidden:
            continue
        assert param.help, f"docbackup {' '.join(path)} {param.opts[0]} has no help"
        for name in [param.envvar] if isinstance(param.envvar, str) else param.envvar or []:
            assert name in text, f"{' '.join(path)} {param.opts[0]}: {name} not in its help"


def test_the_environment_variables_that_set_options_all_appear_in_some_help() -> None:
    text = "".join(help_of(path) for path in ALL)
    for name in (
        "DOCBACKUP_BUCKET",
        "DOCBACKUP_SET",
        "DOCBACKUP_WORKERS",
        "DOCBACKUP_RETENTION_DAYS",
        "DOCBACKUP_KMS_KEY_ID",
        "DOCBACKUP_SSE",
        "DOCBACKUP_TIMEZONE",
        "DOCBACKUP_ALLOW_UNVERSIONED",
        "DOCBACKUP_CONFIG",
    ):
        assert name in text


def test_usage_shows_that_diff_takes_a_second_date_or_not() -> None:
    assert "Usage: docbackup diff [OPTIONS] DATE1 [DATE2]" in help_of(("diff",))


def test_cost_takes_the_retention_option_by_backups_name_and_still_by_its_old_one() -> None:
    runner = CliRunner()
    by_name = runner.invoke(cli, ["cost", "--retention-days", "90", "--json"])
    by_old = runner.invoke(cli, ["cost", "--retention", "90", "--json"])
    default = runner.invoke(cli, ["cost", "--json"])
    assert by_name.exit_code == by_old.exit_code == default.exit_code == 0
    assert json.loads(by_name.output) == json.loads(by_old.output) != json.loads(default.output)
    assert "--retention-days" in help_of(("cost",)) and "--retention " not in help_of(("cost",))


def test_the_size_error_names_every_unit_cost_accepts() -> None:
    result = CliRunner().invoke(cli, ["cost", "--average-size", "lots"])
    assert result.exit_code == 2
    for unit in ("KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"):
        assert unit in result.output
    for size in ("2GB", "1TiB", "3 gib"):
        assert CliRunner().invoke(cli, ["cost", "--average-size", size]).exit_code == 0
