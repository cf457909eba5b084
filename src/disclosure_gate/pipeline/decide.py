"""Decide: facts -> policy -> stored, explained decisions for a whole batch.

1. Request-level facts come from the manifest and the agreement on the
   processing date (``as_of``).
2. Row facts come from :mod:`.match` (set-based SQL). They are stored per batch
   and custodian snapshot, so a second policy (the seed-2025 baseline, or a
   replay) reuses them instead of matching again. Custodian records are only
   inspected when the request itself is lawful (or an unsafe baseline asks).
3. Cedar runs once per distinct fact vector; outcomes are joined back.
4. The run and its decisions are stored in one transaction.

Processing is idempotent: a batch already decided under the same policy
content returns the stored run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from disclosure_gate.engine import Engine
from disclosure_gate.errors import NotFoundError, StateError
from disclosure_gate.pipeline import match
from disclosure_gate.pipeline.batches import Batch, get_batch
from disclosure_gate.pipeline.documents import Agreement, normalize_authority
from disclosure_gate.pipeline.policy import FACT_NAMES, Policy
from disclosure_gate.pipeline.records import current_snapshot
from disclosure_gate.store.agreements import find_agreement

#: Row-fact column -> policy fact, and the value a missing (NULL) fact takes.
#: Positive facts default to false and negative ones to true: fail closed.
ROW_FACTS: dict[str, tuple[str, bool | str]] = {
    "name_present": ("n_present", False),
    "address_present": ("a_present", False),
    "address_placeholder": ("a_placeholder", True),
    "address_sufficient": ("a_sufficient", False),
    "address_consistent": ("a_consistent", False),
    "tin_given": ("t_present", True),
    "tin_valid": ("t_valid", False),
    "identity": ("identity", "not_evaluated"),
    "address_on_file": ("address_on_file", False),
    "unit_match": ("unit_match", False),
    "protected": ("protected", True),
    "shared_by_many": ("shared_by_many", True),
    "duplicate": ("duplicate", True),
    "seed_zip_like": ("a_zip_like", False),
    "seed_identity": ("seed_identity", "not_evaluated"),
}
REQUEST_FACTS = ("agreement_found", "agreement_active", "elements_complete", "authority_match")
assert set(ROW_FACTS) | set(REQUEST_FACTS) == set(FACT_NAMES)

FACT_COLUMNS = ("n_present", "a_present", "a_placeholder", "a_sufficient", "a_consistent", "t_present",
                "t_valid", "identity", "address_on_file", "unit_match", "protected", "shared_by_many",
                "duplicate", "a_zip_like", "seed_identity", "path", "matched_tin", "addr_usable")

_FACTS_DDL = (
    "CREATE TABLE IF NOT EXISTS row_facts (batch_id VARCHAR, snapshot_id VARCHAR, _row BIGINT, "
    "request_id VARCHAR, n_present BOOLEAN, a_present BOOLEAN, a_placeholder BOOLEAN, "
    "a_sufficient BOOLEAN, a_consistent BOOLEAN, t_present BOOLEAN, t_valid BOOLEAN, "
    "identity VARCHAR, address_on_file BOOLEAN, unit_match BOOLEAN, protected BOOLEAN, "
    "shared_by_many BOOLEAN, duplicate BOOLEAN, a_zip_like BOOLEAN, seed_identity VARCHAR, "
    "path VARCHAR, matched_tin VARCHAR, addr_usable BOOLEAN)"
)
_BATCH_FACTS_DDL = (
    "CREATE TABLE IF NOT EXISTS batch_facts (batch_id VARCHAR, snapshot_id VARCHAR, "
    "inspected BOOLEAN, created_at TIMESTAMP, seed BOOLEAN)"
)


@dataclass(frozen=True)
class RequestFacts:
    agreement_found: bool
    agreement_active: bool
    elements_complete: bool
    authority_match: bool

    @property
    def lawful(self) -> bool:
        return all((self.agreement_found, self.agreement_active, self.elements_complete,
                    self.authority_match))

    def as_dict(self) -> dict[str, bool]:
        return {k: getattr(self, k) for k in REQUEST_FACTS}


@dataclass(frozen=True)
class Run:
    run_id: str
    batch_id: str
    policy_id: str
    policy_sha256: str
    as_of: dt.date
    rows: int
    created: bool
    vectors: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def request_facts(batch: Batch, agreement: Agreement | None, as_of: dt.date) -> RequestFacts:
    m = batch.manifest
    if agreement is None:
        return RequestFacts(False, False, not m.missing_elements(), False)
    purposes = {" ".join(p.upper().split()) for p in agreement.purposes}
    purpose_ok = m.purpose is not None and " ".join(m.purpose.upper().split()) in purposes
    authority_ok = (m.statutory_authority is not None and
                    normalize_authority(m.statutory_authority) ==
                    normalize_authority(agreement.statutory_authority))
    return RequestFacts(True, agreement.active_on(as_of), not m.missing_elements(),
                        authority_ok and purpose_ok)


def run_id_for(batch_id: str, policy: Policy, as_of: dt.date) -> str:
    digest = hashlib.sha256(f"{batch_id}\n{policy.sha256}\n{as_of}".encode()).hexdigest()[:12]
    return f"{batch_id}-{policy.id}-{digest}"


def find_run(engine: Engine, batch_id: str, policy_id: str | None = None) -> Run | None:
    sql = ("SELECT run_id, batch_id, policy_id, policy_sha256, as_of, rows FROM runs WHERE batch_id = ?"
           + (" AND policy_id = ?" if policy_id else " AND is_primary") + " ORDER BY created_at DESC")
    params: list[Any] = [batch_id] + ([policy_id] if policy_id else [])
    row = engine.fetchone(sql, params, label="find run")
    if row is None:
        return None
    return Run(str(row[0]), str(row[1]), str(row[2]), str(row[3]), row[4], int(row[5]), created=False)


def get_run(engine: Engine, batch_id: str, policy_id: str | None = None) -> Run:
    run = find_run(engine, batch_id, policy_id)
    if run is None:
        what = f" under policy '{policy_id}'" if policy_id else ""
        raise NotFoundError(f"batch '{batch_id}' has not been processed{what}: run 'dgate request process'")
    return run


def ensure_facts(engine: Engine, batch: Batch, agreement: Agreement | None, inspect: bool,
                 progress: Callable[[str], None] | None, *, seed: bool = False) -> None:
    """Compute and store the batch's row facts unless the stored ones already suffice.

    ``inspect``: custodian records must have been read; ``seed``: the 2025
    baseline's own facts are needed (unsafe policies only).
    """
    engine.execute(_FACTS_DDL, label="schema")
    engine.execute(_BATCH_FACTS_DDL, label="schema")
    engine.execute("ALTER TABLE batch_facts ADD COLUMN IF NOT EXISTS seed BOOLEAN", label="schema")
    snap = current_snapshot(engine)
    if inspect and snap is None:
        raise StateError("no custodian records loaded: run 'dgate records load' first")
    have = engine.fetchone("SELECT inspected, coalesce(seed, true) FROM batch_facts WHERE batch_id = ? AND "
                           "snapshot_id IS NOT DISTINCT FROM ?", [batch.batch_id, snap])
    if have is not None and (bool(have[0]) or not inspect) and (bool(have[1]) or not seed):
        return
    params = match.MatchParams(
        batch_id=batch.batch_id, address_style=batch.address_style,
        reference_date=batch.manifest.submitted_at,
        lookback_years=agreement.lookback_years if agreement else 6,
        shared_threshold=agreement.shared_address_threshold if agreement else 25)
    try:
        match.compute_facts(engine, params, progress, inspect=inspect, seed=seed)
        cols = ", ".join(FACT_COLUMNS)
        with engine.transaction():
            engine.execute("DELETE FROM row_facts WHERE batch_id = ?", [batch.batch_id])
            engine.execute("DELETE FROM batch_facts WHERE batch_id = ?", [batch.batch_id])
            engine.execute(f"INSERT INTO row_facts (batch_id, snapshot_id, _row, request_id, {cols}) "
                           f"SELECT ?, ?, _row, request_id, {cols} FROM p_facts ORDER BY _row",
                           [batch.batch_id, snap], label="store facts")
            engine.execute("INSERT INTO batch_facts VALUES (?, ?, ?, ?, ?)",
                           [batch.batch_id, snap, inspect, dt.datetime.now(dt.UTC).replace(tzinfo=None),
                            seed], label="store facts")
    finally:
        match.drop_temp(engine)


def vector_sql(batch_id: str) -> str:
    parts = []
    for fact, (col, default) in ROW_FACTS.items():
        lit = f"'{default}'" if isinstance(default, str) else ("true" if default else "false")
        parts.append(f"coalesce({col}, {lit}) AS {fact}")
    return (f"SELECT {', '.join(parts)}, _row, request_id, path, matched_tin FROM row_facts "
            f"WHERE batch_id = '{batch_id}'")


def evaluate_into(engine: Engine, batch_id: str, policy: Policy, req: RequestFacts,
                  target: str) -> int:
    """Create temp table ``target``(_row, request_id, decision, reasons, match_basis)."""
    fact_cols = list(ROW_FACTS)
    engine.execute(f"CREATE OR REPLACE TEMP TABLE p_vec_rows AS {vector_sql(batch_id)}", label="vectors")
    distinct = engine.fetch_dicts(f"SELECT DISTINCT {', '.join(fact_cols)} FROM p_vec_rows",
                                  label="distinct vectors")
    outcomes = policy.evaluate([{**v, **req.as_dict()} for v in distinct])
    columns: dict[str, list[Any]] = {c: [v[c] for v in distinct] for c in fact_cols}
    columns["decision"] = [o.decision for o in outcomes]
    columns["reasons"] = [";".join(o.reasons) for o in outcomes]
    schema = pa.schema([(c, pa.string() if _t(c) == "VARCHAR" else pa.bool_()) for c in fact_cols]
                       + [("decision", pa.string()), ("reasons", pa.string())])
    engine.register("p_outcomes_view", pa.table(columns, schema=schema))
    try:
        engine.execute("CREATE OR REPLACE TEMP TABLE p_outcomes AS SELECT * FROM p_outcomes_view",
                       label="outcomes")
    finally:
        engine.unregister("p_outcomes_view")
    identity = "seed_identity" if policy.unsafe else "identity"
    on = " AND ".join(f"v.{c} = o.{c}" for c in fact_cols)
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE {target} AS SELECT v._row, v.request_id, o.decision, o.reasons, "
        f"CASE WHEN v.{identity} IN ('confirmed', 'low_confidence') THEN v.path ELSE 'NONE' END "
        f"AS match_basis, v.matched_tin FROM p_vec_rows v JOIN p_outcomes o ON {on}", label="join outcomes")
    n = int(engine.scalar(f"SELECT count(*) FROM {target}"))
    total = int(engine.scalar("SELECT count(*) FROM p_vec_rows"))
    if n != total:  # every row must have exactly one outcome
        raise StateError(f"internal error: {total - n} rows without a decision; nothing stored")
    engine.execute("DROP TABLE IF EXISTS p_vec_rows")
    engine.execute("DROP TABLE IF EXISTS p_outcomes")
    return len(distinct)


def fault_point(name: str) -> None:
    """Test hook for crash tests: with ``DGATE_FAULT_PAUSE=<name>:<file>`` the process writes
    ``file`` and sleeps at this point, inside the open transaction, so a test can kill -9 it."""
    spec = os.environ.get("DGATE_FAULT_PAUSE", "")
    if not spec.startswith(name + ":"):
        return
    Path(spec.split(":", 1)[1]).write_text(str(os.getpid()))
    time.sleep(600)


def _t(fact: str) -> str:
    return "VARCHAR" if isinstance(ROW_FACTS[fact][1], str) else "BOOLEAN"


def process_batch(engine: Engine, batch_id: str, policy: Policy, *, as_of: dt.date | None = None,
                  primary: bool = True, dry_run: bool = False,
                  progress: Callable[[str], None] | None = None,
                  on_store: Callable[[Engine, Run, str], None] | None = None) -> Run:
    """Decide every row of a batch under ``policy``; idempotent per policy content."""
    batch = get_batch(engine, batch_id)
    day = as_of or dt.date.today()
    existing = engine.fetchone(
        "SELECT run_id, as_of, rows FROM runs WHERE batch_id = ? AND policy_id = ? AND policy_sha256 = ?",
        [batch_id, policy.id, policy.sha256], label="find run")
    if existing is not None:
        return Run(str(existing[0]), batch_id, policy.id, policy.sha256, existing[1], int(existing[2]),
                   created=False)
    agreement = find_agreement(engine, batch.agreement_id)
    req = request_facts(batch, agreement, day)
    run = Run(run_id_for(batch_id, policy, day), batch_id, policy.id, policy.sha256, day, batch.rows,
              created=not dry_run)
    if dry_run:
        return run
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ensure_facts(engine, batch, agreement, inspect=req.lawful or policy.unsafe, progress=progress,
                 seed=policy.unsafe)
    timings["facts"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    vectors = evaluate_into(engine, batch_id, policy, req, "p_decided")
    timings["policy"] = time.perf_counter() - t1
    if progress:
        progress("policy")
    t2 = time.perf_counter()
    try:
        with engine.transaction():
            engine.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run.run_id, batch_id, policy.id, policy.sha256, day, current_snapshot(engine),
                 dt.datetime.now(dt.UTC).replace(tzinfo=None), batch.rows, primary and not policy.unsafe],
                label="store run")
            engine.execute(
                "INSERT INTO decisions SELECT ?, _row, request_id, decision, reasons, match_basis, matched_tin "
                "FROM p_decided ORDER BY _row", [run.run_id], label="store decisions")
            if on_store is not None:
                on_store(engine, run, "p_decided")
            fault_point("store")
    finally:
        engine.execute("DROP TABLE IF EXISTS p_decided")
    timings["store"] = time.perf_counter() - t2
    if progress:
        progress("store")
    return Run(run.run_id, batch_id, policy.id, policy.sha256, day, batch.rows, True, vectors, timings)
