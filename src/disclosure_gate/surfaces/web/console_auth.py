"""Console sign-in: server-side sessions, CSRF tokens, login rate limits, and who is asking.

**Sessions.** A successful login (``username`` and ``password``, checked by the
app layer's :func:`~disclosure_gate.app.session.authenticate`, which counts
failures per account and locks it) creates a row of ``web_sessions``. The
cookie holds 32 random bytes; the table holds only their SHA-256, so a copy of
the database opens no session. The cookie is ``HttpOnly``, ``SameSite=Strict``
and ``Secure`` (unless the server runs with ``--insecure-cookies``). A session
ends after :data:`IDLE` without a request, after :data:`LIFETIME` in any case,
at logout, or when its user is disabled or removed; roles are read afresh on
every request, so a revoked role takes effect at once. Times come from the
home's clock (``Engine.clock``), which tests replace.

**CSRF.** Every state-changing request (any method but GET and HEAD) must carry
the session's token, in the form field ``csrf_token`` or in the
``X-CSRF-Token`` header (htmx sends it from ``hx-headers`` on ``<body>``), and
must not come from another origin (``Sec-Fetch-Site`` other than ``same-origin`` or ``none``); otherwise
403 with the error shape. The login form, which has no session yet, is
protected the same way by a short-lived cookie and its hidden copy.

**Rate limits.** Besides the store's per-account lockout, failed logins are
counted per client address in memory: after :data:`IP_FAILURES` failures in
:data:`IP_WINDOW` seconds that address gets 429 until the window moves on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from fastapi import Request

from disclosure_gate.app import authz
from disclosure_gate.app.session import Credentials, Session, authenticate, person_actor
from disclosure_gate.clock import naive_utc
from disclosure_gate.engine import Engine
from disclosure_gate.errors import AuthenticationError, AuthorizationError, DgateError, LimitError, UsageError
from disclosure_gate.store import users, web_sessions
from disclosure_gate.surfaces.web import http

if TYPE_CHECKING:
    from disclosure_gate.surfaces.web.console import Console

IDLE = dt.timedelta(minutes=30)
LIFETIME = dt.timedelta(hours=12)
TOUCH_EVERY = dt.timedelta(seconds=60)
IP_FAILURES = 10
IP_WINDOW = 300.0
LOGIN_COOKIE_SECONDS = 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(AuthenticationError):
    """No session, or an ended one: pages redirect to the login form, htmx and API clients get 401."""


class TooManyAttempts(LimitError):
    http_status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after + 0.999))


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("ascii", "replace")).hexdigest()


# -- rate limiting ------------------------------------------------------------------------------
class RateLimiter:
    """Failed attempts per key (a client address) in a sliding window, in memory."""

    def __init__(self, limit: int = IP_FAILURES, window: float = IP_WINDOW,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.now = limit, window, now
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        cutoff = self.now() - self.window
        while q and q[0] <= cutoff:
            q.popleft()
        return q

    def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` may try again, or None when it may now."""
        with self._lock:
            q = self._recent(key)
            if len(q) < self.limit:
                if not q:
                    self._fails.pop(key, None)
                return None
            return q[0] + self.window - self.now()

    def fail(self, key: str) -> None:
        with self._lock:
            self._recent(key).append(self.now())
            if len(self._fails) > 100_000:  # memory bound: forget the oldest addresses
                for k in list(self._fails)[:50_000]:
                    del self._fails[k]


# -- who is asking ------------------------------------------------------------------------------
@dataclass
class Ctx:
    """The signed-in person behind a console request."""

    request: Request
    ui: Console
    actor: authz.Actor
    csrf: str
    sid: str  # the session's key (SHA-256 of the cookie)
    _flashes: list[tuple[str, str]] | None = field(default=None, repr=False)

    @property
    def flashes(self) -> list[tuple[str, str]]:
        """Messages for this person, taken when a full page shows them (never by a redirect or an htmx part)."""
        if self._flashes is None:
            self._flashes = self.ui.pop_flashes(self.sid)
        return self._flashes

    @property
    def name(self) -> str:
        return self.actor.name

    def can(self, action: str, facts: authz.Facts | None = None) -> bool:
        """Whether to show a button or a page: the app layer's authorisation function, nothing else."""
        return authz.decide(self.actor, action, facts or authz.NO_FACTS).allowed

    def require(self, action: str) -> None:
        authz.require(self.actor, action)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with http.session_as(self.request, self.actor) as s:
            yield s

    def url(self, path: str, **query: Any) -> str:
        return self.ui.url(self.request, path, **query)


# -- the session store --------------------------------------------------------------------------
@dataclass(frozen=True)
class WebSession:
    sid: str
    user: str
    csrf: str
    created_at: dt.datetime
    last_seen: dt.datetime


