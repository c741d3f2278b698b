from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from docbackup.sandbox.server import LocalAWS
from docbackup.storage import Encryption, MemoryBackend, MemoryStore

KMS_KEY = "test-key"
_names = itertools.count(1)


@pytest.fixture
def backend() -> MemoryBackend:
    backend = MemoryBackend(known_kms_keys=(KMS_KEY,))
    backend.create_bucket("backups", default_encryption=Encryption("aws:kms", KMS_KEY))
    return backend


@pytest.fixture
def store(backend: MemoryBackend) -> MemoryStore:
    return backend.store("backups")


@pytest.fixture
def killed_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run 'killed' inside this process leaves the process alive, and with it the night's
    lease; a real SIGKILL ends the process (tests/faults/test_crash.py does that)."""
    monkeypatch.setattr("docbackup.engine.lease._alive", lambda pid: False)


@pytest.fixture(scope="session")
def moto() -> Iterator[LocalAWS]:
    """One moto server on 127.0.0.1 for the session; each test gets its own bucket."""
    aws = LocalAWS().start()
    yield aws
    aws.stop()


@pytest.fixture
def aws_env(moto: LocalAWS, monkeypatch: pytest.MonkeyPatch) -> LocalAWS:
    """Point this process's AWS chain at the moto server, as the CLI would see it."""
    for key, value in moto.environment.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("DOCBACKUP_BUCKET", raising=False)
    return moto


@pytest.fixture
def moto_bucket(aws_env: LocalAWS) -> tuple[str, str]:
    """A fresh versioned SSE-KMS bucket on moto: (name, kms key id)."""
    name = f"backups-{next(_names)}"
    return name, aws_env.create_backup_bucket(name)
