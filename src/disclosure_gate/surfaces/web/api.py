"""The requesting agency's API under ``/api/v1`` (see docs/api.md).

Every endpoint authenticates ``Authorization: Bearer TOKEN`` (401 without),
takes only users with the ``recipient`` role bound to agreements (403 for
anyone else), counts the request against the token's per-minute budget (429
with ``Retry-After``), then calls one app-layer function of
:mod:`disclosure_gate.app.api`, which scopes everything to the recipient's
agreements: another agreement's batch or package is 404, never 403.

Errors have the one shape of :mod:`disclosure_gate.surfaces.web.http`. The
OpenAPI document of these routes only is served at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.background import BackgroundTask

from disclosure_gate.app import api as api_app
from disclosure_gate.app import authz
from disclosure_gate.errors import LimitError
from disclosure_gate.surfaces.web import api_upload, http

PREFIX = "/api/v1"
VERSION = "1"


# -- rate limit -------------------------------------------------------------------------------------
class RateLimited(LimitError):
    """429: too many requests with one token this minute (``Retry-After`` says when to come back)."""

    http_status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimiter:
    """A token bucket per API token, in this server's memory: ``rate`` requests a minute, refilled evenly."""

    MAX_KEYS = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, rate: int) -> float:
        """Spend one request of ``key``'s budget: 0.0 when allowed, else the seconds until one is available."""
        now = self._clock()
        with self._lock:
            if len(self._buckets) > self.MAX_KEYS:  # forget idle buckets: they would be full again anyway
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60.0}
            tokens, at = self._buckets.get(key, (float(rate), now))
            tokens = min(float(rate), tokens + (now - at) * rate / 60.0)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) * 60.0 / rate


def _limiter(request: Request) -> RateLimiter:
    value = getattr(request.app.state, "api_limiter", None)
    if not isinstance(value, RateLimiter):
        value = RateLimiter()
        request.app.state.api_limiter = value
    return value


BEARER = HTTPBearer(auto_error=False, scheme_name="recipientToken",
                    description="A recipient's token (dgate user add NAME --role recipient --agreement ID)")


def recipient(request: Request,
              _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None) -> authz.Actor:
    """The recipient behind the bearer token, within its rate limit (401, 403, 429 otherwise)."""
    actor = http.bearer_actor(request)
    with http.session_as(request, actor) as s:
        api_app.agreements_of(actor)
        limits = api_app.limits(s)
    wait = _limiter(request).take(actor.token_id or actor.name, limits.rate_per_minute)
    if wait > 0:
        after = max(1, math.ceil(wait))
        raise RateLimited(f"more than {limits.rate_per_minute:,} requests a minute with this token (setting "
                          f"api_rate_per_minute): retry after {after} s", after)
    request.state.api_limits = limits
    return actor


Recipient = Annotated[authz.Actor, Depends(recipient)]


# -- documented shapes -------------------------------------------------------------------------------
class ErrorDetail(BaseModel):
    code: str
    status: int
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class BatchCreated(BaseModel):
    batch_id: str
    rows: int
    created: bool


class Funnel(BaseModel):
    requested: int
    sufficient: int
    identity_confirmed: int
    address_corroborated: int
    disclose: int
    review: int
    deny: int
    resolved_disclose: int
    resolved_deny: int


class Decided(BaseModel):
    policy: str
    as_of: str
    request_lawful: bool


Status = Literal["submitted", "processing", "processed"]


class BatchSummary(BaseModel):
    batch_id: str
    agreement: str | None
    rows: int
    status: Status
    submitted_at: str
    received_at: str | None


class BatchStatus(BatchSummary):
    decided: Decided | None
    funnel: Funnel | None


class BatchList(BaseModel):
    batches: list[BatchSummary]


class Release(BaseModel):
    package_id: str
    batch_id: str
    agreement: str
    state: str
    rows: int
    fields: list[str]
    delivered_at: str | None
    manifest_sha256: str | None
    recalled_at: str | None
    recall_reason: str | None
    package_url: str


class ReleaseList(BaseModel):
    releases: list[Release]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {400: "malformed request (DG110)", 401: "no, a wrong, an expired or a revoked token (DG510)",
            403: "the token is not a recipient's (DG500)",
            404: "no such object among the recipient's agreements (DG301)",
            409: "the object's state does not allow it (DG300)",
            413: "a size limit: body bytes or batch rows (DG700)",
            422: "the request file or manifest is invalid (DG2xx), or a package no longer verifies (DG600)",
            429: "the token's requests-per-minute budget is spent; see Retry-After (DG700)"}
    return {c: {"model": ErrorBody, "description": text[c]} for c in codes}


UPLOAD_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["request", "manifest"],
    "properties": {
        "request": {"type": "string", "format": "binary",
                    "description": "the request file, .csv or .parquet (the reader is chosen by the extension)"},
        "manifest": {"type": "string", "format": "binary", "description": "the manifest, YAML"}}}}}}}


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/") + PREFIX


