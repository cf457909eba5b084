"""Data-sharing agreements: stored once, with every status change and policy adoption kept as history.

The agreement document is immutable (its SHA-256 is recorded). What changes
over time is its **status** (active, suspended, reinstated, terminated) and the
**policy** it is decided under; each change is a row of ``agreement_history``
(effective date, reason, court-order reference, actor) and a ledger event, and
the ``agreements`` row holds the current values derived from that history.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from disclosure_gate.clock import naive_utc
from disclosure_gate.engine import Engine
from disclosure_gate.errors import NotFoundError
from disclosure_gate.pipeline.documents import Agreement

STATUS_KINDS = ("suspended", "reinstated", "terminated")


@dataclass(frozen=True)
class HistoryEntry:
    seq: int
    kind: str  # added | suspended | reinstated | terminated | policy
    effective: dt.date | None
    reason: str | None
    reference: str | None
    policy: str | None
    actor: str
    at: dt.datetime


def stored_sha(engine: Engine, agreement_id: str) -> str | None:
    value = engine.scalar("SELECT sha256 FROM agreements WHERE id = ?", [agreement_id], label="agreement")
    return None if value is None else str(value)


def insert(engine: Engine, agreement: Agreement, sha: str, actor: str) -> None:
    """Store a new agreement and its first history entry. Call inside the transaction with its event."""
    now = naive_utc(engine.clock)
    engine.execute("INSERT INTO agreements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [agreement.id, agreement.to_json(), sha, now, agreement.status, agreement.suspended_on,
                    agreement.suspension_reason, agreement.policy, actor], label="add agreement")
    engine.execute("INSERT INTO agreement_history VALUES (?, 1, 'added', ?, NULL, NULL, ?, ?, ?)",
                   [agreement.id, agreement.valid_from, agreement.policy, actor, now], label="add agreement")
    if agreement.status != "active":
        engine.execute("INSERT INTO agreement_history VALUES (?, 2, ?, ?, ?, NULL, NULL, ?, ?)",
                       [agreement.id, agreement.status, agreement.suspended_on, agreement.suspension_reason,
                        actor, now], label="add agreement")


def find_agreement(engine: Engine, agreement_id: str | None) -> Agreement | None:
    if not agreement_id:
        return None
    row = engine.fetchone(
        "SELECT body, status, suspended_on, suspension_reason, policy FROM agreements WHERE id = ?",
        [agreement_id], label="find agreement")
    if row is None:
        return None
    base = Agreement.from_json(str(row[0]))
    return dataclasses.replace(base, status=str(row[1]), suspended_on=row[2], suspension_reason=row[3],
                               policy=str(row[4] or base.policy))


def get_agreement(engine: Engine, agreement_id: str) -> Agreement:
    found = find_agreement(engine, agreement_id)
    if found is None:
        raise NotFoundError(f"no agreement '{agreement_id}' in this home")
    return found


def list_agreements(engine: Engine) -> list[Agreement]:
    ids = [str(r[0]) for r in engine.fetchall("SELECT id FROM agreements ORDER BY id", label="agreements")]
    return [get_agreement(engine, i) for i in ids]


def history(engine: Engine, agreement_id: str) -> list[HistoryEntry]:
    return [HistoryEntry(int(r[0]), str(r[1]), r[2], r[3], r[4], r[5], str(r[6]), r[7]) for r in engine.fetchall(
        "SELECT seq, kind, effective, reason, reference, policy, actor, recorded_at FROM agreement_history "
        "WHERE agreement_id = ? ORDER BY seq", [agreement_id], label="agreement history")]


def _next_seq(engine: Engine, agreement_id: str) -> int:
    return int(engine.scalar("SELECT coalesce(max(seq), 0) + 1 FROM agreement_history WHERE agreement_id = ?",
                             [agreement_id]) or 1)


def status_after(current: Agreement, kind: str, effective: dt.date, reason: str) -> Agreement:
    """The agreement's current values after a status change (pure)."""
    if kind == "suspended":
        return dataclasses.replace(current, status="suspended", suspended_on=effective, suspension_reason=reason)
    if kind == "terminated":
        return dataclasses.replace(current, status="terminated", suspended_on=effective, suspension_reason=reason)
    return dataclasses.replace(current, status="active", suspended_on=None, suspension_reason=None)


def record_status(engine: Engine, current: Agreement, kind: str, effective: dt.date, reason: str,
                  reference: str | None, actor: str) -> Agreement:
    """Append a status change to the history and update the current values. Call inside a transaction."""
    updated = status_after(current, kind, effective, reason)
    engine.execute("INSERT INTO agreement_history VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                   [current.id, _next_seq(engine, current.id), kind, effective, reason, reference, actor,
                    naive_utc(engine.clock)], label="agreement status")
    engine.execute("UPDATE agreements SET status = ?, suspended_on = ?, suspension_reason = ? WHERE id = ?",
                   [updated.status, updated.suspended_on, updated.suspension_reason, current.id],
                   label="agreement status")
    return updated


def record_policy(engine: Engine, current: Agreement, policy_id: str, reason: str, actor: str) -> Agreement:
    engine.execute("INSERT INTO agreement_history VALUES (?, ?, 'policy', ?, ?, NULL, ?, ?, ?)",
                   [current.id, _next_seq(engine, current.id), engine.clock.now().date(), reason, policy_id, actor,
                    naive_utc(engine.clock)], label="agreement policy")
    engine.execute("UPDATE agreements SET policy = ? WHERE id = ?", [policy_id, current.id], label="agreement policy")
    return dataclasses.replace(current, policy=policy_id)


def as_of(engine: Engine, agreement: Agreement, day: dt.date) -> Agreement:
    """The agreement as it stood on ``day``: its document, then every status change effective by then."""
    row = engine.scalar("SELECT body FROM agreements WHERE id = ?", [agreement.id], label="agreement")
    state = Agreement.from_json(str(row)) if row is not None else agreement
    state = dataclasses.replace(state, policy=agreement.policy)
    for e in history(engine, agreement.id):
        if e.kind in STATUS_KINDS and e.effective is not None and e.effective <= day:
            state = status_after(state, e.kind, e.effective, e.reason or "")
    return state
