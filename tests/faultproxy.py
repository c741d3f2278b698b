"""A reverse HTTP proxy on 127.0.0.1 that fails some S3 requests on purpose.

It sits between docbackup and moto's server: the client's endpoint is the proxy, the proxy
forwards to moto. A chosen share of requests meets one of these faults instead:

  slowdown      503 SlowDown, the request never reaches the server
  internal      500 InternalError, the request never reaches the server
  reset_before  the connection is reset before the server sees the request
  reset_after   the server acts on the request, then the connection is reset before the
                client sees the answer (the case that can store an upload twice)
  stall         nothing comes back for longer than the client's read timeout

and, asked for by name (not in KINDS):

  trickle       the server acts, and its whole answer (status line, headers and body; only
                the body when `trickle_head` is False) comes back one byte every
                `trickle_s`: no single read ever waits long

`only(method, path)` chooses which requests may meet a fault at all, and `kill()` is the
endpoint going away: nothing listens any more and every open connection is reset.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import random
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

KINDS = ("slowdown", "internal", "reset_before", "reset_after", "stall")
_ERRORS = {
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
    "internal": (500, "InternalError", "We encountered an internal error. Please try again."),
}
_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        *,
        rate: float,
        kinds: tuple[str, ...] = KINDS,
        seed: int = 0,
        stall_s: float = 1.5,
        ca_file: str = "",
        trickle_s: float = 0.05,
        only: Callable[[str, str], bool] | None = None,
    ) -> None:
        parsed = urlsplit(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        # The client speaks plain HTTP to the proxy; the proxy speaks to the server as given
        # (the sandbox serves HTTPS under its own authority).
        self._tls = ssl.create_default_context(cafile=ca_file) if parsed.scheme == "https" else None
        self.rate = rate
        self.kinds = kinds
        self.stall_s = stall_s
        self.trickle_s = trickle_s
        # False: the status line and headers come at once, and only the body trickles.
        self.trickle_head = True
        self.only = only
        self._open: set[socket.socket] = set()
        self._killed = threading.Event()
        self.faults: Counter[str] = Counter()
        self.requests = 0
        # Requests let through before faults start (to fail a run after its first calls).
        self.spare_first = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # A client that gave up mid-answer is what these faults are for, not an error to print
        # (in-process, stderr is the command's own, which the tests read).
        self._server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def kill(self) -> None:
        """The endpoint goes away: stop listening, reset every open connection, and end any
        answer still trickling out."""
        self._killed.set()
        self.stop()
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    conn.shutdown(socket.SHUT_RDWR)
            self._open.clear()

    def _choose(self, method: str, path: str) -> str | None:
        with self._lock:
            self.requests += 1
            if self.only is not None and not self.only(method, path):
                return None
            if self.requests <= self.spare_first or self._rng.random() >= self.rate:
                return None
            kind = self._rng.choice(self.kinds)
            self.faults[kind] += 1
            return kind

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._open.add(self.connection)

            def finish(self) -> None:
                with proxy._lock:
                    proxy._open.discard(self.connection)
                with contextlib.suppress(OSError):  # the client may have given up first
                    super().finish()

            def _trickle(self, data: bytes) -> None:
                for i in range(len(data)):
                    if proxy._killed.wait(proxy.trickle_s):
                        return
                    try:
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                    except OSError:  # the client gave up: what the trickle is for
                        self.close_connection = True
                        return

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while (size := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def _reset(self) -> None:
                # SO_LINGER 0: close() sends RST, as a dropped connection looks to the client.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True

            def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
                upstream = (
                    http.client.HTTPSConnection(*proxy.upstream, timeout=60, context=proxy._tls)
                    if proxy._tls
                    else http.client.HTTPConnection(*proxy.upstream, timeout=60)
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                headers.pop("Content-Length", None)
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                upstream.close()
                return response.status, response.getheaders(), data

            def _any(self) -> None:
                body = self._body()
                fault = proxy._choose(self.command, self.path)
                if fault in _ERRORS:
                    status, code, message = _ERRORS[fault]
                    xml = (
                        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                        f"<Message>{message}</Message></Error>"
                    ).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header(
                        "Content-Length", str(len(xml) if self.command != "HEAD" else 0)
                    )
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(xml)
                    return
                if fault == "reset_before":
                    self._reset()
                    return
                if fault == "stall":
                    time.sleep(proxy.stall_s)
                    self._reset()
                    return
                status, headers, data = self._forward(body)
                if fault == "reset_after":
                    self._reset()
                    return
                if fault == "trickle":
                    # The head goes into the buffer first, then out with the body a byte at a time.
                    self.wfile, real = io.BytesIO(), self.wfile
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in _HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                length = dict((k.lower(), v) for k, v in headers).get("content-length")
                self.send_header(
                    "Content-Length",
                    length if self.command == "HEAD" and length else str(len(data)),
                )
                self.end_headers()
                if fault == "trickle":
                    head, self.wfile = self.wfile.getvalue(), real
                    body = data if self.command != "HEAD" else b""
                    if not proxy.trickle_head:
                        self.wfile.write(head)
                        self.wfile.flush()
                        head = b""
                    self._trickle(head + body)
                    return
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        return Handler
