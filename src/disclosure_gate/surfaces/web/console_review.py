"""The review workspace: the queue, the next case, a case side by side, resolutions (one row or a group).

Built for throughput and kept honest by the app layer:

* ``/review/next`` opens the oldest pending case this reviewer has not voted on
  (``review.cases(..., for_reviewer=me)``), skipping cases another reviewer
  has claimed, the ones the reviewer skipped or has a resolution waiting for,
  and those the authorisation function says they may not resolve;
* ``/review/case/BATCH?id=REQUEST`` is :func:`disclosure_gate.app.review.show`
  with ``claim=True`` (the view is a ledger event; confidential values,
  reviewers only), optionally blind;
* ``POST /review/resolve`` is :func:`disclosure_gate.app.review.resolve`: a reason
  is required, DENY takes effect at once, DISCLOSE when a second reviewer agrees.
  With ``group=address`` it resolves every pending row of the batch at the
  case's address (``review.group_members``).

The undo window is the browser's: ``console.js`` holds a resolution for a few
seconds before it sends it, so "undo" never needs to take back a recorded act.
Keyboard first: every shortcut is on a visible button (``?`` lists them).
"""

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import JSONResponse, Response

from disclosure_gate.app import authz
from disclosure_gate.app import dashboard as dashboard_app
from disclosure_gate.app import requests as requests_app
from disclosure_gate.app import review as review_app
from disclosure_gate.app.requests import visible_batch
from disclosure_gate.app.session import Session
from disclosure_gate.errors import DgateError, StateError, UsageError
from disclosure_gate.surfaces.web import http
from disclosure_gate.surfaces.web.console_auth import Ctx

if TYPE_CHECKING:
    from disclosure_gate.surfaces.web.console import Console

MAX_SKIP = 500
QUEUE_PAGE = 25
QUICK_REASONS = (
    "Same person and same dwelling: the difference is only how the address is written",
    "The address on file is a different dwelling from the one requested",
    "Institutional or shared address: not shown to be this person's residence",
    "The identity is not confirmed by the record on file",
)


def _skips(raw: str) -> set[tuple[str, str]]:
    out = set()
    for item in raw.split(",")[:MAX_SKIP]:
        batch, sep, rid = item.partition(":")
        if sep and batch and rid and len(item) <= 300:
            out.add((batch, rid))
    return out


def _next_case(s: Session, ctx: Ctx, batch: str | None, reason: str | None,
               skip: set[tuple[str, str]]) -> review_app.QueueItem | None:
    """The oldest pending case this reviewer may take now."""
    submitters: dict[str, str | None] = {}
    offset = 0
    for _ in range(40):  # at most 40 pages of candidates: a reviewer who skipped more starts a new filter
        items = review_app.cases(s, batch, reason, limit=len(skip) + 50, offset=offset, for_reviewer=ctx.name)
        for it in items:
            if (it.batch_id, it.request_id) in skip or it.claimed_by not in (None, ctx.name):
                continue
            if it.batch_id not in submitters:
                submitters[it.batch_id] = visible_batch(s, it.batch_id).submitted_by
            if not ctx.can("review.resolve", authz.Facts(batch_submitter=submitters[it.batch_id])):
                continue
            return it
        if len(items) < len(skip) + 50:
            return None
        offset += len(items)
    return None


