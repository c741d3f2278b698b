"""`docbackup ui`: the local web app (docbackup.web), on 127.0.0.1, for this run's token only."""

from __future__ import annotations

import secrets
import socket
import sys
import webbrowser
from collections.abc import Callable

import click

from docbackup import layout
from docbackup.cli.options import bucket_option, fail, open_store, retention_option, set_option
from docbackup.errors import ConfigError, DocbackupError, StoreError


@click.command("ui")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Port (default: any free one)."
)
@click.option("--no-browser", is_flag=True, help="Print the link; do not open a browser.")
@bucket_option
@set_option
@retention_option
@click.option("--stack-name", help="Also show the stack's alarms (from the config file if set).")
def ui_cmd(
    port: int,
    no_browser: bool,
    bucket: str | None,
    set_name: str,
    retention_days: int,
    stack_name: str | None,
) -> None:
    """A local web app to see how the backups stand, browse a night and download a document.

    Listens on 127.0.0.1 only. The link it prints carries a token made for this run, good
    once: only the browser that opened it gets in. The bucket and set come from the config
    file unless given. Stop it with Ctrl-C."""
    import uvicorn

    from docbackup.web.app import Settings, make_app

    try:
        layout.check_set_name(set_name)
        store = open_store(bucket, workers=4)
        store.check_access()
        listener = _listen(port)
    except DocbackupError as exc:
        fail(exc)
    bound = listener.getsockname()[1]
    token = secrets.token_urlsafe(32)
    settings = Settings(
        store.bucket,
        set_name,
        retention_days,
        alarms=_alarm_reader(stack_name) if stack_name else None,
    )
    app = make_app(lambda: store, settings, token=token, port=bound)
    link = f"http://127.0.0.1:{bound}/?token={token}"
    click.echo(f"docbackup ui: {link}")
    click.echo("(the link works once, in one browser; Ctrl-C stops the app)")
    if not no_browser:
        webbrowser.open(link)
    # No proxy in front: X-Forwarded-* from a local client are not believed.
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, proxy_headers=False, server_header=False
    )
    server = uvicorn.Server(config)
    server.run(sockets=[listener])


def _alarm_reader(stack_name: str) -> Callable[[], dict[str, str]]:
    """The stack's alarm states, read each time the page is drawn; a refusal (the restorer's
    and the office machine's policies grant no CloudWatch) is the page's to say."""
    from docbackup import compose
    from docbackup.cli.options import config_region
    from docbackup.stack.status import stack_alarms

    region = config_region()  # read now: the page is drawn outside click's context

    def read() -> dict[str, str]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return stack_alarms(compose.session(region), stack_name)
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(str(exc)) from None

    return read


def _listen(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if sys.platform == "win32":
        # There SO_REUSEADDR would let another process take the same port over.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
    else:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
    except OSError as exc:
        listener.close()
        raise ConfigError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    listener.listen(64)
    return listener
