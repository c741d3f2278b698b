"""What keeps the local web app the person's own: a one-time link, the Host header, and
requests from this app's own pages only.

- The app listens on 127.0.0.1 only, but any page the person's browser opens, and any other
  user of the machine, can send requests there. So every request needs this run's session:
  the link `docbackup ui` prints carries a token that works once (`/?token=...`); opening it
  sets a cookie with a session value of its own (HttpOnly, SameSite=Strict, named for this
  port, so that a second run of the app does not replace another's) and leaves the address
  bar with `/`. A link seen later (in a process list, a browser's history) opens nothing.
  Cookies are not scoped by port: the browser also sends this one to any other server on
  127.0.0.1 it is led to, which could then act as the person (README, Limits).
- A page on another name that resolves to 127.0.0.1 (DNS rebinding) would be same-origin to
  itself: the Host header must name this app, 127.0.0.1 or localhost on its port.
- The browser says where a request comes from (Sec-Fetch-Site): anything but this app's own
  pages or the person's own navigation is refused, reads included; and a request that would
  change anything must also carry this app's Origin when it carries one.
- A browser too old to send either header still cannot forge a form: every form of the app
  carries this run's form token (`FORM_TOKEN` in the request's scope), which another site
  cannot read, and the page that takes the form checks it.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

SAFE_METHODS = {"GET", "HEAD"}
# What a browser says of a request from this app's own pages, or one the person started.
OWN_FETCH_SITES = {"same-origin", "none"}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
# Where the app finds this run's form token in each request's scope.
FORM_TOKEN = "docbackup.form_token"  # noqa: S105 - a scope key, not the token


class Guard:
    """ASGI middleware in front of the whole app: nothing reaches a page without passing."""

    def __init__(self, app: App, *, token: str, port: int) -> None:
        self.app = app
        self._link: str | None = token  # None once the link has been used
        self._session = secrets.token_urlsafe(32)
        self.form_token = secrets.token_urlsafe(32)
        self.cookie = f"docbackup_ui_{port}"
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.origins = {f"http://{h}" for h in self.hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no other kind of connection is served
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, text = refusal
            await _plain(send, status, text)
            return
        if _offered(scope) is not None:
            self._link = None  # the link works once
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    # Always the start page: a path from the request is never echoed here.
                    "headers": [
                        (b"location", b"/"),
                        (
                            b"set-cookie",
                            f"{self.cookie}={self._session}; HttpOnly; SameSite=Strict; "
                            "Path=/".encode(),
                        ),
                        (b"cache-control", b"no-store"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        scope[FORM_TOKEN] = self.form_token
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        if headers.get("host") not in self.hosts:
            return 421, "this app answers only to 127.0.0.1 and localhost on its own port"
        site = headers.get("sec-fetch-site")
        if site is not None and site not in OWN_FETCH_SITES:
            return 403, "refused: a request from another site may not read or change anything here"
        if scope["method"] not in SAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None and origin not in self.origins:
                return 403, "refused: a request from another site may not change anything here"
        offered = _offered(scope)
        if offered is not None:
            if self._link is None or not same_token(offered, self._link):
                return 403, (
                    "this link has been used or is not this run's: run `docbackup ui` again "
                    "for a new one"
                )
            return None
        if not any(
            same_token(v, self._session) for v in _cookies(headers.get("cookie", ""), self.cookie)
        ):
            return 403, "open the link `docbackup ui` printed (it works once, in one browser)"
        return None


def _offered(scope: Scope) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("token")
    return values[0] if values else None


def same_token(a: str, b: str) -> bool:
    """In constant time, so that a guess learns nothing from how long the refusal took."""
    # Bytes: compare_digest refuses str with characters beyond ASCII.
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"), b.encode())


def _cookies(header: str, name: str) -> list[str]:
    """Every value the Cookie header gives `name` (a browser may send several)."""
    found = []
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            found.append(value)
    return found


async def _plain(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
