"""The CLI at its edges (issue 13, item 14): a signal in the middle of a command, a retention
too short to work, a clock far ahead on one night, and the office agent's newer options.

The signal cases run the real CLI in a subprocess (`python -m docbackup`, so PYTHONPATH picks
the code under test) against moto on 127.0.0.1 behind a proxy that holds one chosen request
until the signal has been sent: the command is always mid-work when it is stopped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from docbackup import compose, layout, nightly
from docbackup.cli import agent
from docbackup.cli import config as cfg
from docbackup.cli.main import cli
from docbackup.engine import BackupOptions, backup
from docbackup.errors import ConfigError, DocbackupError, StoreError
from docbackup.sandbox.server import LocalAWS
from docbackup.storage import Encryption
from tests.days import today, yesterday
from tests.faultproxy import FaultProxy
from tests.treebuilder import tree_hashes, write


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def tree(root: Path, version: str = "v1", n: int = 12) -> None:
    for i in range(n):
        write(str(root), f"docs/{i:02d}.txt", f"{version} {i} ".encode() * (i + 40))


def stored_keys(aws: LocalAWS, bucket: str) -> list[str]:
    s3 = aws.client("s3")
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


@pytest.fixture
def unversioned_bucket(aws_env: LocalAWS, moto_bucket: tuple[str, str]) -> tuple[str, str]:
    bucket, key = moto_bucket
    aws_env.client("s3").put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": "Suspended"}
    )
    return bucket, key


# -- 14a: SIGINT and SIGTERM ---------------------------------------------------------------


class GateProxy(FaultProxy):
    """Forwards everything, but holds the first request `hold(method, path)` picks until
    `release` is set; `reached` says it has arrived."""

    def __init__(self, upstream: str, hold: Callable[[str, str], bool], ca_file: str) -> None:
        super().__init__(upstream, rate=0.0, ca_file=ca_file)
        self.hold = hold
        self.reached = threading.Event()
        self.release = threading.Event()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        base: Any = super()._handler_class()
        proxy = self

        class Gate(base):  # type: ignore[misc, valid-type]
            def _any(self) -> None:
                if not proxy.reached.is_set() and proxy.hold(self.command, self.path):
                    proxy.reached.set()
                    proxy.release.wait(20)
                super()._any()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        return Gate


@pytest.fixture
def gate(aws_env: LocalAWS) -> Iterator[Callable[[Callable[[str, str], bool]], GateProxy]]:
    proxies: list[GateProxy] = []

    def make(hold: Callable[[str, str], bool]) -> GateProxy:
        proxy = GateProxy(aws_env.endpoint, hold, aws_env.ca_file).start()
        proxies.append(proxy)  # type: ignore[arg-type]
        return proxy  # type: ignore[return-value]

    yield make
    for proxy in proxies:
        proxy.release.set()
        proxy.stop()


def stopped_by(
    proxy: GateProxy, signum: int, args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI through the proxy, send `signum` once the held request arrives, let the
    request go on, and return what the CLI printed."""
    if signal.getsignal(signum) is signal.SIG_IGN:
        # A background job without job control: the CLI inherits the ignored signal, and
        # rightly keeps ignoring it (see docbackup.cli.interrupt.install).
        pytest.skip(f"{signal.Signals(signum).name} is ignored in this process")
    child_env = {**os.environ, "AWS_ENDPOINT_URL": proxy.url, **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "docbackup", *args],
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proxy.reached.wait(30), "the command never reached the held request"
        proc.send_signal(signum)
        proxy.release.set()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def is_upload(date: str) -> Callable[[str, str], bool]:
    return lambda method, path: method == "PUT" and f"backups/{date}/documents/" in path


