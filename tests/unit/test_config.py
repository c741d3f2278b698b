"""The config file: what it may hold, and that a flag or environment variable beats it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

from docbackup.cli import config as cfg
from docbackup.cli.main import cli
from docbackup.errors import ConfigError
from docbackup.storage.base import Encryption


def sample(path: Path) -> cfg.Config:
    return cfg.Config(
        path=str(path),
        stack_name="office-backup",
        region="eu-west-2",
        bucket="from-config",
        kms_key_id="arn:aws:kms:eu-west-2:111122223333:key/abc",
        retention_days=30,
        timezone="Europe/London",
        alarm_topic_arn="arn:aws:sns:eu-west-2:111122223333:alarms",
        sets={
            "documents": cfg.SetConfig(
                "documents", "s3://office/docs", default_excludes=False, here=False
            ),
            "office": cfg.SetConfig("office", "/srv/share", ("*.bak",)),
        },
    )


def test_a_saved_config_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "config.toml"
    cfg.save(sample(path), now=dt.datetime(2026, 11, 22, tzinfo=dt.UTC))
    assert cfg.load(str(path)) == sample(path)
    assert path.read_text().startswith("# docbackup configuration")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[stack\n", "config file"),
        ("[stack]\nretention_days = true\n", "stack.retention_days must be a int"),
        ("[stack]\nbucket = 3\n", "stack.bucket must be a str"),
        ("[sets.office]\nexclude = ['*.bak']\n", "sets.office has no source"),
        ("[sets.'a/b']\nsource = '/x'\n", "set name"),
        ("[sets.office]\nsource = '/x'\nexclude = [1]\n", "exclude must be strings"),
        ("[extra]\n", "unknown key"),
        # a misspelt key is said, not ignored with what it meant to do
        (
            "[sets.office]\nsource = '/x'\nexcludes = ['*.bak']\n",
            r"unknown key\(s\) \['excludes'\]",
        ),
        ("[stack]\nbuckett = 'b'\n", r"\['buckett'\] in \[stack\]"),
        ("[notify]\non_failure = true\n", r"in \[notify\]"),
        ("[stack]\nread_back = 'lots'\n", r"stack.read_back: unreadable size 'lots'"),
        ("[stack]\nread_back = 500\n", "stack.read_back must be a str"),
        ("[stack]\nlimit_upload = 'fast'\n", r"stack.limit_upload: unreadable upload limit"),
        ("[stack]\nlimit_upload = '10 bytes/s'\n", r"stack.limit_upload: unreadable"),
        ("[stack]\nlimit_upload = '500/s'\n", r"stack.limit_upload: .* below 1 KB/s"),
    ],
)
def test_a_bad_file_is_one_line_and_exit_2(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        cfg.load(str(path))
    result = CliRunner().invoke(cli, ["--config", str(path), "list"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("docbackup: error:")


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "none.toml"), "list"])
    assert result.exit_code == 2 and "docbackup init" in result.stderr


def test_flag_beats_environment_beats_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    cfg.save(sample(path), now=dt.datetime(2026, 11, 22, tzinfo=dt.UTC))
    seen: list[str | None] = []

    def open_store(bucket: str | None, workers: int, counter: object = None) -> None:
        seen.append(bucket)
        raise ConfigError("the test stops here")

    monkeypatch.setattr("docbackup.cli.snapshots.open_store", open_store)
    monkeypatch.delenv("DOCBACKUP_BUCKET", raising=False)
    runner = CliRunner()
    runner.invoke(cli, ["--config", str(path), "list"])
    monkeypatch.setenv("DOCBACKUP_BUCKET", "from-env")
    runner.invoke(cli, ["--config", str(path), "list"])
    runner.invoke(cli, ["--config", str(path), "list", "--bucket", "from-flag"])
    assert seen == ["from-config", "from-env", "from-flag"]


def test_the_default_set_is_the_first_this_machine_runs(tmp_path: Path) -> None:
    made = sample(tmp_path / "c.toml").default_map()
    assert made["restore"]["set_name"] == "office"
    assert made["backup"]["kms_key_id"].startswith("arn:aws:kms:")
    assert made["status"]["stack_name"] == "office-backup"
    # status is the stack's view: the function's own set unless --set says otherwise
    assert "set_name" not in made["status"]


def test_a_broken_file_does_not_block_what_does_not_read_it(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[sets.office]\nsource = '/x'\nexcludes = ['*.bak']\n")
    runner = CliRunner()

    def run(*args: str) -> int:
        return runner.invoke(cli, ["--config", str(path), *args]).exit_code

    # the estimate, the schedule's show, and every command's help still work
    assert run("cost", "--documents-per-day", "10") == 0
    assert run("schedule", "show") == 0
    assert run("backup", "--help") == 0
    assert run("list", "-h") == 0
    # an option's value that looks like the help flag is not the help flag
    assert run("list", "--set", "-h") == 2
    assert run("backup", "--exclude", "--help", str(tmp_path)) == 2
    # what reads it says what is wrong
    assert run("list") == 2
    refused = runner.invoke(cli, ["--config", str(path), "schedule", "install", "--method", "cron"])
    assert refused.exit_code == 2 and "excludes" in refused.stderr


def test_the_configured_key_does_not_stand_in_the_way_of_another_encryption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    cfg.save(sample(path), now=dt.datetime(2026, 11, 22, tzinfo=dt.UTC))
    asked: list[object] = []

    # The run stops where its options are made, before any store is opened.
    def options(**kw: object) -> object:
        asked.append(kw["encryption"])
        raise ConfigError("the test stops here")

    monkeypatch.setattr("docbackup.cli.backing_up.BackupOptions", options)
    monkeypatch.delenv("DOCBACKUP_KMS_KEY_ID", raising=False)
    runner = CliRunner()
    base = ["--config", str(path), "backup", str(tmp_path), "--sse"]

    # WHEN a server without KMS is used: the config's key is left out, not an error
    plain = runner.invoke(cli, [*base, "AES256"])
    assert "goes with --sse aws:kms" not in plain.stderr
    assert asked == [Encryption("AES256", None)]
    # but a key asked for on the command line with AES256 is a contradiction
    both = runner.invoke(cli, [*base, "AES256", "--kms-key-id", "arn:aws:kms:x:1:key/k"])
    assert both.exit_code == 2 and "goes with --sse aws:kms" in both.stderr


def test_backup_without_source_and_without_config_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["backup", "--bucket", "b"])
    assert result.exit_code == 2 and "docbackup init" in result.stderr


def test_the_functions_set_reads_back_without_desktop_excludes(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        "[sets.documents]\nsource = 's3://scans/in'\nhere = false\n[sets.o]\nsource = '/o'\n"
    )
    loaded = cfg.load(str(path))
    assert loaded is not None
    assert loaded.sets["documents"].default_excludes is False
    assert loaded.sets["o"].default_excludes is True


def test_init_will_not_quietly_drop_a_folder_set_that_clashes_with_the_function(
    tmp_path: Path,
) -> None:
    from docbackup.cli.agent import build_config

    # GIVEN a config from before init refused it: this machine's folder as the function's set
    old = cfg.Config(
        path=str(tmp_path / "c.toml"), sets={"documents": cfg.SetConfig("documents", "/srv/Office")}
    )
    outputs = {"BackupBucketName": "b", "KMSKeyArn": "k", "BackupSetName": "documents"}
    with pytest.raises(ConfigError, match=r"rename \[sets.documents\]"):
        build_config(
            str(tmp_path / "c.toml"), "s", outputs, {"SourceBucketName": "scans"}, None, old, []
        )


def test_a_sets_own_folder_however_typed_keeps_its_excludes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docbackup.cli.backing_up import _same_set

    real = tmp_path / "real" / "Office"
    real.mkdir(parents=True)
    (tmp_path / "Office").symlink_to(real)
    monkeypatch.setenv("HOME", str(tmp_path))
    config = cfg.Config(
        path="c.toml",
        sets={
            "office": cfg.SetConfig("office", "~/real/Office", ("*.bak",)),
            "scans": cfg.SetConfig("scans", "s3://scans/in", ("*.tmp",)),
        },
    )
    for typed in (str(real), f"{real}/", "~/real/Office", str(tmp_path / "Office")):
        assert _same_set(config, "office", typed) is config.sets["office"], typed
    assert _same_set(config, "scans", "s3://scans/in/") is config.sets["scans"]
    # another folder, or another set's name, is a one-off backup: no set's excludes
    assert _same_set(config, "office", str(tmp_path)) is None
    assert _same_set(config, "photos", str(real)) is None
    assert _same_set(config, "scans", "s3://scans/other") is None


def test_the_read_back_is_off_on_the_office_machine_unless_configured(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[stack]\nbucket = 'b'\n")
    assert cfg.load(str(path)).default_map()["run"].get("read_back") is None  # type: ignore[union-attr]
    path.write_text("[stack]\nbucket = 'b'\nread_back = '500MB'\n")
    loaded = cfg.load(str(path))
    assert loaded is not None and loaded.read_back == "500MB"
    assert loaded.default_map()["backup"]["read_back"] == "500MB"
    assert cfg.read_back_bytes("500MB") == 500_000_000
    assert cfg.read_back_bytes("off") == cfg.read_back_bytes("0") == 0


def test_a_bad_read_back_size_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    result = CliRunner().invoke(
        cli, ["backup", str(tmp_path / "docs"), "--bucket", "b", "--read-back", "a lot"]
    )
    assert result.exit_code == 2, result.output
    assert "unreadable size 'a lot'" in result.stderr


def test_the_web_app_takes_the_bucket_and_set_from_the_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[stack]\nbucket = 'office-backups'\nretention_days = 14\n")
    loaded = cfg.load(str(path))
    assert loaded is not None
    assert loaded.default_map()["ui"] == {"bucket": "office-backups", "retention_days": 14}
