"""Decide: facts -> policy -> explained decisions for a whole batch.

1. Request-level facts come from the manifest and the agreement on the
   processing date (``as_of``).
2. Row facts come from the compute engine (:mod:`.match`) as an Arrow table and
   are stored per batch and custodian snapshot (:func:`store_facts`, with a
   digest in the ledger), so a second policy (the seed-2025 baseline, or a
   replay) reuses them instead of matching again. Custodian records are only
   inspected when the request itself is lawful (or an unsafe baseline asks).
3. :func:`evaluate` runs Cedar once per distinct fact vector and joins the
   outcomes back, in two passes: the first decides every row on its own; then,
   for each matched person, the earliest row that the first pass discloses is
   kept and every other row of that person gets ``duplicate`` (reason
   ``DUPLICATE_REQUEST``); rows of persons with no disclosable row keep their
   own reasons. Missing facts take the facts contract's fail-closed defaults.
4. The caller stores the run and its decisions (and the ledger leaves) in one
   transaction; ``decide`` does not know the ledger.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from disclosure_gate.engine import Engine
from disclosure_gate.engine.compute import ComputeEngine
from disclosure_gate.errors import NotFoundError, StateError
from disclosure_gate.ledger.digest import digest
from disclosure_gate.pipeline import facts as contract
from disclosure_gate.pipeline import match
from disclosure_gate.pipeline.batches import Batch
from disclosure_gate.pipeline.documents import Agreement, normalize_authority
from disclosure_gate.pipeline.policy import Policy

T_VECTORS, T_OUTCOMES = "p_vec_rows", "p_outcomes"


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
        return {f.name: getattr(self, f.name) for f in contract.REQUEST_FACTS}


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
    is_primary: bool = True

    @property
    def policy_label(self) -> str:
        return f"{self.policy_id}@sha256:{self.policy_sha256}"


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
    digest_ = hashlib.sha256(f"{batch_id}\n{policy.sha256}\n{as_of}".encode()).hexdigest()[:12]
    return f"{batch_id}-{policy.id}-{digest_}"


_RUN_COLS = "run_id, batch_id, policy_id, policy_sha256, as_of, rows, is_primary"


def _run(row: tuple[Any, ...]) -> Run:
    return Run(str(row[0]), str(row[1]), str(row[2]), str(row[3]), row[4], int(row[5]), created=False,
               is_primary=bool(row[6]))


def find_run(engine: Engine, batch_id: str, policy_id: str | None = None) -> Run | None:
    """The latest run of a batch under ``policy_id`` (or its latest primary run)."""
    sql = (f"SELECT {_RUN_COLS} FROM runs WHERE batch_id = ?"
           + (" AND policy_id = ?" if policy_id else " AND is_primary") + " ORDER BY created_at DESC")
    params: list[Any] = [batch_id] + ([policy_id] if policy_id else [])
    row = engine.fetchone(sql, params, label="find run")
    return None if row is None else _run(row)


def runs_of(engine: Engine, batch_id: str) -> list[Run]:
    return [_run(r) for r in engine.fetchall(f"SELECT {_RUN_COLS} FROM runs WHERE batch_id = ? ORDER BY created_at",
                                             [batch_id], label="runs")]


def get_run_by_id(engine: Engine, run_id: str) -> Run:
    row = engine.fetchone(f"SELECT {_RUN_COLS} FROM runs WHERE run_id = ?", [run_id], label="run")
    if row is None:
        raise NotFoundError(f"no run '{run_id}'")
    return _run(row)


REQUEST_LEVEL_REASONS = ("AGREEMENT_NOT_FOUND", "AGREEMENT_INACTIVE", "REQUEST_ELEMENT_MISSING",
                         "AUTHORITY_MISMATCH")


def run_was_lawful(engine: Engine, run_id: str) -> bool:
    """No decision of the run carries a request-level reason (those apply to every row of a batch)."""
    pattern = "|".join(REQUEST_LEVEL_REASONS)
    hits = engine.scalar("SELECT count(*) FROM decisions WHERE run_id = ? AND regexp_matches(reasons, ?)",
                         [run_id, pattern], label="request level")
    return not hits


def find_run_for(engine: Engine, batch_id: str, policy: Policy) -> Run | None:
    """The run of this batch under exactly this policy content, if any (processing is idempotent)."""
    row = engine.fetchone(f"SELECT {_RUN_COLS} FROM runs WHERE batch_id = ? AND policy_id = ? AND policy_sha256 = ?",
                          [batch_id, policy.id, policy.sha256], label="find run")
    return None if row is None else _run(row)


# -- row facts ------------------------------------------------------------------------------
def facts_status(engine: Engine, batch_id: str, snapshot: str | None) -> tuple[bool, bool] | None:
    """(inspected, seed) of the stored facts of ``batch_id`` for ``snapshot``, or None."""
    have = engine.fetchone("SELECT inspected, coalesce(seed, true) FROM batch_facts WHERE batch_id = ? AND "
                           "snapshot_id IS NOT DISTINCT FROM ?", [batch_id, snapshot], label="facts status")
    return None if have is None else (bool(have[0]), bool(have[1]))


def facts_needed(engine: Engine, batch_id: str, snapshot: str | None, *, inspect: bool, seed: bool) -> bool:
    have = facts_status(engine, batch_id, snapshot)
    return have is None or (inspect and not have[0]) or (seed and not have[1])


def match_params(batch: Batch, agreement: Agreement | None, *, source: str = "req_rows") -> match.MatchParams:
    return match.MatchParams(
        batch_id=batch.batch_id, address_style=batch.address_style,
        reference_date=batch.manifest.submitted_at,
        lookback_years=agreement.lookback_years if agreement else 6,
        shared_threshold=agreement.shared_address_threshold if agreement else 25, source=source)


def compute_row_facts(compute: ComputeEngine, batch: Batch, agreement: Agreement | None, *, inspect: bool,
                      seed: bool, progress: Callable[[str], None] | None = None, source: str = "req_rows") -> Any:
    """The batch's row facts (Arrow), computed by the compute engine from committed state."""
    return match.compute_facts(compute, match_params(batch, agreement, source=source), progress,
                               inspect=inspect, seed=seed)


