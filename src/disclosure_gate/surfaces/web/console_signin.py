"""``/login`` and ``/logout`` (see :mod:`.console_auth` for how sessions, CSRF and rate limits work)."""

import hmac
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from disclosure_gate.errors import AuthorizationError, DgateError
from disclosure_gate.surfaces.web import http
from disclosure_gate.surfaces.web.console_auth import LOGIN_COOKIE_SECONDS, Ctx, LoginRequired, safe_next, same_origin

if TYPE_CHECKING:
    from disclosure_gate.surfaces.web.console import Console


def routes(ui: "Console") -> APIRouter:
    router = APIRouter(include_in_schema=False)
    auth = ui.auth

    def form(request: Request, next_: str, status: int = 200, error: tuple[str, str] | None = None,
             username: str = "") -> Response:
        token = auth.new_login_token()
        response = ui.render(request, "login.html", status=status, login_token=token, next=safe_next(next_),
                             error=error, username=username)
        auth.set_cookie(response, request, auth.login_cookie_name(request), token, LOGIN_COOKIE_SECONDS)
        return response

    @router.get("/login")
    def login_page(request: Request, next: str = "/") -> Response:
        try:
            auth.ctx(request)
            return RedirectResponse(ui.url(request, safe_next(next)), status_code=303)
        except LoginRequired:
            return form(request, next)

    @router.post("/login")
    async def login(request: Request, username: Annotated[str, Form(max_length=200)] = "",
                    password: Annotated[str, Form(max_length=2048)] = "",
                    csrf_token: Annotated[str, Form(max_length=200)] = "",
                    next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
        expected = request.cookies.get(auth.login_cookie_name(request), "")
        if not same_origin(request) or not expected or not csrf_token or \
                not hmac.compare_digest(expected.encode(), csrf_token.encode()):
            refused = AuthorizationError("the sign-in form is out of date: load it again")
            if http.wants_html(request):
                return form(request, next, 403, (refused.code, refused.message), username)
            return http.error_response(refused)
        try:
            raw = await run_in_threadpool(auth.login, request, username, password)
        except DgateError as exc:
            status = getattr(exc, "http_status", None) or http.status_of(exc)
            if not http.wants_html(request):
                return http.error_response(exc)
            response = form(request, next, status, (exc.code, exc.message), username)
            retry = getattr(exc, "retry_after", None)
            if retry:
                response.headers["Retry-After"] = str(int(retry))
            return response
        response = RedirectResponse(ui.url(request, safe_next(next)), status_code=303)
        auth.set_cookie(response, request, auth.cookie_name(request), raw, None)
        auth.clear_cookie(response, request, auth.login_cookie_name(request))
        return response

    @router.post("/logout")
    def logout(request: Request, ctx: Annotated[Ctx, Depends(ui.act)]) -> Response:
        auth.sessions.end(ctx.sid)
        response = RedirectResponse(ui.url(request, "/login"), status_code=303)
        auth.clear_cookie(response, request, auth.cookie_name(request))
        return response

    return router
