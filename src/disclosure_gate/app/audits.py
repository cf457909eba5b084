"""Audits: replay past decisions under another policy; audit another system's log; judge review findings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from disclosure_gate.app.plans import Plan
from disclosure_gate.app.session import Session
from disclosure_gate.clock import iso_utc
from disclosure_gate.engine.compute import DuckDBCompute
from disclosure_gate.errors import NotFoundError, StateError, UsageError
from disclosure_gate.pipeline import batches, decide
from disclosure_gate.pipeline.documents import Manifest
from disclosure_gate.pipeline.intake import load_table, require_all
from disclosure_gate.pipeline.policy import Policy
from disclosure_gate.pipeline.records import current_snapshot
from disclosure_gate.pipeline.review import effective_sql
from disclosure_gate.remediation import audit
from disclosure_gate.remediation.audit import AuditResult, Finding
from disclosure_gate.store import agreements as agreements_store
from disclosure_gate.store import policies

FORMATS = ("csv",)


def _replay_runs(s: Session, agreement_id: str | None, since: dt.date | None) -> list[tuple[str, str, dt.date]]:
    return [(str(r[0]), str(r[1]), r[2]) for r in s.engine.fetchall(
        "SELECT r.run_id, r.batch_id, r.as_of FROM runs r JOIN batches b USING (batch_id) WHERE r.is_primary "
        "AND (? IS NULL OR b.agreement_id = ?) AND (? IS NULL OR r.as_of >= ?) ORDER BY r.created_at",
        [agreement_id, agreement_id, since, since], label="replay runs")]


def _check_replay(s: Session, policy_spec: str, agreement_id: str | None) -> Policy:
    s.authorize("audit.run")
    pol = policies.resolve(s.engine, policy_spec, allow_file=True)
    if agreement_id is not None:
        agreements_store.get_agreement(s.engine, agreement_id)
    return pol


def plan_replay(s: Session, policy_spec: str, agreement_id: str | None = None, since: dt.date | None = None) -> Plan:
    pol = _check_replay(s, policy_spec, agreement_id)
    runs = _replay_runs(s, agreement_id, since)
    return Plan("audit.replay", f"replay {len(runs)} run{'s' if len(runs) != 1 else ''} under {pol.label}")


def replay(s: Session, policy_spec: str, agreement_id: str | None = None, since: dt.date | None = None) -> AuditResult:
    pol = _check_replay(s, policy_spec, agreement_id)
    params: dict[str, object] = {"agreement": agreement_id, "since": str(since) if since else None}
    audit_id = audit.audit_id_for("replay", pol, params, iso_utc(s.engine.clock.now()))
    runs = _replay_runs(s, agreement_id, since)
    snapshot = current_snapshot(s.engine)
    if pol.unsafe:  # the baseline's own facts are needed; compute them first, as processing would
        for _, batch_id, _ in runs:
            if decide.facts_needed(s.engine, batch_id, snapshot, inspect=True, seed=True):
                batch = batches.get_batch(s.engine, batch_id)
                agreement = agreements_store.find_agreement(s.engine, batch.agreement_id)
                compute = DuckDBCompute(s.engine)
                try:
                    table = decide.compute_row_facts(compute, batch, agreement, inspect=True, seed=True)
                finally:
                    compute.close()
                with s.engine.transaction():
                    value = decide.store_facts(s.engine, batch_id, snapshot, table, inspect=True, seed=True)
                    s.event("facts_stored", {"batch_id": batch_id, "snapshot_id": snapshot, "inspected": True,
                                             "seed": True, "digest": value})
    checked = disclosures = 0
    with s.engine.transaction():
        for run_id, batch_id, as_of in runs:
            batch = batches.get_batch(s.engine, batch_id)
            agreement = agreements_store.find_agreement(s.engine, batch.agreement_id)
            on_day = agreements_store.as_of(s.engine, agreement, as_of) if agreement else None
            req = decide.request_facts(batch, on_day, as_of)
            decide.evaluate(s.engine, batch_id, pol, req, "p_replay")
            audit.replay_findings(s.engine, audit_id, run_id, batch_id, "p_replay", as_of)
            s.engine.execute("DROP TABLE IF EXISTS p_replay")
            effective = effective_sql("d.run_id = $run")  # disclosures by policy and by two reviewers
            counts = s.engine.fetchone(
                f"SELECT count(*), count(*) FILTER (WHERE decision = 'DISCLOSE') FROM ({effective})",
                {"run": run_id}) or (0, 0)
            checked += int(counts[0])
            disclosures += int(counts[1])
        result, value = audit.finish(s.engine, audit_id, "replay", pol, params, checked, disclosures, None, None,
                                     s.actor.name)
        _event(s, result, value)
    return result


def _event(s: Session, r: AuditResult, findings_digest: str) -> None:
    s.event("audit_completed", {"audit_id": r.audit_id, "audit_kind": r.kind, "policy": r.policy, "checked": r.checked,
                                "flagged": r.flagged, "review": r.review_count, "by_reason": r.by_reason,
                                "findings_digest": findings_digest})


LOG_TABLE = "stg_log"
_TRUE = ", ".join(f"'{w}'" for w in audit.TRUE_WORDS)


def _stage_log(s: Session, compute: DuckDBCompute, log: Path, fmt: str) -> tuple[object, str, str]:
    if fmt not in FORMATS:
        raise UsageError(f"--format: only {', '.join(FORMATS)} disclosure logs are supported")
    e = compute.engine
    t = load_table(e, log, audit.LOG_SPEC, LOG_TABLE)
    words = ", ".join(f"'{w}'" for w in audit.BOOL_WORDS)
    require_all(e, t, [
        (f"upper(trim(coalesce(disclosed, ''))) NOT IN ({words})", "disclosed", "disclosed must be true or false"),
        ("address_validated IS NOT NULL AND trim(address_validated) <> '' AND "
         f"upper(trim(address_validated)) NOT IN ({words})", "address_validated",
         "address_validated must be true, false or empty"),
        ("nullif(trim(disclosed_on), '') IS NOT NULL AND TRY_CAST(trim(disclosed_on) AS DATE) IS NULL",
         "disclosed_on", "disclosed_on must be YYYY-MM-DD or empty"),
    ])
    batches.fold_staging(e, LOG_TABLE)
    return t, t.sha256, "free" if t.group == ("address",) else "structured"


def _check_import(s: Session, policy_spec: str, agreement_id: str | None) -> Policy:
    s.authorize("audit.run")
    if current_snapshot(s.engine) is None:
        raise StateError("no custodian records loaded: run 'dgate records load' first")
    if agreement_id is not None:
        agreements_store.get_agreement(s.engine, agreement_id)
    return policies.resolve(s.engine, policy_spec, allow_file=True)


def plan_import(s: Session, log: Path, fmt: str = "csv", policy_spec: str = "6103i2",
                agreement_id: str | None = None) -> Plan:
    pol = _check_import(s, policy_spec, agreement_id)
    compute = DuckDBCompute(s.engine)
    try:
        t, _, _ = _stage_log(s, compute, log, fmt)
    finally:
        compute.close()
    return Plan("audit.import", f"audit {getattr(t, 'rows', 0):,} logged requests under {pol.label}")


def import_log(s: Session, log: Path, fmt: str = "csv", policy_spec: str = "6103i2",
               agreement_id: str | None = None) -> AuditResult:
    """Audit another system's disclosure log under a policy (the same facts computation as processing)."""
    pol = _check_import(s, policy_spec, agreement_id)
    agreement = agreements_store.find_agreement(s.engine, agreement_id) if agreement_id else None
    compute = DuckDBCompute(s.engine)
    try:
        t, sha, style = _stage_log(s, compute, log, fmt)
        params: dict[str, object] = {"log": Path(log).name, "log_sha256": sha, "agreement": agreement_id}
        audit_id = audit.audit_id_for("import", pol, params, iso_utc(s.engine.clock.now()))
        batch_id = "L" + audit_id[1:]
        e = compute.engine
        e.execute(f"ALTER TABLE {LOG_TABLE} ADD COLUMN batch_id VARCHAR", label="log")
        e.execute(f"UPDATE {LOG_TABLE} SET batch_id = ?", [batch_id], label="log")
        reference = e.scalar(f"SELECT max(TRY_CAST(trim(disclosed_on) AS DATE)) FROM {LOG_TABLE}")
        manifest = Manifest(agreement_id, None, None, None, (), reference or s.engine.clock.now().date())
        pseudo = batches.Batch(batch_id, agreement_id, manifest, int(getattr(t, "rows", 0)), style,
                               s.engine.clock.now().replace(tzinfo=None))
        facts = decide.compute_row_facts(compute, pseudo, agreement, inspect=True, seed=pol.unsafe,
                                         source=LOG_TABLE)
        cols = ", ".join(batches.REQUEST_COLUMNS)
        rows = compute.arrow(
            f"SELECT _row, {cols}, coalesce(hidden, false) AS hidden, coalesce(mixed, false) AS mixed, raw, "
            f"upper(trim(disclosed)) IN ({_TRUE}) AS disclosed, "
            f"CASE WHEN nullif(trim(address_validated), '') IS NULL THEN NULL "
            f"     ELSE upper(trim(address_validated)) IN ({_TRUE}) END AS address_validated, "
            f"TRY_CAST(nullif(trim(disclosed_on), '') AS DATE) AS disclosed_on FROM {LOG_TABLE} ORDER BY _row",
            label="log rows")
    finally:
        compute.close()
    snapshot = current_snapshot(s.engine)
    with s.engine.transaction():
        s.engine.register("p_log_view", rows)
        try:
            s.engine.execute(f"INSERT INTO req_rows (batch_id, _row, {cols}, hidden, mixed, raw) SELECT ?, _row, "
                             f"{cols}, hidden, mixed, raw FROM p_log_view", [batch_id], label="log rows")
            s.engine.execute("CREATE OR REPLACE TEMP TABLE p_log AS SELECT _row, trim(request_id) AS request_id, "
                             "disclosed, address_validated, disclosed_on FROM p_log_view", label="log flags")
        finally:
            s.engine.unregister("p_log_view")
        value = decide.store_facts(s.engine, batch_id, snapshot, facts, inspect=True, seed=pol.unsafe)
        s.event("facts_stored", {"batch_id": batch_id, "snapshot_id": snapshot, "inspected": True,
                                 "seed": pol.unsafe, "digest": value})
        decide.evaluate(s.engine, batch_id, pol, decide.RequestFacts(True, True, True, True), "p_judged")
        s.engine.execute(
            "INSERT INTO audit_findings SELECT ?, ?, NULL, l.request_id, f.matched_tin, 'DISCLOSE', j.decision, "
            "j.reasons, l.disclosed_on, true, NULL, CASE WHEN j.decision = 'DENY' THEN 'unlawful' ELSE 'review' END, "
            "l._row FROM p_log l JOIN p_judged j USING (_row) JOIN row_facts f ON f.batch_id = ? AND f._row = l._row "
            "WHERE l.disclosed AND j.decision <> 'DISCLOSE'", [audit_id, batch_id, batch_id], label="log findings")
        figures = s.engine.fetchone(
            "SELECT count(*), count(*) FILTER (WHERE l.disclosed), "
            "count(*) FILTER (WHERE l.disclosed AND NOT coalesce(l.address_validated, NOT f.tin_given)), "
            "count(*) FILTER (WHERE l.disclosed AND NOT (f.addr_usable AND f.address_on_file)) "
            "FROM p_log l JOIN row_facts f ON f.batch_id = ? AND f._row = l._row", [batch_id], label="log figures")
        assert figures is not None
        s.engine.execute("DROP TABLE IF EXISTS p_log")
        s.engine.execute("DROP TABLE IF EXISTS p_judged")
        result, value = audit.finish(s.engine, audit_id, "import", pol, params, int(figures[0]), int(figures[1]),
                                     int(figures[2]), int(figures[3]), s.actor.name)
        _event(s, result, value)
    return result