class Sessions:
    """``web_sessions`` rows, keyed by the SHA-256 of the cookie."""

    def __init__(self, ui: Console) -> None:
        self.ui = ui
        self._seen: dict[str, dt.datetime] = {}  # last requests not yet written (the write lock was busy)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _engine(self) -> Iterator[Engine]:
        engine = self.ui.state.home.engine.cursor()
        try:
            yield engine
        finally:
            engine.close()

    def now(self) -> dt.datetime:
        return naive_utc(self.ui.state.home.engine.clock)

    def create(self, user: str) -> tuple[str, WebSession]:
        raw = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self.now()
        sid = digest(raw)
        with self._engine() as e:
            web_sessions.create(e, sid, user, csrf, now)
        return raw, WebSession(sid, user, csrf, now, now)

    def find(self, raw: str | None) -> WebSession | None:
        """The live session behind a cookie value (and note this request), or None."""
        if not raw or len(raw) > 128:
            return None
        sid = digest(raw)
        with self._engine() as e:
            row = web_sessions.find(e, sid)
            if row is None or row.ended_at is not None:
                return None
            now = self.now()
            with self._lock:
                seen = max(row.last_seen, self._seen.get(sid, row.last_seen))
            if now - seen > IDLE or now - row.created_at > LIFETIME:
                self._end(e, sid, now)
                return None
            if now - seen >= TOUCH_EVERY:
                self._touch(e, sid, now)
        return WebSession(sid, row.user, row.csrf, row.created_at, now)

    def _touch(self, e: Engine, sid: str, now: dt.datetime) -> None:
        with self._lock:
            self._seen[sid] = now
        # never make a page wait for a long transaction (processing 1.28 M rows) just to note the time
        if not e.write_lock.acquire(blocking=False):
            return
        try:
            web_sessions.touch(e, sid, now)
            with self._lock:
                self._seen.pop(sid, None)
        except DgateError:
            return
        finally:
            e.write_lock.release()

    def _end(self, e: Engine, sid: str, now: dt.datetime) -> None:
        web_sessions.end(e, sid, now)
        with self._lock:
            self._seen.pop(sid, None)

    def end(self, sid: str) -> None:
        with self._engine() as e:
            self._end(e, sid, self.now())

    def end_all(self, user: str) -> None:
        with self._engine() as e:
            web_sessions.end_all(e, user, self.now())

    def actor_of(self, user: str) -> authz.Actor | None:
        with self._engine() as e:
            found = users.find_user(e, user)
        if found is None or found.disabled:
            return None
        return person_actor(found)


# -- the auth facade ----------------------------------------------------------------------------
class Auth:
    def __init__(self, ui: Console) -> None:
        self.ui = ui
        self.sessions = Sessions(ui)
        self.limiter = RateLimiter()

    # cookies
    @property
    def secure(self) -> bool:
        return bool(getattr(self.ui.state, "secure_cookies", True))

    def cookie_name(self, request: Request) -> str:
        return "__Host-dgate_session" if self.secure and not self.ui.prefix(request) else "dgate_session"

    def login_cookie_name(self, request: Request) -> str:
        return "__Host-dgate_login" if self.secure and not self.ui.prefix(request) else "dgate_login"

    def cookie_path(self, request: Request) -> str:
        return self.ui.prefix(request) or "/"

    def set_cookie(self, response: Any, request: Request, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(name, value, max_age=max_age, path=self.cookie_path(request), secure=self.secure,
                            httponly=True, samesite="strict")

    def clear_cookie(self, response: Any, request: Request, name: str) -> None:
        response.delete_cookie(name, path=self.cookie_path(request), secure=self.secure, httponly=True,
                               samesite="strict")

    # who is asking
    def ctx(self, request: Request) -> Ctx:
        """The signed-in person (the dependency of every console page), or :class:`LoginRequired`."""
        cached = getattr(request.state, "dgate_ctx", None)
        if isinstance(cached, Ctx):
            return cached
        found = self.sessions.find(request.cookies.get(self.cookie_name(request)))
        if found is None:
            raise LoginRequired("sign in first: your session is missing, ended, or was idle for 30 minutes")
        actor = self.sessions.actor_of(found.user)
        if actor is None:
            self.sessions.end(found.sid)
            raise LoginRequired("this account can no longer sign in")
        ctx = Ctx(request, self.ui, actor, found.csrf, found.sid)
        request.state.dgate_ctx = ctx
        return ctx

    async def check_csrf(self, request: Request, expected: str) -> None:
        """Refuse a state-changing request without the right token (403, the error shape)."""
        if request.method in SAFE_METHODS:
            return
        if not same_origin(request):
            raise AuthorizationError("a request from another site is refused")
        sent = request.headers.get("x-csrf-token", "")
        if not sent:
            ctype = request.headers.get("content-type", "")
            if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                form = await request.form(max_files=4, max_fields=200, max_part_size=2 * 1024 * 1024)
                value = form.get("csrf_token")
                sent = value if isinstance(value, str) else ""
        if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
            raise AuthorizationError("the form's security token is missing or out of date: reload the page and "
                                     "try again")

    # logging in and out
    def client(self, request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def login(self, request: Request, username: str, password: str) -> str:
        """Check the credentials (rate-limited); returns the new session's cookie value."""
        ip = self.client(request)
        wait = self.limiter.retry_after(ip)
        if wait is not None:
            raise TooManyAttempts(f"too many failed sign-ins from this address: try again in {int(wait) + 1} s",
                                  wait)
        name = username.strip()
        try:
            users.check_name(name)
            if not password or len(password) > 1024:
                raise UsageError("no password")
            engine = self.ui.state.home.engine.cursor()
            try:
                actor = authenticate(engine, self.ui.state.home.path, Credentials(user=name, password=password))
            finally:
                engine.close()
        except AuthenticationError:
            self.limiter.fail(ip)
            raise
        except UsageError:
            self.limiter.fail(ip)
            raise AuthenticationError("authentication failed: wrong or unknown user name, token or password") \
                from None
        raw, _ = self.sessions.create(actor.name)
        return raw

    def new_login_token(self) -> str:
        return secrets.token_urlsafe(24)


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another origin (``Sec-Fetch-Site``)."""
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


def safe_next(value: str | None) -> str:
    """A redirect target after login: a path of this console, never another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 2000:
        return "/"
    if any(ord(c) < 0x20 for c in value):
        return "/"
    return value


def login_location(prefix: str, path: str, query: str) -> str:
    target = path + (f"?{query}" if query else "")
    return f"{prefix}/login?" + urlencode({"next": target}, quote_via=quote)
