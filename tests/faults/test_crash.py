"""Crash consistency (G6): SIGKILL mid-run, rerun the night, nothing lost or sent twice.

A few trials here; bench/crash_trials.py runs twenty or more.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from docbackup.sandbox.server import LocalAWS
from tests.faults.crash import WORKERS, make_source, trial

_n = itertools.count()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_killed_backup_resumes_without_loss_or_repeats(
    tmp_path: Path, moto: LocalAWS, seed: int
) -> None:
    source = str(tmp_path / "office")
    make_source(source, 250, seed)
    bucket = f"crash-{seed}-{next(_n)}"
    key = moto.create_backup_bucket(bucket)

    # Killed once a seeded number of copies is stored: by count, not by time, so a faster
    # server cannot let the run finish first.
    at = random.Random(seed).randint(50, 150)
    result = trial(moto, source, bucket, key, 0.0, min_stored=at)

    # Killed mid-run, with more stored than could have been in flight: resume had real work.
    assert WORKERS < result.stored_before_kill < 250
    assert result.resumed_status == "complete"
    assert result.resumed_documents == 250
    assert result.identical
    # Copies the killed run stored are adopted; only uploads in flight at the kill can repeat.
    assert result.uploaded_twice <= WORKERS