def interrupted(done: subprocess.CompletedProcess[str], signum: int) -> dict[str, Any]:
    """THEN: the conventional exit code, one line on stderr, one JSON object on stdout."""
    assert done.returncode == 128 + signum, (done.returncode, done.stderr)
    line = one_line(done.stderr)
    assert "interrupted by " + signal.Signals(signum).name in line
    summary = json.loads(done.stdout)
    assert isinstance(summary, dict)
    assert summary["status"] == "failed" and summary["interrupted"] is True
    assert summary["signal"] == signal.Signals(signum).name
    return summary


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_backup_says_so_in_json_and_the_night_runs_again(
    signum: int,
    tmp_path: Path,
    moto_bucket: tuple[str, str],
    aws_env: LocalAWS,
    gate: Callable[[Callable[[str, str], bool]], GateProxy],
) -> None:
    # GIVEN a night already stored, and a backup of the next night stopped mid-upload
    bucket, key = moto_bucket
    src = tmp_path / "office"
    tree(src)
    common = ["--bucket", bucket, "--kms-key-id", key, "--workers", "2"]
    first = run("backup", str(src), *common, "--date", yesterday(), "--json")
    assert first.exit_code == 0, first.output
    before = set(stored_keys(aws_env, bucket))
    tree(src, "v2")
    proxy = gate(is_upload(today().isoformat()))
    done = stopped_by(proxy, signum, ["backup", str(src), *common, "--json"])

    # THEN it says it was interrupted, with the requests it made and how far it got
    summary = interrupted(done, signum)
    assert isinstance(summary["requests"], int) and summary["requests"] > 0
    assert summary["done"]["phase"] == "backup" and summary["done"]["of"] == 12
    # AND nothing already stored is lost, and tonight has no manifest yet
    after = set(stored_keys(aws_env, bucket))
    assert before <= after
    assert f"backups/{today()}/documents.manifest.json" not in after
    # AND the night's lease was given up (not left to run out)
    lease = aws_env.client("s3").get_object(
        Bucket=bucket, Key=f"backups/{today()}/documents.lease.json"
    )
    assert json.loads(lease["Body"].read())["expires"] == 0
    # AND the lease was given up: the next run takes the night at once and completes it
    again = run("backup", str(src), *common, "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["status"] == "complete"
    restored = tmp_path / "restored"
    assert run("restore", "latest", "--to", str(restored), "--bucket", bucket).exit_code == 0
    assert tree_hashes(str(restored)) == tree_hashes(str(src))


def test_an_interrupted_backup_without_json_prints_one_line(
    tmp_path: Path,
    moto_bucket: tuple[str, str],
    gate: Callable[[Callable[[str, str], bool]], GateProxy],
) -> None:
    bucket, _ = moto_bucket
    src = tmp_path / "office"
    tree(src)
    proxy = gate(is_upload(today().isoformat()))
    done = stopped_by(proxy, signal.SIGINT, ["backup", str(src), "--bucket", bucket])
    assert done.returncode == 130, done.stderr
    assert "interrupted by SIGINT" in one_line(done.stderr)
    assert "Traceback" not in done.stdout


# The request a reading command is held at: a document's copy, or a night's manifest.
READS: dict[str, Callable[[str, str], bool]] = {
    "copy": lambda method, path: method == "GET" and "/documents/docs/" in path,
    "manifest": lambda method, path: method == "GET" and path.split("?")[0].endswith(".json"),
}


@pytest.mark.parametrize(
    ("command", "hold", "signum"),
    [
        (["restore", "{yesterday}", "--to", "{target}", "--workers", "2"], "copy", signal.SIGTERM),
        (["verify", "{yesterday}", "--deep", "--workers", "2"], "copy", signal.SIGINT),
        (["list"], "manifest", signal.SIGINT),
    ],
    ids=["restore", "verify", "list"],
)
def test_every_reading_command_answers_a_signal_in_json(
    command: list[str],
    hold: str,
    signum: int,
    tmp_path: Path,
    moto_bucket: tuple[str, str],
    gate: Callable[[Callable[[str, str], bool]], GateProxy],
) -> None:
    bucket, key = moto_bucket
    src = tmp_path / "office"
    tree(src)
    first = run("backup", str(src), "--bucket", bucket, "--kms-key-id", key, "--date", yesterday())
    assert first.exit_code == 0, first.output
    args = [
        a.replace("{target}", str(tmp_path / "to")).replace("{yesterday}", yesterday())
        for a in command
    ]
    done = stopped_by(gate(READS[hold]), signum, [*args, "--bucket", bucket, "--json"])
    interrupted(done, signum)
    # A restore stopped mid-download removes the temporary file it was writing.
    left = [str(p) for p in (tmp_path / "to").rglob(".docbackup-*")]
    assert left == []


def test_an_interrupted_office_run_answers_in_json(
    tmp_path: Path,
    moto_bucket: tuple[str, str],
    gate: Callable[[Callable[[str, str], bool]], GateProxy],
) -> None:
    bucket, key = moto_bucket
    src = tmp_path / "office"
    tree(src)
    config = agent_config(tmp_path, bucket, key, src)
    proxy = gate(lambda m, p: m == "PUT" and f"backups/{today()}/office/" in p)
    done = stopped_by(proxy, signal.SIGTERM, ["--config", str(config), "run", "--json"])
    summary = interrupted(done, signal.SIGTERM)
    assert summary["sets"] == []
    again = run("--config", str(config), "run", "--json")
    assert again.exit_code == 0, again.output


# -- 14e: the least retention that works ---------------------------------------------------


@pytest.mark.parametrize("days", ["1", "0"])
def test_a_retention_too_short_is_refused_by_the_option_in_one_line(
    days: str, tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    bucket, _ = moto_bucket
    src = tmp_path / "office"
    tree(src)
    refused = run("backup", str(src), "--bucket", bucket, "--retention-days", days)
    assert refused.exit_code == 2
    line = one_line(refused.stderr)
    assert f"--retention-days is {days}" in line and "2 to 36500" in line
    assert stored_keys(aws_env, bucket) == []
    # The least that is accepted works
    ok = run("backup", str(src), "--bucket", bucket, "--retention-days", "2", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["status"] == "complete", ok.output


def test_a_retention_too_short_in_the_environment_is_named(
    tmp_path: Path,
    moto_bucket: tuple[str, str],
    aws_env: LocalAWS,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket, _ = moto_bucket
    tree(tmp_path / "office")
    monkeypatch.setenv("DOCBACKUP_RETENTION_DAYS", "1")
    refused = run("backup", str(tmp_path / "office"), "--bucket", bucket)
    assert refused.exit_code == 2
    assert "DOCBACKUP_RETENTION_DAYS is 1" in one_line(refused.stderr)
    assert stored_keys(aws_env, bucket) == []


@pytest.mark.parametrize("command", ["backup", "run"])
def test_a_retention_too_short_in_the_config_file_is_named(
    command: str, tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    bucket, key = moto_bucket
    src = tmp_path / "office"
    tree(src)
    config = agent_config(tmp_path, bucket, key, src, stack={"retention_days": 1})
    args = ["backup", str(src)] if command == "backup" else ["run"]
    refused = run("--config", str(config), *args)
    assert refused.exit_code == 2
    line = one_line(refused.stderr)
    assert "retention_days" in line and "is 1" in line and "2" in line
    assert stored_keys(aws_env, bucket) == []


def test_a_retention_too_short_in_the_config_file_does_not_stop_a_restore(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    # A restore at disaster time reads no retention: a bad one must not refuse it.
    bucket, key = moto_bucket
    src = tmp_path / "office"
    tree(src)
    assert run("--config", str(agent_config(tmp_path, bucket, key, src)), "run").exit_code == 0
    config = agent_config(tmp_path, bucket, key, src, stack={"retention_days": 1})
    done = run("--config", str(config), "restore", "latest", "--to", str(tmp_path / "back"))
    listed = run("--config", str(config), "list")
    assert (done.exit_code, listed.exit_code) == (0, 0), done.output + listed.output
    assert tree_hashes(str(tmp_path / "back")) == tree_hashes(str(src))


def test_a_retention_too_short_in_the_function_environment_is_refused_with_the_settings() -> None:
    env = {
        nightly.BACKUP_BUCKET: "backups",
        nightly.KMS_KEY_ARN: "arn:aws:kms:eu-west-2:111122223333:key/k",
        nightly.SOURCE_BUCKET: "scans",
        nightly.RETENTION_DAYS: "1",
    }
    with pytest.raises(ConfigError, match="RETENTION_DAYS is 1: retention must be at least 2"):
        nightly.Settings.from_env(env)
    assert nightly.Settings.from_env({**env, nightly.RETENTION_DAYS: "2"}).retention_days == 2


# -- the office agent: --allow-unversioned and --allow-new-source ---------------------------


def agent_config(
    tmp_path: Path,
    bucket: str,
    key: str,
    source: Path,
    *,
    stack: dict[str, object] | None = None,
    office: dict[str, object] | None = None,
) -> Path:
    def toml(table: dict[str, object]) -> str:
        return "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items())

    path = tmp_path / "config.toml"
    path.write_text(
        "[stack]\n"
        + toml({"bucket": bucket, "kms_key_id": key, **(stack or {})})
        + "[sets.office]\n"
        + toml({"source": str(source), **(office or {})})
    )
    return path


@pytest.mark.parametrize("how", ["flag", "config"])
def test_the_office_run_backs_up_into_an_unversioned_bucket_only_when_told(
    how: str, tmp_path: Path, unversioned_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    bucket, key = unversioned_bucket
    src = tmp_path / "office"
    tree(src)
    plain = agent_config(tmp_path, bucket, key, src)
    refused = run("--config", str(plain), "run")
    assert refused.exit_code == 2 and "versioning" in refused.stderr
    assert stored_keys(aws_env, bucket) == []
    if how == "flag":
        done = run("--config", str(plain), "run", "--allow-unversioned", "--json")
    else:
        told = agent_config(tmp_path, bucket, key, src, stack={"allow_unversioned": True})
        done = run("--config", str(told), "run", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["sets"][0]["status"] == "complete"


@pytest.mark.parametrize("how", ["flag", "config"])
def test_the_office_run_takes_a_moved_folder_only_when_told(
    how: str, tmp_path: Path, moto_bucket: tuple[str, str]
) -> None:
    bucket, key = moto_bucket
    old, new = tmp_path / "old", tmp_path / "new"
    tree(old)
    tree(new, "moved")
    first = run("--config", str(agent_config(tmp_path, bucket, key, old)), "run")
    assert first.exit_code == 0, first.output
    moved = agent_config(tmp_path, bucket, key, new)
    refused = run("--config", str(moved), "run")
    assert refused.exit_code == 2 and "--allow-new-source" in refused.stderr
    if how == "flag":
        done = run("--config", str(moved), "run", "--allow-new-source", "--json")
    else:
        told = agent_config(tmp_path, bucket, key, new, office={"allow_new_source": True})
        done = run("--config", str(told), "run", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["sets"][0]["status"] == "complete"


def test_init_keeps_the_users_allow_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[stack]\nallow_unversioned = true\n[sets.office]\nsource = "/srv/office"\n'
        "allow_new_source = true\n"
    )
    old = cfg.load(str(path))
    outputs = {"BackupBucketName": "b", "KMSKeyArn": "arn:aws:kms:r:1:key/k"}
    new = agent.build_config(str(path), "stack", outputs, {}, "eu-west-2", old, [])
    assert new.allow_unversioned and new.sets["office"].allow_new_source
    written = new.to_toml()
    again = cfg.parse(written, str(path))
    assert again.allow_unversioned and again.sets["office"].allow_new_source


# -- 14f: a clock far ahead on one night ---------------------------------------------------

AHEAD = dt.timedelta(days=40)


def engine_night(bucket: str, key: str, src: Path, clock: Callable[[], dt.datetime]) -> Any:
    """One night through the engine on moto, on the given clock (what the CLI cannot fake),
    without comparing it with the server's: as a docbackup before that check wrote it."""
    store = compose.backup_store(bucket, workers=2)
    options = BackupOptions(encryption=Encryption("aws:kms", key), workers=2)
    return backup(store, compose.source_for(str(src), store), options, clock=clock)


def restored(when: str, bucket: str, target: Path) -> dict[str, str]:
    done = run("restore", when, "--to", str(target), "--bucket", bucket)
    assert done.exit_code == 0, done.output
    return tree_hashes(str(target))


def test_a_night_dated_ahead_by_a_wrong_clock_does_not_block_the_next_ones(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    # GIVEN last night, and then a night written 40 days ahead (by a docbackup that did not yet
    # compare its clock with the server's)
    bucket, key = moto_bucket
    src = tmp_path / "office"
    tree(src, "v1")
    common = ["--bucket", bucket, "--kms-key-id", key]
    assert run("backup", str(src), *common, "--date", yesterday()).exit_code == 0
    tree(src, "v2")
    ahead = engine_night(bucket, key, src, lambda: dt.datetime.now(dt.UTC) + AHEAD)
    future = (today() + AHEAD).isoformat()
    assert ahead.status == "complete" and ahead.date.isoformat() == future
    v2 = tree_hashes(str(src))
    before = set(stored_keys(aws_env, bucket))

    # WHEN tonight runs with the clock right
    tree(src, "v3")
    done = run("backup", str(src), *common, "--json")

    # THEN it completes and names the night it passed over
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["status"] == "complete" and summary["date"] == today().isoformat()
    assert summary["future_nights"] == [future]
    again = run("backup", str(src), *common)
    assert again.exit_code == 0 and f"passed over the night of {future}" in again.stderr
    # AND nothing stored was lost: the night ahead is still there and still restores
    assert before <= set(stored_keys(aws_env, bucket))
    assert restored(future, bucket, tmp_path / "ahead") == v2
    # AND tonight restores as it is now
    assert restored(today().isoformat(), bucket, tmp_path / "now") == tree_hashes(str(src))


@pytest.mark.parametrize("command", ["backup", "run"])
def test_a_clock_far_ahead_of_the_servers_is_refused_before_any_document(
    command: str,
    tmp_path: Path,
    moto_bucket: tuple[str, str],
    aws_env: LocalAWS,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN this machine's clock 40 days ahead of the server's (moto's is the real one)
    bucket, key = moto_bucket
    src = tmp_path / "office"
    tree(src)
    config = agent_config(tmp_path, bucket, key, src)
    args = ["backup", str(src)] if command == "backup" else ["run"]
    real = backup
    with monkeypatch.context() as m:
        ahead = functools.partial(real, clock=lambda: dt.datetime.now(dt.UTC) + AHEAD)
        # `run`'s sets are backed up by docbackup.agent; `backup` calls the engine itself.
        m.setattr(f"docbackup.{'cli.backing_up' if command == 'backup' else 'agent'}.backup", ahead)
        refused = run("--config", str(config), *args)
        # (and again: the lease the first attempt left under the future date changes nothing)
        again = run("--config", str(config), *args)
    # THEN the night is refused in one line, before anything of it was stored
    assert refused.exit_code == again.exit_code == 2, again.output
    line = one_line(refused.stderr)
    assert "clock" in line and (today() + AHEAD).isoformat() in line
    assert [k for k in stored_keys(aws_env, bucket) if not k.endswith(".lease.json")] == []
    # AND a night on the right clock works, and is the only one
    done = run("--config", str(config), *args)
    assert done.exit_code == 0, done.output
    listing = json.loads(run("--config", str(config), "list", "--json").stdout)
    assert [s["date"] for s in listing["snapshots"]] == [today().isoformat()]


def test_a_clock_behind_never_writes_over_an_earlier_night(
    tmp_path: Path,
    moto_bucket: tuple[str, str],
    aws_env: LocalAWS,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN last night and tonight, on the right clock
    bucket, key = moto_bucket
    src = tmp_path / "office"
    common = ["--bucket", bucket, "--kms-key-id", key]
    tree(src, "v1")
    assert run("backup", str(src), *common, "--date", yesterday()).exit_code == 0
    v1 = tree_hashes(str(src))
    tree(src, "v2")
    assert run("backup", str(src), *common).exit_code == 0
    s3 = aws_env.client("s3")
    last_night = layout.manifest_key(dt.date.fromisoformat(yesterday()), "documents")
    before = s3.get_object(Bucket=bucket, Key=last_night)["Body"].read()

    # WHEN a run whose clock is a day behind comes (a restored VM, a wrong time zone)
    tree(src, "v3")
    behind = functools.partial(backup, clock=lambda: dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    with monkeypatch.context() as m:
        m.setattr("docbackup.cli.backing_up.backup", behind)
        done = run("backup", str(src), *common)

    # THEN it is refused, and last night is as it was: its manifest, and what it restores
    assert done.exit_code == 2, done.output
    assert "only the newest night" in one_line(done.stderr)
    assert s3.get_object(Bucket=bucket, Key=last_night)["Body"].read() == before
    assert restored(yesterday(), bucket, tmp_path / "last") == v1


def test_a_clock_ahead_night_after_night_is_refused_every_night(
    tmp_path: Path,
    moto_bucket: tuple[str, str],
    aws_env: LocalAWS,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a set with last night, and a clock 40 days ahead that stays wrong
    bucket, key = moto_bucket
    src = tmp_path / "office"
    common = ["--bucket", bucket, "--kms-key-id", key]
    tree(src)
    assert run("backup", str(src), *common, "--date", yesterday()).exit_code == 0
    codes = []
    for days in (0, 1):  # its first night, and its next one (a lease is all the first left)
        clock = functools.partial(
            lambda d: dt.datetime.now(dt.UTC) + AHEAD + dt.timedelta(days=d), days
        )
        with monkeypatch.context() as m:
            m.setattr("docbackup.cli.backing_up.backup", functools.partial(backup, clock=clock))
            codes.append(run("backup", str(src), *common).exit_code)
    # THEN both nights are refused, and the set has only the night on the right clock
    assert codes == [2, 2]
    listing = json.loads(run("list", "--bucket", bucket, "--json").stdout)
    assert [s["date"] for s in listing["snapshots"]] == [yesterday()]


def _on_clock(monkeypatch: pytest.MonkeyPatch, days: int) -> None:
    """This machine's clock `days` off (the CLI's `backup` runs on it; the server's is right)."""
    moved = functools.partial(
        backup, clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    )
    monkeypatch.setattr("docbackup.cli.backing_up.backup", moved)


@pytest.mark.parametrize("days", [-1, 1], ids=["a day behind", "a day ahead"])
def test_a_clock_a_day_off_is_refused_even_without_a_gap(
    days: int,
    tmp_path: Path,
    moto_bucket: tuple[str, str],
    aws_env: LocalAWS,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN last night (behind: the run would take it for tonight and write over it) or
    # tonight (ahead: the run would write tomorrow's night, the day after tonight's)
    bucket, key = moto_bucket
    src = tmp_path / "office"
    common = ["--bucket", bucket, "--kms-key-id", key]
    tree(src, "v1")
    stored = yesterday() if days < 0 else today().isoformat()
    assert run("backup", str(src), *common, "--date", stored).exit_code == 0
    v1 = tree_hashes(str(src))
    s3 = aws_env.client("s3")
    night_key = layout.manifest_key(dt.date.fromisoformat(stored), "documents")
    before = s3.get_object(Bucket=bucket, Key=night_key)["Body"].read()

    # WHEN a run on a clock one day off comes
    tree(src, "v2")
    with monkeypatch.context() as m:
        _on_clock(m, days)
        done = run("backup", str(src), *common)

    # THEN it is refused in one line naming the clocks, and the night stored is as it was
    assert done.exit_code == 2, done.output
    assert "clock" in one_line(done.stderr)
    assert s3.get_object(Bucket=bucket, Key=night_key)["Body"].read() == before
    assert restored(stored, bucket, tmp_path / "kept") == v1
    listing = json.loads(run("list", "--bucket", bucket, "--json").stdout)
    assert [s["date"] for s in listing["snapshots"]] == [stored]


class _NoManifest:
    """A store on which every manifest write fails: copies land, the night is never claimed."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def put(self, key: str, *args: Any, **kw: Any) -> Any:
        if key.endswith(".manifest.json"):
            raise StoreError(f"{key}: the connection was reset")
        return self._inner.put(key, *args, **kw)


def test_copies_dated_ahead_without_a_manifest_do_not_block_the_next_nights(
    tmp_path: Path, moto_bucket: tuple[str, str], aws_env: LocalAWS
) -> None:
    # GIVEN last night, then a run dated 40 days ahead that stored copies but no manifest
    bucket, key = moto_bucket
    src = tmp_path / "office"
    common = ["--bucket", bucket, "--kms-key-id", key]
    tree(src, "v1")
    assert run("backup", str(src), *common, "--date", yesterday()).exit_code == 0
    tree(src, "v2")
    store = _NoManifest(compose.backup_store(bucket, workers=2))
    options = BackupOptions(encryption=Encryption("aws:kms", key), workers=2)
    with contextlib.suppress(DocbackupError):
        backup(
            store,
            compose.source_for(str(src), store),
            options,
            clock=lambda: dt.datetime.now(dt.UTC) + AHEAD,
        )
    future = (today() + AHEAD).isoformat()
    assert any(f"backups/{future}/" in k for k in stored_keys(aws_env, bucket))

    # WHEN tonight runs on the right clock
    done = run("backup", str(src), *common, "--json")

    # THEN it completes and names what it passed over
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["status"] == "complete" and summary["future_nights"] == [future]