def routes(ui: "Console") -> APIRouter:
    router = APIRouter(include_in_schema=False)
    Page = Annotated[Ctx, Depends(ui.page)]
    Act = Annotated[Ctx, Depends(ui.act)]
    Short = Annotated[str, Query(max_length=128)]

    def queue_params(batch: str, reason: str, blind: bool) -> dict[str, Any]:
        return {"batch": batch or None, "reason": reason or None, "blind": "1" if blind else None}

    @router.get("/review")
    def queue(ctx: Page, batch: Short = "", reason: Short = "", blind: bool = False) -> Response:
        with ctx.session() as s:
            backlog = dashboard_app.review_backlog(s, batch or None)
            progress = dashboard_app.review_progress(s, batch or None, reason or None)
            cases = review_app.cases(s, batch or None, reason or None, limit=QUEUE_PAGE, for_reviewer=ctx.name)
            batches = sorted(b.batch_id for b, runs in requests_app.list_(s) if any(r.is_primary for r in runs))
        return ui.render(ctx, "review.html", title="Review queue", backlog=backlog, progress=progress, cases=cases,
                         batches=batches, q=queue_params(batch, reason, blind), batch=batch, reason=reason,
                         blind=blind)

    @router.get("/review/progress")
    def progress(ctx: Page, batch: Short = "", reason: Short = "") -> Response:
        with ctx.session() as s:
            p = dashboard_app.review_progress(s, batch or None, reason or None)
        return ui.render(ctx, "_progress.html", progress=p)

    @router.get("/review/next")
    def next_case(ctx: Page, batch: Short = "", reason: Short = "", blind: bool = False,
                  skip: Annotated[str, Query(max_length=40_000)] = "") -> Response:
        with ctx.session() as s:
            found = _next_case(s, ctx, batch or None, reason or None, _skips(skip))
        q = queue_params(batch, reason, blind)
        if found is None:
            ui.flash(ctx, "info", "No case is waiting for you in this queue: every pending case is claimed, "
                     "skipped, or already has your vote.")
            return ui.redirect(ctx, "/review", **q)
        return ui.redirect(ctx, f"/review/case/{found.batch_id}", id=found.request_id, **q)

    @router.get("/review/case/{batch_id}")
    def case(ctx: Page, batch_id: str, id: Short, batch: Short = "", reason: Short = "", blind: bool = False,
             claim: bool = True) -> Response:
        q = queue_params(batch, reason, blind)
        try:
            with ctx.session() as s:
                # a case already decided, or already holding this reviewer's vote, is looked at, not claimed:
                # a claim would keep the second reviewer away for its 15 minutes
                claim = claim and dashboard_app.awaits_me(s, batch_id, id)
                view = review_app.show(s, batch_id, id, blind=blind, claim=claim)
                sources = {} if blind or not ctx.can("policy.view") else dashboard_app.policy_sources(
                    s, view.run.policy_id, view.reasons)
                group = []
                if view.same_address and view.decision == "REVIEW":
                    group = dashboard_app.pending_among(s, batch_id, view.same_address)
                progress = dashboard_app.review_progress(s, batch or None, reason or None)
        except StateError as exc:
            if claim and "claimed by" in exc.message:
                ui.flash(ctx, "error", exc.message + ". You may look without claiming it.")
                return ui.render(ctx, "claimed.html", title="Case claimed", batch_id=batch_id, request_id=id,
                                 message=exc.message, q=q, status=409)
            raise
        return ui.render(ctx, "case.html", title=f"Case {id}", view=view, sources=sources, group=group,
                         progress=progress, q=q, blind=blind, quick_reasons=QUICK_REASONS,
                         filter_batch=batch, filter_reason=reason)

    @router.get("/review/vote")
    def vote(ctx: Page, batch: Short, id: Short) -> Response:
        with ctx.session() as s:
            return JSONResponse(dashboard_app.my_vote(s, batch, id))

    @router.post("/review/resolve")
    def resolve(ctx: Act, batch_id: Annotated[str, Form(max_length=128)],
                request_id: Annotated[str, Form(max_length=128)],
                decision: Annotated[str, Form(max_length=10)],
                reason: Annotated[str, Form(max_length=review_app.MAX_REASON + 100)] = "",
                group: Annotated[str, Form(max_length=10)] = "",
                q_batch: Annotated[str, Form(max_length=128)] = "",
                q_reason: Annotated[str, Form(max_length=128)] = "",
                blind: Annotated[str, Form(max_length=5)] = "") -> Response:
        wants_json = "application/json" in ctx.request.headers.get("accept", "")
        try:
            if group not in ("", "address"):
                raise UsageError("group is empty or 'address'")
            with ctx.session() as s:
                ids = [request_id]
                if group == "address":
                    ids += review_app.group_members(s, batch_id, address_of=request_id)
                ids = list(dict.fromkeys(ids))
                res = review_app.resolve(s, batch_id, ids, decision, reason)
        except DgateError as exc:
            if wants_json:
                return http.error_response(exc)
            return ui.error(ctx, exc)
        message = _outcome(request_id, decision.upper(), res)
        if wants_json:
            return JSONResponse({"resolved": res.resolved, "effective": res.effective, "group": res.group_id,
                                 "message": message})
        ui.flash(ctx, "success", message)
        return ui.redirect(ctx, "/review/next", **queue_params(q_batch, q_reason, blind == "1"))

    return router


def _outcome(request_id: str, decision: str, res: review_app.ResolveResult) -> str:
    now = res.effective.get(request_id, "REVIEW")
    others = len(res.resolved) - 1
    group = f" (and {others} more at the same address)" if others > 0 else ""
    if decision == "DISCLOSE" and now == "REVIEW":
        return (f"{request_id}{group}: your DISCLOSE is recorded; it takes effect when a second reviewer "
                "agrees")
    return f"{request_id}{group}: now {now}"
