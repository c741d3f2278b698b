"""A fast path for one-request uploads, through the AWS Common Runtime's S3 client (awscrt).

botocore spends about 3 ms of CPU on every PUT (building, signing and parsing in Python); the
CRT client does the same in C on its own threads. On a first backup of many small documents
that is most of the client's work. The fast path only ever answers "stored, with these response
headers" or "not done": it makes one attempt, never retries, and on any error, refusal or
timeout hands the document back to botocore, which sends it again with its own retry mode and
turns whatever went wrong into docbackup's errors. So every failure is still botocore's to
report, and only a clean first attempt is the CRT's.

The endpoint and addressing style (path or virtual host) are botocore's own: they are read off
a presigned URL, so AWS_ENDPOINT_URL, regions and custom endpoints behave as for every other
request. Without awscrt installed (the Lambda package ships without it), nothing changes.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import quote, urlsplit

# A presigned URL for this key shows where botocore would send a request, and how.
_PROBE_KEY = "docbackup-endpoint-probe"


class CrtUploader:
    """One-attempt PutObject requests through awscrt's S3 client."""

    def __init__(
        self,
        *,
        scheme: str,
        host: str,
        path_prefix: str,
        region: str,
        credentials: Any,
        connections: int,
        timeout_s: float,
        on_request: Callable[[], None] | None = None,
    ) -> None:
        from awscrt import auth, http, s3
        from awscrt import io as crt_io

        self._s3 = s3
        self._http = http
        self._host = host
        self._prefix = path_prefix
        self._timeout_s = timeout_s
        self._on_request = on_request

        def frozen() -> Any:
            # botocore refreshes temporary credentials (roles, SSO) as they near expiry.
            c = credentials.get_frozen_credentials()
            return auth.AwsCredentials(c.access_key, c.secret_key, c.token)

        provider = auth.AwsCredentialsProvider.new_delegate(frozen)
        loops = crt_io.EventLoopGroup(2)
        bootstrap = crt_io.ClientBootstrap(loops, crt_io.DefaultHostResolver(loops))
        self._client = s3.S3Client(
            bootstrap=bootstrap,
            region=region,
            tls_mode=s3.S3RequestTlsMode.ENABLED
            if scheme == "https"
            else s3.S3RequestTlsMode.DISABLED,
            signing_config=s3.create_default_s3_signing_config(
                region=region, credential_provider=provider
            ),
            # One attempt: retries, and the reports of what failed, are botocore's.
            retry_config=s3.S3RetryConfig(retry_mode=s3.S3RetryMode.NONE),
            connect_timeout_ms=10_000,
            max_active_connections_override=connections,
        )

    @classmethod
    def for_client(
        cls,
        client: Any,
        credentials: Any,
        bucket: str,
        *,
        connections: int,
        timeout_s: float,
        on_request: Callable[[], None] | None = None,
    ) -> CrtUploader | None:
        """An uploader that sends where `client` would, or None when it cannot be built."""
        try:
            import awscrt.s3  # noqa: F401 - only asking whether it is installed
        except ImportError:
            return None
        if credentials is None:
            return None  # botocore will say that there are none
        try:
            url = client.generate_presigned_url(
                "put_object", Params={"Bucket": bucket, "Key": _PROBE_KEY}, ExpiresIn=60
            )
            parts = urlsplit(url)
            if not parts.path.endswith("/" + _PROBE_KEY) or parts.scheme not in ("http", "https"):
                return None
            return cls(
                scheme=parts.scheme,
                host=parts.netloc,
                path_prefix=parts.path[: -len(_PROBE_KEY)],
                region=client.meta.region_name or "us-east-1",
                credentials=credentials,
                connections=connections,
                timeout_s=timeout_s,
                on_request=on_request,
            )
        except Exception:  # any surprise: the botocore path serves every request
            return None

    def put(self, key: str, data: bytes, headers: Mapping[str, str]) -> dict[str, str] | None:
        """PUT `data` once; the response headers (lowercase names) on success, else None."""
        path = self._prefix + quote(key, safe="/~")
        request = self._http.HttpRequest(
            "PUT",
            path,
            self._http.HttpHeaders(
                [("Host", self._host), ("Content-Length", str(len(data))), *headers.items()]
            ),
            io.BytesIO(data),
        )
        got: dict[str, Any] = {}
        done = threading.Event()

        def on_headers(status_code: int, headers: list[tuple[str, str]], **_: Any) -> None:
            got["status"] = status_code
            got["headers"] = {name.lower(): value for name, value in headers}

        def on_done(error: BaseException | None = None, **_: Any) -> None:
            got["error"] = error
            done.set()

        if self._on_request is not None:
            self._on_request()
        try:
            pending = self._client.make_request(
                type=self._s3.S3RequestType.PUT_OBJECT,
                request=request,
                on_headers=on_headers,
                on_done=on_done,
            )
        except Exception:
            return None
        # No read timeout in the CRT: a stalled server must not hold the night. The budget is
        # botocore's read timeout plus the time to send the body at 1 Mbit/s.
        if not done.wait(self._timeout_s + len(data) / 125_000):
            pending.cancel()
            with contextlib.suppress(FutureTimeout, Exception):
                pending.finished_future.result(timeout=5)
            return None
        status = got.get("status")
        if got.get("error") is not None or status is None or not 200 <= status < 300:
            return None
        result: dict[str, str] = got["headers"]
        return result