def show(s: Session, audit_id: str) -> AuditResult:
    s.authorize("audit.view")
    return audit.get_audit(s.engine, audit_id)


def list_(s: Session) -> list[AuditResult]:
    s.authorize("audit.view")
    return audit.list_audits(s.engine)


def findings(s: Session, audit_id: str, finding: str | None = None) -> list[Finding]:
    s.authorize("audit.view")
    audit.get_audit(s.engine, audit_id)
    return audit.findings(s.engine, audit_id, finding)


def _check_review(s: Session, audit_id: str, request_ids: list[str], verdict: str, reason: str) -> list[Finding]:
    s.authorize("audit.review")
    if verdict not in audit.VERDICTS:
        raise UsageError(f"--verdict is one of {', '.join(audit.VERDICTS)}")
    if not reason.strip():
        raise UsageError("a reason is required")
    audit.get_audit(s.engine, audit_id)
    pending = {f.request_id: f for f in audit.findings(s.engine, audit_id, "review")}
    missing = [r for r in request_ids if r not in pending]
    if missing:
        raise NotFoundError(f"not a review finding of audit {audit_id}: {', '.join(missing[:5])}")
    return [pending[r] for r in request_ids]


def plan_review(s: Session, audit_id: str, request_ids: list[str], verdict: str, reason: str) -> Plan:
    items = _check_review(s, audit_id, request_ids, verdict, reason)
    return Plan("audit.review", f"judge {len(items)} review finding{'s' if len(items) != 1 else ''} of {audit_id} "
                f"{verdict}")


def review(s: Session, audit_id: str, request_ids: list[str], verdict: str, reason: str) -> int:
    """Record an auditor's judgement of review findings; only those judged unlawful can join an incident."""
    items = _check_review(s, audit_id, request_ids, verdict, reason)
    with s.engine.transaction():
        audit.record_verdicts(s.engine, audit_id, items, verdict, reason.strip(), s.actor.name)
        s.events([("finding_reviewed", {"audit_id": audit_id, "batch_id": f.batch_id, "request_id": f.request_id,
                                        "verdict": verdict, "reason": reason.strip()}) for f in items])
    return len(items)
