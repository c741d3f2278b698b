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
from urllib.parse import parse_qs, quote

import jinja2
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from docbackup import layout
from docbackup.engine import Catalog, archive, browse
from docbackup.engine.restore import restore
from docbackup.engine.results import RestoreResult, SnapshotInfo
from docbackup.engine.target import check_target
from docbackup.engine.watch import watch
from docbackup.errors import ConfigError, DocbackupError
from docbackup.storage.base import RestoreTier, Store
from docbackup.web.guard import FORM_TOKEN, Guard, same_token
from docbackup.web.jobs import Jobs, Progress, Runner

HERE = os.path.dirname(__file__)
NIGHTS_SHOWN = 30
RESTORE_WORKERS = 8
# A form is a few fields; anything larger is not one of this app's.
FORM_LIMIT = 64 * 1024
_NO_SUCH_RESTORE = (
    "no restore of this run of the app has that number (a restore's page lasts as long as "
    "the app that started it): to finish one, restore the same folder or night into the same "
    "folder again; what is already there is kept"
)


@dataclass(frozen=True)
class Settings:
    """What the app serves: one bucket, the set shown first, and its retention."""

    bucket: str
    set_name: str
    retention_days: int
    # The stack's alarm states, when a stack is named (a DocbackupError when they cannot be
    # read: the page says so and shows the rest).
    alarms: Callable[[], dict[str, str]] | None = None


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
            Route("/sets/{set_name}/restore", pages.restore_form, methods=["GET"]),
            Route("/sets/{set_name}/restore", pages.restore_start, methods=["POST"]),
            Route("/restores/{job_id}", pages.restore_page),
            Route("/restores/{job_id}/progress", pages.restore_progress),
            Route("/restores/{job_id}/again", pages.restore_again, methods=["POST"]),
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
        self.jobs = Jobs()
        # Why the alarms could not be read, once they could not: not asked again this run (a
        # restorer's policy grants no CloudWatch; each page would be one more refusal).
        self.alarms_refused = ""

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
        alarms: list[tuple[str, str]] | None = None
        if self.settings.alarms is not None and not self.alarms_refused:
            try:
                alarms = sorted(self.settings.alarms().items())
            except DocbackupError as exc:
                self.alarms_refused = str(exc) or type(exc).__name__
        alarms_unread = self.alarms_refused
        return self._page(
            "home.html",
            set_name=set_name,
            nights=[_night_row(n) for n in nights],
            latest=_night_row(nights[0]) if nights else None,
            sets=watched.sets,
            checked_at=watched.checked_at,
            retention_days=self.settings.retention_days,
            utc=dt.UTC,
            alarms=alarms,
            alarms_unread=alarms_unread,
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

    def restore_form(self, request: Request) -> Response:
        """What a restore would bring back, and the folder to put it in."""
        try:
            set_name = layout.check_set_name(request.path_params["set_name"])
            date = request.query_params.get("date", "latest")
            path = request.query_params.get("path", "").strip("/")
            what = self._what(set_name, date, path)
        except DocbackupError as exc:
            return self._problem(exc)
        return self._restore_form(request, set_name, what, _default_target(set_name, what))

    async def restore_start(self, request: Request) -> Response:
        form = await _own_form(request)
        if form is None:
            return _forged()
        set_name = request.path_params["set_name"]
        try:
            layout.check_set_name(set_name)
            what = await run_in_threadpool(
                self._what, set_name, form.get("date", ""), form.get("path", "").strip("/")
            )
        except DocbackupError as exc:
            return self._problem(exc)
        typed = form.get("target", "")
        try:
            target = _target(typed)
            job = self.jobs.start(
                set_name, what["date"], what["path"], target, self._runner(set_name, what)
            )
        except DocbackupError as exc:
            return self._restore_form(request, set_name, what, typed, refusal=str(exc))
        return RedirectResponse(f"/restores/{job.id}", status_code=303, headers=_HEADERS)

    async def restore_again(self, request: Request) -> Response:
        """The same restore once more into the same folder: what is in place stays, and with a
        tier (the person pressed one of the priced buttons) archived copies are asked for."""
        form = await _own_form(request)
        if form is None:
            return _forged()
        job = self.jobs.get(request.path_params["job_id"])
        if job is None:
            return self._page("problem.html", 404, message=_NO_SUCH_RESTORE)
        tier = form.get("tier") or None
        if tier not in (None, *archive.TIERS):
            return self._page("problem.html", 400, message=f"no retrieval tier {tier!r}")
        what = {"date": job.date, "path": job.under}
        try:
            again = self.jobs.start(
                job.set_name,
                job.date,
                job.under,
                job.target,
                self._runner(job.set_name, what, tier),
            )
        except DocbackupError as exc:
            return self._page("problem.html", 409, message=str(exc))
        return RedirectResponse(f"/restores/{again.id}", status_code=303, headers=_HEADERS)

    def restore_page(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["job_id"])
        if job is None:
            return self._page("problem.html", 404, message=_NO_SUCH_RESTORE)
        return self._page("restore.html", job=_job_view(job), form_token=_form_token(request))

    def restore_progress(self, request: Request) -> Response:
        """The part of the restore page that changes, for htmx to swap in every second."""
        job = self.jobs.get(request.path_params["job_id"])
        if job is None:
            return self._page("problem.html", 404, message=_NO_SUCH_RESTORE)
        return self._page(
            "restore_progress.html", job=_job_view(job), form_token=_form_token(request)
        )

    def _what(self, set_name: str, date: str, path: str) -> dict[str, Any]:
        night_date, rows, _ = browse.ls(self.store, set_name, date or "latest", path)
        single = len(rows) == 1 and not rows[0].folder and rows[0].name == path
        return {
            "date": night_date.isoformat(),
            "path": path,
            "kind": "night" if not path else "document" if single else "folder",
            "documents": sum(r.documents for r in rows),
            "bytes": sum(r.size for r in rows),
            "missing": sum(r.missing for r in rows),
        }

    def _restore_form(
        self,
        request: Request,
        set_name: str,
        what: dict[str, Any],
        target: str,
        refusal: str = "",
    ) -> HTMLResponse:
        return self._page(
            "restore_form.html",
            400 if refusal else 200,
            set_name=set_name,
            what=what,
            target=target,
            refusal=refusal,
            form_token=_form_token(request),
        )

    def _runner(
        self, set_name: str, what: dict[str, Any], tier: RestoreTier | None = None
    ) -> Runner:
        def run(target: str, progress: Progress) -> RestoreResult:
            # The same restore as the command line's, with its rules: nothing in the folder is
            # replaced, every file is checked against its SHA-256 before it takes its name.
            return restore(
                self.store,
                set_name,
                what["date"],
                target,
                under=what["path"],
                workers=RESTORE_WORKERS,
                reporter=progress,
                tier=tier,
            )

        return run


# The pages load nothing from elsewhere and may not be framed by another site. The referrer
# goes to this app alone: under "no-referrer" a browser sends `Origin: null` with the app's own
# forms, which the guard must then refuse.
_HEADERS = {
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
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


def _forged() -> Response:
    return PlainTextResponse(
        "refused: this form did not come from this app's own page; open the page again",
        status_code=403,
        headers=_HEADERS,
    )


def _form_token(request: Request) -> str:
    token = request.scope.get(FORM_TOKEN)
    if not isinstance(token, str):  # the Guard always sets it; without it no form is taken
        raise RuntimeError("the app is not behind its guard")
    return token


async def _own_form(request: Request) -> dict[str, str] | None:
    """A urlencoded form of at most FORM_LIMIT bytes, first value of each field, carrying this
    run's form token; None if it is not one of this app's forms."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            return None
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        return None
    form = {k: v[0] for k, v in fields.items()}
    return form if same_token(form.get("form_token", ""), _form_token(request)) else None


def _target(typed: str) -> str:
    """The folder the person typed, `~` allowed; a relative path would land wherever the app
    happened to start, so it is refused."""
    if "\0" in typed:
        raise ConfigError("a folder's name cannot hold a NUL character")
    path = os.path.expanduser(typed.strip())
    if not path:
        raise ConfigError("name the folder to restore into")
    if not os.path.isabs(path):
        raise ConfigError(
            f"{typed.strip()!r} is not a whole path: give it from the top, as "
            f"{os.path.join(os.path.expanduser('~'), 'Restored')} is"
        )
    return check_target(path)


def _default_target(set_name: str, what: dict[str, Any]) -> str:
    name = f"{set_name} {what['date']}"
    if what["path"]:
        name += " " + what["path"].rsplit("/", 1)[-1]
    return os.path.join(os.path.expanduser("~"), "Restored", name)


def _job_view(job: Progress) -> dict[str, Any]:
    with job.lock:
        result = job.result
        return {
            "id": job.id,
            "set_name": job.set_name,
            "date": job.date,
            "path": job.under,
            "target": job.target,
            "state": job.state,
            "running": job.running,
            "documents": job.documents,
            "total_bytes": job.total_bytes,
            "done": job.done,
            "done_bytes": job.done_bytes,
            "current": job.current,
            "message": job.message,
            "seconds": round(job.seconds),
            "status": result.status if result else "",
            "restored": result.restored if result else 0,
            "failed": result.failed if result else 0,
            "restored_bytes": result.bytes if result else 0,
            "problems": [(p.path, p.reason) for p in result.failures] if result else [],
            "not_stored": [(p.path, p.reason) for p in result.not_stored] if result else [],
            "note": result.latest_note or "" if result else "",
            "coming_back": result.coming_back if result else 0,
            "already_there": result.already_there if result else 0,
            "thaw": _thaw_view(result.thaw) if result and result.thaw else None,
        }


def _thaw_view(plan: archive.ThawPlan) -> dict[str, Any]:
    return {
        "lines": plan.held(),  # the tiers are the page's buttons
        "tiers": [
            {"tier": t, "wait": plan.wait(t), "usd": f"{plan.cost(t):.2f}"}
            for t in archive.TIERS
            if plan.to_ask and plan.offered(t)
        ],
    }
