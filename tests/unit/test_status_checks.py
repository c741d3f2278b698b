"""`status` asks the store whether the bucket keeps versions, the question a backup asks
before it writes, so the two never disagree."""

from __future__ import annotations

from typing import Any

import pytest

from docbackup.stack.status import _checks
from docbackup.storage import MemoryBackend
from docbackup.storage.base import Versioning

OUTPUTS = {
    "BackupBucketName": "backups",
    "KMSKeyArn": "arn:aws:kms:eu-west-2:111122223333:key/k",
    "BackupLambdaArn": "f",
    "EventBridgeRuleName": "s",
}


class Unreadable:
    """A session whose every other setting cannot be read: only the store answers."""

    def client(self, service: str) -> Any:
        return self

    def __getattr__(self, name: str) -> Any:
        def refuse(**_: Any) -> None:
            raise RuntimeError(f"{name} not reachable here")

        return refuse


@pytest.mark.parametrize(("state", "ok"), [("Enabled", True), ("Suspended", False), ("Off", False)])
def test_the_versioning_check_is_the_stores_answer(state: Versioning, ok: bool) -> None:
    backend = MemoryBackend()
    backend.create_bucket("backups", versioning=state)
    session: Any = Unreadable()
    checks = {c.item: c for c in _checks(session, backend.store("backups"), OUTPUTS)}
    assert (checks["versioning"].ok, checks["versioning"].detail) == (ok, state)
    assert not checks["lifecycle"].ok  # the others asked the session, which could not answer
