"""A command imports what it uses: a night's start-up is most of a no-change night."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from docbackup.cli.main import _COMMANDS

# Each loaded by some command, and by none of those below.
NOT_FOR_A_NIGHT = (
    "docbackup.web",  # the ui
    "docbackup.cli.report_html",  # the report
    "docbackup.cost.model",  # the estimate
    "docbackup.schedule",  # installing the schedule
    "docbackup.stack",  # deploy and status
    "jinja2",
    "starlette",
    "boto3",  # bare botocore serves every request
    "s3transfer",  # only for a large file
)

_PROBE = """
import json, sys
from click.testing import CliRunner
from docbackup.cli.main import cli
CliRunner().invoke(cli, sys.argv[1:], catch_exceptions=False)
print(json.dumps(sorted(sys.modules)))
"""


def modules_after(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("command", ["backup", "restore", "verify", "list", "run"])
def test_a_nightly_or_restoring_command_loads_no_other_commands_code(command: str) -> None:
    loaded = modules_after(command, "--help")

    assert f"docbackup.cli.{_COMMANDS[command][0]}" in loaded  # its own module, and
    unwanted = sorted(m for m in loaded if m.startswith(NOT_FOR_A_NIGHT))
    assert unwanted == [], unwanted
    # Nor the commands beside it.
    assert "docbackup.cli.browse" not in loaded and "docbackup.cli.ui" not in loaded
