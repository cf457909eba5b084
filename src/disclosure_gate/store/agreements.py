"""Data-sharing agreements: stored once, listed, and suspended (the court-order switch)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from disclosure_gate.engine import Engine
from disclosure_gate.errors import ConflictError, NotFoundError
from disclosure_gate.pipeline.documents import Agreement, load_agreement


def add_agreement(engine: Engine, path: Path, *, dry_run: bool = False) -> tuple[Agreement, bool]:
    """Store an agreement. Re-adding identical content is a no-op; changed content conflicts."""
    agreement, sha = load_agreement(path)
    row = engine.fetchone("SELECT sha256 FROM agreements WHERE id = ?", [agreement.id])
    if row is not None:
        if row[0] == sha:
            return get_agreement(engine, agreement.id), False
        raise ConflictError(
            f"agreement '{agreement.id}' already exists with different content; "
            "agreements are immutable: give the new version a new id")
    if dry_run:
        return agreement, False
    engine.execute(
        "INSERT INTO agreements VALUES (?, ?, ?, ?, ?, ?, ?)",
        [agreement.id, agreement.to_json(), sha, dt.datetime.now(dt.UTC).replace(tzinfo=None),
         agreement.status, agreement.suspended_on, agreement.suspension_reason],
        label="add agreement")
    return agreement, True


def find_agreement(engine: Engine, agreement_id: str | None) -> Agreement | None:
    if not agreement_id:
        return None
    row = engine.fetchone(
        "SELECT body, status, suspended_on, suspension_reason FROM agreements WHERE id = ?",
        [agreement_id], label="find agreement")
    if row is None:
        return None
    base = Agreement.from_json(row[0])
    return dataclasses.replace(base, status=row[1], suspended_on=row[2], suspension_reason=row[3])


def get_agreement(engine: Engine, agreement_id: str) -> Agreement:
    found = find_agreement(engine, agreement_id)
    if found is None:
        raise NotFoundError(f"no agreement '{agreement_id}' in this home")
    return found


def list_agreements(engine: Engine) -> list[Agreement]:
    ids = [str(r[0]) for r in engine.fetchall("SELECT id FROM agreements ORDER BY id")]
    return [get_agreement(engine, i) for i in ids]


def suspend_agreement(engine: Engine, agreement_id: str, reason: str,
                      effective: dt.date | None = None, *, dry_run: bool = False) -> Agreement:
    """Suspend from ``effective`` (default: today). Takes effect for every later check."""
    current = get_agreement(engine, agreement_id)
    day = effective or dt.date.today()
    updated = dataclasses.replace(current, status="suspended", suspended_on=day,
                                  suspension_reason=reason)
    if not dry_run:
        engine.execute(
            "UPDATE agreements SET status = 'suspended', suspended_on = ?, suspension_reason = ? "
            "WHERE id = ?", [day, reason, agreement_id], label="suspend agreement")
    return updated