def _release(request: Request, view: dict[str, Any]) -> dict[str, Any]:
    return {**view, "package_url": f"{_base(request)}/releases/{view['package_id']}/package"}


# -- routes --------------------------------------------------------------------------------------------
router = APIRouter(prefix=PREFIX, tags=["requesting agency"])


def _submit(request: Request, actor: authz.Actor, upload: api_app.Upload, max_rows: int) -> api_app.Submitted:
    state = http.state_of(request)
    with http.session_as(request, actor) as s:
        return api_app.submit_upload(s, upload, max_rows, state.home)


@router.post("/batches", status_code=201, response_model=BatchCreated, openapi_extra=UPLOAD_BODY,
             summary="Submit a batch (multipart: request + manifest)",
             responses={200: {"model": BatchCreated, "description": "already submitted: the same batch"},
                        **_errors(400, 401, 403, 404, 413, 422, 429)})
async def submit_batch(request: Request, actor: Recipient) -> JSONResponse:
    """Validated exactly as `dgate request submit`; the same content gives the same `batch_id` (200)."""
    limits: api_app.Limits = request.state.api_limits
    folder = await run_in_threadpool(api_app.upload_folder, http.state_of(request).home.path)
    try:
        upload = await api_upload.receive(request, folder, limits.max_bytes)
        done = await run_in_threadpool(_submit, request, actor, upload, limits.max_rows)
    finally:
        await run_in_threadpool(api_app.discard, folder)
    body = {"batch_id": done.batch_id, "rows": done.rows, "created": done.created}
    headers = {"Location": f"{_base(request)}/batches/{done.batch_id}"}
    return JSONResponse(body, status_code=201 if done.created else 200, headers=headers)


@router.get("/batches", response_model=BatchList, summary="The recipient's batches",
            responses=_errors(401, 403, 429))
def list_batches(request: Request, actor: Recipient) -> dict[str, Any]:
    with http.session_as(request, actor) as s:
        return {"batches": api_app.list_batches(s)}


@router.get("/batches/{batch_id}", response_model=BatchStatus, summary="A batch's status and funnel counts",
            responses=_errors(401, 403, 404, 429))
def batch_status(request: Request, batch_id: str, actor: Recipient) -> dict[str, Any]:
    """`submitted`, `processing` or `processed`, with the funnel once processed. Never custodian data."""
    with http.session_as(request, actor) as s:
        return api_app.batch_status(s, batch_id)


@router.get("/releases", response_model=ReleaseList, summary="The recipient's delivered packages",
            responses=_errors(401, 403, 429))
def list_releases(request: Request, actor: Recipient) -> dict[str, Any]:
    with http.session_as(request, actor) as s:
        return {"releases": [_release(request, api_app.release_view(p)) for p in api_app.delivered(s)]}


@router.get("/releases/{package_id}", response_model=Release, summary="One delivered package",
            responses=_errors(401, 403, 404, 429))
def show_release(request: Request, package_id: str, actor: Recipient) -> dict[str, Any]:
    with http.session_as(request, actor) as s:
        return _release(request, api_app.release_view(api_app.delivered_package(s, package_id)))


@router.get("/releases/{package_id}/package", response_class=FileResponse,
            summary="The delivered package as one .tar.gz (for dgate release verify)",
            responses={200: {"content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "`<package_id>/` with data.csv, data.parquet, manifest.json, "
                                            "manifest.note and _COMPLETE"},
                       **_errors(401, 403, 404, 409, 422, 429)})
def download_package(request: Request, package_id: str, actor: Recipient) -> FileResponse:
    """Read from the folder recorded at delivery and re-verified before it is sent."""
    state = http.state_of(request)
    with api_app.download_folder(state.home.path) as work:
        with http.session_as(request, actor) as s:
            archive = api_app.package_archive(s, package_id, work)
        return FileResponse(archive.path, media_type="application/gzip", filename=archive.filename,
                            headers={"X-Manifest-SHA256": archive.manifest_sha256},
                            background=BackgroundTask(api_app.discard, work))


DESCRIPTION = """The requesting agency's API of disclosure-gate: submit request batches, follow them, and
download delivered packages. Authenticate with `Authorization: Bearer TOKEN` (a recipient's token).
Every error is `{"error": {"code", "status", "message"}}` with the stable codes of docs/cli.md."""


def openapi_document(root_path: str = "") -> dict[str, Any]:
    servers = [{"url": root_path}] if root_path else None
    return get_openapi(title="disclosure-gate: the requesting agency's API", version=VERSION,
                       description=DESCRIPTION, routes=router.routes, servers=servers)


def build(app: FastAPI, state: Any) -> None:
    app.state.api_limiter = RateLimiter()
    app.include_router(router)
    cache: dict[str, dict[str, Any]] = {}

    @app.get(f"{PREFIX}/openapi.json", include_in_schema=False)
    def openapi(request: Request) -> JSONResponse:
        root = str(request.scope.get("root_path", ""))
        if root not in cache:
            cache[root] = openapi_document(root)
        return JSONResponse(cache[root])
