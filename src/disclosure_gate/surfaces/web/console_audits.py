"""Audits (replay as a background job, findings, judging review findings) and incidents (open as a background
job, status, certification, the report and the documents as downloads)."""

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import FileResponse, Response

from disclosure_gate.app import agreements as agreements_app
from disclosure_gate.app import audits as audits_app
from disclosure_gate.app import dashboard as dashboard_app
from disclosure_gate.app import incidents as incidents_app
from disclosure_gate.app import policies as policies_app
from disclosure_gate.app.session import Session
from disclosure_gate.errors import DgateError, NotFoundError, UsageError
from disclosure_gate.surfaces.web import http
from disclosure_gate.surfaces.web.console_auth import Ctx

if TYPE_CHECKING:
    from disclosure_gate.surfaces.web.console import Console

FINDINGS_PAGE = 200
MEDIA = {"report.html": "text/html", "report.json": "application/json", "recall.pdf": "application/pdf",
         "recall.csv": "text/csv", "letters.pdf": "application/pdf"}


def _replay_work(policy: str, agreement: str | None, since: dt.date | None) -> Any:
    def work(s: Session) -> dict[str, Any]:
        r = audits_app.replay(s, policy, agreement, since)
        return {"audit_id": r.audit_id, "checked": r.checked, "flagged": r.flagged, "review": r.review_count}

    return work


def _incident_work(audit_id: str, agency: str | None, contact: str | None, skip_covered: bool) -> Any:
    def work(s: Session) -> dict[str, Any]:
        inc = incidents_app.open_(s, audit_id, agency=agency, contact=contact, skip_covered=skip_covered)
        return {"incident_id": inc.incident_id, "records": inc.records, "persons": inc.persons}

    return work


