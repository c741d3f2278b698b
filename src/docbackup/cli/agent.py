"""The office agent's commands: `init` writes the config file from the stack, `run` backs up
every set the config names for this machine and tells the stack's topic how it went."""

from __future__ import annotations

import datetime as dt
import os
import sys

import click

from docbackup import compose, layout
from docbackup.agent import Office, Outcome, SetBackedUp, SetFailed, run_sets
from docbackup.cli import config as cfg
from docbackup.cli import exitcodes, interrupt, render
from docbackup.cli.options import (
    config_region,
    json_option,
    limit_upload_option,
    reporter,
    workers_option,
)
from docbackup.errors import ConfigError, DocbackupError


def _parse_set(spec: str) -> tuple[str, str]:
    name, sep, source = spec.partition("=")
    if not sep or not source:
        raise ConfigError(f"--set takes NAME=FOLDER (or NAME=s3://bucket/prefix), not {spec!r}")
    layout.check_set_name(name)
    if not source.startswith("s3://"):
        source = os.path.abspath(os.path.expanduser(source))
        if not os.path.isdir(source):
            raise ConfigError(f"--set {name}: {source} is not a folder")
    return name, source


def build_config(
    path: str,
    stack_name: str,
    outputs: dict[str, str],
    parameters: dict[str, str],
    region: str | None,
    old: cfg.Config | None,
    new_sets: list[tuple[str, str]],
) -> cfg.Config:
    """The config from the stack's outputs and parameters, keeping the sets (and their
    excludes) of an earlier config and adding or re-pointing the ones given."""
    missing = [k for k in ("BackupBucketName", "KMSKeyArn") if k not in outputs]
    if missing:
        raise ConfigError(
            f"stack {stack_name} has no output(s) {missing}: is it a docbackup stack?"
        )
    sets = dict(old.sets) if old else {}
    # The set the stack's own function backs up: listed so list/restore/status know it,
    # marked so that `run` on this machine leaves it to the function.
    stack_set = outputs.get("BackupSetName", layout.DEFAULT_SET)
    source_bucket = parameters.get("SourceBucketName")
    if source_bucket:
        if stack_set in sets and sets[stack_set].here:
            # Made before init refused it: dropping it would end this folder's nightly backup
            # without a word, keeping it keeps two writers on one set. The user must choose.
            raise ConfigError(
                f"{path}: set {stack_set!r} is this machine's {sets[stack_set].source}, but "
                f"it is the set the stack's nightly function backs up; rename [sets.{stack_set}] "
                "in the file (a new name starts a new series of nights) and run init again"
            )
        prefix = parameters.get("SourcePrefix", "").strip("/")
        # Excludes off, as the function has them: a night re-run by hand stores the same.
        sets[stack_set] = cfg.SetConfig(
            stack_set,
            f"s3://{source_bucket}/{prefix}".rstrip("/"),
            default_excludes=False,
            here=False,
        )
    for name, source in new_sets:
        if source_bucket and name == stack_set:
            # Two writers to one set would each see the other's documents as deleted.
            raise ConfigError(
                f"--set {name}: that set is the one the stack's nightly function backs up "
                f"(s3://{source_bucket}); give this machine's folder a set name of its own"
            )
        kept = sets.get(name)
        sets[name] = cfg.SetConfig(
            name,
            source,
            kept.exclude if kept else (),
            kept.default_excludes if kept else True,
            here=True,
            allow_new_source=kept.allow_new_source if kept else False,
        )
    retention = outputs.get("RetentionDays")
    return cfg.Config(
        path=path,
        stack_name=stack_name,
        region=region,
        bucket=outputs["BackupBucketName"],
        # The full ARN: the bucket policy compares it, a key id would be refused.
        kms_key_id=outputs["KMSKeyArn"],
        retention_days=int(retention) if retention and retention.isdigit() else None,
        timezone=parameters.get("ScheduleTimezone") or None,
        alarm_topic_arn=outputs.get("AlarmTopicArn"),
        notify_on_success=old.notify_on_success if old else False,
        sets=sets,
        # The user's own choice, not the stack's: kept as the file had it.
        allow_unversioned=old.allow_unversioned if old else False,
        read_back=old.read_back if old else None,
        limit_upload=old.limit_upload if old else None,
    )


