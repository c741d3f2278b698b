"""`docbackup`: a thin click group; each command parses, calls the engine and renders."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import click

from docbackup import __version__, compose, layout
from docbackup.cli import config as cfg
from docbackup.cli import exitcodes, interrupt, render
from docbackup.cli.options import (
    bucket_option,
    fail,
    finish,
    json_option,
    open_store,
    reporter,
    retention_option,
    set_option,
    workers_option,
)
from docbackup.engine import BackupOptions, Catalog, backup, restore, verify
from docbackup.engine.backup import utc_now
from docbackup.errors import ConfigError, DocbackupError
from docbackup.storage.base import Encryption, RestoreTier


@dataclass(frozen=True, slots=True)
class State:
    config_path: str | None
    config: cfg.Config | None


# Commands that never read the config file: a broken file must not stand between the user and
# the cost estimate, the demo, or removing the schedule that runs it. (`schedule install`
# checks the file itself.)
_WITHOUT_CONFIG = frozenset({"cost", "demo", "schedule"})


class _Group(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # click's parser consumes the list it is given
        rest = super().parse_args(ctx, args)
        # Remembered so that `docbackup CMD --help` works while the config file is broken.
        ctx.meta["docbackup.help"] = self._asks_help(ctx, given, rest)
        return rest

    def _asks_help(self, ctx: click.Context, args: list[str], rest: list[str]) -> bool:
        """Does the subcommand's own command line hold its help flag? Read with the
        subcommand's parser, so that `--set -h` (a value) is not taken for it."""
        if len(args) <= len(rest):
            return False
        name = args[len(args) - len(rest) - 1]
        command = self.get_command(ctx, name)
        if command is None:
            return False
        probe = click.Context(command, parent=ctx, info_name=name, resilient_parsing=True)
        flag = command.get_help_option(probe)
        try:
            values, _, _ = command.make_parser(probe).parse_args(list(rest))
        except click.UsageError:
            return False
        return flag is not None and values.get(flag.name) is True


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="docbackup")
@click.option(
    "--config",
    "config_path",
    envvar=cfg.ENV,
    type=click.Path(dir_okay=False),
    help="Config file (default: config.toml in the platform's config folder).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Nightly, verified, encrypted backups of documents into S3 as dated snapshots."""
    config = None
    # `init` writes the file, so a missing one is not an error there.
    if ctx.invoked_subcommand != "init" or (config_path and os.path.exists(config_path)):
        try:
            config = cfg.load(config_path)
        except DocbackupError as exc:
            if not (ctx.invoked_subcommand in _WITHOUT_CONFIG or ctx.meta["docbackup.help"]):
                fail(exc)
    ctx.obj = State(config_path, config)
    if config is not None:
        ctx.default_map = config.default_map()
        # The file's region for every client the command builds, until the command ends.
        ctx.with_resource(compose.command_region(config.region))


@cli.command("backup")
@click.argument("source", required=False)
@bucket_option
@set_option
@click.option("--date", help="Snapshot date YYYY-MM-DD (default: today in --timezone).")
@click.option(
    "--kms-key-id",
    envvar="DOCBACKUP_KMS_KEY_ID",
    help="KMS key for SSE-KMS (default: the bucket's default key).",
)
@click.option(
    "--sse",
    type=click.Choice(["aws:kms", "AES256", "none"]),
    envvar="DOCBACKUP_SSE",
    default="aws:kms",
    show_default=True,
    help="Server-side encryption; AES256 or none only for servers without KMS.",
)
@click.option(
    "--timezone",
    envvar="DOCBACKUP_TIMEZONE",
    default="UTC",
    show_default=True,
    help="Time zone that decides the snapshot date.",
)
@retention_option
@workers_option
@click.option("--dry-run", is_flag=True, help="Plan and report; store nothing.")
@click.option("--allow-empty", is_flag=True, help="Accept a source with no documents.")
@click.option(
    "--allow-unversioned",
    is_flag=True,
    envvar="DOCBACKUP_ALLOW_UNVERSIONED",
    help="Back up into a bucket without versioning (refused otherwise).",
)
@click.option(
    "--allow-new-source",
    is_flag=True,
    help="Back up a SOURCE other than the one the set's last night came from.",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Leave out paths matching this gitignore-style pattern (repeatable).",
)
@click.option(
    "--no-default-excludes",
    is_flag=True,
    help="Also back up office lock and temporary files (~$*, .~lock.*#, *.tmp).",
)
@json_option
@click.pass_context
def backup_cmd(
    ctx: click.Context,
    source: str | None,
    bucket: str | None,
    set_name: str,
    date: str | None,
    kms_key_id: str | None,
    sse: str,
    timezone: str,
    retention_days: int,
    workers: int,
    dry_run: bool,
    allow_empty: bool,
    allow_unversioned: bool,
    allow_new_source: bool,
    exclude: tuple[str, ...],
    no_default_excludes: bool,
    as_json: bool,
) -> None:
    """Back up SOURCE (a folder or s3://bucket/prefix) as tonight's snapshot.

    Without SOURCE, the set's folder comes from the config file; the set's excludes apply
    whenever the folder is its own."""
    state: State = ctx.obj
    counter = compose.RequestCounter()
    interrupt.track("requests", lambda: counter.total)
    try:
        default_excludes = not no_default_excludes
        if source is None:
            if state.config is None:
                raise ConfigError("no SOURCE given and no config file (see `docbackup init`)")
            own = state.config.set_named(set_name)
            configured: cfg.SetConfig | None = own
            source = own.source
        else:
            configured = _same_set(state.config, set_name, source)
        if configured is not None:
            exclude = configured.exclude + exclude
            default_excludes = default_excludes and configured.default_excludes
        if sse != "aws:kms" and _from_config(ctx, "kms_key_id"):
            kms_key_id = None  # the stack's key, from the config file: not asked for here
        if sse != "aws:kms" and kms_key_id:
            raise ConfigError(f"--kms-key-id goes with --sse aws:kms, not --sse {sse}")
        options = BackupOptions(
            set_name=layout.check_set_name(set_name),
            date=layout.parse_date(date) if date else None,
            timezone=timezone,
            encryption=Encryption(sse, kms_key_id),  # type: ignore[arg-type]
            retention_days=retention_days,
            workers=workers,
            dry_run=dry_run,
            allow_empty=allow_empty,
            allow_unversioned=allow_unversioned,
            allow_new_source=allow_new_source,
            check_clock=True,
        )
        store = open_store(bucket, workers, counter)
        result = backup(
            store,
            compose.source_for(source, store, exclude=exclude, default_excludes=default_excludes),
            options,
            reporter=reporter(as_json),
        )
    except DocbackupError as exc:
        fail(exc, as_json, requests=counter.total)
    finish(
        result.summary() | {"requests": counter.total},
        result.status,
        as_json,
        lambda: render.backup_text(result),
    )


def _same_set(config: cfg.Config | None, set_name: str, source: str) -> cfg.SetConfig | None:
    """The config's set when SOURCE is that set's own source given again: its excludes still
    apply then, as they do on the nightly `run`."""
    known = config.sets.get(set_name) if config else None
    if known is None or known.source.startswith("s3://") != source.startswith("s3://"):
        return None
    if source.startswith("s3://"):
        same = known.source.rstrip("/") == source.rstrip("/")
    else:
        same = _folder(source) == _folder(known.source)
    return known if same else None


def _folder(path: str) -> str:
    # The same folder however it is typed: ~, a symlink, or another case on Windows.
    return os.path.normcase(os.path.realpath(os.path.expanduser(path)))


def _from_config(ctx: click.Context, param: str) -> bool:
    return ctx.get_parameter_source(param) is click.ParameterSource.DEFAULT_MAP


@cli.command("list")
@bucket_option
@set_option
@json_option
def list_cmd(bucket: str | None, set_name: str, as_json: bool) -> None:
    """List the snapshots of a set: status, size, and whether each restores fully."""
    try:
        store = open_store(bucket, workers=4)
        store.check_access()
        infos = Catalog(store, set_name).snapshots(now=utc_now())
    except DocbackupError as exc:
        fail(exc, as_json)
    if as_json:
        render.emit_json(
            {"bucket": store.bucket, "set": set_name, "snapshots": [i.summary() for i in infos]}
        )
    else:
        render.snapshots_table(infos, store.bucket, set_name)


@cli.command("restore")
@click.argument("when", metavar="DATE|latest")
@click.option(
    "--to",
    "target",
    required=True,
    # Checked by the engine, which says in one line why a target cannot be used.
    type=click.Path(),
    help="Folder to restore into.",
)
@bucket_option
@set_option
@click.option(
    "--include",
    multiple=True,
    metavar="GLOB",
    help="Only documents whose path matches (repeatable).",
)
@click.option("--overwrite", is_flag=True, help="Replace files that already exist in --to.")
@click.option(
    "--tier",
    type=click.Choice(["bulk", "standard", "expedited"]),
    default=None,
    help="Ask S3 to restore copies held in Glacier or Deep Archive, with this retrieval tier; "
    "run the restore again once they are back.",
)
@workers_option
@json_option
def restore_cmd(
    when: str,
    target: str,
    bucket: str | None,
    set_name: str,
    include: tuple[str, ...],
    overwrite: bool,
    tier: RestoreTier | None,
    workers: int,
    as_json: bool,
) -> None:
    """Rebuild the documents of night DATE (or the latest) in a folder, SHA-256 verified."""
    try:
        store = open_store(bucket, workers)
        result = restore(
            store,
            layout.check_set_name(set_name),
            when,
            target,
            include=include,
            overwrite=overwrite,
            workers=workers,
            reporter=reporter(as_json),
            tier=tier,
        )
    except DocbackupError as exc:
        fail(exc, as_json)
    finish(result.summary(), result.status, as_json, lambda: render.restore_text(result, target))


@cli.command("verify")
@click.argument("when", metavar="[DATE|latest]", required=False)
@click.option("--all", "all_dates", is_flag=True, help="Every snapshot of the set.")
@click.option("--deep", is_flag=True, help="Download and re-hash every stored copy.")
@bucket_option
@set_option
@workers_option
@json_option
def verify_cmd(
    when: str | None,
    all_dates: bool,
    deep: bool,
    bucket: str | None,
    set_name: str,
    workers: int,
    as_json: bool,
) -> None:
    """Check that a snapshot's stored copies exist, encrypted, with the right size and hash."""
    try:
        if when and all_dates:
            raise ConfigError("give a DATE or --all, not both")
        store = open_store(bucket, workers)
        result = verify(
            store,
            layout.check_set_name(set_name),
            when,
            all_dates=all_dates,
            deep=deep,
            workers=workers,
            reporter=reporter(as_json),
        )
    except DocbackupError as exc:
        fail(exc, as_json)
    finish(result.summary(), result.status, as_json, lambda: render.verify_text(result))


@cli.command("deploy")
@click.option("--stack-name", required=True, help="CloudFormation stack to create or update.")
@click.option(
    "--environment",
    type=click.Choice(["dev", "staging", "prod"]),
    help="Sets retention (7/14/30 days); default prod on create, unchanged on update.",
)
@click.option("--bucket-name", help="Base name of the buckets (default: from the stack name).")
@click.option(
    "--source-bucket", help="The bucket whose documents are backed up (needed to create)."
)
@click.option("--source-prefix", help="Only documents under this prefix.")
@click.option("--alert-email", help="Address that receives alarms.")
@click.option(
    "--artifact-bucket",
    help="Bucket for the function package (default: docbackup-artifacts-ACCOUNT-REGION).",
)
@click.option(
    "--parameter",
    "parameters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other template parameter, e.g. ScheduleTimezone=Europe/London, "
    "NotifyOnSuccess=true, CreateDashboard=true (repeatable).",
)
def deploy_cmd(
    stack_name: str,
    environment: str | None,
    bucket_name: str | None,
    source_bucket: str | None,
    source_prefix: str | None,
    alert_email: str | None,
    artifact_bucket: str | None,
    parameters: tuple[str, ...],
) -> None:
    """Package the function and create or update the stack through a change set."""
    from docbackup.stack.deploy import DeployRequest, deploy

    extra = {}
    for given in parameters:
        key, sep, value = given.partition("=")
        if not sep or not key:
            fail(ConfigError(f"--parameter takes KEY=VALUE, not {given!r}"))
        extra[key] = value
    request = DeployRequest(
        stack_name,
        environment=environment,
        bucket_name=bucket_name,
        source_bucket=source_bucket,
        source_prefix=source_prefix,
        alert_email=alert_email,
        artifact_bucket=artifact_bucket,
        extra_parameters=extra,
    )
    try:
        result = deploy(request, say=lambda m: click.echo(m, err=True))
    except DocbackupError as exc:
        fail(exc)
    click.echo(f"stack {result.stack_name}: {result.action}")
    for key, value in sorted(result.outputs.items()):
        click.echo(f"  {key}: {value}")
    click.echo(f"outputs written to {request.outputs_file}")


@cli.command("status")
@click.option("--stack-name", required=True, help="The deployed docbackup stack.")
@click.option(
    "--nights",
    type=click.IntRange(1, 400),
    default=30,
    show_default=True,
    help="How many recent nights to show.",
)
@click.option(
    "--set",
    "set_name",
    envvar="DOCBACKUP_SET",
    help="Whose nights to show (default: the set the stack's function backs up).",
)
@json_option
def status_cmd(stack_name: str, nights: int, set_name: str | None, as_json: bool) -> None:
    """The last nights, the alarm states, and the live configuration read back."""
    from docbackup.stack.status import status

    try:
        report = status(
            stack_name,
            nights=nights,
            set_name=layout.check_set_name(set_name) if set_name else None,
        )
    except DocbackupError as exc:
        fail(exc, as_json)
    summary = report.summary()
    finish(
        summary, "complete" if report.ok else "failed", as_json, lambda: render.status_text(report)
    )


@cli.command("demo")
@click.option(
    "--documents",
    type=click.IntRange(1, 100_000),
    default=500,
    show_default=True,
    help="How many sample documents to generate.",
)
@json_option
def demo_cmd(documents: int, as_json: bool) -> None:
    """Run a night end to end on an embedded local AWS (no account needed)."""
    try:
        from docbackup.sandbox import demo
    except ImportError as exc:
        fail(
            ConfigError(
                f"the demo needs the sandbox extra: pip install 'docbackup[sandbox]' ({exc})"
            )
        )
    try:
        report = demo.run(documents=documents, say=None if as_json else render.say)
    except DocbackupError as exc:
        fail(exc, as_json)
    if as_json:
        render.emit_json(report)
    sys.exit(exitcodes.OK if report["status"] == "ok" else exitcodes.FAILED)


def _attach() -> None:
    from docbackup.cli.agent import init_cmd, run_cmd
    from docbackup.cli.browse import cat_cmd, diff_cmd, find_cmd, ls_cmd
    from docbackup.cli.costs import cost_cmd
    from docbackup.cli.report import report_cmd
    from docbackup.cli.schedule import schedule

    commands = (init_cmd, run_cmd, ls_cmd, find_cmd, diff_cmd, cat_cmd, report_cmd, cost_cmd)
    for command in (*commands, schedule):
        cli.add_command(command)
    _name_environment(cli)


def _name_environment(command: click.Command) -> None:
    """Every option an environment variable can set names it in its help, wherever the
    option was written: a user learns DOCBACKUP_SET from `--help`, not from the source."""
    for param in command.params:
        if isinstance(param, click.Option) and param.envvar:
            param.show_envvar = True
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _name_environment(sub)


_attach()


def main() -> None:
    interrupt.install()
    try:
        cli(prog_name="docbackup")
    except interrupt.Interrupted as exc:
        interrupt.report(exc)
        sys.exit(interrupt.exit_code(exc.signum))
