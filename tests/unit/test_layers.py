"""The import contracts list modules by hand: a new module of docbackup's must be named in the
contract that keeps the command line on top, or it would be held to nothing."""

from __future__ import annotations

import tomllib
from pathlib import Path

import docbackup

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
# The command line itself, and `python -m docbackup`, which only calls it.
ABOVE = {"cli", "__main__"}


def _contract(name: str) -> set[str]:
    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    (found,) = [c for c in contracts if c["name"] == name]
    return set(found["source_modules"])


def test_every_module_below_the_command_line_is_held_by_the_contract() -> None:
    root = Path(docbackup.__file__).parent
    modules = {
        p.stem if p.is_file() else p.name
        for p in root.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    named = _contract("Nothing below the command line imports it")
    assert {f"docbackup.{m}" for m in modules - ABOVE} == named
