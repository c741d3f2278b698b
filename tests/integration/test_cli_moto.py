"""The CLI as a user runs it, in-process, against moto's server on 127.0.0.1 with SSE-KMS."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from docbackup.cli.main import cli
from docbackup.sandbox.server import LocalAWS
from tests.days import tonight, yesterday
from tests.treebuilder import awkward_tree, sly_edit, tree_hashes, write

BIG = 9 * 1024 * 1024  # over boto3's 8 MiB multipart threshold


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def as_json(result: Result) -> dict[str, object]:
    doc = json.loads(result.stdout)
    assert isinstance(doc, dict)
    return doc


def test_backup_list_restore_verify(tmp_path: Path, moto_bucket: tuple[str, str]) -> None:
    bucket, key = moto_bucket
    src = tmp_path / "office"
    night1 = awkward_tree(str(src), big_size=BIG)
    common = ("--bucket", bucket)

    first = run("backup", str(src), *common, "--kms-key-id", key, "--date", yesterday(), "--json")
    assert first.exit_code == 0, first.output
    summary = as_json(first)
    for field in (
        "status",
        "date",
        "set",
        "documents",
        "new",
        "changed",
        "unchanged",
        "refreshed",
        "failed",
        "bytes_uploaded",
        "duration_s",
        "manifest_key",
    ):
        assert field in summary
    assert summary["status"] == "complete"
    assert summary["documents"] == summary["new"] == len(night1)
    assert summary["manifest_key"] == f"backups/{yesterday()}/documents.manifest.json"

    sly_edit(str(src / "invoices/2025/INV-0002.pdf"))
    write(str(src), "new.txt", b"new")
    night2 = tree_hashes(str(src))
    second = as_json(run("backup", str(src), *common, "--kms-key-id", key, "--json"))
    assert (second["status"], second["new"], second["changed"]) == ("complete", 1, 1)
    assert second["date"] == tonight()
    # Running the same night again costs a handful of requests, not one per document: the
    # versioning check, dates, a look at tonight's manifest and its read, tonight's listing,
    # the listings of the versions it points at (tonight's and yesterday's), the lease (a
    # refused create, a look at it, the take-over, the renewal just before the manifest) and
    # the manifest. A new night with no change costs 7.
    third = as_json(run("backup", str(src), *common, "--kms-key-id", key, "--json"))
    assert third["unchanged"] == len(night2) and third["bytes_uploaded"] == 0
    assert isinstance(third["requests"], int) and third["requests"] <= 13

    listing = as_json(run("list", *common, "--json"))
    snapshots = listing["snapshots"]
    assert isinstance(snapshots, list)
    assert [(s["date"], s["status"], s["restorable"]) for s in snapshots] == [
        (tonight(), "complete", True),
        (yesterday(), "complete", True),
    ]

    for date, expected in ((yesterday(), night1), ("latest", night2)):
        target = tmp_path / f"restore-{date}"
        restored = run("restore", date, "--to", str(target), *common, "--json")
        assert restored.exit_code == 0, restored.output
        assert as_json(restored)["restored"] == len(expected)
        assert tree_hashes(str(target)) == expected

    deep = run("verify", "--all", "--deep", *common, "--json")
    assert deep.exit_code == 0, deep.output
    assert as_json(deep)["mismatches"] == 0


def test_restore_refuses_to_overwrite_then_does_with_overwrite(
    tmp_path: Path, moto_bucket: tuple[str, str]
) -> None:
    bucket, _ = moto_bucket
    src = tmp_path / "office"
    write(str(src), "a.txt", b"from the backup")
    assert run("backup", str(src), "--bucket", bucket).exit_code == 0
    target = tmp_path / "r"
    write(str(target), "a.txt", b"local work in progress")

    refused = run("restore", "latest", "--to", str(target), "--bucket", bucket)
    assert refused.exit_code == 2
    assert "--overwrite" in refused.stderr
    assert (target / "a.txt").read_bytes() == b"local work in progress"

    done = run("restore", "latest", "--to", str(target), "--bucket", bucket, "--overwrite")
    assert done.exit_code == 0
    assert (target / "a.txt").read_bytes() == b"from the backup"


def test_s3_source_is_copied_server_side(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    bucket, key = moto_bucket
    s3 = aws_env.client("s3")
    s3.create_bucket(Bucket=f"{bucket}-source")
    docs = {f"scans/{i}.pdf": os.urandom(1000 + i) for i in range(12)}
    docs["scans/sub/ünïcode name.pdf"] = b"x"
    for k, body in docs.items():
        s3.put_object(Bucket=f"{bucket}-source", Key=f"office/{k}", Body=body)
    s3.put_object(Bucket=f"{bucket}-source", Key="elsewhere/not-this.pdf", Body=b"no")
    backup_source = (
        "backup",
        f"s3://{bucket}-source/office",
        "--bucket",
        bucket,
        "--kms-key-id",
        key,
        "--json",
    )

    first = as_json(run(*backup_source))
    assert (first["status"], first["new"]) == ("complete", len(docs))
    assert first["bytes_uploaded"] == 0  # copied inside S3, not through this machine

    s3.put_object(Bucket=f"{bucket}-source", Key="office/scans/3.pdf", Body=b"changed")
    again = as_json(run(*backup_source))
    assert (again["changed"], again["unchanged"]) == (1, len(docs) - 1)

    target = tmp_path / "r"
    assert run("restore", "latest", "--to", str(target), "--bucket", bucket).exit_code == 0
    docs["scans/3.pdf"] = b"changed"
    assert {p: (target / p).read_bytes() for p in docs} == docs
    assert as_json(run("verify", "--deep", "--bucket", bucket, "--json"))["status"] == "ok"


def test_verify_reports_a_tampered_copy(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    bucket, _ = moto_bucket
    src = tmp_path / "office"
    write(str(src), "a.txt", b"original")
    write(str(src), "b.txt", b"other")
    assert run("backup", str(src), "--bucket", bucket).exit_code == 0
    # Rewrite the manifest so it promises bytes the bucket does not hold.
    s3 = aws_env.client("s3")
    mkey = f"backups/{tonight()}/documents.manifest.json"
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=mkey)["Body"].read())
    manifest["entries"][0]["sha256"] = "0" * 64
    s3.put_object(Bucket=bucket, Key=mkey, Body=json.dumps(manifest).encode())

    shallow = run("verify", "--bucket", bucket, "--json")
    deep = run("verify", "--deep", "--bucket", bucket, "--json")

    for result in (shallow, deep):
        assert result.exit_code == 1
        doc = as_json(result)
        assert (doc["status"], doc["mismatches"], doc["checked"]) == ("mismatch", 1, 2)
    restored = run("restore", "latest", "--to", str(tmp_path / "r"), "--bucket", bucket, "--json")
    assert restored.exit_code == 1
    assert as_json(restored)["failed"] == 1
    assert not (tmp_path / "r" / "a.txt").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["backup", "{src}"], "no bucket given"),
        (["backup", "{tmp}/missing", "--bucket", "{bucket}"], "does not exist"),
        (["backup", "{src}", "--bucket", "no-such-bucket-here"], "does not exist"),
        (["backup", "{src}", "--bucket", "{bucket}", "--date", "2025-13-01"], "invalid date"),
        (["backup", "{src}", "--bucket", "{bucket}", "--date", "2999-01-01"], "future"),
        (["backup", "{src}", "--bucket", "{bucket}", "--kms-key-id", "nope"], "KMS key"),
        (["backup", "{src}", "--bucket", "{bucket}", "--set", "Bad/Set"], "invalid set name"),
        (["restore", "2020-01-01", "--to", "{tmp}/r", "--bucket", "{bucket}"], "no snapshot"),
        (["verify", "latest", "--all", "--bucket", "{bucket}"], "not both"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS, args: list[str], message: str
) -> None:
    bucket, _ = moto_bucket
    src = tmp_path / "office"
    write(str(src), "a.txt", b"a")
    argv = [a.format(src=src, tmp=tmp_path, bucket=bucket) for a in args]

    result = run(*argv)

    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert aws_env.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_a_missing_aws_profile_is_a_configuration_error(
    tmp_path: Path, moto_bucket: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket, _ = moto_bucket
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    write(str(tmp_path / "office"), "a.txt", b"a")

    result = run("backup", str(tmp_path / "office"), "--bucket", bucket)

    assert result.exit_code == 2
    assert "no-such-profile" in result.stderr


# A newline is legal in an S3 key, but moto's server answers 404 to a path holding %0A;
# tests/functional/test_roundtrip.py covers that name on the in-memory store.
AWKWARD_NAMES = [
    "back\\slash.txt",
    "-leading-dash.pdf",
    "100% sure.docx",
    "a+b=c.xlsx",
    "trailing space .txt",
    "question?mark&amp.pdf",
    "tab\tand ~tilde.txt",
    "emoji 🧾 receipt.pdf",
]


def test_awkward_names_survive_the_round_trip_through_real_http(
    tmp_path: Path, moto_bucket: tuple[str, str]
) -> None:
    bucket, key = moto_bucket
    src = tmp_path / "office"
    for i, name in enumerate(AWKWARD_NAMES):
        write(str(src), f"odd/{name}", f"document {i}".encode())

    first = as_json(run("backup", str(src), "--bucket", bucket, "--kms-key-id", key, "--json"))
    again = as_json(run("backup", str(src), "--bucket", bucket, "--kms-key-id", key, "--json"))
    restored = run("restore", "latest", "--to", str(tmp_path / "r"), "--bucket", bucket)

    assert (first["status"], first["new"]) == ("complete", len(AWKWARD_NAMES))
    assert again["unchanged"] == len(AWKWARD_NAMES)  # the listing decoded every key back
    # and each copy is under its own key: the versions listing found every one of them
    assert (again["healed"], again["lost"]) == (0, [])
    assert restored.exit_code == 0, restored.output
    assert tree_hashes(str(tmp_path / "r")) == tree_hashes(str(src))


def test_an_empty_source_is_refused_unless_expected(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    bucket, _ = moto_bucket
    (tmp_path / "share").mkdir()

    refused = run("backup", str(tmp_path / "share"), "--bucket", bucket)
    accepted = run("backup", str(tmp_path / "share"), "--bucket", bucket, "--allow-empty")

    assert refused.exit_code == 2 and "holds no documents" in refused.stderr
    assert accepted.exit_code == 0
