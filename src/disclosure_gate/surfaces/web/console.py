"""The console: the pages disclosure officers, reviewers, approvers, auditors and overseers use every day.

Server-rendered (Jinja2), with htmx (vendored under ``static/``, pinned in
``static/VENDORED.txt``) for partial updates: decision tables, job progress,
review counters. No inline script or style (the CSP forbids them): behaviour
lives in ``static/console.js``, looks in ``static/console.css``.

Each route parses its input, calls the same app-layer action the CLI calls, as
the signed-in person, and renders the result: no SQL and no rule of its own.
Which buttons and pages a person sees is decided by
:func:`disclosure_gate.app.authz.decide`; what they may do is decided again by
the action itself, whose refusal is shown as it is. Sign-in, sessions, CSRF and
rate limits are in :mod:`.console_auth`; the pages are in the ``console_*``
modules.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.types import Scope

from disclosure_gate.app import dashboard, jobs
from disclosure_gate.errors import DgateError
from disclosure_gate.surfaces.web import console_view, http
from disclosure_gate.surfaces.web.console_auth import Auth, Ctx, LoginRequired, login_location

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

#: (label, path, the action that shows it)
NAV = (("Dashboard", "/", None), ("Batches", "/batches", "request.view"), ("Review", "/review", "review.view"),
       ("Releases", "/releases", "release.view"), ("Agreements", "/agreements", "agreement.view"),
       ("Audits", "/audits", "audit.view"), ("Incidents", "/incidents", "incident.view"),
       ("Ledger", "/ledger", "ledger.view"), ("Accounting", "/accounting", "accounting.report"),
       ("Jobs", "/jobs", "jobs.view"))


class _Static(StaticFiles):
    """Static files (no confidential value in them) may be cached; pages may not (http.py sets no-store)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code >= 400:
            response.headers["Cache-Control"] = "no-store"
        return response


class Console:
    def __init__(self, app: FastAPI, state: Any) -> None:
        self.app = app
        self.state = state
        self.env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(default=True),
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(console_view.FILTERS)
        self.env.globals.update(console_view.GLOBALS)
        self.env.globals["age_buckets"] = dashboard.AGE_BUCKETS
        self.auth = Auth(self)
        self._flashes: dict[str, list[tuple[str, str]]] = {}
        self._lock = threading.Lock()
        self._versions = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:12]
                          for p in STATIC.iterdir() if p.is_file()}

    # -- urls ------------------------------------------------------------------------------------
    def prefix(self, request: Request) -> str:
        return str(request.scope.get("root_path") or getattr(self.state, "root_path", "") or "").rstrip("/")

    def url(self, request: Request, path: str, **query: Any) -> str:
        q = {k: v for k, v in query.items() if v not in (None, "", False)}
        return self.prefix(request) + path + (("?" + urlencode(q, doseq=True)) if q else "")

    def static(self, request: Request, name: str) -> str:
        return f"{self.prefix(request)}/static/{name}?v={self._versions.get(name, '0')}"

    def redirect(self, ctx: Ctx | Request, path: str, **query: Any) -> RedirectResponse:
        request = ctx.request if isinstance(ctx, Ctx) else ctx
        return RedirectResponse(self.url(request, path, **query), status_code=303)

    # -- flash messages ----------------------------------------------------------------------------
    def flash(self, ctx: Ctx, kind: str, text: str) -> None:
        with self._lock:
            self._flashes.setdefault(ctx.sid, []).append((kind, text))

    def pop_flashes(self, sid: str) -> list[tuple[str, str]]:
        with self._lock:
            return self._flashes.pop(sid, [])

    # -- rendering ---------------------------------------------------------------------------------
    def render(self, ctx: Ctx | Request, name: str, status: int = 200, headers: dict[str, str] | None = None,
               **values: Any) -> HTMLResponse:
        request = ctx.request if isinstance(ctx, Ctx) else ctx
        user = ctx if isinstance(ctx, Ctx) else None
        nav = [(label, path) for label, path, action in NAV if user is not None and (action is None or
               user.can(action) or (action == "accounting.report" and user.can("accounting.person")))]
        page = {"ctx": user, "request": request, "nav": nav, "csrf": user.csrf if user else "",
                "url": lambda path, **q: self.url(request, path, **q),
                "static": lambda n: self.static(request, n), "current": request.url.path[len(self.prefix(request)):]
                or "/"}
        html = self.env.get_template(name).render(**page, **values)
        return HTMLResponse(html, status_code=status, headers=headers)

    def render_error(self, request: Request, code: str, status: int, message: str) -> Response:
        """The one HTML error page (and, for htmx, an alert fragment): the code, the status, the message."""
        ctx = getattr(request.state, "dgate_ctx", None)
        if request.headers.get("hx-request") == "true":
            return self.render(request, "_alert.html", status=status, kind="error", code=code, message=message)
        return self.render(ctx if isinstance(ctx, Ctx) else request, "error.html", status=status, code=code,
                           status_code=status, message=message)

    def error(self, ctx: Ctx, exc: DgateError) -> Response:
        status = getattr(exc, "http_status", None) or http.status_of(exc)
        return self.render_error(ctx.request, exc.code, status, exc.message)

    # -- dependencies --------------------------------------------------------------------------------
    def page(self, request: Request) -> Ctx:
        """The dependency of a page: the signed-in person."""
        return self.auth.ctx(request)

    async def act(self, request: Request) -> Ctx:
        """The dependency of a state-changing request: the signed-in person and a valid CSRF token."""
        ctx = await run_in_threadpool(self.auth.ctx, request)
        await self.auth.check_csrf(request, ctx.csrf)
        return ctx

    # -- jobs ------------------------------------------------------------------------------------------
    def start_job(self, ctx: Ctx, kind: str, params: dict[str, Any], work: Any) -> str:
        from disclosure_gate.app.session import Session
        from disclosure_gate.store.home import Home

        home = self.state.home

        def make() -> Session:
            return Session(Home(home.path, home.engine.cursor(), writable=True), ctx.actor)

        return jobs.start(make, kind, params, work)


def _login_required(ui: Console) -> Any:
    async def handler(request: Request, exc: Exception) -> Response:
        message = exc.message if isinstance(exc, DgateError) else "sign in first"
        if request.headers.get("hx-request") == "true":
            prefix = ui.prefix(request)
            return JSONResponse(http.error_body(LoginRequired.code, 401, message), status_code=401,
                                headers={"HX-Redirect": f"{prefix}/login"})
        if request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", ""):
            prefix = ui.prefix(request)
            path = request.url.path[len(prefix):] if request.url.path.startswith(prefix) else request.url.path
            return RedirectResponse(login_location(prefix, path or "/", request.url.query), status_code=303)
        return http.error_response(LoginRequired(message))

    return handler


def build(app: FastAPI, state: Any) -> None:
    """Mount the console on ``app`` (the server's open home is ``state.home``)."""
    from disclosure_gate.surfaces.web import (
        console_audits,
        console_batches,
        console_ledger,
        console_releases,
        console_review,
        console_signin,
    )

    ui = Console(app, state)
    app.state.render_error = ui.render_error
    app.state.console = ui
    app.add_exception_handler(LoginRequired, _login_required(ui))
    app.mount("/static", _Static(directory=str(STATIC)), name="static")
    for module in (console_signin, console_batches, console_review, console_releases, console_audits,
                   console_ledger):
        app.include_router(module.routes(ui))
