"""Releases (prepare, approve, deliver, verify, recall) and agreements (add, show, the suspension switch).

Separation of duties is the app layer's: an approver who prepared a package,
or resolved rows in it, is refused by :func:`disclosure_gate.app.releases.approve`
and the refusal is shown on the package page as it is.
"""

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Form, UploadFile
from fastapi.responses import Response

from disclosure_gate.app import agreements as agreements_app
from disclosure_gate.app import releases as releases_app
from disclosure_gate.app import requests as requests_app
from disclosure_gate.errors import DgateError, LimitError, UsageError
from disclosure_gate.remediation.release import Package
from disclosure_gate.store import files
from disclosure_gate.surfaces.web import http
from disclosure_gate.surfaces.web.console_auth import Ctx

if TYPE_CHECKING:
    from disclosure_gate.surfaces.web.console import Console

MAX_YAML = 1024 * 1024
CHANGES = {"suspend": "Suspend", "reinstate": "Reinstate", "terminate": "Terminate"}


def _note_signatures(note: str) -> list[tuple[str, str]]:
    """The signature lines of a signed note: (key name, signature, shortened)."""
    _, _, sigs = note.rpartition("\n\n")
    out = []
    for line in sigs.splitlines():
        if line.startswith("\u2014 "):
            name, _, sig = line[2:].partition(" ")
            out.append((name, sig[:16] + "…" if len(sig) > 16 else sig))
    return out


def _delivered_files(pkg: Package) -> dict[str, Any] | None:
    """The manifest and its signatures, read from the delivered folder (None when it is not there)."""
    if not pkg.delivered_to:
        return None
    folder = Path(pkg.delivered_to)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        note = (folder / "manifest.note").read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
    return {"manifest": manifest, "signatures": _note_signatures(note)}


def _parse_date(value: str, what: str) -> dt.date | None:
    if not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(f"{what} is a date, YYYY-MM-DD") from None


