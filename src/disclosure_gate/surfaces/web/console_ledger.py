"""The ledger (size, checkpoints, cosignatures, verification as a background job, inclusion proofs) and the
accounting of disclosures (the annual report; one person's accounting, a recorded look-up by TIN)."""

import dataclasses
import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import Response

from disclosure_gate.app import accounting as accounting_app
from disclosure_gate.app import dashboard as dashboard_app
from disclosure_gate.app import ledger as ledger_app
from disclosure_gate.app.session import Session
from disclosure_gate.errors import DgateError
from disclosure_gate.secret import Secret
from disclosure_gate.surfaces.web import http
from disclosure_gate.surfaces.web.console_auth import Ctx

if TYPE_CHECKING:
    from disclosure_gate.surfaces.web.console import Console


def _verify_work(s: Session) -> dict[str, Any]:
    r = ledger_app.verify(s)
    return {"ok": r.ok, "entries": r.entries, "checkpoints": r.checkpoints, "problem": r.problem,
            "bad_index": r.bad_index, "notes": list(r.notes)}


def _attachment(data: Any, filename: str) -> Response:
    body = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    return Response(body, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _mask(tin: str) -> str:
    digits = "".join(c for c in tin if c.isdigit())
    return f"***-**-{digits[-4:]}" if len(digits) >= 4 else "***"


def routes(ui: "Console") -> APIRouter:
    router = APIRouter(include_in_schema=False)
    Page = Annotated[Ctx, Depends(ui.page)]
    Act = Annotated[Ctx, Depends(ui.act)]

    # -- ledger --------------------------------------------------------------------------------------------
    def ledger_page(ctx: Ctx, status: int = 200, error: DgateError | None = None) -> Response:
        with ctx.session() as s:
            view = dashboard_app.ledger_overview(s)
            verify_jobs = [j for j in dashboard_app.recent_jobs(s, 50) if j.kind == "verify"] \
                if ctx.can("jobs.view") else []
        return ui.render(ctx, "ledger.html", status=status, title="Ledger", view=view, error=error,
                         job=verify_jobs[0] if verify_jobs else None)

    @router.get("/ledger")
    def ledger(ctx: Page) -> Response:
        return ledger_page(ctx)

    @router.post("/ledger/verify")
    def verify(ctx: Act) -> Response:
        ctx.require("ledger.view")
        job_id = ui.start_job(ctx, "verify", {}, _verify_work)
        ui.flash(ctx, "info", f"Verification started as job {job_id}: every entry, node and checkpoint is "
                 "recomputed from storage.")
        return ui.redirect(ctx, "/ledger")

    @router.post("/ledger/checkpoint")
    def checkpoint(ctx: Act) -> Response:
        try:
            with ctx.session() as s:
                pub = ledger_app.checkpoint(s)
        except DgateError as exc:
            return ledger_page(ctx, http.status_of(exc), exc)
        refused = [w for w in pub.witnesses if not w.ok]
        ui.flash(ctx, "error" if refused else "success",
                 f"Checkpoint of {pub.checkpoint.size:,} entries signed"
                 + "".join(f"; witness {w.name} refused or did not answer: {w.message}" for w in refused) + ".")
        return ui.redirect(ctx, "/ledger")

    @router.get("/ledger/proof")
    def proof(ctx: Page, batch: Annotated[str, Query(max_length=128)],
              request_id: Annotated[str, Query(max_length=128)]) -> Response:
        with ctx.session() as s:
            bundle = ledger_app.prove(s, batch, request_id)
        return _attachment(bundle, f"proof-{batch}-{''.join(c for c in request_id if c.isalnum())[:40]}.json")

    # -- accounting ---------------------------------------------------------------------------------------
    def accounting_page(ctx: Ctx, year: int, status: int = 200, error: DgateError | None = None,
                        person: list[Any] | None = None, who: str = "") -> Response:
        lines = None
        if ctx.can("accounting.report"):
            with ctx.session() as s:
                lines = accounting_app.report(s, year)
        return ui.render(ctx, "accounting.html", status=status, title="Accounting", year=year, lines=lines,
                         error=error, person=person, who=who)

    @router.get("/accounting")
    def accounting(ctx: Page, year: Annotated[int | None, Query(ge=1900, le=9999)] = None) -> Response:
        if not (ctx.can("accounting.report") or ctx.can("accounting.person")):
            ctx.require("accounting.report")
        return accounting_page(ctx, year or dt.date.today().year)

    @router.post("/accounting/person")
    def person(ctx: Act, tin: Annotated[str, Form(max_length=40)] = "",
               fmt: Annotated[str, Form(alias="format", max_length=5)] = "html") -> Response:
        secret = Secret(tin)
        del tin  # from here on the TIN is only in the Secret
        try:
            with ctx.session() as s:
                records = accounting_app.person(s, secret)
        except DgateError as exc:
            return accounting_page(ctx, dt.date.today().year, http.status_of(exc), exc)
        if fmt == "json":
            return _attachment([dataclasses.asdict(r) for r in records], "accounting.json")
        return accounting_page(ctx, dt.date.today().year, person=records, who=_mask(secret.reveal()))

    return router
