"""The overseers' view of the ledger under ``/log/``: a read-only C2SP tlog-tiles log (c2sp.org/tlog-tiles).

* ``GET /log/checkpoint``: the latest signed checkpoint with its cosignatures,
  ``text/plain; charset=utf-8``, cacheable for a few seconds. Public.
* ``GET /log/tile/<L>/<N>[.p/<W>]``: hash tiles, ``application/octet-stream``.
  Public. Full tiles never change: ``Cache-Control: public, max-age=31536000,
  immutable``; partial tiles are cached briefly.
* ``GET /log/tile/entries/<N>[.p/<W>]``: entry bundles, for a bearer token
  that may read ledger entries (overseers; also auditors and officers), since
  request ids are the requesting agency's. Gzip-compressed when the client
  accepts it; cacheable only privately.

The rules (what a checkpoint covers, how tiles are read from storage, how
entries are regenerated) are in :mod:`disclosure_gate.app.tlog`.
"""

from __future__ import annotations

import gzip
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from disclosure_gate.app import authz, tlog
from disclosure_gate.surfaces.web import http

PREFIX = "/log"
ANONYMOUS = authz.Actor(name="anonymous", kind="person")  # public resources: no action is authorised
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT_LIVED = "public, max-age=60"
CHECKPOINT_CACHE = "public, max-age=5"
OCTETS = "application/octet-stream"
TEXT = "text/plain; charset=utf-8"

router = APIRouter(prefix=PREFIX)


@router.get("/checkpoint")
def checkpoint(request: Request) -> Response:
    with http.session_as(request, ANONYMOUS) as s:
        text = tlog.checkpoint(s)
    return Response(text.encode("utf-8"), media_type=TEXT, headers={"Cache-Control": CHECKPOINT_CACHE})


def _accepts_gzip(request: Request) -> bool:
    for item in request.headers.get("accept-encoding", "").split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() == "gzip" and params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000"):
            return True
    return False


@router.get("/tile/{path:path}")
def tile(request: Request, path: str) -> Response:
    ref = tlog.parse_tile_path(path)
    if ref.level is None:
        actor = http.bearer_actor(request)
        with http.session_as(request, actor) as s:
            data = tlog.entry_bundle(s, ref.index, ref.width)
        headers = {"Cache-Control": ("private, max-age=31536000, immutable" if ref.full else "private, max-age=60"),
                   "Vary": "Accept-Encoding, Authorization"}
        if _accepts_gzip(request):
            data = gzip.compress(data, compresslevel=6, mtime=0)
            headers["Content-Encoding"] = "gzip"
        return Response(data, media_type=OCTETS, headers=headers)
    with http.session_as(request, ANONYMOUS) as s:
        data = tlog.hash_tile(s, ref.level, ref.index, ref.width)
    return Response(data, media_type=OCTETS, headers={"Cache-Control": IMMUTABLE if ref.full else SHORT_LIVED})


def build(app: FastAPI, state: Any) -> None:
    app.include_router(router, include_in_schema=False)
