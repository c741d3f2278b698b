"""The one table from results and errors to exit codes (0 done, 1 failed or partial, 2 usage)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from docbackup.errors import ConfigError

if TYPE_CHECKING:
    from docbackup.agent import AgentRun
    from docbackup.engine.results import BackupResult

OK = 0
FAILED = 1
USAGE = 2

_STATUS = {
    "complete": OK,
    "ok": OK,
    "partial": FAILED,
    "failed": FAILED,
    "mismatch": FAILED,
}


def for_status(status: str) -> int:
    return _STATUS[status]


def for_error(exc: BaseException) -> int:
    return USAGE if isinstance(exc, ConfigError) else FAILED


def for_backup(r: BackupResult) -> int:
    """A night's exit code: a complete night that found a damaged copy it could not replace
    is a failed check, as `verify` finding one is."""
    return FAILED if r.damaged else for_status(r.status)


def for_agent(run: AgentRun) -> int:
    """The office machine's night: 2 only when every set was refused as bad input (see
    AgentRun.every_set_refused), otherwise the worst of its sets."""
    if run.every_set_refused:
        return USAGE
    codes = []
    for outcome in run.outcomes:
        result = getattr(outcome, "result", None)  # a set that ran has one; a refused one not
        codes.append(for_status(outcome.status) if result is None else for_backup(result))
    return max(codes, default=OK)
