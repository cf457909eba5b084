"""The console's routes, through FastAPI's TestClient, on a real home built through the app layer.

Every page needs a login; every role check holds; CSRF is refused; the security headers are there; logins are
rate-limited; sessions end when idle. The home is tests/web_fixtures.py's small world (six rows in review).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import re
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from disclosure_gate.app import agreements, audits, ledger, releases, review, settings
from disclosure_gate.app.session import Credentials, authenticate, session_for
from disclosure_gate.clock import FixedClock
from disclosure_gate.store.home import open_home
from disclosure_gate.surfaces.web import console_auth
from disclosure_gate.surfaces.web.app import create_app
from disclosure_gate.surfaces.web.server import ServerState
from web_fixtures import REVIEW_ROWS, WebHome, build, copy_home

with warnings.catch_warnings():  # starlette prefers httpx2; the TestClient works the same with httpx
    warnings.filterwarnings("ignore", message=".*install `httpx2`.*")
    from fastapi.testclient import TestClient

STATIC = Path(__file__).resolve().parents[1] / "src/disclosure_gate/surfaces/web/static"
HTML = {"accept": "text/html"}
NOW = dt.datetime(2026, 6, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> WebHome:
    return build(tmp_path_factory.mktemp("web-template"))


@dataclass
class Web:
    world: WebHome
    state: ServerState
    app: Any
    clock: FixedClock
    clients: list[TestClient] = field(default_factory=list)

    @property
    def batch(self) -> str:
        return self.world.batch_id

    def client(self, name: str | None = None) -> TestClient:
        c = TestClient(self.app, follow_redirects=False)
        c.__enter__()
        self.clients.append(c)
        if name is not None:
            login(c, name, self.world.password)
        return c

    def session(self, name: str) -> Any:
        engine = self.state.home.engine
        return session_for(self.state.home, authenticate(engine, self.state.home.path,
                                                         Credentials(user=name, token=self.world.tokens[name])))

    def wait_idle(self) -> None:
        """Background jobs still running hold the database: let them end before it closes."""
        deadline = time.monotonic() + 120
        with _cursor(self) as e:
            while e.scalar("SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')"):
                assert time.monotonic() < deadline, "a background job did not end"
                time.sleep(0.05)
        time.sleep(0.05)  # the job's thread closes its connection right after its last write

    def wait_job(self, c: TestClient, job_id: str) -> str:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            text = c.get(f"/jobs/{job_id}", headers=HTML).text
            if "state done" in text or "state failed" in text:
                return text
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not finish")


@pytest.fixture
def web(template: WebHome, tmp_path: Path) -> Iterator[Web]:
    world = copy_home(template, tmp_path)
    home = open_home(world.home, write=True)
    clock = FixedClock(NOW)
    home.engine.clock = clock
    state = ServerState(home, secure_cookies=False)
    w = Web(world, state, create_app(state), clock)
    try:
        yield w
    finally:
        for c in w.clients:
            c.__exit__(None, None, None)
        w.wait_idle()
        home.close()


def login_token(c: TestClient) -> str:
    r = c.get("/login", headers=HTML)
    m = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    assert m, r.text
    return m.group(1)


def login(c: TestClient, name: str, password: str, expect: int = 303) -> Any:
    r = c.post("/login", data={"username": name, "password": password, "csrf_token": login_token(c), "next": "/"},
               headers=HTML)
    assert r.status_code == expect, r.text
    return r


def csrf(c: TestClient, path: str = "/") -> str:
    m = re.search(r'data-csrf="([^"]+)"', c.get(path, headers=HTML).text)
    assert m
    return m.group(1)


def post(c: TestClient, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    return c.post(path, data={"csrf_token": csrf(c), **(data or {})}, headers=kw.pop("headers", HTML), **kw)


def error_of(r: Any) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "status", "message"}, body
    return dict(body["error"])


PAGES = ["/", "/batches", "/batches/{b}", "/batches/{b}/export", "/review", "/review/next", "/review/progress",
         "/review/case/{b}?id=R2", "/releases", "/agreements", "/agreements/AGR-1", "/audits", "/incidents",
         "/ledger", "/ledger/proof?batch={b}&request_id=R1", "/accounting", "/jobs", "/jobs/J0000"]


# -- vendored htmx -----------------------------------------------------------------------------------
def test_vendored_files_match_their_pinned_hashes() -> None:
    text = (STATIC / "VENDORED.txt").read_text()
    entries = re.findall(r"^file: (\S+)$.*?^version: (\S+)$.*?^sha256: ([0-9a-f]{64})$", text, re.M | re.S)
    assert entries and entries[0][0] == "htmx.min.js" and entries[0][1].startswith("2.")
    for name, _, sha in entries:
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == sha, name


# -- login required ------------------------------------------------------------------------------------
def test_every_page_requires_login(web: Web) -> None:
    c = web.client()
    for path in PAGES:
        path = path.format(b=web.batch)
        r = c.get(path, headers=HTML)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next="), path
        r = c.get(path)  # not a browser: the error shape
        assert r.status_code == 401, path
        assert error_of(r)["code"] == "DG510"
        r = c.get(path, headers={"hx-request": "true"})  # htmx: a redirect it follows
        assert r.status_code == 401 and r.headers["hx-redirect"] == "/login", path
    for path in ("/review/resolve", "/releases/prepare", "/logout", "/ledger/verify", "/agreements/AGR-1/status"):
        r = c.post(path, data={"csrf_token": "x"})
        assert r.status_code == 401, path


def test_login_then_pages_answer(web: Web) -> None:
    c = web.client("officer")
    for path in ("/", "/batches", f"/batches/{web.batch}", "/releases", "/agreements", "/agreements/AGR-1",
                 "/audits", "/incidents", "/ledger", "/accounting", "/jobs", "/review"):
        r = c.get(path, headers=HTML)
        assert r.status_code == 200, (path, r.text[:500])
        assert 'data-csrf="' in r.text
    # the next page after login is kept, and never another site
    c2 = web.client()
    r = c2.post("/login", data={"username": "officer", "password": web.world.password, "csrf_token": login_token(c2),
                                "next": "//evil.example/x"}, headers=HTML)
    assert r.headers["location"] == "/"
    r = c2.get("/review?reason=UNIT_MISMATCH", headers=HTML)
    assert r.status_code == 200


def test_cookie_flags_and_logout(web: Web) -> None:
    c = web.client()
    r = login(c, "rev1", web.world.password)
    cookie = r.headers["set-cookie"]
    assert "dgate_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict",
                                                                                                       "strict")
    assert "Secure" not in cookie  # --insecure-cookies
    raw = c.cookies.get("dgate_session")
    assert raw
    with _cursor(web) as e:
        stored = e.fetchall("SELECT session_hash, user_name FROM web_sessions")
    assert stored == [(hashlib.sha256(raw.encode()).hexdigest(), "rev1")]  # only the hash is stored
    r = post(c, "/logout")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    c.cookies.set("dgate_session", raw)  # a stolen cookie of an ended session opens nothing
    assert c.get("/", headers=HTML).status_code == 303


def _cursor(web: Web) -> Any:
    import contextlib

    @contextlib.contextmanager
    def cm() -> Iterator[Any]:
        e = web.state.home.engine.cursor()
        try:
            yield e
        finally:
            e.close()

    return cm()


def test_secure_cookies_by_default(web: Web) -> None:
    web.state.secure_cookies = True
    c = web.client()
    r = c.get("/login", headers=HTML)
    assert "__Host-dgate_login=" in r.headers["set-cookie"] and "Secure" in r.headers["set-cookie"]
    token = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    assert token
    c.cookies.set("__Host-dgate_login", r.cookies["__Host-dgate_login"])
    r = c.post("/login", data={"username": "rev1", "password": web.world.password, "csrf_token": token.group(1)},
               headers=HTML)
    assert r.status_code == 303
    assert "__Host-dgate_session=" in r.headers["set-cookie"] and "Secure" in r.headers["set-cookie"]


def test_wrong_password_and_account_lockout(web: Web) -> None:
    c = web.client()
    r = login(c, "rev1", "not the password at all", expect=401)
    assert "authentication failed" in r.text and 'role="alert"' in r.text
    for _ in range(5):
        login(c, "rev1", "not the password at all", expect=401)
    r = login(c, "rev1", web.world.password, expect=401)  # the store locked the account
    assert "locked" in r.text
    web.clock.advance(dt.timedelta(hours=2))
    login(c, "rev1", web.world.password)


def test_login_rate_limit_per_address(web: Web) -> None:
    c = web.client()
    for i in range(console_auth.IP_FAILURES):
        login(c, f"nobody{i}", "wrong password here", expect=401)
    r = login(c, "officer", web.world.password, expect=429)  # even the right password waits
    assert int(r.headers["retry-after"]) > 0 and "too many" in r.text
    r = c.post("/login", data={"username": "officer", "password": "x", "csrf_token": login_token(c)})
    assert r.status_code == 429 and error_of(r)["code"] == "DG700"


def test_login_form_needs_its_token(web: Web) -> None:
    c = web.client()
    r = c.post("/login", data={"username": "rev1", "password": web.world.password, "csrf_token": "forged"},
               headers=HTML)
    assert r.status_code == 403 and "out of date" in r.text
    r = c.post("/login", data={"username": "rev1", "password": web.world.password, "csrf_token": login_token(c)},
               headers={**HTML, "sec-fetch-site": "cross-site"})
    assert r.status_code == 403


def test_session_expires_when_idle(web: Web) -> None:
    c = web.client("rev1")
    for _ in range(3):  # requests keep it alive
        web.clock.advance(dt.timedelta(minutes=29))
        assert c.get("/", headers=HTML).status_code == 200
    web.clock.advance(dt.timedelta(minutes=31))
    r = c.get("/review", headers=HTML)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Freview")
    c2 = web.client("rev1")  # and in any case after its lifetime
    for _ in range(int(console_auth.LIFETIME / dt.timedelta(minutes=25))):
        web.clock.advance(dt.timedelta(minutes=25))
        c2.get("/", headers=HTML)
    web.clock.advance(dt.timedelta(minutes=25))
    assert c2.get("/", headers=HTML).status_code == 303


# -- CSRF --------------------------------------------------------------------------------------------
def _routes(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI keeps included routers as such
        if inner is not None:
            yield from _routes(inner.routes)
        else:
            yield route


def console_posts(app: Any) -> list[str]:
    paths = []
    for route in _routes(app.routes):
        methods = getattr(route, "methods", None) or set()
        path = getattr(route, "path", "")
        if "POST" in methods and not path.startswith(("/api/", "/log/")) and path != "/login":
            paths.append(path)
    return paths


def test_csrf_is_refused_on_every_state_changing_request(web: Web) -> None:
    c = web.client("officer")
    paths = console_posts(web.app)
    assert len(paths) >= 15, paths
    token = csrf(c)
    for path in paths:
        url = path.format(batch_id=web.batch, package_id="P0", agreement_id="AGR-1", audit_id="A0",
                          incident_id="I0")
        for headers, data in (({}, {}), ({}, {"csrf_token": "wrong"}), ({"x-csrf-token": "wrong"}, {}),
                              ({"x-csrf-token": token, "sec-fetch-site": "cross-site"}, {})):
            r = c.post(url, data=data, headers=headers)
            assert r.status_code == 403, (url, headers, data, r.text)
            assert error_of(r)["code"] == "DG500"
    # the header htmx sends is accepted in place of the field
    r = c.post("/ledger/verify", headers={"x-csrf-token": token, "accept": "text/html"})
    assert r.status_code == 303


# -- headers, errors ---------------------------------------------------------------------------------
def test_security_headers_everywhere(web: Web) -> None:
    c = web.client("officer")
    for path in ("/login", "/", f"/batches/{web.batch}", "/nope", "/batches/NOPE", "/static/console.css",
                 "/static/htmx.min.js"):
        r = c.get(path, headers=HTML)
        h = r.headers
        assert "script-src 'self'" in h["content-security-policy"] and "unsafe-inline" not in \
            h["content-security-policy"], path
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff", path
        assert h["referrer-policy"] == "no-referrer", path
        if not path.startswith("/static/"):
            assert h["cache-control"] == "no-store", path


def test_pages_have_no_inline_script_or_style(web: Web) -> None:
    c = web.client("officer")
    c2 = web.client("rev1")
    pages = [(c, p) for p in ("/", "/batches", f"/batches/{web.batch}", "/releases", "/agreements",
                              "/agreements/AGR-1", "/audits", "/incidents", "/ledger", "/accounting", "/jobs")]
    pages += [(c2, p) for p in ("/review", f"/review/case/{web.batch}?id=R2",
                                f"/review/case/{web.batch}?id=R6&blind=1")]
    pages += [(web.client(), "/login")]
    for client, path in pages:
        text = client.get(path, headers=HTML).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path
        assert not re.search(r"\sstyle=", text), path
        assert not re.search(r"\son[a-z]+=", text), path
        assert "<style" not in text, path
        for m in re.finditer(r"<(input|select|textarea)\b([^>]*)>", text):  # every control is labelled
            attrs = m.group(2)
            if 'type="hidden"' in attrs:
                continue
            ident = re.search(r'\bid="([^"]+)"', attrs)
            before = text[:m.start()]
            wrapped = before.rfind("<label") > before.rfind("</label>")
            assert wrapped or "aria-label" in attrs or (ident and f'for="{ident.group(1)}"' in text), (path, attrs)


def test_one_error_page_and_one_error_shape(web: Web) -> None:
    c = web.client("officer")
    r = c.get("/batches/NOPE", headers=HTML)
    assert r.status_code == 404 and "DG301" in r.text and "no batch 'NOPE'" in html.unescape(r.text)
    assert "Traceback" not in r.text
    r = c.get("/batches/NOPE")
    assert r.status_code == 404 and error_of(r) == {"code": "DG301", "status": 404,
                                                    "message": "no batch 'NOPE' in this home"}
    r = c.get("/batches/NOPE", headers={"hx-request": "true"})
    assert r.status_code == 404 and 'role="alert"' in r.text and "<html" not in r.text
    r = c.get(f"/batches/{web.batch}?page=0", headers=HTML)
    assert r.status_code == 400 and "DG110" in r.text


# -- roles -------------------------------------------------------------------------------------------
def test_navigation_follows_the_authorisation_function(web: Web) -> None:
    def nav(name: str) -> set[str]:
        text = web.client(name).get("/", headers=HTML).text
        block = text.split('<nav aria-label="Main">')[1].split("</nav>")[0]
        return set(re.findall(r">([A-Z][a-z]+)</a>", block))

    assert "Review" in nav("rev1") and "Ledger" not in nav("rev1")
    assert "Review" not in nav("preparer") and "Releases" in nav("preparer")
    assert {"Ledger", "Audits", "Incidents", "Accounting"} <= nav("overseer") and "Review" not in nav("overseer")


def test_a_preparer_cannot_see_review_cases(web: Web) -> None:
    c = web.client("preparer")
    for path in ("/review", f"/review/case/{web.batch}?id=R2", "/review/next", "/review/progress"):
        r = c.get(path, headers=HTML)
        assert r.status_code == 403 and "DG500" in r.text, path
    r = post(c, "/review/resolve", {"batch_id": web.batch, "request_id": "R2", "decision": "DENY", "reason": "x"})
    assert r.status_code == 403


def test_a_reviewer_cannot_approve_and_an_overseer_cannot_act(web: Web) -> None:
    _two_disclose(web, "R2")
    pkg = releases.prepare(web.session("preparer"), web.batch).package.package_id
    rev = web.client("rev3")
    r = post(rev, f"/releases/{pkg}/approve")
    assert r.status_code == 403 and "approver role" in r.text
    assert "Approve package" not in rev.get(f"/releases/{pkg}", headers=HTML).text
    ov = web.client("overseer")
    assert ov.get("/ledger", headers=HTML).status_code == 200
    for path, data in (("/ledger/checkpoint", {}), ("/agreements/AGR-1/status",
                                                     {"change": "suspend", "reason": "r", "reference": "x",
                                                      "confirm": "yes"}),
                       (f"/releases/{pkg}/approve", {}), ("/releases/prepare", {"batch_id": web.batch}),
                       ("/review/resolve", {"batch_id": web.batch, "request_id": "R3", "decision": "DENY",
                                            "reason": "r"}), ("/audits/replay", {})):
        r = post(ov, path, data)
        assert r.status_code == 403, (path, r.text[:300])
    assert releases.show(web.session("officer"), pkg).state == "prepared"
    assert agreements.show(web.session("officer"), "AGR-1").agreement.status == "active"


def test_the_preparer_never_approves_their_own_package(web: Web) -> None:
    from disclosure_gate.app import users

    users.add(web.session("admin"), "pat", ["preparer", "approver"])
    users.set_password(_as(web, "pat"), "pat", web.world.password)
    _two_disclose(web, "R2")
    c = web.client("pat")
    r = post(c, "/releases/prepare", {"batch_id": web.batch})
    assert r.status_code == 303
    pkg = r.headers["location"].rsplit("/", 1)[-1]
    r = post(c, f"/releases/{pkg}/approve")
    assert r.status_code == 403
    assert "the preparer cannot approve their own package" in r.text and 'role="alert"' in r.text
    r = post(web.client("approver"), f"/releases/{pkg}/approve")
    assert r.status_code == 303


def _as(web: Web, name: str) -> Any:
    from disclosure_gate.app.session import person_actor
    from disclosure_gate.store import users as store_users

    return session_for(web.state.home, person_actor(store_users.get_user(web.state.home.engine, name)))


def _two_disclose(web: Web, rid: str) -> None:
    for name in ("rev1", "rev2"):
        review.resolve(web.session(name), web.batch, [rid], "DISCLOSE", "same person, same dwelling")


# -- the review workspace -------------------------------------------------------------------------------
def test_review_next_case_resolve_and_dual_control(web: Web) -> None:
    r1 = web.client("rev1")
    r = r1.get("/review/next", headers=HTML)
    assert r.status_code == 303 and r.headers["location"] == f"/review/case/{web.batch}?id=R2"
    page = html.unescape(r1.get(r.headers["location"], headers=HTML).text)
    assert "UNIT_MISMATCH" in page and "claimed by you" in page and "The Cedar policy that fired" in page
    assert '@id("UNIT_MISMATCH")' in page
    assert "<mark>5</mark>" in page  # the unit on file only, marked
    assert "123456789" not in page and "212345678" not in page  # TINs masked
    # a reason is required
    r = post(r1, "/review/resolve", {"batch_id": web.batch, "request_id": "R2", "decision": "DISCLOSE"})
    assert r.status_code == 400 and "a reason is required" in r.text
    r = post(r1, "/review/resolve", {"batch_id": web.batch, "request_id": "R2", "decision": "DISCLOSE",
                                     "reason": "unit written differently"})
    assert r.status_code == 303 and r.headers["location"].startswith("/review/next")
    assert "your DISCLOSE is recorded" in r1.get("/review", headers=HTML).text
    # dual control: the same reviewer again is refused; the case left this reviewer's queue
    r = post(r1, "/review/resolve", {"batch_id": web.batch, "request_id": "R2", "decision": "DISCLOSE",
                                     "reason": "again"}, headers={"accept": "application/json"})
    assert r.status_code == 403 and "a second reviewer must" in error_of(r)["message"]
    assert r1.get("/review/next", headers=HTML).headers["location"].endswith("id=R3")
    # a second reviewer sees it awaiting them, and their DISCLOSE takes effect
    r2 = web.client("rev2")
    assert "DISCLOSE needs a 2nd" in r2.get("/review", headers=HTML).text
    r = post(r2, "/review/resolve", {"batch_id": web.batch, "request_id": "R2", "decision": "DISCLOSE",
                                     "reason": "agree"}, headers={"accept": "application/json"})
    assert r.status_code == 200 and r.json()["effective"] == {"R2": "DISCLOSE"}
    assert "now DISCLOSE" in r.json()["message"]
    assert "is no longer pending" in r2.get(f"/review/case/{web.batch}?id=R2", headers=HTML).text


def test_review_skip_blind_progress_and_group(web: Web) -> None:
    c = web.client("rev1")
    skip = f"{web.batch}:R2,{web.batch}:R3"
    assert c.get(f"/review/next?skip={skip}", headers=HTML).headers["location"].endswith("id=R4")
    r = c.get("/review/next?reason=ADDRESS_SHARED_BY_MANY&blind=true", headers=HTML)
    assert "reason=ADDRESS_SHARED_BY_MANY" in r.headers["location"] and "id=R6" in r.headers["location"]
    blind = c.get(f"/review/case/{web.batch}?id=R6&blind=1", headers=HTML).text
    assert "Blind mode" in blind and "ADDRESS_SHARED_BY_MANY" not in blind.split("<main")[1].split("<form")[0]
    assert "<mark>" not in blind and "exact" not in blind.split("Side by side")[1].split("</table>")[0]
    page = c.get(f"/review/case/{web.batch}?id=R6", headers=HTML).text
    assert "2 other pending requests at this address" in page
    progress = c.get("/review/progress", headers={"hx-request": "true"}).text
    assert "<html" not in progress and ">6<" in progress
    r = post(c, "/review/resolve", {"batch_id": web.batch, "request_id": "R6", "decision": "DENY",
                                    "reason": "a shelter, not a residence", "group": "address"},
             headers={"accept": "application/json"})
    assert r.status_code == 200 and r.json()["effective"] == {"R6": "DENY", "R7": "DENY", "R8": "DENY"}
    assert ">3<" in c.get("/review/progress", headers={"hx-request": "true"}).text
    # everything the reviewer looked at is in the ledger
    kinds = [e["kind"] for e in ledger.events(web.session("officer"), limit=10_000)]
    assert kinds.count("case_viewed") >= 2 and kinds.count("review_resolved") == 3


def test_a_case_claimed_by_another_reviewer(web: Web) -> None:
    review.show(web.session("rev2"), web.batch, "R3", claim=True)
    c = web.client("rev1")
    r = c.get(f"/review/case/{web.batch}?id=R3", headers=HTML)
    assert r.status_code == 409 and "claimed by rev2" in r.text
    assert c.get(f"/review/case/{web.batch}?id=R3&claim=false", headers=HTML).status_code == 200
    assert c.get(f"/review/next?skip={web.batch}:R2", headers=HTML).headers["location"].endswith("id=R4")


# -- batches -------------------------------------------------------------------------------------------
def test_batch_funnel_filters_paging_and_export(web: Web) -> None:
    c = web.client("officer")
    page = c.get(f"/batches/{web.batch}", headers=HTML).text
    assert '<svg class="chart funnel"' in page and "UNIT_MISMATCH" in page
    rows = c.get(f"/batches/{web.batch}?decision=REVIEW", headers=HTML).text
    assert all(f">{rid}<" in rows for rid in REVIEW_ROWS) and ">R1<" not in rows
    part = c.get(f"/batches/{web.batch}?reason=ADDRESS_PLACEHOLDER",
                 headers={"hx-request": "true", "hx-target": "decisions"}).text
    assert "<html" not in part and ">R10<" in part and ">R2<" not in part and "of 1" in part
    r = c.get(f"/batches/{web.batch}/export")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    lines = r.text.splitlines()
    assert lines[0].startswith("request_id,decision,reasons") and len(lines) == 11
    assert not list((web.world.home / "tmp").glob("export-*"))  # the temporary file is gone
    assert web.client("preparer").get(f"/batches/{web.batch}/export").status_code == 403


def test_processing_runs_as_a_background_job(web: Web) -> None:
    from disclosure_gate.app import requests as requests_app
    from disclosure_gate.app.session import operator_actor

    other = web.world.data / "requests2.csv"
    other.write_text((web.world.data / "requests.csv").read_text().replace("R1,", "S1,"))
    op = session_for(web.state.home, operator_actor("tester"))
    bid = requests_app.submit(op, other, web.world.data / "manifest.yaml").batch.batch_id
    c = web.client("officer")
    assert "Process the batch" in c.get(f"/batches/{bid}", headers=HTML).text
    r = post(c, f"/batches/{bid}/process")
    assert r.status_code == 303
    job = re.search(r"job (J[0-9a-f]+)", c.get(f"/batches/{bid}", headers=HTML).text)
    assert job
    assert "Decided 10 rows" in web.wait_job(c, job.group(1))
    assert '<svg class="chart funnel"' in c.get(f"/batches/{bid}", headers=HTML).text
    assert post(web.client("rev1"), f"/batches/{bid}/process").status_code == 403


# -- releases and agreements ------------------------------------------------------------------------------
def test_release_prepare_approve_deliver_verify_and_suspend(web: Web, tmp_path: Path) -> None:
    _two_disclose(web, "R2")
    prep = web.client("preparer")
    r = post(prep, "/releases/prepare", {"batch_id": web.batch})
    assert r.status_code == 303
    pkg = r.headers["location"].rsplit("/", 1)[-1]
    assert "Prepared package" in prep.get(f"/releases/{pkg}", headers=HTML).text
    appr = web.client("approver")
    assert "awaiting approval" in appr.get("/", headers=HTML).text and pkg in appr.get("/", headers=HTML).text
    assert post(appr, f"/releases/{pkg}/approve").status_code == 303
    out = tmp_path / "outbox"
    out.mkdir()
    r = post(prep, f"/releases/{pkg}/deliver", {"out": "relative/path"})
    assert r.status_code == 400
    r = post(prep, f"/releases/{pkg}/deliver", {"out": str(out / pkg)})
    assert r.status_code == 303, r.text
    page = prep.get(f"/releases/{pkg}", headers=HTML).text
    assert "Manifest and signatures" in page and "data.csv" in page and "disclosure-gate" in page
    page = post(prep, f"/releases/{pkg}/verify").text
    assert "Verified." in page and "4 rows" in page
    # the suspension switch: reason and court order reference required, a confirmation, then what is out
    off = web.client("officer")
    r = post(off, "/agreements/AGR-1/status", {"change": "suspend", "reason": "court order"})
    assert r.status_code == 400 and "reference of the court order" in r.text
    r = post(off, "/agreements/AGR-1/status", {"change": "suspend", "reason": "court order",
                                               "reference": "D. Mass. 26-cv-101"})
    assert r.status_code == 200 and "Confirm: suspend AGR-1 now" in r.text and pkg in r.text
    assert agreements.show(web.session("officer"), "AGR-1").agreement.status == "active"  # nothing yet
    r = post(off, "/agreements/AGR-1/status", {"change": "suspend", "reason": "court order",
                                               "reference": "D. Mass. 26-cv-101", "confirm": "yes"})
    assert r.status_code == 200 and "is suspended" in r.text and "still out" in r.text and pkg in r.text
    page = off.get("/agreements/AGR-1", headers=HTML).text
    assert "D. Mass. 26-cv-101" in page and "suspended" in page
    assert "is suspended and 1 delivered package is still out" in off.get("/", headers=HTML).text
    # recall (officer), shown on the package
    r = post(off, f"/releases/{pkg}/recall", {"reason": "court order"})
    assert r.status_code == 303
    assert "recalled" in off.get(f"/releases/{pkg}", headers=HTML).text


def test_add_an_agreement_by_upload(web: Web) -> None:
    c = web.client("officer")
    yaml_bytes = (web.world.data / "agreement2.yaml").read_bytes()
    r = c.post("/agreements", files={"file": ("a.yaml", yaml_bytes, "text/yaml")},
               data={"csrf_token": csrf(c)}, headers=HTML)
    assert r.status_code == 303 and r.headers["location"] == "/agreements/AGR-2"
    assert "Second Agency" in c.get("/agreements/AGR-2", headers=HTML).text
    r = c.post("/agreements", files={"file": ("a.yaml", b"id: [", "text/yaml")}, data={"csrf_token": csrf(c)},
               headers=HTML)
    assert r.status_code == 422 and "DG206" in r.text
    assert not list((web.world.home / "tmp").glob("agreement-*"))
    r = web.client("rev1").post("/agreements", files={"file": ("a.yaml", yaml_bytes, "text/yaml")},
                                data={"csrf_token": "nope"})
    assert r.status_code == 403


# -- audits, incidents, ledger, accounting -------------------------------------------------------------------
def _delivered_release(web: Web, out: Path) -> str:
    _two_disclose(web, "R2")
    pkg = releases.prepare(web.session("preparer"), web.batch).package.package_id
    releases.approve(web.session("approver"), pkg)
    releases.deliver(web.session("preparer"), pkg, out / pkg)
    return pkg


def test_audit_incident_documents_and_certification(web: Web, tmp_path: Path) -> None:
    for key, value in (("agency_name", "Test Revenue Agency"), ("contact", "Disclosure Office, 1 Main St")):
        settings.set_(web.session("admin"), key, value)
    log = tmp_path / "log.csv"
    rows = (web.world.data / "requests.csv").read_text().splitlines()
    log.write_text("\n".join([rows[0] + ",disclosed"] + [r + ",true" for r in rows[1:]]) + "\n")
    audit = audits.import_log(web.session("auditor"), log, "csv", "6103i2", "AGR-1")
    aud = web.client("auditor")
    page = aud.get(f"/audits/{audit.audit_id}", headers=HTML).text
    assert "Open an incident" in page and "ADDRESS_PLACEHOLDER" in page
    r = post(aud, f"/audits/{audit.audit_id}/incident")
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/J")
    text = web.wait_job(aud, r.headers["location"].rsplit("/", 1)[-1])
    incident_id = re.search(r"Incident <a href=\"/incidents/(I[0-9a-f]+)", text)
    assert incident_id, text
    iid = incident_id.group(1)
    page = aud.get(f"/incidents/{iid}", headers=HTML).text
    assert "letters.pdf" in page and "recall.pdf" in page and "By reason" in page
    for client in (aud, web.client("overseer")):
        r = client.get(f"/incidents/{iid}/files/letters.pdf")
        assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")
        assert r.content.startswith(b"%PDF")
    assert web.client("rev1").get(f"/incidents/{iid}/files/letters.pdf").status_code == 403
    assert aud.get(f"/incidents/{iid}/files/..%2Fdgate.duckdb").status_code == 404
    off = web.client("officer")
    r = post(off, f"/incidents/{iid}/certify", {"destroyed_on": "2099-01-01"})
    assert r.status_code == 400 and "future" in r.text
    r = post(off, f"/incidents/{iid}/certify", {"destroyed_on": NOW.date().isoformat()})
    assert r.status_code == 303
    assert "certified" in off.get(f"/incidents/{iid}", headers=HTML).text


def test_replay_runs_as_a_background_job(web: Web) -> None:
    c = web.client("auditor")
    r = post(c, "/audits/replay", {"policy": "6103i2"})
    assert r.status_code == 303
    text = web.wait_job(c, r.headers["location"].rsplit("/", 1)[-1])
    assert "Audit <a href" in text and "decisions checked" in text
    assert post(web.client("officer"), "/audits/replay", {"policy": "6103i2"}).status_code == 403


def test_ledger_verify_job_and_inclusion_proof(web: Web) -> None:
    c = web.client("overseer")
    r = post(c, "/ledger/verify")
    assert r.status_code == 303
    job = re.search(r"/jobs/(J[0-9a-f]+)", c.get("/ledger", headers=HTML).text)
    assert job
    assert "The ledger verifies" in web.wait_job(c, job.group(1))
    assert "The ledger verifies" in c.get("/ledger", headers=HTML).text  # survives a reload
    r = c.get(f"/ledger/proof?batch={web.batch}&request_id=R1")
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")
    bundle = json.loads(r.text)
    assert {"index", "entry", "proof", "checkpoint"} <= set(bundle)
    assert web.client("rev1").get(f"/ledger/proof?batch={web.batch}&request_id=R1").status_code == 403


def test_accounting_lookups_are_recorded_and_role_checked(web: Web, tmp_path: Path) -> None:
    _delivered_release(web, tmp_path)
    c = web.client("overseer")
    page = c.get("/accounting", headers=HTML).text
    assert "Annual report" in page
    r = post(c, "/accounting/person", {"tin": "123-45-6789"})
    assert r.status_code == 200 and "***-**-6789" in r.text and "123-45-6789" not in r.text
    assert "Example Agency" in r.text
    r = post(c, "/accounting/person", {"tin": "123456789", "format": "json"})
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")
    assert json.loads(r.text)[0]["request_id"] == "R1"
    kinds = [e["kind"] for e in ledger.events(web.session("officer"), limit=10_000)]
    assert kinds.count("person_looked_up") == 2
    assert post(c, "/accounting/person", {"tin": "12"}).status_code == 400
    r = post(web.client("rev1"), "/accounting/person", {"tin": "123456789"})
    assert r.status_code == 403
    assert [e["kind"] for e in ledger.events(web.session("officer"), limit=10_000)].count("person_looked_up") == 2


def test_static_files_are_served_with_a_version(web: Web) -> None:
    c = web.client("rev1")
    page = c.get("/", headers=HTML).text
    src = re.search(r'src="(/static/htmx\.min\.js\?v=[0-9a-f]+)"', page)
    assert src
    r = c.get(src.group(1))
    assert r.status_code == 200 and r.headers["cache-control"].startswith("public")
    assert "htmx-config" in page and '"allowEval": false' in page and '"historyCacheSize": 0' in page


def test_a_path_prefix_behind_a_proxy(web: Web) -> None:
    web.state.root_path = "/dgate"
    c = TestClient(web.app, root_path="/dgate", follow_redirects=False)
    with c:
        r = c.get("/dgate/review", headers=HTML)
        assert r.status_code == 303 and r.headers["location"].startswith("/dgate/login?next=%2Freview")
        page = c.get("/dgate/login", headers=HTML)
        assert 'action="/dgate/login"' in page.text and "/dgate/static/console.css" in page.text
        assert "Path=/dgate" in page.headers["set-cookie"]
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        r = c.post("/dgate/login", data={"username": "rev1", "password": web.world.password,
                                         "csrf_token": token.group(1), "next": "/review"}, headers=HTML)
        assert r.status_code == 303 and r.headers["location"] == "/dgate/review"
        page = c.get("/dgate/review", headers=HTML)
        assert page.status_code == 200 and 'href="/dgate/review/next' in page.text
        assert c.get("/dgate/static/htmx.min.js").status_code == 200


def test_messages_survive_redirects(web: Web) -> None:
    c = web.client("rev1")
    r = c.post("/review/resolve", data={"csrf_token": csrf(c), "batch_id": web.batch, "request_id": "R3",
                                        "decision": "DENY", "reason": "another dwelling"},
               headers=HTML, follow_redirects=True)
    assert r.status_code == 200 and "R3: now DENY" in r.text and "Case R2" in r.text


def test_a_browser_can_ask_whether_its_resolution_arrived(web: Web) -> None:
    c = web.client("rev1")
    assert c.get(f"/review/vote?batch={web.batch}&id=R2").json() == {"mine": None, "effective": "REVIEW"}
    review.resolve(web.session("rev1"), web.batch, ["R2"], "DISCLOSE", "same dwelling")
    assert c.get(f"/review/vote?batch={web.batch}&id=R2").json() == {"mine": "DISCLOSE", "effective": "REVIEW"}
    assert web.client("preparer").get(f"/review/vote?batch={web.batch}&id=R2").status_code == 403
