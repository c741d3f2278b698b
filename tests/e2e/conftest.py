"""A docbackup stack deployed to moto on 127.0.0.1, for the end-to-end tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from docbackup.sandbox.moto_gaps import MotoGaps
from docbackup.sandbox.rules import actors
from docbackup.sandbox.rules.actors import StackActors
from docbackup.sandbox.server import LocalAWS
from docbackup.stack.deploy import DeployRequest, deploy


@pytest.fixture
def stack(
    aws_env: LocalAWS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    monkeypatch.chdir(tmp_path)  # deploy writes cfn-outputs/ here
    s3 = aws_env.client("s3")
    name = f"e2e-{os.getpid()}-{len(s3.list_buckets()['Buckets'])}"
    s3.create_bucket(Bucket=f"{name}-office")
    for i in range(25):
        s3.put_object(Bucket=f"{name}-office", Key=f"docs/{i:02d}.pdf", Body=os.urandom(2000 + i))
    result = deploy(
        DeployRequest(
            name, environment="dev", source_bucket=f"{name}-office", source_prefix="docs"
        ),
        hooks=MotoGaps(),
    )
    yield {"name": name, "outputs": result.outputs, "aws": aws_env, "action": result.action}


@pytest.fixture
def crew(stack: dict[str, Any]) -> StackActors:
    """The stack's actors, each with exactly its policies; the request log starts here."""
    made = actors.stack_actors(stack["aws"], stack["name"], stack["outputs"])
    stack["aws"].requests.reset()
    return made
