"""Agreements: add, list, show with history, change status (the court-order switch), adopt a policy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from disclosure_gate.app import authz
from disclosure_gate.app.plans import Plan
from disclosure_gate.app.session import Session
from disclosure_gate.clock import today
from disclosure_gate.errors import ConflictError, StateError, UsageError
from disclosure_gate.pipeline.documents import Agreement, load_agreement
from disclosure_gate.remediation import release
from disclosure_gate.remediation.release import DeliveredPackage
from disclosure_gate.store import agreements as store
from disclosure_gate.store import policies

CHANGES = {"suspend": "suspended", "reinstate": "reinstated", "terminate": "terminated"}


@dataclass(frozen=True)
class AddResult:
    agreement: Agreement
    created: bool


def _check_add(s: Session, file: Path) -> tuple[Agreement, str, bool]:
    s.authorize("agreement.add")
    agreement, sha = load_agreement(file)
    have = store.stored_sha(s.engine, agreement.id)
    if have is not None and have != sha:
        raise ConflictError(f"agreement '{agreement.id}' already exists with different content; agreements are "
                            "immutable: give the new version a new id")
    pol = policies.get(s.engine, agreement.policy)  # validated before anything is stored
    if pol.unsafe:
        raise StateError(f"policy '{pol.id}' is an UNSAFE baseline kept for comparison: no agreement may name it")
    return agreement, sha, have is None


def plan_add(s: Session, file: Path) -> Plan:
    agreement, _, new = _check_add(s, file)
    return Plan("agreement.add", f"add agreement {agreement.id} ({agreement.status}, policy {agreement.policy}) "
                f"for {agreement.recipient}", noop=not new, data={"agreement_id": agreement.id})


def add(s: Session, file: Path) -> AddResult:
    agreement, sha, new = _check_add(s, file)
    if not new:
        return AddResult(store.get_agreement(s.engine, agreement.id), False)
    with s.engine.transaction():
        store.insert(s.engine, agreement, sha, s.actor.name)
        s.event("agreement_added", {"agreement_id": agreement.id, "sha256": sha, "recipient": agreement.recipient,
                                    "statutory_authority": agreement.statutory_authority,
                                    "policy": agreement.policy, "status": agreement.status,
                                    "suspended_on": agreement.suspended_on,
                                    "suspension_reason": agreement.suspension_reason})
    return AddResult(agreement, True)


def list_(s: Session) -> list[Agreement]:
    s.authorize("agreement.view")
    found = store.list_agreements(s.engine)
    visible = authz.scope(s.actor)
    return found if visible is None else [a for a in found if a.id in visible]


@dataclass(frozen=True)
class AgreementView:
    agreement: Agreement
    history: list[store.HistoryEntry]
    delivered: list[DeliveredPackage]
    in_force_today: bool


def show(s: Session, agreement_id: str) -> AgreementView:
    s.authorize("agreement.view", authz.Facts(agreement=agreement_id))
    a = store.get_agreement(s.engine, agreement_id)
    return AgreementView(a, store.history(s.engine, agreement_id), release.delivered_under(s.engine, agreement_id),
                         a.active_on(today(s.engine.clock)))


@dataclass(frozen=True)
class StatusResult:
    agreement: Agreement
    change: str
    delivered: list[DeliveredPackage]
    noop: bool = False


def _check_status(s: Session, agreement_id: str, change: str, reason: str, effective: dt.date | None
                  ) -> tuple[Agreement, str, dt.date]:
    s.authorize("agreement.status")
    if change not in CHANGES:
        raise UsageError(f"the change is one of {', '.join(CHANGES)}")
    if not reason.strip():
        raise UsageError("--reason is required: say why (for example the court order)")
    current = store.get_agreement(s.engine, agreement_id)
    kind = CHANGES[change]
    if current.status == "terminated":
        raise StateError(f"agreement {agreement_id} is terminated: it can no longer change")
    if kind == "reinstated" and current.status != "suspended":
        raise StateError(f"agreement {agreement_id} is {current.status}: only a suspended agreement is reinstated")
    return current, kind, effective or today(s.engine.clock)


def plan_change_status(s: Session, agreement_id: str, change: str, reason: str, effective: dt.date | None = None,
                       reference: str | None = None) -> Plan:
    current, kind, day = _check_status(s, agreement_id, change, reason, effective)
    delivered = release.delivered_under(s.engine, agreement_id)
    return Plan("agreement.status", f"{change} agreement {current.id} effective {day}",
                (f"{len(delivered)} package{'s' if len(delivered) != 1 else ''} already delivered under it",),
                data={"agreement_id": current.id, "change": kind})


def change_status(s: Session, agreement_id: str, change: str, reason: str, effective: dt.date | None = None,
                  reference: str | None = None) -> StatusResult:
    """Suspend, reinstate or terminate; every change is kept (history + ledger event with reason and actor)."""
    current, kind, day = _check_status(s, agreement_id, change, reason, effective)
    with s.engine.transaction():
        updated = store.record_status(s.engine, current, kind, day, reason.strip(), reference, s.actor.name)
        s.event("agreement_status", {"agreement_id": current.id, "change": kind, "effective": day,
                                     "reason": reason.strip(), "reference": reference, "status": updated.status,
                                     "suspended_on": updated.suspended_on})
    return StatusResult(updated, kind, release.delivered_under(s.engine, agreement_id))


def _check_policy(s: Session, agreement_id: str, policy_id: str, reason: str) -> tuple[Agreement, str]:
    s.authorize("agreement.policy")
    if not reason.strip():
        raise UsageError("--reason is required when an agreement adopts a policy")
    current = store.get_agreement(s.engine, agreement_id)
    pol = policies.get(s.engine, policy_id)
    if pol.unsafe:
        raise StateError(f"policy '{pol.id}' is an UNSAFE baseline: no agreement may adopt it")
    return current, pol.id


def plan_adopt_policy(s: Session, agreement_id: str, policy_id: str, reason: str) -> Plan:
    current, pid = _check_policy(s, agreement_id, policy_id, reason)
    return Plan("agreement.policy", f"agreement {current.id} adopts policy {pid} (was {current.policy})",
                noop=current.policy == pid)


def adopt_policy(s: Session, agreement_id: str, policy_id: str, reason: str) -> Agreement:
    current, pid = _check_policy(s, agreement_id, policy_id, reason)
    if current.policy == pid:
        return current
    with s.engine.transaction():
        updated = store.record_policy(s.engine, current, pid, reason.strip(), s.actor.name)
        s.event("agreement_policy", {"agreement_id": current.id, "policy": pid, "previous": current.policy,
                                     "reason": reason.strip()})
    return updated
