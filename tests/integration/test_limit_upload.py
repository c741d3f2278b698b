"""--limit-upload holds a backup to the rate asked for, through the CRT fast path and botocore."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from docbackup.cli.main import cli
from docbackup.storage import crt
from tests.treebuilder import tree_hashes, write

RATE = 500_000  # bytes a second
DOCUMENTS = 8
SIZE = 250_000  # each: under the fast path's 1 MiB, so the CRT may carry every one


@pytest.mark.parametrize("fast", ["1", "0"], ids=["crt", "botocore"])
def test_a_capped_backup_sends_no_faster_than_the_cap(
    tmp_path: Path,
    moto_bucket: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    fast: str,
) -> None:
    monkeypatch.setenv("DOCBACKUP_CRT", fast)
    carried = []
    put = crt.CrtClient.put

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        answer = put(self, *args, **kwargs)
        carried.append(answer is not None)
        return answer

    monkeypatch.setattr(crt.CrtClient, "put", counted)
    bucket, key = moto_bucket
    src = tmp_path / "office"
    for i in range(DOCUMENTS):
        write(str(src), f"scans/scan-{i}.pdf", os.urandom(SIZE))
    args = ["backup", str(src), "--bucket", bucket, "--kms-key-id", key, "--json"]

    started = time.monotonic()
    ran = CliRunner().invoke(cli, [*args, "--limit-upload", "500KB/s"])
    took = time.monotonic() - started

    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["status"] == "complete"
    # 2 MB at 500 KB/s is 4 s, less the one burst a throttle allows; uncapped, under 1 s here.
    assert took >= DOCUMENTS * SIZE / RATE - 0.25 - 0.1, took
    assert carried == ([True] * DOCUMENTS if fast == "1" else []), carried
    restored = tmp_path / "back"
    again = CliRunner().invoke(
        cli, ["restore", "latest", "--to", str(restored), "--bucket", bucket]
    )
    assert again.exit_code == 0, again.output
    assert tree_hashes(str(restored)) == tree_hashes(str(src))


def test_an_unreadable_limit_is_one_line_and_exit_2(
    tmp_path: Path, moto_bucket: tuple[str, str]
) -> None:
    bucket, key = moto_bucket
    src = tmp_path / "office"
    write(str(src), "a.txt", b"a")
    ran = CliRunner().invoke(
        cli, ["backup", str(src), "--bucket", bucket, "--kms-key-id", key, "--limit-upload", "fast"]
    )
    assert ran.exit_code == 2
    assert ran.stderr.startswith("docbackup: error: unreadable upload limit 'fast'")
    assert ran.stderr.count("\n") == 1
