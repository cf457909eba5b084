"""The review workflow: the queue, a case side by side, claims, resolutions (one row or a group).

Rules (enforced by :mod:`disclosure_gate.app.authz` and :mod:`disclosure_gate.pipeline.review`):
only REVIEW rows can be resolved; DENY needs one reviewer, DISCLOSE two
different reviewers; nobody resolves rows of a batch they submitted. Every
resolution is a ledger event (reviewer, decision, reason text, the run's policy
hash); every look at a case's confidential values is a ledger event too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from disclosure_gate.app import authz
from disclosure_gate.app.plans import Plan
from disclosure_gate.app.requests import get_run, visible_batch
from disclosure_gate.app.session import Session
from disclosure_gate.clock import naive_utc
from disclosure_gate.errors import NotFoundError, StateError, UsageError
from disclosure_gate.pipeline import review
from disclosure_gate.pipeline.batches import Batch
from disclosure_gate.pipeline.decide import Run
from disclosure_gate.pipeline.policy import UNSAFE_POLICIES

MAX_REASON = 2000
MAX_GROUP = 100_000


def _reason(text: str) -> str:
    text = " ".join((text or "").split())
    if not text:
        raise UsageError("a reason is required")
    if len(text) > MAX_REASON:
        raise UsageError(f"a reason has at most {MAX_REASON} characters")
    return text


def _review_run(s: Session, batch_id: str) -> tuple[Batch, Run]:
    batch = visible_batch(s, batch_id)
    run = get_run(s, batch_id, None)
    if run.policy_id in UNSAFE_POLICIES:
        raise StateError("runs under an unsafe baseline are never reviewed")
    return batch, run


def queue(s: Session, batch_id: str | None = None, reason: str | None = None) -> list[dict[str, Any]]:
    s.authorize("review.view")
    if batch_id:
        visible_batch(s, batch_id)
    return review.queue_summary(s.engine, batch_id, reason)


@dataclass(frozen=True)
class QueueItem:
    batch_id: str
    request_id: str
    reasons: tuple[str, ...]
    votes: tuple[str, ...]
    claimed_by: str | None
    age_days: int


def cases(s: Session, batch_id: str | None = None, reason: str | None = None, limit: int = 50,
          offset: int = 0, for_reviewer: str | None = None) -> list[QueueItem]:
    """Pending cases, oldest first; ``for_reviewer`` leaves out the ones they already resolved."""
    s.authorize("review.view")
    where, params = review.queue_filter(batch_id, reason)
    params.update({"now": naive_utc(s.engine.clock), "lim": limit, "off": offset})
    if for_reviewer:
        where += " AND NOT list_contains(q.reviewers, $me)"
        params["me"] = for_reviewer
    rows = s.engine.fetchall(
        f"SELECT q.batch_id, q.request_id, q.reasons, q.reviewers, q.claimed_by, q.created_at FROM "
        f"({review.queue_sql()}) q WHERE {where} ORDER BY q.created_at, q.batch_id, q._row "
        "LIMIT $lim OFFSET $off", params, label="review cases")
    now = params["now"]
    return [QueueItem(str(r[0]), str(r[1]), tuple(x for x in str(r[2] or "").split(";") if x), tuple(r[3] or ()),
                      r[4], (now - r[5]).days if r[5] else 0) for r in rows]


@dataclass(frozen=True)
class FieldComparison:
    field: str
    requested: str | None
    on_file: str | None
    verdict: str  # exact | typo | nickname | missing | different


@dataclass(frozen=True)
class CaseView:
    batch_id: str
    request_id: str
    run: Run
    reasons: tuple[str, ...]
    decision: str
    votes: tuple[str, ...]
    request: dict[str, Any]
    received: dict[str, Any] | None  # the text as received, when folding changed it
    record: dict[str, Any] | None
    addresses: list[dict[str, Any]]
    comparisons: list[FieldComparison]
    facts: dict[str, Any]
    same_address: list[str] = field(default_factory=list)
    blind: bool = False
    claimed_until: dt.datetime | None = None


def show(s: Session, batch_id: str, request_id: str, *, blind: bool = False, claim: bool = False) -> CaseView:
    """A case side by side. Shows confidential values: reviewers only, and the view is a ledger event."""
    s.authorize("review.show")
    batch, run = _review_run(s, batch_id)
    case = review.find_case(s.engine, run.run_id, request_id)
    from disclosure_gate.app import casefile

    view: CaseView = casefile.build(s.engine, batch, run, case, blind=blind)
    until = None
    with s.engine.transaction():
        if claim and case.decision == "REVIEW" and s.actor.name not in case.reviewers:
            until = review.claim(s.engine, run.run_id, case.row, s.actor.name)
        s.event("case_viewed", {"batch_id": batch_id, "request_id": request_id, "run_id": run.run_id})
    return dataclasses.replace(view, claimed_until=until)


@dataclass(frozen=True)
class ResolveResult:
    resolved: list[str]
    effective: dict[str, str]  # request_id -> effective decision after this resolution
    group_id: str | None


def _check(s: Session, batch_id: str, request_ids: list[str], decision: str, reason: str
           ) -> tuple[Batch, Run, list[review.Case], str]:
    batch, run = _review_run(s, batch_id)
    text = _reason(reason)
    decision = decision.upper()
    request_ids = list(dict.fromkeys(request_ids))  # a row named twice is resolved once
    if decision not in review.DECISIONS:
        raise UsageError("--decision is DISCLOSE or DENY")
    if not request_ids:
        raise UsageError("no rows to resolve")
    if len(request_ids) > MAX_GROUP:
        raise UsageError(f"a group resolution has at most {MAX_GROUP:,} rows")
    cases = review.find_cases(s.engine, run.run_id, request_ids)
    missing = [rid for rid in request_ids if rid not in cases]
    if missing:
        raise NotFoundError(f"no request '{missing[0]}' in this batch's run")
    found = []
    for rid in request_ids:
        case = cases[rid]
        s.authorize("review.resolve", authz.Facts(batch_submitter=batch.submitted_by,
                                                  row_resolvers=frozenset(case.reviewers),
                                                  agreement=batch.agreement_id))
        review.check_resolvable(case, decision)
        found.append(case)
    return batch, run, found, text


def plan_resolve(s: Session, batch_id: str, request_ids: list[str], decision: str, reason: str) -> Plan:
    _, run, found, _ = _check(s, batch_id, request_ids, decision, reason)
    need = "takes effect now" if decision.upper() == "DENY" else "takes effect when a second reviewer agrees"
    return Plan("review.resolve", f"resolve {len(found):,} row{'s' if len(found) != 1 else ''} of {batch_id} "
                f"{decision.upper()} ({need})", data={"run_id": run.run_id})


def resolve(s: Session, batch_id: str, request_ids: list[str], decision: str, reason: str) -> ResolveResult:
    """Record resolutions; each row is its own row and its own ledger event, in one transaction."""
    _, run, found, text = _check(s, batch_id, request_ids, decision, reason)
    decision = decision.upper()
    group = f"G{uuid.uuid4().hex[:12]}" if len(found) > 1 else None
    with s.engine.transaction():
        review.record(s.engine, found, s.actor.name, decision, text, group)
        s.events([("review_resolved", {"batch_id": batch_id, "run_id": run.run_id, "request_id": c.request_id,
                                       "row": c.row, "decision": decision, "reason": text,
                                       "policy": run.policy_label, "group": group}) for c in found])
    after = review.find_cases(s.engine, run.run_id, [c.request_id for c in found])
    effective = {rid: c.decision for rid, c in after.items()}
    return ResolveResult([c.request_id for c in found], effective, group)


def group_members(s: Session, batch_id: str, *, address_of: str | None = None, reason: str | None = None
                  ) -> list[str]:
    """Pending rows of a batch at the same standardized address as ``address_of``, or with one ``reason``."""
    s.authorize("review.view")
    _, run = _review_run(s, batch_id)
    params: dict[str, Any] = {"run": run.run_id, "now": naive_utc(s.engine.clock)}
    if address_of is not None:
        from disclosure_gate.app import casefile

        rows = casefile.same_address(s.engine, batch_id, run.run_id, address_of, pending_only=True)
        return rows
    if reason is None:
        raise UsageError("a group is the rows at one address (--address-of REQUEST_ID) or with one --reason")
    params["reason"] = reason
    return [str(r[0]) for r in s.engine.fetchall(
        f"SELECT q.request_id FROM ({review.queue_sql()}) q WHERE q.run_id = $run AND "
        "list_contains(string_split(q.reasons, ';'), $reason) ORDER BY q._row", params, label="review group")]
