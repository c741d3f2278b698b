"""A total deadline for every HTTP request botocore sends, on top of its per-read timeout.

botocore's read timeout counts per socket read: a server that trickles its answer (a byte every
50 ms) is never cut off, and one small download took 392 s. Neither botocore nor urllib3 has a
total timeout, so the client's connections get one here: each attempt must be over (request
sent, answer read to its last byte, including a streamed download read later by the engine)
within its allowance, `Deadline.seconds`. Past it the next read fails exactly as a read timeout
does (socket.timeout, which urllib3 and botocore turn into ReadTimeoutError), so the attempt
goes through botocore's retries and docbackup's reports like any other timeout.

The allowance grows with the bytes the attempt moves, at a floor rate, so a large part or a
large download on a slow uplink is never cut off for being large. S3's server-side copies and
multipart completions answer only when done, and keep the connection alive with whitespace
meanwhile: they get `SLOW_S` more.
"""

from __future__ import annotations

import io
import re
import socket
import time
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import (
    AWSHTTPConnection,
    AWSHTTPConnectionPool,
    AWSHTTPSConnection,
    AWSHTTPSConnectionPool,
)

from docbackup.storage.throttle import Throttle

# What S3 may spend on a server-side copy or a multipart completion before its answer ends.
SLOW_S = 600.0
# Sends go out in blocks of this size, so that the deadline is checked between blocks.
_SEND_BLOCK = 64 * 1024
_COPY_RANGE = re.compile(rb"bytes=(\d+)-(\d+)")


@dataclass(frozen=True, slots=True)
class Deadline:
    """An attempt's allowance: `base_s` plus one second per `bytes_per_s` bytes sent or
    received. `base_s` is the read timeout: no single read waits longer either."""

    base_s: float
    bytes_per_s: float

    def seconds(self, nbytes: int = 0, *, slow: bool = False) -> float:
        return self.base_s + max(nbytes, 0) / self.bytes_per_s + (SLOW_S if slow else 0.0)


class _Budget:
    """One connection's current attempt: when it must be over."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.ends = float("inf")

    def start(self, nbytes: int, *, slow: bool) -> None:
        self.ends = time.monotonic() + self.deadline.seconds(nbytes, slow=slow)

    def extend(self, nbytes: int) -> None:
        self.ends += nbytes / self.deadline.bytes_per_s

    def arm(self, sock: socket.socket) -> None:
        """Let the next socket call wait no longer than the read timeout or the deadline."""
        left = self.ends - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request's deadline passed")
        sock.settimeout(min(self.deadline.base_s, left))


class _Reader(io.RawIOBase):
    """The response side of a connection's socket, each read armed by the budget.

    Reads go through the socket's own file (socket.makefile), which keeps the descriptor open
    while the response is read even after http.client has closed the connection's socket
    (an answer with "Connection: close")."""

    def __init__(self, sock: socket.socket, budget: _Budget) -> None:
        super().__init__()
        self._sock = sock
        self._file = sock.makefile("rb", buffering=0)
        self._budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        self._budget.arm(self._sock)
        return self._file.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


class _TimedSocket:
    """The connection's socket as http.client and urllib3 use it, every read and write of it
    bounded by the budget; anything else goes to the socket itself."""

    def __init__(
        self, sock: socket.socket, budget: _Budget, throttle: Throttle | None = None
    ) -> None:
        self._sock = sock
        self._budget = budget
        self._throttle = throttle

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def makefile(self, mode: str = "rb", buffering: int | None = None, **_: Any) -> Any:
        raw = _Reader(self._sock, self._budget)
        return raw if buffering == 0 else io.BufferedReader(raw)

    def sendall(self, data: Any) -> None:
        view = memoryview(data).cast("B")
        for at in range(0, len(view), _SEND_BLOCK):
            block = view[at : at + _SEND_BLOCK]
            if self._throttle is not None:
                self._throttle.take(len(block))
            self._budget.arm(self._sock)
            self._sock.sendall(block)


class _Timed:
    """Mixin for botocore's connection classes: a budget started by each request."""

    deadline: Deadline
    throttle: Throttle | None = None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        this: Any = self
        this.sock = _TimedSocket(this.sock, self._budget(), self.throttle)

    def _budget(self) -> _Budget:
        this: Any = self
        budget: _Budget | None = this.__dict__.get("_docbackup_budget")
        if budget is None:
            budget = _Budget(self.deadline)
            this._docbackup_budget = budget
        return budget

    def request(
        self, method: str, url: str, body: Any = None, headers: Any = None, **kw: Any
    ) -> Any:
        headers = headers or {}
        got = {str(k).lower(): v for k, v in headers.items()}
        # A body with a trailing checksum goes out chunked: its length is in the decoded header.
        sent = int(got.get("content-length") or got.get("x-amz-decoded-content-length") or 0)
        copied = _copied(got)
        slow = "x-amz-copy-source" in got or (method == "POST" and "uploadId=" in url)
        self._budget().start(sent + copied, slow=slow)
        self._docbackup_method = method
        return super().request(method, url, body, headers, **kw)  # type: ignore[misc]

    def getresponse(self) -> Any:
        response = super().getresponse()  # type: ignore[misc]
        if self._docbackup_method != "HEAD":
            # The answer's body, now that its length is known, counts like the bytes sent.
            length = response.headers.get("Content-Length")
            if length and length.isdigit():
                self._budget().extend(int(length))
        return response


def _copied(headers: dict[str, Any]) -> int:
    """The bytes an UploadPartCopy names (a CopyObject's size is not in its request)."""
    found = _COPY_RANGE.fullmatch(_as_bytes(headers.get("x-amz-copy-source-range", b"")))
    return int(found[2]) - int(found[1]) + 1 if found else 0


def _as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def install(client: Any, deadline: Deadline, throttle: Throttle | None = None) -> None:
    """Give every connection `client` opens from now on this deadline, and its sends this
    throttle (`--limit-upload`), if any.

    botocore has no setting for a total timeout and no public way to choose its connection
    classes, so this replaces the classes its HTTP session hands to urllib3 (the pool manager
    and any proxy managers share the one mapping)."""

    class Connection(_Timed, AWSHTTPConnection):  # type: ignore[misc]
        pass

    class SecureConnection(_Timed, AWSHTTPSConnection):  # type: ignore[misc]
        pass

    Connection.deadline = SecureConnection.deadline = deadline
    Connection.throttle = SecureConnection.throttle = throttle

    class Pool(AWSHTTPConnectionPool):  # type: ignore[misc]
        ConnectionCls = Connection

    class SecurePool(AWSHTTPSConnectionPool):  # type: ignore[misc]
        ConnectionCls = SecureConnection

    classes = client._endpoint.http_session._pool_classes_by_scheme
    classes.update({"http": Pool, "https": SecurePool})