def routes(ui: "Console") -> APIRouter:
    router = APIRouter(include_in_schema=False)
    Page = Annotated[Ctx, Depends(ui.page)]
    Act = Annotated[Ctx, Depends(ui.act)]

    # -- releases ---------------------------------------------------------------------------------------
    def releases_page(ctx: Ctx, status: int = 200, error: DgateError | None = None) -> Response:
        with ctx.session() as s:
            packages = releases_app.list_(s)
            ready = []
            if ctx.can("release.prepare") and ctx.can("request.view"):
                ready = [b for b, runs in requests_app.list_(s) if any(r.is_primary for r in runs) and b.agreement_id]
        packages = sorted(packages, key=lambda p: p.prepared_at, reverse=True)
        return ui.render(ctx, "releases.html", status=status, title="Releases", packages=packages, ready=ready,
                         error=error)

    @router.get("/releases")
    def releases(ctx: Page) -> Response:
        return releases_page(ctx)

    @router.post("/releases/prepare")
    def prepare(ctx: Act, batch_id: Annotated[str, Form(max_length=128)]) -> Response:
        try:
            with ctx.session() as s:
                res = releases_app.prepare(s, batch_id)
        except DgateError as exc:
            return releases_page(ctx, http.status_of(exc), exc)
        pkg = res.package
        ui.flash(ctx, "success", (f"Prepared package {pkg.package_id}: {pkg.rows:,} rows ({res.from_review:,} resolved "
                                  "DISCLOSE in review). A second person must approve it.") if res.created else
                 f"Package {pkg.package_id} already holds this batch.")
        return ui.redirect(ctx, f"/releases/{pkg.package_id}")

    def package_page(ctx: Ctx, package_id: str, status: int = 200, error: DgateError | None = None,
                     verified: Any = None) -> Response:
        with ctx.session() as s:
            pkg = releases_app.show(s, package_id)
        return ui.render(ctx, "package.html", status=status, title=f"Package {package_id}", pkg=pkg, error=error,
                         delivered=_delivered_files(pkg), verified=verified,
                         default_out=str(ui.state.home.path.parent / "outbox" / pkg.package_id))

    @router.get("/releases/{package_id}")
    def package(ctx: Page, package_id: str) -> Response:
        return package_page(ctx, package_id)

    def package_action(ctx: Ctx, package_id: str, act: Any, done: str) -> Response:
        try:
            with ctx.session() as s:
                act(s)
        except DgateError as exc:
            return package_page(ctx, package_id, getattr(exc, "http_status", None) or http.status_of(exc), exc)
        ui.flash(ctx, "success", done)
        return ui.redirect(ctx, f"/releases/{package_id}")

    @router.post("/releases/{package_id}/approve")
    def approve(ctx: Act, package_id: str) -> Response:
        return package_action(ctx, package_id, lambda s: releases_app.approve(s, package_id),
                              f"Package {package_id} approved by {ctx.name}. It may now be delivered.")

    @router.post("/releases/{package_id}/deliver")
    def deliver(ctx: Act, package_id: str, out: Annotated[str, Form(max_length=4096)] = "") -> Response:
        if not out.strip() or not Path(out.strip()).is_absolute():
            return package_page(ctx, package_id, 400, UsageError("give the folder to deliver to as an absolute path "
                                                                 "on the server"))
        return package_action(ctx, package_id, lambda s: releases_app.deliver(s, package_id, Path(out.strip())),
                              f"Package {package_id} delivered to {out.strip()} (signed; _COMPLETE written last).")

    @router.post("/releases/{package_id}/recall")
    def recall(ctx: Act, package_id: str, reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
        return package_action(ctx, package_id, lambda s: releases_app.recall(s, package_id, reason),
                              f"The recall of package {package_id} is recorded.")

    @router.post("/releases/{package_id}/verify")
    def verify(ctx: Act, package_id: str) -> Response:
        try:
            with ctx.session() as s:
                pkg = releases_app.show(s, package_id)
                if not pkg.delivered_to:
                    raise UsageError(f"package {package_id} has not been delivered: there is no folder to verify")
                verified = releases_app.verify(Path(pkg.delivered_to), s.keys.signer.verifier())
        except DgateError as exc:
            return package_page(ctx, package_id, http.status_of(exc), exc)
        return package_page(ctx, package_id, verified=verified)

    # -- agreements -------------------------------------------------------------------------------------
    def agreements_page(ctx: Ctx, status: int = 200, error: DgateError | None = None) -> Response:
        with ctx.session() as s:
            found = agreements_app.list_(s)
        return ui.render(ctx, "agreements.html", status=status, title="Agreements", agreements=found, error=error)

    @router.get("/agreements")
    def agreements(ctx: Page) -> Response:
        return agreements_page(ctx)

    @router.post("/agreements")
    async def add_agreement(ctx: Act, file: UploadFile) -> Response:
        data = await file.read(MAX_YAML + 1)
        await file.close()
        try:
            if len(data) > MAX_YAML:
                raise LimitError("an agreement file has at most 1 MiB")
            if not data:
                raise UsageError("choose an agreement file (YAML) to upload")
            tmp = files.private_dir(ui.state.home.path / "tmp") / f"agreement-{uuid.uuid4().hex}.yaml"
            try:
                files.atomic_write(tmp, data)

                def add() -> agreements_app.AddResult:
                    with ctx.session() as s:
                        return agreements_app.add(s, tmp)

                from fastapi.concurrency import run_in_threadpool

                res = await run_in_threadpool(add)
            finally:
                tmp.unlink(missing_ok=True)
        except DgateError as exc:
            response: Response = await _in_thread(agreements_page, ctx, http.status_of(exc), exc)
            return response
        a = res.agreement
        ui.flash(ctx, "success", f"Agreement {a.id} added." if res.created else f"Agreement {a.id} was already here.")
        return ui.redirect(ctx, f"/agreements/{a.id}")

    def agreement_page(ctx: Ctx, agreement_id: str, status: int = 200, error: DgateError | None = None,
                       form: dict[str, str] | None = None) -> Response:
        with ctx.session() as s:
            view = agreements_app.show(s, agreement_id)
        return ui.render(ctx, "agreement.html", status=status, title=f"Agreement {agreement_id}", view=view,
                         error=error, form=form or {}, changes=CHANGES)

    @router.get("/agreements/{agreement_id}")
    def agreement(ctx: Page, agreement_id: str) -> Response:
        return agreement_page(ctx, agreement_id)

    @router.post("/agreements/{agreement_id}/status")
    def change_status(ctx: Act, agreement_id: str, change: Annotated[str, Form(max_length=20)],
                      reason: Annotated[str, Form(max_length=1000)] = "",
                      reference: Annotated[str, Form(max_length=300)] = "",
                      effective: Annotated[str, Form(max_length=20)] = "",
                      confirm: Annotated[str, Form(max_length=10)] = "") -> Response:
        form = {"change": change, "reason": reason, "reference": reference, "effective": effective}
        try:
            if change not in CHANGES:
                raise UsageError(f"the change is one of {', '.join(CHANGES)}")
            if not reason.strip():
                raise UsageError("say why: the reason is required")
            if change in ("suspend", "terminate") and not reference.strip():
                raise UsageError("give the reference of the court order (or the other authority) for this change")
            day = _parse_date(effective, "the effective date")
            with ctx.session() as s:
                if confirm != "yes":
                    plan = agreements_app.plan_change_status(s, agreement_id, change, reason, day,
                                                             reference.strip() or None)
                    view = agreements_app.show(s, agreement_id)
                    return ui.render(ctx, "agreement_confirm.html", title=f"{CHANGES[change]} {agreement_id}",
                                     view=view, plan=plan, form=form, changes=CHANGES)
                res = agreements_app.change_status(s, agreement_id, change, reason, day, reference.strip() or None)
        except DgateError as exc:
            return agreement_page(ctx, agreement_id, http.status_of(exc), exc, form)
        return ui.render(ctx, "agreement_changed.html", title=f"Agreement {agreement_id} {res.change}", res=res)

    return router


async def _in_thread(fn: Any, *args: Any) -> Any:
    from fastapi.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)
