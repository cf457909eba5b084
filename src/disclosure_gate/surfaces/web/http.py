"""What every web surface shares: the error contract, security headers, who is asking, sessions per request.

**One error shape** for every endpoint (API, log, console's htmx calls)::

    {"error": {"code": "DG301", "status": 404, "message": "no batch 'B123' in this home"}}

with the stable codes of :mod:`disclosure_gate.errors` and the HTTP status of
:data:`STATUS`. Console pages render the same fields as an HTML error page.
Never a traceback, never a confidential value (messages are the app layer's,
which name files, lines and ids, never cell values).

**Security headers** on every response: a Content-Security-Policy with no
inline script, ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff``,
``Referrer-Policy: no-referrer``, and ``Cache-Control: no-store`` (pages may
show confidential values; the log's immutable tiles override it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from disclosure_gate import errors
from disclosure_gate.app import authz
from disclosure_gate.app.session import Session, person_actor
from disclosure_gate.errors import AuthenticationError, DgateError
from disclosure_gate.store import users
from disclosure_gate.store.home import Home

STATUS: dict[type[DgateError], int] = {
    errors.HomeError: 500, errors.UsageError: 400, errors.InputError: 422, errors.NotFoundError: 404,
    errors.ConflictError: 409, errors.StateError: 409, errors.PolicyError: 422,
    errors.AuthorizationError: 403, errors.AuthenticationError: 401, errors.IntegrityError: 422,
    errors.LimitError: 413, errors.EngineError: 500, errors.BusyError: 503, errors.DiskFullError: 507,
}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def status_of(exc: DgateError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_body(code: str, status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "status": status, "message": message}}


def error_response(exc: DgateError, headers: dict[str, str] | None = None) -> JSONResponse:
    status = getattr(exc, "http_status", None) or status_of(exc)
    extra = dict(headers or {})
    if isinstance(exc, AuthenticationError):
        extra.setdefault("WWW-Authenticate", 'Bearer realm="disclosure-gate"')
    retry = getattr(exc, "retry_after", None)
    if retry:
        extra["Retry-After"] = str(int(retry))
    return JSONResponse(error_body(exc.code, status, exc.message), status_code=status, headers=extra)


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        return response


def install(app: FastAPI) -> None:
    """Error handlers (the one JSON shape; console pages may render it as HTML) and security headers."""

    @app.exception_handler(DgateError)
    async def _dgate(request: Request, exc: DgateError) -> Response:
        renderer = getattr(request.app.state, "render_error", None)
        if renderer is not None and wants_html(request):
            status = getattr(exc, "http_status", None) or status_of(exc)
            return renderer(request, exc.code, status, exc.message)  # type: ignore[no-any-return]
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: errors.NotFoundError.code, 405: errors.UsageError.code, 401: AuthenticationError.code,
                403: errors.AuthorizationError.code}.get(exc.status_code, errors.DgateError.code)
        message = str(exc.detail) if exc.detail else "error"
        renderer = getattr(request.app.state, "render_error", None)
        if renderer is not None and wants_html(request):
            return renderer(request, code, exc.status_code, message)  # type: ignore[no-any-return]
        return JSONResponse(error_body(code, exc.status_code, message), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        renderer = getattr(request.app.state, "render_error", None)
        if renderer is not None and wants_html(request):
            return renderer(request, errors.UsageError.code, 400, message)  # type: ignore[no-any-return]
        return JSONResponse(error_body(errors.UsageError.code, 400, message), status_code=400)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        message = f"internal error: {type(exc).__name__}"  # never the exception's text: it may hold data
        renderer = getattr(request.app.state, "render_error", None)
        if renderer is not None and wants_html(request):
            return renderer(request, "DG000", 500, message)  # type: ignore[no-any-return]
        return JSONResponse(error_body("DG000", 500, message), status_code=500)

    app.add_middleware(SecurityHeaders)


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/log/")):
        return False
    return "text/html" in request.headers.get("accept", "") or request.headers.get("hx-request") == "true"


def state_of(request: Request) -> Any:
    return request.app.state.dgate


@contextmanager
def session_as(request: Request, actor: authz.Actor) -> Iterator[Session]:
    """An app-layer session for ``actor`` on its own connection to the server's database."""
    state = state_of(request)
    engine = state.home.engine.cursor()
    try:
        yield Session(Home(state.home.path, engine, writable=True), actor)
    finally:
        engine.close()


def bearer_actor(request: Request) -> authz.Actor:
    """The person behind ``Authorization: Bearer TOKEN`` (401 when missing or wrong)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("authentication required: send Authorization: Bearer TOKEN")
    engine = state_of(request).home.engine.cursor()
    try:
        user, token_id = users.authenticate_token(engine, None, token.strip())
    finally:
        engine.close()
    return person_actor(user, token_id)
