"""Human review of REVIEW rows: claims, resolutions, and the effective decision of every row.

A REVIEW row of a run is resolved by reviewers:

* **DENY** takes effect with one reviewer;
* **DISCLOSE** takes effect only when two *different* reviewers have resolved it
  DISCLOSE, and no reviewer has resolved it DENY (a DENY always wins);
* only REVIEW rows can be resolved: a DENY decided by policy can never become
  DISCLOSE, and a DISCLOSE decided by policy needs no review.

:func:`effective_sql` is the one definition of a row's effective decision;
releases, accounting, audits and the console read decisions through it.
Claims (with an expiry) keep two reviewers off the same case; they are
advisory, not a lock: a resolution is always checked against the rules above.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from disclosure_gate.clock import naive_utc
from disclosure_gate.engine import Engine
from disclosure_gate.errors import NotFoundError, StateError

DECISIONS = ("DISCLOSE", "DENY")
DISCLOSE_QUORUM = 2
CLAIM_MINUTES = 15


def resolutions_sql() -> str:
    """Per (run_id, _row): DENY count, distinct DISCLOSE reviewers, all reviewers (live resolutions only)."""
    return ("SELECT run_id, _row, count(*) FILTER (WHERE decision = 'DENY') AS denies, "
            "count(DISTINCT reviewer) FILTER (WHERE decision = 'DISCLOSE') AS discloses, "
            "list(DISTINCT reviewer ORDER BY reviewer) AS reviewers "
            "FROM review_resolutions WHERE withdrawn_at IS NULL GROUP BY run_id, _row")


def effective_sql(where: str = "true") -> str:
    """Every decision with its effective outcome: ``run_id, _row, request_id, matched_tin, match_basis,
    policy_decision, reasons, decision, source ('policy' | 'review' | 'pending'), reviewers``."""
    return f"""
SELECT d.run_id, d._row, d.request_id, d.matched_tin, d.match_basis, d.decision AS policy_decision, d.reasons,
       CASE WHEN d.decision <> 'REVIEW' THEN d.decision
            WHEN coalesce(r.denies, 0) > 0 THEN 'DENY'
            WHEN coalesce(r.discloses, 0) >= {DISCLOSE_QUORUM} THEN 'DISCLOSE'
            ELSE 'REVIEW' END AS decision,
       CASE WHEN d.decision <> 'REVIEW' THEN 'policy'
            WHEN coalesce(r.denies, 0) > 0 OR coalesce(r.discloses, 0) >= {DISCLOSE_QUORUM} THEN 'review'
            ELSE 'pending' END AS source,
       coalesce(r.reviewers, []) AS reviewers
