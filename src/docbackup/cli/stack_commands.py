"""The stack on AWS: deploying it, reading how it stands, and the demo that runs it locally."""

from __future__ import annotations

import sys

import click

from docbackup import layout
from docbackup.cli import exitcodes, render
from docbackup.cli.options import config_region, fail, finish, json_option
from docbackup.errors import ConfigError, DocbackupError


@click.command("deploy")
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
        result = deploy(request, say=lambda m: click.echo(m, err=True), region=config_region())
    except DocbackupError as exc:
        fail(exc)
    click.echo(f"stack {result.stack_name}: {result.action}")
    for key, value in sorted(result.outputs.items()):
        click.echo(f"  {key}: {value}")
    click.echo(f"outputs written to {request.outputs_file}")


@click.command("status")
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
            region=config_region(),
        )
    except DocbackupError as exc:
        fail(exc, as_json)
    summary = report.summary()
    finish(
        summary, "complete" if report.ok else "failed", as_json, lambda: render.status_text(report)
    )


@click.command("demo")
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
