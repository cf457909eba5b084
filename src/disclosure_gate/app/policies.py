"""Policy versions: register (a ledger event) and list."""

from __future__ import annotations

from pathlib import Path

from disclosure_gate.app.plans import Plan
from disclosure_gate.app.session import Session
from disclosure_gate.errors import UsageError
from disclosure_gate.pipeline import policy
from disclosure_gate.store import policies
from disclosure_gate.store.policies import StoredPolicy

ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def _check(s: Session, file: Path, policy_id: str) -> tuple[policy.Policy, bool]:
    s.authorize("policy.add")
    if not policy_id or len(policy_id) > 64 or set(policy_id) - ID_CHARS:
        raise UsageError("a policy id is 1-64 letters, digits, '-', '_' or '.'")
    pol = policy.load_file(policy_id, file)
    return pol, policies.check_new(s.engine, policy_id, pol)


def plan_add(s: Session, file: Path, policy_id: str) -> Plan:
    pol, new = _check(s, file, policy_id)
    return Plan("policy.add", f"register policy {pol.label} ({len(pol.reason_codes)} reason codes)", noop=not new)


def add(s: Session, file: Path, policy_id: str) -> tuple[policy.Policy, bool]:
    pol, new = _check(s, file, policy_id)
    if new:
        with s.engine.transaction():
            policies.insert(s.engine, pol, s.actor.name)
            s.event("policy_added", {"policy_id": pol.id, "sha256": pol.sha256})
    return pol, new


def list_(s: Session) -> list[StoredPolicy]:
    s.authorize("policy.view")
    return policies.list_all(s.engine)
