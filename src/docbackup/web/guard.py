"""What keeps the local web app the person's own: a token, the Host header, and same-origin
state changes.

- The app listens on 127.0.0.1 only, but any page the person's browser opens can send requests
  there. So every request needs the token made at this start: the link `docbackup ui` prints
  carries it once (`/?token=...`), and the answer moves it into a cookie (HttpOnly,
  SameSite=Strict, so no other site's page sends it) and drops it from the address bar.
- A page on another name that resolves to 127.0.0.1 (DNS rebinding) would be same-origin to
  itself: the Host header must name this app, 127.0.0.1 or localhost on its port.
- A request that changes anything (not GET or HEAD) must come from this app's own pages: its
  Origin, when the browser sends one, must be this app's, and Sec-Fetch-Site must not say
  cross-site. The SameSite cookie already keeps such a request from carrying the token; this
  refuses it even where a browser would not.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

COOKIE = "docbackup_token"
SAFE_METHODS = {"GET", "HEAD"}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class Guard:
    """ASGI middleware in front of the whole app: nothing reaches a page without passing."""

    def __init__(self, app: App, *, token: str, port: int) -> None:
        self.app = app
        self.token = token
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.origins = {f"http://{h}" for h in self.hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, text = refusal
            await _plain(send, status, text)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        offered = query.get("token", [None])[0]
        if offered is not None:
            # The link's token goes into the cookie, and out of the address bar and history.
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [
                        (b"location", scope["path"].encode("latin-1") or b"/"),
                        (
                            b"set-cookie",
                            f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/".encode(),
                        ),
                        (b"cache-control", b"no-store"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        if headers.get("host") not in self.hosts:
            return 421, "this app answers only to 127.0.0.1 and localhost on its own port"
        if scope["method"] not in SAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None and origin not in self.origins:
                return 403, "refused: a request from another site may not change anything here"
            if headers.get("sec-fetch-site") == "cross-site":
                return 403, "refused: a request from another site may not change anything here"
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        offered = query.get("token", [None])[0]
        if offered is not None:
            if not hmac.compare_digest(offered, self.token):
                return (
                    403,
                    "this link's token is not this run's: open the link docbackup ui printed",
                )
            return None
        if not hmac.compare_digest(_cookie(headers.get("cookie", ""), COOKIE), self.token):
            return 403, "open the link `docbackup ui` printed (it carries this run's token)"
        return None


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


async def _plain(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