@click.command("init")
@click.option("--stack-name", required=True, help="The deployed docbackup stack to read.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="NAME=FOLDER",
    help="A set this machine backs up, and its folder (repeatable).",
)
@click.pass_context
def init_cmd(ctx: click.Context, stack_name: str, sets: tuple[str, ...]) -> None:
    """Write the config file from the stack's outputs: bucket, key, retention, sets."""
    from docbackup.stack.status import describe_stack

    path = ctx.obj.config_path or cfg.default_path()
    try:
        new_sets = [_parse_set(s) for s in sets]
        old = cfg.load(path) if os.path.exists(path) else None
        session = compose.session(config_region())
        outputs, parameters = describe_stack(session, stack_name)
        config = build_config(
            path, stack_name, outputs, parameters, session.region_name, old, new_sets
        )
        cfg.save(config, now=dt.datetime.now().astimezone())
    except DocbackupError as exc:
        click.echo(f"docbackup: error: {exc}", err=True)
        sys.exit(exitcodes.for_error(exc))
    click.echo(f"{'updated' if old else 'wrote'} {path}")
    click.echo(f"  bucket {config.bucket}, key {config.kms_key_id}")
    click.echo(f"  retention {config.retention_days} days, time zone {config.timezone or 'UTC'}")
    for s in config.sets.values():
        where = "this machine" if s.here else "the stack's nightly function"
        click.echo(f"  set {s.name}: {s.source} (run by {where})")
    if not any(s.here for s in config.sets.values()):
        click.echo("no set for this machine yet: add one with --set NAME=FOLDER")


@click.command("run")
@workers_option
@click.option(
    "--allow-unversioned",
    is_flag=True,
    envvar="DOCBACKUP_ALLOW_UNVERSIONED",
    help="Back up into a bucket without versioning (refused otherwise; config: "
    "[stack] allow_unversioned).",
)
@click.option(
    "--allow-new-source",
    is_flag=True,
    help="Back up each set's folder even if the set's last night came from another "
    "(config: allow_new_source in the set's section).",
)
@limit_upload_option
@json_option
@click.pass_context
def run_cmd(
    ctx: click.Context,
    workers: int,
    allow_unversioned: bool,
    allow_new_source: bool,
    limit_upload: str | None,
    as_json: bool,
) -> None:
    """Back up every set of the config file that runs on this machine (what the schedule runs)."""
    try:
        config = cfg.load(ctx.obj.config_path)
        if config is None:
            raise ConfigError(f"no config file at {cfg.default_path()}; run `docbackup init` first")
        config.check_retention()
        mine = [s for s in config.sets.values() if s.here]
        if not mine:
            raise ConfigError(f"{config.path} names no set for this machine; see `init --set`")
        store = compose.backup_store(
            _need(config.bucket, "bucket"),
            workers=workers,
            region=config.region,
            limit_upload=cfg.upload_rate(limit_upload),
        )
    except DocbackupError as exc:
        click.echo(f"docbackup: error: {exc}", err=True)
        if as_json:
            render.emit_json({"status": "failed", "error": str(exc)})
        sys.exit(exitcodes.for_error(exc))
    results: list[dict[str, object]] = []
    interrupt.track("sets", lambda: results)  # the sets done before a signal stopped the run

    def told(outcome: Outcome) -> None:
        if isinstance(outcome, SetFailed):
            click.echo(f"docbackup: set {outcome.name}: error: {outcome.error}", err=True)
        results.append(outcome.summary())
        if isinstance(outcome, SetBackedUp) and not as_json:
            render.backup_text(outcome.result)

    office = Office(
        kms_key_id=config.kms_key_id,
        timezone=config.timezone,
        retention_days=config.retention_days,
        workers=workers,
        allow_unversioned=allow_unversioned or config.allow_unversioned,
        allow_new_source=allow_new_source,
        topic_arn=config.alarm_topic_arn,
        notify_on_success=config.notify_on_success,
        region=config.region,
        read_back_bytes=cfg.read_back_bytes(config.read_back) if config.read_back else 0,
    )
    run = run_sets(
        store,
        mine,
        office,
        reporter=lambda: reporter(as_json),
        on_outcome=told,
        on_notice_problem=lambda name, problem: click.echo(
            f"docbackup: set {name}: {problem}", err=True
        ),
    )
    code = exitcodes.for_agent(run)
    if as_json:
        status = "complete" if code == exitcodes.OK else "failed"
        render.emit_json({"status": status, "sets": results})
    sys.exit(code)


def _need(value: str | None, what: str) -> str:
    if not value:
        raise ConfigError(f"the config file has no {what}; run `docbackup init` again")
    return value
