"""The pages: how things stand, a night as folders, a search, and one document's download.

Every page is the engine's answer rendered (Jinja2, autoescaped); the engine calls block, so
each route is a plain function Starlette runs on its thread pool. Errors the engine explains
(a night that is not there, a copy that does not match) become a page saying so, never a
half-sent file.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import quote

import jinja2
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from docbackup import layout
from docbackup.engine import Catalog, browse
from docbackup.engine.results import SnapshotInfo
from docbackup.engine.watch import watch
from docbackup.errors import ConfigError, DocbackupError
from docbackup.storage.base import Store
from docbackup.web.guard import Guard

HERE = os.path.dirname(__file__)
NIGHTS_SHOWN = 30


@dataclass(frozen=True)
class Settings:
    """What the app serves: one bucket, the set shown first, and its retention."""

    bucket: str
    set_name: str
    retention_days: int


def make_app(store_for: Callable[[], Store], settings: Settings, *, token: str, port: int) -> Guard:
    pages = _Pages(store_for, settings)
    app = Starlette(
        routes=[
            Route("/", pages.home),
            Route("/sets/{set_name}/nights/{date}/", pages.night),
            Route("/sets/{set_name}/nights/{date}/{path:path}", pages.night),
            Route("/sets/{set_name}/download/{date}/{path:path}", pages.download),
            Route("/sets/{set_name}/find", pages.find),
            Route("/sets/{set_name}/changes", pages.changes),
            Mount("/static", StaticFiles(directory=os.path.join(HERE, "static")), name="static"),
        ],
    )
    return Guard(app, token=token, port=port)


@functools.cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("docbackup.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["size"] = _size
    env.filters["url_path"] = _url_path
    return env


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n = n / 1000  # type: ignore[assignment]
    return f"{n} bytes"


class _Pages:
    def __init__(self, store_for: Callable[[], Store], settings: Settings) -> None:
        self._store_for = store_for
        self.settings = settings

    @functools.cached_property
    def store(self) -> Store:
        return self._store_for()

    def _page(self, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = _templates().get_template(name).render(bucket=self.settings.bucket, **values)
        return HTMLResponse(html, status_code=status, headers=_HEADERS)

    def _problem(self, exc: DocbackupError) -> HTMLResponse:
        status = 404 if isinstance(exc, ConfigError) else 502
        return self._page("problem.html", status, message=str(exc))

    def home(self, request: Request) -> Response:
        set_name = request.query_params.get("set", self.settings.set_name)
        try:
            layout.check_set_name(set_name)
            now = dt.datetime.now(dt.UTC)
            nights = Catalog(self.store, set_name).snapshots(now=now, limit=NIGHTS_SHOWN)
            watched = watch(self.store, now=now, retention_days=self.settings.retention_days)
        except DocbackupError as exc:
            return self._problem(exc)
        return self._page(
            "home.html",
            set_name=set_name,
            nights=[_night_row(n) for n in nights],
            latest=_night_row(nights[0]) if nights else None,
            sets=watched.sets,
            checked_at=watched.checked_at,
        )

    def night(self, request: Request) -> Response:
        try:
            set_name, date, path = _where(request)
            night_date, rows, unreadable = browse.ls(self.store, set_name, date, path)
        except DocbackupError as exc:
            return self._problem(exc)
        prefix = path.strip("/")
        return self._page(
            "night.html",
            set_name=set_name,
            date=night_date.isoformat(),
            path=prefix,
            crumbs=_crumbs(prefix),
            rows=[
                {
                    "name": r.name,
                    "folder": r.folder,
                    "size": r.size,
                    "documents": r.documents,
                    "missing": r.missing,
                    "modified": _when(r.mtime_ns),
                    "path": f"{prefix}/{r.name}".strip("/") if prefix != r.name else r.name,
                }
                for r in rows
            ],
            unreadable=unreadable,
        )

    def download(self, request: Request) -> Response:
        # A temporary file without a name where the system allows it: a plain copy of the
        # document is never left behind, whatever stops the transfer.
        spool = tempfile.TemporaryFile(prefix="docbackup-ui-")  # noqa: SIM115 - closed below
        try:
            set_name, date, path = _where(request)
            # The bytes reach the browser only once they hash to the manifest's SHA-256.
            entry = browse.cat(self.store, set_name, date, path, spool)
        except DocbackupError as exc:
            spool.close()
            return self._problem(exc)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        name = os.path.basename(entry.path)
        disposition = f"attachment; filename*=utf-8''{quote(name, safe='')}"
        return StreamingResponse(
            _chunks(spool),
            media_type="application/octet-stream",
            headers={
                **_HEADERS,
                "content-disposition": disposition,
                "content-length": str(entry.size),
            },
            background=BackgroundTask(spool.close),
        )

    def find(self, request: Request) -> Response:
        set_name = request.path_params["set_name"]
        pattern = request.query_params.get("q", "").strip()
        found: list[browse.Found] = []
        unreadable: list[str] = []
        if pattern:
            try:
                layout.check_set_name(set_name)
                found, unreadable = browse.find(self.store, set_name, pattern)
            except DocbackupError as exc:
                return self._problem(exc)
        return self._page(
            "find.html", set_name=set_name, pattern=pattern, found=found, unreadable=unreadable
        )

    def changes(self, request: Request) -> Response:
        """What changed between two nights (by default the last two)."""
        set_name = request.path_params["set_name"]
        try:
            layout.check_set_name(set_name)
            before = request.query_params.get("before", "")
            after = request.query_params.get("after", "latest")
            if not before:
                dates = [
                    n.date
                    for n in Catalog(self.store, set_name).snapshots(
                        now=dt.datetime.now(dt.UTC), limit=2
                    )
                ]
                if len(dates) < 2:
                    raise ConfigError(f"set {set_name!r} has fewer than two nights to compare")
                before, after = dates[1].isoformat(), dates[0].isoformat()
            old, new, changed, unreadable = browse.diff(self.store, set_name, before, after)
        except DocbackupError as exc:
            return self._problem(exc)
        return self._page(
            "changes.html",
            set_name=set_name,
            before=old.isoformat(),
            after=new.isoformat(),
            changes=changed,
            unreadable=unreadable,
        )


# The pages load nothing from elsewhere and may not be framed by another site.
_HEADERS = {
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _chunks(spool: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := spool.read(1 << 20):
            yield chunk
    finally:
        spool.close()


def _url_path(path: str) -> str:
    """A document's path as it goes into a link: each name percent-encoded (`#`, `?`, `%`)."""
    return "/".join(quote(part, safe="") for part in path.split("/"))


def _where(request: Request) -> tuple[str, str, str]:
    set_name = layout.check_set_name(request.path_params["set_name"])
    return set_name, request.path_params["date"], request.path_params.get("path", "")


def _crumbs(path: str) -> list[tuple[str, str]]:
    parts = [p for p in path.split("/") if p]
    return [(name, "/".join(parts[: i + 1])) for i, name in enumerate(parts)]


def _when(mtime_ns: int) -> str:
    return dt.datetime.fromtimestamp(mtime_ns / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _night_row(n: SnapshotInfo) -> dict[str, Any]:
    return {
        "date": n.date.isoformat(),
        "status": n.status,
        "documents": n.documents,
        "bytes": n.bytes,
        "failed": n.failed,
        "missing": n.missing,
        "healed": n.healed,
        "restorable": n.restorable,
        "note": n.note or "",
        "checked": (
            n.checked_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if n.checked_at else ""
        ),
        "finished": n.finished_at.strftime("%Y-%m-%d %H:%M") if n.finished_at else "",
    }
