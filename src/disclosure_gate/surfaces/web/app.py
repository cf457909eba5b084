"""The ASGI application: console pages, /api/v1 and /log/, built on the app layer."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def create_app(state: Any) -> FastAPI:
    app = FastAPI(title="disclosure-gate", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.dgate = state

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
