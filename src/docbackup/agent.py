"""The office machine's night: every set it backs up, one after another, each told to the
stack's topic.

The command line (`docbackup run`) reads the config file and renders what happens here; this
module decides what a night of several sets is. One set's bad folder does not stop the others,
and it is a notice, not only a log line: an unmounted share is the usual cause, and a person
must hear of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol

from docbackup import compose, notices, tuning
from docbackup.engine import BackupOptions, BackupResult, backup
from docbackup.engine.options import DEFAULT_RETENTION_DAYS
from docbackup.engine.progress import Reporter
from docbackup.errors import ConfigError, DocbackupError
from docbackup.storage.base import Encryption
from docbackup.storage.s3 import S3Store


class SetLike(Protocol):
    """One set as the config file names it (the command line's SetConfig is one)."""

    @property
    def name(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def exclude(self) -> tuple[str, ...]: ...
    @property
    def default_excludes(self) -> bool: ...
    @property
    def allow_new_source(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Office:
    """What every set of the machine's night shares: the stack's key and rules, and the run's."""

    kms_key_id: str | None  # None: the bucket's default key
    timezone: str | None = None
    retention_days: int | None = None
    workers: int = tuning.WORKERS
    allow_unversioned: bool = False
    # Every set may back up a folder other than its last night's (the command's flag).
    allow_new_source: bool = False
    topic_arn: str | None = None
    notify_on_success: bool = False
    region: str | None = None
    # Bytes of stored copies each set reads back a night (config stack.read_back); 0: none.
    read_back_bytes: int = 0


@dataclass(frozen=True, slots=True)
class SetBackedUp:
    """The set's night ran: complete, partial or failed, as its result says."""

    name: str
    result: BackupResult
    notice_problem: str | None = None

    @property
    def status(self) -> str:
        return self.result.status

    def summary(self) -> dict[str, object]:
        body = self.result.summary()
        if self.notice_problem:
            body["notice"] = self.notice_problem
        return body


@dataclass(frozen=True, slots=True)
class SetFailed:
    """The set's night ended in an error before it had a result: its folder, its settings or
    the bucket refused it, or the store failed it part-way."""

    name: str
    error: DocbackupError
    notice_problem: str | None = None

    @property
    def status(self) -> str:
        return "failed"

    def summary(self) -> dict[str, object]:
        return {"set": self.name, "status": "failed", "error": str(self.error)}


Outcome = SetBackedUp | SetFailed


@dataclass(slots=True)
class AgentRun:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def every_set_refused(self) -> bool:
        """Every set was refused as bad input: then no document was stored (a night refused
        for its clock may have left its lease)."""
        return bool(self.outcomes) and all(
            isinstance(o, SetFailed) and isinstance(o.error, ConfigError) for o in self.outcomes
        )


def run_sets(
    store: S3Store,
    sets: Iterable[SetLike],
    office: Office,
    *,
    reporter: Callable[[], Reporter | None] = lambda: None,
    on_outcome: Callable[[Outcome], object] = lambda _o: None,
    on_notice_problem: Callable[[str, str], object] = lambda _name, _problem: None,
) -> AgentRun:
    """Back up each set in turn. `on_outcome` hears of each as it ends, `on_notice_problem`
    of a notice that could not go (set name, why)."""
    run = AgentRun()
    for s in sets:
        outcome = _one(store, s, office, reporter())
        if isinstance(outcome, SetFailed):
            # Told before the notice goes: a signal while SNS is slow to answer must not lose
            # the set's error from what the interrupted run reports.
            on_outcome(outcome)
        problem = _notify(office, outcome)
        if problem:
            outcome = replace(outcome, notice_problem=problem)
            on_notice_problem(s.name, problem)
        if isinstance(outcome, SetBackedUp):
            on_outcome(outcome)  # after its notice: the summary names one that could not go
        run.outcomes.append(outcome)
    return run


def _one(store: S3Store, s: SetLike, office: Office, reporter: Reporter | None) -> Outcome:
    try:
        result = backup(
            store,
            compose.source_for(
                s.source, store, exclude=s.exclude, default_excludes=s.default_excludes
            ),
            BackupOptions(
                set_name=s.name,
                timezone=office.timezone or "UTC",
                encryption=Encryption("aws:kms", office.kms_key_id),
                retention_days=office.retention_days or DEFAULT_RETENTION_DAYS,
                workers=office.workers,
                allow_unversioned=office.allow_unversioned,
                allow_new_source=office.allow_new_source or s.allow_new_source,
                check_clock=True,
                read_back_bytes=office.read_back_bytes,
            ),
            reporter=reporter,
        )
    except DocbackupError as exc:
        return SetFailed(s.name, exc)
    return SetBackedUp(s.name, result)


def _notify(office: Office, outcome: Outcome) -> str | None:
    """The outcome's notice, if one is due; why it did not go, or None."""
    if isinstance(outcome, SetFailed):
        return _publish(
            office,
            notices.failed_subject(outcome.name),
            notices.failed_message(outcome.name, outcome.error),
        )
    if notices.due(outcome.result, on_success=office.notify_on_success):
        return _publish(office, notices.subject(outcome.result), notices.message(outcome.result))
    return None


def _publish(office: Office, subject: str, text: str) -> str | None:
    """Why the notice did not go, or None: the set's own outcome stands either way."""
    if not office.topic_arn:
        return None
    try:
        compose.publish(office.topic_arn, subject, text, region=office.region)
    except Exception as exc:  # the backup is over either way; say the notice did not go
        return f"could not publish to {office.topic_arn}: {exc}"
    return None