FROM decisions d LEFT JOIN ({resolutions_sql()}) r ON r.run_id = d.run_id AND r._row = d._row
WHERE {where}"""


@dataclass(frozen=True)
class Case:
    run_id: str
    batch_id: str
    row: int
    request_id: str
    policy_decision: str
    reasons: tuple[str, ...]
    decision: str
    reviewers: tuple[str, ...]
    match_basis: str = "NONE"


def find_cases(engine: Engine, run_id: str, request_ids: list[str]) -> dict[str, Case]:
    """The cases of ``request_ids`` in one query (a group resolution of 1,000 rows is one round trip)."""
    rows = engine.fetchall(
        f"SELECT e._row, e.request_id, e.policy_decision, e.reasons, e.decision, e.reviewers, r.batch_id, "
        f"e.match_basis FROM ({effective_sql('d.run_id = $run AND d.request_id IN (SELECT unnest($rids))')}) e "
        "JOIN runs r ON r.run_id = e.run_id", {"run": run_id, "rids": list(request_ids)}, label="review cases")
    return {str(row[1]): Case(run_id, str(row[6]), int(row[0]), str(row[1]), str(row[2]),
                              tuple(x for x in str(row[3] or "").split(";") if x), str(row[4]),
                              tuple(row[5] or ()), str(row[7] or "NONE")) for row in rows}


def find_case(engine: Engine, run_id: str, request_id: str) -> Case:
    found = find_cases(engine, run_id, [request_id]).get(request_id)
    if found is None:
        raise NotFoundError(f"no request '{request_id}' in this batch's run")
    return found


def check_resolvable(case: Case, decision: str) -> None:
    """The rules that hold whoever resolves: only REVIEW rows, only DISCLOSE or DENY, not once decided, and
    DISCLOSE only for a row that identified one person."""
    if decision not in DECISIONS:
        raise StateError("a resolution is DISCLOSE or DENY")
    if case.policy_decision != "REVIEW":
        raise StateError(f"request {case.request_id} was decided {case.policy_decision} by policy: only REVIEW "
                         "rows can be resolved")
    if case.decision != "REVIEW":
        raise StateError(f"request {case.request_id} is already resolved ({case.decision})")
    if decision == "DISCLOSE" and case.match_basis == "NONE":
        # No one person was identified (no match, or several candidates): a release would have to guess whose
        # record to disclose, so such a row can only be denied, whatever a policy sent to review.
        raise StateError(f"request {case.request_id} identifies no one person on file: it can only be resolved DENY")


def record(engine: Engine, cases: list[Case], reviewer: str, decision: str, reason: str,
           group_id: str | None) -> None:
    """Insert resolutions (one row each). Call inside the transaction that appends their ledger events."""
    import pyarrow as pa

    now = naive_utc(engine.clock)
    table = pa.table({"run_id": [c.run_id for c in cases], "batch_id": [c.batch_id for c in cases],
                      "_row": pa.array([c.row for c in cases], pa.int64()),
                      "request_id": [c.request_id for c in cases]})
    engine.register("p_resolutions_view", table)
    try:
        engine.execute("INSERT INTO review_resolutions SELECT run_id, batch_id, _row, request_id, ?, ?, ?, ?, ?, NULL "
                       "FROM p_resolutions_view", [reviewer, decision, reason, now, group_id], label="resolve")
        engine.execute("DELETE FROM review_claims WHERE (run_id, _row) IN (SELECT run_id, _row FROM "
                       "p_resolutions_view) AND reviewer = ?", [reviewer], label="resolve")
    finally:
        engine.unregister("p_resolutions_view")


def claim(engine: Engine, run_id: str, row: int, reviewer: str) -> dt.datetime:
    now = naive_utc(engine.clock)
    other = engine.fetchone("SELECT reviewer, expires_at FROM review_claims WHERE run_id = ? AND _row = ? "
                            "AND expires_at > ? AND reviewer <> ?", [run_id, row, now, reviewer])
    if other is not None:
        raise StateError(f"the case is claimed by {other[0]} until {other[1].isoformat(timespec='seconds')}Z")
    until = now + dt.timedelta(minutes=CLAIM_MINUTES)
    engine.execute("DELETE FROM review_claims WHERE run_id = ? AND _row = ?", [run_id, row], label="claim")
    engine.execute("INSERT INTO review_claims VALUES (?, ?, ?, ?, ?)", [run_id, row, reviewer, now, until],
                   label="claim")
    return until


def queue_sql() -> str:
    """Pending REVIEW rows of primary runs with their reasons, age and live claim. Parameter ``$now``."""
    return f"""
SELECT e.run_id, r.batch_id, e._row, e.request_id, e.reasons, e.reviewers, r.created_at,
       c.reviewer AS claimed_by, c.expires_at AS claim_expires
FROM ({effective_sql("d.decision = 'REVIEW'")}) e
JOIN runs r ON r.run_id = e.run_id AND r.is_primary
LEFT JOIN review_claims c ON c.run_id = e.run_id AND c._row = e._row AND c.expires_at > $now
WHERE e.decision = 'REVIEW'"""


#: Each reason code of a queue row ``q`` as its own row (a row with no code is NOT_PERMITTED).
QUEUE_REASONS = "unnest(CASE WHEN q.reasons = '' THEN ['NOT_PERMITTED'] ELSE string_split(q.reasons, ';') END)"


def queue_filter(batch_id: str | None, reason: str | None) -> tuple[str, dict[str, Any]]:
    """The condition on queue rows ``q`` for an optional batch and reason code, and its bound parameters."""
    where, params = ["true"], {}
    if batch_id:
        where.append("q.batch_id = $batch")
        params["batch"] = batch_id
    if reason:
        where.append("list_contains(string_split(q.reasons, ';'), $reason)")
        params["reason"] = reason
    return " AND ".join(where), params


def queue_summary(engine: Engine, batch_id: str | None, reason: str | None) -> list[dict[str, Any]]:
    """The queue grouped by batch and reason: rows, oldest and newest run, claimed rows."""
    where, params = queue_filter(batch_id, None)
    params["now"] = naive_utc(engine.clock)
    sql = (f"SELECT q.batch_id, {QUEUE_REASONS} AS reason, q._row, q.created_at, q.claimed_by, "
           f"len(q.reviewers) AS votes FROM ({queue_sql()}) q WHERE {where}")
    outer = ("SELECT batch_id, reason, count(*) AS rows, min(created_at) AS oldest, "
             "count(*) FILTER (WHERE claimed_by IS NOT NULL) AS claimed, "
             "count(*) FILTER (WHERE votes > 0) AS awaiting_second "
             f"FROM ({sql}) " + ("WHERE reason = $reason " if reason else "")
             + "GROUP BY ALL ORDER BY batch_id, rows DESC")
    if reason:
        params["reason"] = reason
    return engine.fetch_dicts(outer, params, label="review queue")