FACTS_DIGEST_COLUMNS = ("_row", "request_id", *contract.FACT_COLUMNS)


def facts_digest(engine: Engine, batch_id: str) -> str:
    return digest(engine, "(SELECT * FROM row_facts WHERE batch_id = ?)", FACTS_DIGEST_COLUMNS, ["_row"],
                  [batch_id])


def store_facts(engine: Engine, batch_id: str, snapshot: str | None, table: Any, *, inspect: bool,
                seed: bool) -> str:
    """Replace the batch's stored row facts with ``table``; returns their digest. Call inside a transaction."""
    if table.schema != contract.arrow_schema():
        raise StateError("internal error: the facts table does not follow the facts contract; nothing stored")
    cols = ", ".join(["_row", "request_id", *contract.FACT_COLUMNS])
    engine.register("p_facts_view", table)
    try:
        engine.execute("DELETE FROM row_facts WHERE batch_id = ?", [batch_id], label="store facts")
        engine.execute("DELETE FROM batch_facts WHERE batch_id = ?", [batch_id], label="store facts")
        engine.execute(f"INSERT INTO row_facts (batch_id, snapshot_id, {cols}) SELECT ?, ?, {cols} "
                       "FROM p_facts_view ORDER BY _row", [batch_id, snapshot], label="store facts")
    finally:
        engine.unregister("p_facts_view")
    value = facts_digest(engine, batch_id)
    engine.execute("INSERT INTO batch_facts VALUES (?, ?, ?, ?, ?, ?)",
                   [batch_id, snapshot, inspect, engine.clock.now().replace(tzinfo=None), seed, value],
                   label="store facts")
    return value


# -- policy evaluation --------------------------------------------------------------------------
def _outcomes(engine: Engine, policy: Policy, req: RequestFacts, vectors_sql: str, params: list[Any],
              target: str) -> int:
    """Temp table ``target`` of (every row-fact column + duplicate, decision, reasons): one row per distinct
    vector of ``vectors_sql``, decided by ``policy``. Returns the number of distinct vectors."""
    names = [f.name for f in contract.ROW_FACTS] + ["duplicate"]
    distinct = engine.fetch_dicts(f"SELECT DISTINCT {', '.join(names)} FROM ({vectors_sql})", params,
                                  label="distinct vectors")
    outcomes = policy.evaluate([{**v, **req.as_dict()} for v in distinct])
    columns: dict[str, list[Any]] = {c: [v[c] for v in distinct] for c in names}
    columns["decision"] = [o.decision for o in outcomes]
    columns["reasons"] = [";".join(o.reasons) for o in outcomes]
    types = {f.name: f.sql_type for f in contract.FACTS}
    schema = pa.schema([(c, pa.string() if types[c] == "VARCHAR" else pa.bool_()) for c in names]
                       + [("decision", pa.string()), ("reasons", pa.string())])
    engine.register("p_outcomes_view", pa.table(columns, schema=schema))
    try:
        engine.execute(f"CREATE OR REPLACE TEMP TABLE {target} AS SELECT * FROM p_outcomes_view", label="outcomes")
    finally:
        engine.unregister("p_outcomes_view")
    return len(distinct)


