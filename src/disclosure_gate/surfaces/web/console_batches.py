"""The dashboard, batches (funnel, decisions, export, processing) and background jobs."""

import uuid
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from disclosure_gate.app import dashboard as dashboard_app
from disclosure_gate.app import requests as requests_app
from disclosure_gate.app.session import Session
from disclosure_gate.errors import DgateError
from disclosure_gate.store import files
from disclosure_gate.surfaces.web.console_auth import Ctx

if TYPE_CHECKING:
    from disclosure_gate.surfaces.web.console import Console

PAGE = 50
MAX_PAGES = 1_000_000


def _process_work(batch_id: str) -> Any:
    def work(s: Session) -> dict[str, Any]:
        res = requests_app.process(s, batch_id)
        f = res.funnel
        return {"batch_id": batch_id, "run_id": res.run.run_id, "rows": f.requested, "disclose": f.disclose,
                "review": f.review, "deny": f.deny, "created": res.created}

    return work


def routes(ui: "Console") -> APIRouter:
    router = APIRouter(include_in_schema=False)
    Page = Annotated[Ctx, Depends(ui.page)]
    Act = Annotated[Ctx, Depends(ui.act)]

    @router.get("/")
    def dashboard(ctx: Page) -> Response:
        with ctx.session() as s:
            d = dashboard_app.overview(s)
        return ui.render(ctx, "dashboard.html", title="Dashboard", d=d)

    @router.get("/batches")
    def batches(ctx: Page) -> Response:
        with ctx.session() as s:
            items = requests_app.list_(s)
            busy = dashboard_app.processing(s)
        items = sorted(items, key=lambda x: x[0].created_at, reverse=True)
        return ui.render(ctx, "batches.html", title="Batches", items=items, busy=busy)

    @router.get("/batches/{batch_id}")
    def batch(ctx: Page, batch_id: str, decision: Annotated[str, Query(max_length=10)] = "",
              reason: Annotated[str, Query(max_length=64)] = "",
              page: Annotated[int, Query(ge=1, le=MAX_PAGES)] = 1) -> Response:
        with ctx.session() as s:
            view = dashboard_app.batch_view(s, batch_id)
            table = None
            if view.primary is not None and ctx.can("decisions.export"):
                table = dashboard_app.decisions(s, batch_id, decision=decision.upper() or None, reason=reason or None,
                                                limit=PAGE, offset=(page - 1) * PAGE)
            running = [j for j in dashboard_app.recent_jobs(s, 50) if j.kind == "process"
                       and j.params.get("batch_id") == batch_id] if ctx.can("jobs.view") else []
        params = {"decision": decision.upper(), "reason": reason}
        if ctx.request.headers.get("hx-target") == "decisions":
            return ui.render(ctx, "_decisions.html", view=view, table=table, params=params)
        return ui.render(ctx, "batch.html", title=f"Batch {batch_id}", view=view, table=table, params=params,
                         job=running[0] if running else None)

    @router.get("/batches/{batch_id}/export")
    def export(ctx: Page, batch_id: str) -> Response:
        tmp_dir = files.private_dir(ui.state.home.path / "tmp")
        out = tmp_dir / f"export-{uuid.uuid4().hex}.csv"
        try:
            with ctx.session() as s:
                requests_app.export(s, batch_id, out)
        except BaseException:
            out.unlink(missing_ok=True)
            raise
        return FileResponse(out, media_type="text/csv", filename=f"{batch_id}-decisions.csv",
                            background=BackgroundTask(out.unlink, missing_ok=True))

    @router.post("/batches/{batch_id}/process")
    def process(ctx: Act, batch_id: str) -> Response:
        try:
            with ctx.session() as s:
                plan = requests_app.plan_process(s, batch_id)
        except DgateError as exc:
            return ui.error(ctx, exc)
        if plan.noop:
            ui.flash(ctx, "info", f"batch {batch_id} is already processed under this policy")
            return ui.redirect(ctx, f"/batches/{batch_id}")
        job_id = ui.start_job(ctx, "process", {"batch_id": batch_id}, _process_work(batch_id))
        ui.flash(ctx, "info", f"processing started as job {job_id}: {plan.summary}")
        return ui.redirect(ctx, f"/batches/{batch_id}")

    # -- jobs -----------------------------------------------------------------------------------------
    @router.get("/jobs")
    def jobs_page(ctx: Page) -> Response:
        with ctx.session() as s:
            items = dashboard_app.recent_jobs(s, 50)
        return ui.render(ctx, "jobs.html", title="Jobs", jobs=items)

    @router.get("/jobs/{job_id}")
    def job_page(ctx: Page, job_id: str) -> Response:
        with ctx.session() as s:
            job = dashboard_app.job(s, job_id)
        if ctx.request.headers.get("hx-request") == "true":
            return ui.render(ctx, "_job.html", job=job)
        return ui.render(ctx, "job.html", title=f"Job {job_id}", job=job)

    return router

