"""A fast path for one-request uploads and downloads, through the AWS Common Runtime's S3 client
(awscrt).

botocore spends about 3 ms of CPU on every PUT or GET (building, signing and parsing in Python);
the CRT client does the same in C on its own threads. On a first backup, or a restore, of many
small documents that is most of the client's work. The fast path only ever answers "done, with
these response headers (and this body)" or "not done": it makes one attempt, never retries, and
on any error, refusal or timeout hands the request back to botocore, which sends it again with
its own retry mode and turns whatever went wrong into docbackup's errors. So every failure is
still botocore's to report, and only a clean first attempt is the CRT's.

The endpoint, addressing style (path or virtual host) and signing region are those of the
bucket-level request (HeadBucket or GetBucketVersioning) botocore really sent at the start of
the run (after any region redirect),
so AWS_ENDPOINT_URL, regions, FIPS and custom endpoints behave as for every other request.
Without awscrt installed (the Lambda package ships without it), nothing changes.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import quote, urlsplit

from docbackup.errors import StoreError
from docbackup.storage.deadline import Deadline
from docbackup.storage.throttle import Throttle, ThrottledBody

# The largest body sent or fetched through the fast path (see CrtClient.put and .get).
LARGEST = 1024 * 1024


class CrtClient:
    """One-attempt PutObject and GetObject requests through awscrt's S3 client."""

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
        on_request: Callable[[str], None] | None = None,
        ca_bundle: str | None = None,
        deadline: Deadline | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        from awscrt import auth, http, s3
        from awscrt import io as crt_io

        self._s3 = s3
        self._http = http
        self._host = host
        self._prefix = path_prefix
        self._timeout_s = timeout_s
        # The same total allowance as botocore's requests (storage/deadline.py).
        self._deadline = deadline or Deadline(timeout_s, 125_000 / max(connections, 1))
        self._on_request = on_request
        self._connections = connections
        self._throttle = throttle

        def frozen() -> Any:
            # botocore refreshes temporary credentials (roles, SSO) as they near expiry.
            c = credentials.get_frozen_credentials()
            return auth.AwsCredentials(c.access_key, c.secret_key, c.token)

        provider = auth.AwsCredentialsProvider.new_delegate(frozen)
        loops = crt_io.EventLoopGroup(2)
        bootstrap = crt_io.ClientBootstrap(loops, crt_io.DefaultHostResolver(loops))
        tls_options = None
        if scheme == "https" and ca_bundle:
            # The same trust as botocore's (AWS_CA_BUNDLE, ca_bundle in the profile): a
            # company's TLS proxy, or the sandbox's own authority.
            context = crt_io.TlsContextOptions()
            context.override_default_trust_store_from_path(None, ca_bundle)
            tls_options = crt_io.ClientTlsContext(context).new_connection_options()
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
            # The CRT opens as many connections as its throughput target calls for (0.4 Gbit/s
            # each: 25 at its 10 Gbit/s default), whatever the override: a target that
            # follows the workers lets each of them have one.
            throughput_target_gbps=max(10.0, connections * 0.4),
            max_active_connections_override=connections,
            tls_connection_options=tls_options,
        )

    @classmethod
    def for_request(
        cls,
        url: str,
        authorization: str,
        bucket: str,
        credentials: Any,
        *,
        connections: int,
        timeout_s: float,
        on_request: Callable[[str], None] | None = None,
        ca_bundle: str | None = None,
        deadline: Deadline | None = None,
        throttle: Throttle | None = None,
    ) -> CrtClient | None:
        """An uploader that sends where a botocore request for `bucket` (its URL and its
        Authorization header) went, or None when that cannot be read off it."""
        try:
            import awscrt.s3  # noqa: F401 - only asking whether it is installed
        except ImportError:
            return None
        if credentials is None:
            return None  # botocore will say that there are none
        parts = urlsplit(url)
        path = parts.path.rstrip("/")
        virtual = parts.hostname is not None and parts.hostname.startswith(bucket + ".")
        if parts.scheme not in ("http", "https") or (path != f"/{bucket}" and not virtual):
            return None
        if virtual and path:
            return None
        # "AWS4-HMAC-SHA256 Credential=AKID/20251015/eu-west-1/s3/aws4_request, ..."
        scope = authorization.partition("Credential=")[2].split(",")[0].split("/")
        if len(scope) != 5 or scope[3] != "s3":
            return None
        try:
            return cls(
                scheme=parts.scheme,
                host=parts.netloc,
                path_prefix=path + "/",
                region=scope[2],
                credentials=credentials,
                connections=connections,
                timeout_s=timeout_s,
                on_request=on_request,
                ca_bundle=ca_bundle,
                deadline=deadline,
                throttle=throttle,
            )
        except Exception:  # any surprise: the botocore path serves every request
            return None

    def put(self, key: str, data: bytes, headers: Mapping[str, str]) -> dict[str, str] | None:
        """PUT `data` once; the response headers (lowercase names) on success, else None.

        Bodies above LARGEST are left to botocore: the per-request saving no longer matters
        there, and the CRT reports no progress until a body is sent, so a slow uplink could
        not be told from a stalled server here."""
        if len(data) > LARGEST:
            return None
        path = self._prefix + quote(key, safe="/~")
        request = self._http.HttpRequest(
            "PUT",
            path,
            self._http.HttpHeaders(
                [("Host", self._host), ("Content-Length", str(len(data))), *headers.items()]
            ),
            # Under a cap, the CRT reads the body as the throttle lets it.
            io.BytesIO(data) if self._throttle is None else ThrottledBody(data, self._throttle),
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
            self._on_request("PutObject")
        try:
            pending = self._client.make_request(
                type=self._s3.S3RequestType.PUT_OBJECT,
                request=request,
                on_headers=on_headers,
                on_done=on_done,
            )
        except Exception:
            return None
        if not self._finished(pending, done, len(data), key, upload=True):
            return None
        status = got.get("status")
        if got.get("error") is not None or status is None or not 200 <= status < 300:
            return None
        result: dict[str, str] = got["headers"]
        return result

    def get(self, key: str, version_id: str | None, size: int) -> bytes | None:
        """The whole body of `key` (at `version_id`), fetched once; None when not done (the
        caller then asks botocore, which retries and reports).

        Only for an object the caller expects to hold 1 to LARGEST bytes: the CRT hands a
        single request's body over when it is complete, so it is held in memory whole. A body
        of another length than the server's Content-Length is not done either."""
        if not 0 < size <= LARGEST:
            return None
        path = self._prefix + quote(key, safe="/~")
        if version_id:
            path += "?versionId=" + quote(version_id, safe="")
        request = self._http.HttpRequest(
            "GET", path, self._http.HttpHeaders([("Host", self._host)])
        )
        got: dict[str, Any] = {}
        chunks: list[bytes] = []
        done = threading.Event()

        def on_headers(status_code: int, headers: list[tuple[str, str]], **_: Any) -> None:
            got["status"] = status_code
            got["length"] = next(
                (value for name, value in headers if name.lower() == "content-length"), None
            )

        def on_body(chunk: Any, **_: Any) -> None:
            chunks.append(bytes(chunk))  # the CRT reuses its buffer once this returns

        def on_done(error: BaseException | None = None, **_: Any) -> None:
            got["error"] = error
            done.set()

        if self._on_request is not None:
            self._on_request("GetObject")
        try:
            # DEFAULT, not GET_OBJECT: exactly the request botocore would send (no ranged
            # parts, so an empty or a changed object reads as it is), and one request to count.
            pending = self._client.make_request(
                type=self._s3.S3RequestType.DEFAULT,
                operation_name="GetObject",
                request=request,
                on_headers=on_headers,
                on_body=on_body,
                on_done=on_done,
            )
        except Exception:
            return None
        if not self._finished(pending, done, size, key, upload=False):
            return None
        status = got.get("status")
        if got.get("error") is not None or status != 200:
            return None
        body = b"".join(chunks) if len(chunks) != 1 else chunks[0]
        if got.get("length") != str(len(body)):
            return None  # cut short, or an answer that said no length
        return body

    def _finished(
        self, pending: Any, done: threading.Event, nbytes: int, key: str, *, upload: bool
    ) -> bool:
        """Wait for a request to end within the deadline a botocore request of `nbytes` has;
        False if it had to be cancelled (the caller then leaves it to botocore).

        The CRT has neither a read timeout nor a total one: a server that stops answering,
        or trickles its answer, must not hold the night."""
        ends = time.monotonic() + self._deadline.seconds(nbytes)
        while not done.wait(max(0.0, min(1.0, ends - time.monotonic()))):
            if time.monotonic() >= ends:
                pending.cancel()
                try:
                    pending.finished_future.exception(timeout=self._timeout_s)
                except FutureTimeout:
                    if upload:
                        # Still in flight: sent again, this copy could land after the new one
                        # and become the current version. Fail the document instead.
                        raise StoreError(
                            f"{key}: an upload that stalled could not be stopped; not sent again"
                        ) from None
                    # A download still in flight harms nothing: botocore reads it anew.
                return False
        return True