def evaluate(engine: Engine, batch_id: str, policy: Policy, req: RequestFacts, target: str) -> int:
    """Temp table ``target``(_row, request_id, decision, reasons, match_basis, matched_tin) for every row
    of the batch's stored facts. Returns the number of distinct fact vectors evaluated."""
    names = [f.name for f in contract.ROW_FACTS]
    on = " AND ".join(f"v.{c} IS NOT DISTINCT FROM o.{c}" for c in [*names, "duplicate"])
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {T_VECTORS} AS SELECT _row, request_id, path, matched_tin, "
                   f"{contract.vector_select()}, false AS duplicate FROM row_facts WHERE batch_id = ?",
                   [batch_id], label="vectors")
    try:
        total = int(engine.scalar(f"SELECT count(*) FROM {T_VECTORS}"))
        n = _outcomes(engine, policy, req, f"SELECT * FROM {T_VECTORS}", [], T_OUTCOMES)
        # Pass 2: per matched person, the earliest row the first pass discloses is the one; the others
        # are duplicates. Only matched identities name a person.
        engine.execute(f"""
UPDATE {T_VECTORS} SET duplicate = true FROM (
  SELECT v.matched_tin, min(v._row) AS keep FROM {T_VECTORS} v JOIN {T_OUTCOMES} o ON {on}
  WHERE o.decision = 'DISCLOSE' AND v.matched_tin IS NOT NULL
    AND v.identity IN ('confirmed', 'low_confidence') GROUP BY v.matched_tin) k
WHERE {T_VECTORS}.matched_tin = k.matched_tin AND {T_VECTORS}._row <> k.keep
  AND {T_VECTORS}.identity IN ('confirmed', 'low_confidence')""", label="duplicates")
        if engine.scalar(f"SELECT count(*) FROM {T_VECTORS} WHERE duplicate"):
            n += _outcomes(engine, policy, req, f"SELECT * FROM {T_VECTORS} WHERE duplicate", [], "p_outcomes_dup")
            engine.execute(f"INSERT INTO {T_OUTCOMES} SELECT * FROM p_outcomes_dup", label="outcomes")
            engine.execute("DROP TABLE IF EXISTS p_outcomes_dup")
        identity = "seed_identity" if policy.unsafe else "identity"
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE {target} AS SELECT v._row, v.request_id, o.decision, o.reasons, "
            f"CASE WHEN v.{identity} IN ('confirmed', 'low_confidence') THEN v.path ELSE 'NONE' END "
            f"AS match_basis, v.matched_tin FROM {T_VECTORS} v JOIN {T_OUTCOMES} o ON {on}", label="join outcomes")
        decided = int(engine.scalar(f"SELECT count(DISTINCT _row) FROM {target}"))
        rows = int(engine.scalar(f"SELECT count(*) FROM {target}"))
        if decided != total or rows != total:  # every row must have exactly one outcome
            raise StateError(f"internal error: {total - decided} rows without exactly one decision; nothing stored")
    finally:
        engine.execute(f"DROP TABLE IF EXISTS {T_VECTORS}")
        engine.execute(f"DROP TABLE IF EXISTS {T_OUTCOMES}")
    return n


def store_decisions(engine: Engine, run: Run, snapshot: str | None, started_by: str, source: str) -> None:
    """Insert the run and its decisions from temp table ``source``. Call inside the storing transaction."""
    engine.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [run.run_id, run.batch_id, run.policy_id, run.policy_sha256, run.as_of, snapshot,
                    engine.clock.now().replace(tzinfo=None), run.rows, run.is_primary, started_by],
                   label="store run")
    engine.execute("INSERT INTO decisions SELECT ?, _row, request_id, decision, reasons, match_basis, matched_tin "
                   f"FROM {source} ORDER BY _row", [run.run_id], label="store decisions")
