"""Restores the web app started: each runs the engine's restore on a thread of its own, and its
progress is what the engine reported, read by the page every second.

A restore refused before it starts (something in the way, a target that cannot be a folder)
wrote nothing, as on the command line, and the page says why. Two restores into the same
folder at once are refused: each would judge the folder before the other wrote in it.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from docbackup.engine.results import RestoreResult
from docbackup.errors import ConfigError, DocbackupError

State = Literal["starting", "restoring", "done", "refused", "failed"]

# What runs one restore: (target folder, progress) -> the engine's result.
Runner = Callable[[str, "Progress"], RestoreResult]


@dataclass
class Progress:
    """One restore as the page shows it; the engine's reporter updates it under `lock`."""

    id: str
    set_name: str
    date: str
    under: str  # "" for the whole night
    target: str
    state: State = "starting"
    documents: int = 0
    total_bytes: int = 0
    done: int = 0
    done_bytes: int = 0
    current: str = ""
    message: str = ""
    result: RestoreResult | None = None
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # The engine's Reporter.
    def start(self, phase: str, documents: int, total_bytes: int) -> None:
        with self.lock:
            self.state, self.documents, self.total_bytes = "restoring", documents, total_bytes

    def advance(self, path: str, nbytes: int) -> None:
        with self.lock:
            self.done += 1
            self.done_bytes += nbytes
            self.current = path

    def finish(self) -> None:
        pass

    @property
    def running(self) -> bool:
        return self.state in ("starting", "restoring")

    @property
    def seconds(self) -> float:
        return (self.ended or time.monotonic()) - self.started


class Jobs:
    """Every restore of this run of the app, by an id that cannot be guessed."""

    def __init__(self) -> None:
        self._jobs: dict[str, Progress] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> Progress | None:
        with self._lock:
            return self._jobs.get(job_id)

    def start(self, set_name: str, date: str, under: str, target: str, run: Runner) -> Progress:
        """ConfigError if a restore of this run is still writing into `target`."""
        where = os.path.realpath(target)
        with self._lock:
            for other in self._jobs.values():
                if other.running and os.path.realpath(other.target) == where:
                    raise ConfigError(
                        f"a restore into {target} is still running: wait for it to finish, "
                        "or pick another folder"
                    )
            job = Progress(secrets.token_urlsafe(12), set_name, date, under, target)
            self._jobs[job.id] = job
        worker = threading.Thread(target=_run, args=(job, run), name=f"restore-{job.id}")
        worker.daemon = True  # Ctrl-C ends the app; a file being written keeps its temporary name
        worker.start()
        return job


def _run(job: Progress, run: Runner) -> None:
    try:
        result = run(job.target, job)
    except ConfigError as exc:
        outcome: tuple[State, str, RestoreResult | None] = (
            "refused",
            f"Nothing was written: {exc}",
            None,
        )
    except DocbackupError as exc:
        outcome = ("failed", str(exc), None)
    except Exception as exc:  # the page must say it stopped, whatever stopped it
        logging.getLogger(__name__).exception("restore %s stopped", job.id)
        outcome = ("failed", f"the restore stopped: {type(exc).__name__}: {exc}", None)
    else:
        outcome = ("done", "", result)
    with job.lock:
        job.state, job.message, job.result = outcome
        job.ended = time.monotonic()