def routes(ui: "Console") -> APIRouter:
    router = APIRouter(include_in_schema=False)
    Page = Annotated[Ctx, Depends(ui.page)]
    Act = Annotated[Ctx, Depends(ui.act)]

    # -- audits ----------------------------------------------------------------------------------------
    def audits_page(ctx: Ctx, status: int = 200, error: DgateError | None = None) -> Response:
        with ctx.session() as s:
            found = audits_app.list_(s)
            pols = policies_app.list_(s) if ctx.can("policy.view") else []
            agreements = agreements_app.list_(s) if ctx.can("agreement.view") else []
        found = sorted(found, key=lambda a: a.created_at or dt.datetime.min, reverse=True)
        return ui.render(ctx, "audits.html", status=status, title="Audits", audits=found, policies=pols,
                         agreements=agreements, error=error)

    @router.get("/audits")
    def audits(ctx: Page) -> Response:
        return audits_page(ctx)

    @router.post("/audits/replay")
    def replay(ctx: Act, policy: Annotated[str, Form(max_length=128)] = "6103i2",
               agreement: Annotated[str, Form(max_length=128)] = "",
               since: Annotated[str, Form(max_length=20)] = "") -> Response:
        try:
            day = dt.date.fromisoformat(since) if since.strip() else None
        except ValueError:
            return audits_page(ctx, 400, UsageError("since is a date, YYYY-MM-DD"))
        if policy.endswith(".cedar"):
            return audits_page(ctx, 400, UsageError("the console replays registered policies only (by id)"))
        try:
            with ctx.session() as s:
                plan = audits_app.plan_replay(s, policy, agreement or None, day)
        except DgateError as exc:
            return audits_page(ctx, http.status_of(exc), exc)
        job_id = ui.start_job(ctx, "replay", {"policy": policy, "agreement": agreement or None, "since": since or None},
                              _replay_work(policy, agreement or None, day))
        ui.flash(ctx, "info", f"{plan.summary}: running as job {job_id}")
        return ui.redirect(ctx, f"/jobs/{job_id}")

    def audit_page(ctx: Ctx, audit_id: str, finding: str = "", page: int = 1, status: int = 200,
                   error: DgateError | None = None) -> Response:
        with ctx.session() as s:
            a = audits_app.show(s, audit_id)
            items, total = dashboard_app.findings_page(s, audit_id, finding or None, FINDINGS_PAGE,
                                                       (page - 1) * FINDINGS_PAGE)
        return ui.render(ctx, "audit.html", status=status, title=f"Audit {audit_id}", a=a, findings=items,
                         total=total, finding=finding, page=page, per_page=FINDINGS_PAGE, error=error)

    @router.get("/audits/{audit_id}")
    def audit(ctx: Page, audit_id: str, finding: Annotated[str, Query(pattern="^(|unlawful|review)$")] = "",
              page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
        return audit_page(ctx, audit_id, finding, page)

    @router.post("/audits/{audit_id}/review")
    def judge(ctx: Act, audit_id: str, request_id: Annotated[list[str] | None, Form()] = None,
              verdict: Annotated[str, Form(max_length=20)] = "", reason: Annotated[str, Form(max_length=2000)] = ""
              ) -> Response:
        ids = [r for r in (request_id or []) if r][:10_000]
        try:
            if not ids:
                raise UsageError("choose at least one review finding")
            with ctx.session() as s:
                n = audits_app.review(s, audit_id, ids, verdict, reason)
        except DgateError as exc:
            return audit_page(ctx, audit_id, "review", 1, http.status_of(exc), exc)
        ui.flash(ctx, "success", f"Judged {n} review finding{'s' if n != 1 else ''} {verdict}.")
        return ui.redirect(ctx, f"/audits/{audit_id}", finding="review")

    @router.post("/audits/{audit_id}/incident")
    def open_incident(ctx: Act, audit_id: str, agency: Annotated[str, Form(max_length=300)] = "",
                      contact: Annotated[str, Form(max_length=1000)] = "",
                      skip_covered: Annotated[str, Form(max_length=5)] = "") -> Response:
        skip = skip_covered == "1"
        try:
            with ctx.session() as s:
                plan = incidents_app.plan_open(s, audit_id, agency=agency or None, contact=contact or None,
                                               skip_covered=skip)
        except DgateError as exc:
            return audit_page(ctx, audit_id, "", 1, http.status_of(exc), exc)
        job_id = ui.start_job(ctx, "incident", {"audit_id": audit_id},
                              _incident_work(audit_id, agency or None, contact or None, skip))
        ui.flash(ctx, "info", f"{plan.summary}: the documents are being written as job {job_id}")
        return ui.redirect(ctx, f"/jobs/{job_id}")

    # -- incidents ------------------------------------------------------------------------------------
    @router.get("/incidents")
    def incidents(ctx: Page) -> Response:
        with ctx.session() as s:
            found = incidents_app.list_(s)
        found = sorted(found, key=lambda i: i.opened_at or dt.datetime.min, reverse=True)
        return ui.render(ctx, "incidents.html", title="Incidents", incidents=found)

    def incident_page(ctx: Ctx, incident_id: str, status: int = 200, error: DgateError | None = None) -> Response:
        with ctx.session() as s:
            view, files = dashboard_app.incident_files(s, incident_id)
            report = dashboard_app.incident_report(s, incident_id)
        return ui.render(ctx, "incident.html", status=status, title=f"Incident {incident_id}", view=view,
                         files=files, report=report, error=error, today=dt.date.today().isoformat())

    @router.get("/incidents/{incident_id}")
    def incident(ctx: Page, incident_id: str) -> Response:
        return incident_page(ctx, incident_id)

    @router.get("/incidents/{incident_id}/files/{name}")
    def incident_file(ctx: Page, incident_id: str, name: str) -> Response:
        if name not in MEDIA:
            raise NotFoundError(f"no document '{name}' in an incident")
        with ctx.session() as s:
            view, files = dashboard_app.incident_files(s, incident_id)
        if name not in dict(files):
            raise NotFoundError(f"incident {incident_id} has no {name}")
        # an attachment, never shown inline: the letters name people and give their addresses
        return FileResponse(view.incident.folder / name, media_type=MEDIA[name], filename=f"{incident_id}-{name}",
                            content_disposition_type="attachment")

    @router.post("/incidents/{incident_id}/certify")
    def certify(ctx: Act, incident_id: str, destroyed_on: Annotated[str, Form(max_length=20)] = "") -> Response:
        try:
            try:
                day = dt.date.fromisoformat(destroyed_on.strip())
            except ValueError:
                raise UsageError("the date of destruction is a date, YYYY-MM-DD") from None
            with ctx.session() as s:
                inc, already = incidents_app.certify(s, incident_id, day)
        except DgateError as exc:
            return incident_page(ctx, incident_id, http.status_of(exc), exc)
        ui.flash(ctx, "success", f"Incident {incident_id}: destruction on {inc.certified_on} is recorded"
                 + (" (it already was)" if already else "") + ".")
        return ui.redirect(ctx, f"/incidents/{incident_id}")

    return router
