"""An update passes every parameter: what the user gave, and UsePreviousValue for the rest."""

from __future__ import annotations

from docbackup.stack.deploy import _parameters, default_bucket_name


def test_an_update_keeps_what_it_is_not_told_to_change() -> None:
    current = [
        {"ParameterKey": "RetentionDaysOverride", "ParameterValue": "2555"},
        {"ParameterKey": "EnableObjectLock", "ParameterValue": "true"},
        {"ParameterKey": "CodeKey", "ParameterValue": "old.zip"},
        {"ParameterKey": "AlertEmail", "ParameterValue": "ops@example.com"},
    ]

    sent = _parameters({"CodeKey": "new.zip", "AlertEmail": None}, current)

    # Left out, CloudFormation would fall back to the template's defaults: 30-day retention
    # and no Object Lock, and lifecycle would then delete years of backups.
    assert sent == [
        {"ParameterKey": "CodeKey", "ParameterValue": "new.zip"},
        {"ParameterKey": "RetentionDaysOverride", "UsePreviousValue": True},
        {"ParameterKey": "EnableObjectLock", "UsePreviousValue": True},
        {"ParameterKey": "AlertEmail", "UsePreviousValue": True},
    ]


def test_a_create_sends_only_what_was_given() -> None:
    assert _parameters({"Environment": "dev", "AlertEmail": None}, []) == [
        {"ParameterKey": "Environment", "ParameterValue": "dev"}
    ]


def test_bucket_names_from_stack_names_fit_the_parameter() -> None:
    assert default_bucket_name("Office-Backup_Prod") == "office-backup-prod"
    assert len(default_bucket_name("x" * 128)) <= 37


def test_a_parameter_without_a_value_is_refused_before_anything_is_deployed() -> None:
    from click.testing import CliRunner

    from docbackup.cli.main import cli

    result = CliRunner().invoke(cli, ["deploy", "--stack-name", "s", "--parameter", "Nope"])

    assert result.exit_code == 2
    assert result.stderr == "docbackup: error: --parameter takes KEY=VALUE, not 'Nope'\n"
