"""Request batches: submit, process, look at, export, evaluate."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

from disclosure_gate.app import authz
from disclosure_gate.app.plans import Plan
from disclosure_gate.app.session import Session
from disclosure_gate.clock import today
from disclosure_gate.engine.compute import DuckDBCompute
from disclosure_gate.errors import NotFoundError, StateError
from disclosure_gate.ledger import store as ledger
from disclosure_gate.pipeline import batches, decide, reporting
from disclosure_gate.pipeline import policy as policy_mod
from disclosure_gate.pipeline.batches import Batch
from disclosure_gate.pipeline.decide import Run
from disclosure_gate.pipeline.documents import Agreement
from disclosure_gate.pipeline.records import current_snapshot
from disclosure_gate.store import agreements as agreements_store
from disclosure_gate.store import policies

UNSAFE_WARNING = ("WARNING: policy '{id}' is the UNSAFE 2025 baseline. It skips address corroboration and is kept "
                  "only for comparison. Never release under it.")


def visible_batch(s: Session, batch_id: str) -> Batch:
    """The batch, if this actor may see it; otherwise not found (ids do not leak to other recipients)."""
    batch = batches.find_batch(s.engine, batch_id)
    visible = authz.scope(s.actor)
    if batch is None or (visible is not None and (batch.agreement_id or "") not in visible):
        raise NotFoundError(f"no batch '{batch_id}' in this home")
    return batch


# -- submit ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SubmitResult:
    batch: Batch
    created: bool
    ignored_columns: tuple[str, ...] = ()
    folded_values: int = 0


def _stage(s: Session, request_file: Path, manifest_file: Path) -> batches.Staged:
    s.authorize("request.submit")
    staged = batches.stage(s.engine, request_file, manifest_file, s.actor.name)
    visible = authz.scope(s.actor)
    if visible is not None and (staged.batch.agreement_id or "") not in visible:
        batches.drop_staging(s.engine)
        s.authorize("request.submit", authz.Facts(agreement=staged.batch.agreement_id or ""))
    return staged


def plan_submit(s: Session, request_file: Path, manifest_file: Path) -> Plan:
    staged = _stage(s, request_file, manifest_file)
    batches.drop_staging(s.engine)
    b = staged.batch
    ignored = (f"ignored unknown columns: {', '.join(staged.ignored_columns)}",) if staged.ignored_columns else ()
    return Plan("request.submit", f"store batch {b.batch_id}: {b.rows:,} rows under agreement {b.agreement_id or '-'}",
                (f"{staged.folded_values:,} distinct names or addresses need Unicode folding", *ignored),
                noop=staged.existing is not None, data={"batch_id": b.batch_id, "rows": b.rows})


def submit(s: Session, request_file: Path, manifest_file: Path) -> SubmitResult:
    """Validate, fold and store a batch with its ``batch_submitted`` event. Same content, same batch."""
    staged = _stage(s, request_file, manifest_file)
    try:
        if staged.existing is not None:
            return SubmitResult(staged.existing, False, staged.ignored_columns, staged.folded_values)
        with s.engine.transaction():
            # Staging runs outside the write lock, so an identical submission may have been stored
            # since: look again under the lock (same content, same batch).
            stored = batches.find_batch(s.engine, staged.batch.batch_id)
            if stored is not None:
                return SubmitResult(stored, False, staged.ignored_columns, staged.folded_values)
            digest = batches.store(s.engine, staged)
            b = staged.batch
            s.event("batch_submitted", {"batch_id": b.batch_id, "agreement_id": b.agreement_id, "rows": b.rows,
                                        "request_sha256": staged.request_sha256,
                                        "manifest_sha256": staged.manifest_sha256, "rows_digest": digest})
        return SubmitResult(staged.batch, True, staged.ignored_columns, staged.folded_values)
    finally:
        batches.drop_staging(s.engine)


# -- process ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProcessResult:
    run: Run
    funnel: reporting.Funnel
    created: bool
    unsafe: bool
    lawful: bool
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Prepared:
    batch: Batch
    agreement: Agreement | None
    policy: policy_mod.Policy
    as_of: dt.date
    req: decide.RequestFacts
    existing: Run | None
    primary: bool


def _prepare(s: Session, batch_id: str, policy_id: str | None, as_of: dt.date | None) -> _Prepared:
    s.authorize("request.process")
    batch = batches.get_batch(s.engine, batch_id)
    agreement = agreements_store.find_agreement(s.engine, batch.agreement_id)
    named = agreement.policy if agreement else policy_mod.BUILTIN_POLICIES[0]
    pol = policies.get(s.engine, policy_id or named)
    day = as_of or today(s.engine.clock)
    on_day = agreements_store.as_of(s.engine, agreement, day) if agreement else None
    req = decide.request_facts(batch, on_day, day)
    primary = pol.id == named and not pol.unsafe
    return _Prepared(batch, agreement, pol, day, req, decide.find_run_for(s.engine, batch_id, pol), primary)


def plan_process(s: Session, batch_id: str, policy_id: str | None = None, as_of: dt.date | None = None) -> Plan:
    p = _prepare(s, batch_id, policy_id, as_of)
    steps = []
    if p.policy.unsafe:
        steps.append(UNSAFE_WARNING.format(id=p.policy.id))
    if not p.req.lawful:
        steps.append("the request fails at request level: no custodian record will be read")
    elif current_snapshot(s.engine) is None:
        raise StateError("no custodian records loaded: run 'dgate records load' first")
    return Plan("request.process", f"decide {p.batch.rows:,} rows of {batch_id} under {p.policy.label} as of {p.as_of}",
                tuple(steps), noop=p.existing is not None)


def _funnel(s: Session, run: Run, lawful: bool) -> reporting.Funnel:
    return reporting.funnel(s.engine, run, lawful)


def process(s: Session, batch_id: str, policy_id: str | None = None, as_of: dt.date | None = None) -> ProcessResult:
    """Decide every row: facts (compute engine) -> Cedar -> decisions and ledger leaves in one transaction."""
    p = _prepare(s, batch_id, policy_id, as_of)
    if p.policy.unsafe:
        s.notify(UNSAFE_WARNING.format(id=p.policy.id))
    if p.existing is not None:
        return ProcessResult(p.existing, _funnel(s, p.existing, p.req.lawful), False, p.policy.unsafe, p.req.lawful)
    inspect, seed = p.req.lawful or p.policy.unsafe, p.policy.unsafe
    snapshot = current_snapshot(s.engine)
    if inspect and snapshot is None:
        raise StateError("no custodian records loaded: run 'dgate records load' first")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if decide.facts_needed(s.engine, batch_id, snapshot, inspect=inspect, seed=seed):
        compute = DuckDBCompute(s.engine)
        try:
            table = decide.compute_row_facts(compute, p.batch, p.agreement, inspect=inspect, seed=seed,
                                             progress=lambda stage: _tick(s, stage))
        finally:
            compute.close()
        with s.engine.transaction():
            value = decide.store_facts(s.engine, batch_id, snapshot, table, inspect=inspect, seed=seed)
            s.event("facts_stored", {"batch_id": batch_id, "snapshot_id": snapshot, "inspected": inspect,
                                     "seed": seed, "digest": value})
    timings["facts"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    run = Run(decide.run_id_for(batch_id, p.policy, p.as_of), batch_id, p.policy.id, p.policy.sha256, p.as_of,
              p.batch.rows, created=True, is_primary=p.primary)
    vectors = decide.evaluate(s.engine, batch_id, p.policy, p.req, "p_decided")
    _tick(s, "policy")
    timings["policy"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    try:
        with s.engine.transaction():
            decide.store_decisions(s.engine, run, snapshot, s.actor.name, "p_decided")
            ledger.append_decisions(s.engine, run.run_id, s.keys, source="p_decided")
    finally:
        s.engine.execute("DROP TABLE IF EXISTS p_decided")
    from disclosure_gate.app import ledger as ledger_app

    ledger_app.publish(s)
    _tick(s, "store")
    timings["store"] = time.perf_counter() - t2
    run = Run(run.run_id, batch_id, p.policy.id, p.policy.sha256, p.as_of, p.batch.rows, True, vectors, timings,
              p.primary)
    return ProcessResult(run, _funnel(s, run, p.req.lawful), True, p.policy.unsafe, p.req.lawful, timings)


STAGES = ("standardize", "tin", "corroborate", "notin", "facts", "policy", "store")


def _tick(s: Session, stage: str) -> None:
    if s.progress is not None and stage in STAGES:
        s.progress(stage, (STAGES.index(stage) + 1) / len(STAGES))


# -- look at ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchView:
    batch: Batch
    status: str  # submitted | processing | processed
    runs: list[Run]
    funnel: reporting.Funnel | None
    primary: Run | None
    lawful: bool


def _lawful(s: Session, batch: Batch, run: Run) -> bool:
    """Whether the request passed its request-level checks when the run decided it (from its decisions,
    not from today's agreement: a suspension later that day does not rewrite a past funnel)."""
    return decide.run_was_lawful(s.engine, run.run_id)


def show(s: Session, batch_id: str, processing: frozenset[str] = frozenset()) -> BatchView:
    s.authorize("request.view")
    batch = visible_batch(s, batch_id)
    runs = decide.runs_of(s.engine, batch_id)
    primary = next((r for r in reversed(runs) if r.is_primary), None)
    funnel = _funnel(s, primary, _lawful(s, batch, primary)) if primary else None
    status = "processed" if primary else ("processing" if batch_id in processing else "submitted")
    return BatchView(batch, status, runs, funnel, primary, _lawful(s, batch, primary) if primary else False)


def list_(s: Session) -> list[tuple[Batch, list[Run]]]:
    s.authorize("request.view")
    return [(b, decide.runs_of(s.engine, b.batch_id)) for b in batches.list_batches(s.engine, authz.scope(s.actor))]


def get_run(s: Session, batch_id: str, policy_id: str | None) -> Run:
    visible_batch(s, batch_id)
    run = decide.find_run(s.engine, batch_id, policy_id)
    if run is not None:
        return run
    others = sorted({r.policy_id for r in decide.runs_of(s.engine, batch_id)})
    if policy_id:
        raise NotFoundError(f"batch '{batch_id}' has not been processed under policy '{policy_id}'"
                            + (f" (only under {', '.join(others)})" if others else ""))
    if others and all(o in policy_mod.UNSAFE_POLICIES for o in others):
        raise NotFoundError(f"batch '{batch_id}' was processed only under the unsafe baseline "
                            f"({', '.join(others)}): pass --policy to see that run")
    if others:
        raise NotFoundError(f"batch '{batch_id}' has no run under its agreement's policy (only under "
                            f"{', '.join(others)}): pass --policy")
    raise NotFoundError(f"batch '{batch_id}' has not been processed: run 'dgate request process'")


def plan_export(s: Session, batch_id: str, out: Path, policy_id: str | None = None) -> Plan:
    s.authorize("decisions.export")
    run = get_run(s, batch_id, policy_id)
    from disclosure_gate.store.files import require_parent

    require_parent(out)
    return Plan("decisions.export", f"write {run.rows:,} decisions of {batch_id} under {run.policy_label} to {out}")


def export(s: Session, batch_id: str, out: Path, policy_id: str | None = None) -> Run:
    s.authorize("decisions.export")
    run = get_run(s, batch_id, policy_id)
    reporting.export_decisions(s.engine, run, out)
    return run


def evaluate(s: Session, batch_id: str, truth: Path, policy_id: str | None = None) -> tuple[Run, reporting.Evaluation]:
    s.authorize("evaluate")
    run = get_run(s, batch_id, policy_id)
    return run, reporting.evaluate(s.engine, run, truth)
