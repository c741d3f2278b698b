"""moto's server on 127.0.0.1, on a free port, for as long as a `with` block lasts.

By default it speaks HTTPS with a certificate of its own (docbackup.sandbox.tls) and every
signed request passes AWS's authorization rules first (docbackup.sandbox.rules.gateway): the
stack's policies are enforced here as AWS would enforce them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from docbackup.sandbox.rules.gateway import ROOT_KEY, Gateway, RequestLog

REGION = "us-east-1"
# The sandbox's own credentials: the account's root user (see rules.gateway).
CREDENTIALS = {"AWS_ACCESS_KEY_ID": ROOT_KEY, "AWS_SECRET_ACCESS_KEY": "sandbox"}


class LocalAWS:
    def __init__(self, *, tls: bool = True) -> None:
        self.tls = tls
        self.endpoint = ""
        self.ca_file = ""
        self.gateway: Gateway | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._folder = ""

    def start(self) -> LocalAWS:
        from cheroot import wsgi
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self.gateway = Gateway(DomainDispatcherApplication(create_backend_app))
        # cheroot rather than moto's own werkzeug server: werkzeug's closes the connection after
        # every response, so over TLS each request paid a full handshake (measured: the demo
        # took a third longer); cheroot keeps connections alive and serves them from a pool.
        # Enough threads for a night's 16 workers, their multipart parts and the CRT's
        # connections at once.
        self._server = wsgi.Server(("127.0.0.1", 0), self.gateway, numthreads=48)
        if self.tls:
            from cheroot.ssl.builtin import BuiltinSSLAdapter

            from docbackup.sandbox import tls

            self._folder = tempfile.mkdtemp(prefix="docbackup-sandbox-tls-")
            cert = tls.make(self._folder)
            self.ca_file = cert.ca_file
            self._server.ssl_adapter = BuiltinSSLAdapter(cert.cert_file, cert.key_file)
        self._server.prepare()
        self._thread = threading.Thread(target=self._server.serve, daemon=True)
        self._thread.start()
        host, port = self._server.bind_addr[:2]
        self.endpoint = f"{'https' if self.tls else 'http'}://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        if self._thread is not None:
            self._thread.join()
        if self._folder:
            shutil.rmtree(self._folder, ignore_errors=True)

    @property
    def requests(self) -> RequestLog:
        """What the authorization layer evaluated and refused since the server started."""
        if self.gateway is None:
            raise RuntimeError("start() first")
        return self.gateway.log

    @property
    def environment(self) -> dict[str, str]:
        """What the standard AWS chain needs to talk to this server instead of AWS."""
        env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            **CREDENTIALS,
        }
        if self.ca_file:
            env["AWS_CA_BUNDLE"] = self.ca_file
        return env

    def client(self, service: str, credentials: dict[str, str] | None = None) -> Any:
        """A client as the account's root user, or as the actor whose credentials are given."""
        import boto3

        creds = credentials or CREDENTIALS
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=creds.get("AWS_SESSION_TOKEN"),
            verify=self.ca_file or None,
        )

    def create_backup_bucket(self, name: str) -> str:
        """A versioned bucket with SSE-KMS by default, as the stack makes it; returns the key id."""
        kms = self.client("kms")
        key_id: str = kms.create_key(Description=f"docbackup sandbox key for {name}")[
            "KeyMetadata"
        ]["KeyId"]
        s3 = self.client("s3")
        s3.create_bucket(Bucket=name)
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": key_id,
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
        return key_id


@contextmanager
def environment(variables: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, for None, unset) environment variables for the `with` block, then put back
    what was there."""
    saved = {k: os.environ.get(k) for k in variables}
    for key, value in variables.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def local_aws() -> Iterator[LocalAWS]:
    """Start the server and point this process's AWS chain at it for the `with` block."""
    aws = LocalAWS().start()
    try:
        with environment(aws.environment):
            yield aws
    finally:
        aws.stop()


@contextmanager
def acting_as(credentials: dict[str, str]) -> Iterator[None]:
    """This process's AWS chain uses these credentials (an actor's) for the `with` block."""
    with environment({"AWS_SESSION_TOKEN": None, **credentials}):
        yield
