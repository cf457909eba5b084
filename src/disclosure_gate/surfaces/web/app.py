"""The ASGI application: console pages (``console``), ``/api/v1`` (``api``) and ``/log/`` (``log``).

Every route parses its input, calls one app-layer action as the authenticated
actor, and renders the result; none holds SQL or a rule of its own.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from disclosure_gate.surfaces.web import http


def create_app(state: Any) -> FastAPI:
    app = FastAPI(title="disclosure-gate", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.dgate = state
    http.install(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    from disclosure_gate.surfaces.web import api, console, log

    log.build(app, state)
    api.build(app, state)
    console.build(app, state)
    return app
