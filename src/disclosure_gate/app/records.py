"""Custodian records: load a snapshot."""

from __future__ import annotations

from pathlib import Path

from disclosure_gate.app.plans import Plan
from disclosure_gate.app.session import Session
from disclosure_gate.pipeline import records
from disclosure_gate.pipeline.records import SnapshotResult


def _stage(s: Session, persons: Path, addresses: Path) -> records.Staged:
    s.authorize("records.load")
    return records.stage(s.engine, persons, addresses)


def plan_load(s: Session, persons: Path, addresses: Path) -> Plan:
    staged = _stage(s, persons, addresses)
    try:
        return Plan("records.load", f"load snapshot {staged.snapshot_id[:16]}: {staged.persons.rows:,} persons, "
                    f"{staged.addresses.rows:,} addresses",
                    (f"{staged.folded_values:,} distinct names or addresses need Unicode folding",),
                    noop=staged.unchanged, data={"snapshot_id": staged.snapshot_id})
    finally:
        records.drop_staging(s.engine)


def load(s: Session, persons: Path, addresses: Path) -> SnapshotResult:
    """Validate, fold, standardize and atomically install a custodian snapshot (a ledger event)."""
    staged = _stage(s, persons, addresses)
    try:
        if staged.unchanged:
            return SnapshotResult(staged.snapshot_id, staged.persons.rows, staged.addresses.rows, unchanged=True)
        records.build(s.engine)
        with s.engine.transaction():
            result = records.swap(s.engine, staged, s.actor.name)
            s.event("snapshot_loaded", {"snapshot_id": result.snapshot_id, "persons": result.persons,
                                        "addresses": result.addresses})
        return result
    finally:
        records.drop_staging(s.engine)
