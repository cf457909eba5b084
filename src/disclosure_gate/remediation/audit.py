"""Audit: replay past decisions under another policy, or audit another system's disclosure log.

**Replay** re-evaluates the stored facts of every primary run (optionally one
agreement, optionally since a date) under a policy version. It uses each run's
own processing date and the agreement's state on that date. Matching is re-run
only where the new policy needs facts that were never computed: when a
request-level failure meant no custodian record was read, and the policy
(an unsafe baseline) ignores request-level checks. Every past DISCLOSE that the
new policy would not make is a **finding**: a candidate improper disclosure,
grouped by the new reasons and marked if it was actually delivered.

**Import** takes a log from another system: the request rows it received
(the request-file columns) plus ``disclosed`` (true/false), and optionally
``address_validated`` and ``disclosed_on``. It computes facts for those rows
with this pipeline, judges every disclosure under the chosen policy, and
reports the two figures the 2025 court and agency counted differently:

* **never validated** (the court's count): disclosures whose requested address
  the disclosing process never checked. It is taken from ``address_validated``
  when the log has it. Otherwise it is inferred as the 2025 process behaved:
  rows matched by TIN were never address-validated, and rows without a TIN
  were matched on the address.
* **actually deficient** (the agency's count): disclosures whose requested
  address is missing, a placeholder, insufficient, inconsistent, or not on
  file for the person.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from disclosure_gate.engine import Engine
from disclosure_gate.errors import InputError, NotFoundError
from disclosure_gate.ledger import store as ledger
from disclosure_gate.pipeline import match
from disclosure_gate.pipeline.batches import REQUEST_COLUMNS, REQUEST_SPEC, find_batch
from disclosure_gate.pipeline.decide import FACT_COLUMNS, RequestFacts, ensure_facts, evaluate_into, request_facts
from disclosure_gate.pipeline.intake import TableSpec, load_table, require_all
from disclosure_gate.pipeline.policy import Policy
from disclosure_gate.pipeline.records import current_snapshot
from disclosure_gate.store.agreements import find_agreement

_DDL = (
    """CREATE TABLE IF NOT EXISTS audits (
        audit_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
        policy VARCHAR NOT NULL, params VARCHAR NOT NULL, checked BIGINT NOT NULL, disclosures BIGINT NOT NULL,
        flagged BIGINT NOT NULL, court_count BIGINT, agency_count BIGINT)""",
    """CREATE TABLE IF NOT EXISTS audit_findings (
        audit_id VARCHAR NOT NULL, batch_id VARCHAR NOT NULL, run_id VARCHAR, request_id VARCHAR NOT NULL,
        matched_tin VARCHAR, old_decision VARCHAR, new_decision VARCHAR NOT NULL, new_reasons VARCHAR NOT NULL,
        decided_on DATE, delivered BOOLEAN NOT NULL, package_id VARCHAR)""",
)
TRUE_WORDS = ("TRUE", "T", "1", "YES", "Y")
BOOL_WORDS = (*TRUE_WORDS, "FALSE", "F", "0", "NO", "N")
LOG_SPEC = TableSpec(label="disclosure log", required=(*REQUEST_SPEC.required, "disclosed"),
                     optional=(*REQUEST_SPEC.optional, "address_validated", "disclosed_on"),
                     key="request_id", groups=REQUEST_SPEC.groups)


@dataclass(frozen=True)
class AuditResult:
    audit_id: str
    kind: str
    policy: str
    checked: int
    disclosures: int
    flagged: int
    by_reason: dict[str, int] = field(default_factory=dict)
    delivered_flagged: int = 0
    court_count: int | None = None
    agency_count: int | None = None


def install(engine: Engine) -> None:
    for ddl in _DDL:
        engine.execute(ddl, label="audit schema")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _audit_id(kind: str, policy: Policy, params: dict[str, object]) -> str:
    seed = f"{kind}\n{policy.label}\n{json.dumps(params, sort_keys=True)}\n{_now().isoformat()}"
    return "A" + hashlib.sha256(seed.encode()).hexdigest()[:15]


def _by_reason(engine: Engine, audit_id: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in engine.fetchall(
        "SELECT reason, count(*) FROM (SELECT unnest(string_split(new_reasons, ';')) AS reason FROM audit_findings "
        "WHERE audit_id = ? AND new_reasons <> '') GROUP BY reason ORDER BY 2 DESC, 1", [audit_id])}


def replay(engine: Engine, policy: Policy, *, agreement_id: str | None = None, since: dt.date | None = None
           ) -> AuditResult:
    install(engine)
    from disclosure_gate.remediation.release import install as release_install

    release_install(engine)
    params: dict[str, object] = {"agreement": agreement_id, "since": str(since) if since else None}
    audit_id = _audit_id("replay", policy, params)
    runs = engine.fetchall(
        "SELECT r.run_id, r.batch_id, r.as_of FROM runs r JOIN batches b USING (batch_id) WHERE r.is_primary "
        "AND (? IS NULL OR b.agreement_id = ?) AND (? IS NULL OR r.as_of >= ?) ORDER BY r.created_at",
        [agreement_id, agreement_id, since, since], label="replay runs")
    checked = disclosures = 0
    with engine.transaction():
        for run_id, batch_id, as_of in runs:
            batch = find_batch(engine, str(batch_id))
            if batch is None:
                continue
            agreement = find_agreement(engine, batch.agreement_id)
            req = request_facts(batch, agreement, as_of)
            if policy.unsafe:  # needs the records read and the baseline's own facts
                ensure_facts(engine, batch, agreement, inspect=True, progress=None, seed=True)
            evaluate_into(engine, str(batch_id), policy, req, "p_replay")
            engine.execute(
                "INSERT INTO audit_findings SELECT ?, ?, d.run_id, d.request_id, d.matched_tin, d.decision, "
                "n.decision, n.reasons, ?, pk.package_id IS NOT NULL, pk.package_id "
                "FROM decisions d JOIN p_replay n USING (_row) "
                "LEFT JOIN (SELECT pr.request_id, p.package_id FROM package_rows pr JOIN packages p "
                "           USING (package_id) WHERE p.run_id = ? AND p.state IN ('delivered', 'recalled')) pk "
                "  ON pk.request_id = d.request_id "
                "WHERE d.run_id = ? AND d.decision = 'DISCLOSE' AND n.decision <> 'DISCLOSE'",
                [audit_id, batch_id, as_of, run_id, run_id], label="replay findings")
            counts = engine.fetchone("SELECT count(*), count(*) FILTER (WHERE decision = 'DISCLOSE') FROM decisions "
                                     "WHERE run_id = ?", [run_id])
            assert counts is not None
            checked += int(counts[0])
            disclosures += int(counts[1])
            engine.execute("DROP TABLE IF EXISTS p_replay")
        return _finish(engine, audit_id, "replay", policy, params, checked, disclosures, None, None)


def _finish(engine: Engine, audit_id: str, kind: str, policy: Policy, params: dict[str, object], checked: int,
            disclosures: int, court: int | None, agency: int | None) -> AuditResult:
    flagged, delivered = engine.fetchone(
        "SELECT count(*), count(*) FILTER (WHERE delivered) FROM audit_findings WHERE audit_id = ?",
        [audit_id]) or (0, 0)
    engine.execute("INSERT INTO audits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [audit_id, kind, _now(), policy.label, json.dumps(params, sort_keys=True), checked, disclosures,
                    int(flagged), court, agency], label="audit")
    by_reason = _by_reason(engine, audit_id)
    ledger.append_event(engine, "audit_completed", {"audit_id": audit_id, "kind": kind, "policy": policy.label,
                                                    "checked": checked, "flagged": int(flagged),
                                                    "by_reason": by_reason})
    return AuditResult(audit_id, kind, policy.label, checked, disclosures, int(flagged), by_reason,
                       int(delivered), court, agency)


def import_log(engine: Engine, path: Path, policy: Policy, *, agreement_id: str | None = None) -> AuditResult:
    """Audit another system's disclosure log under ``policy`` (see the module docstring)."""
    install(engine)
    if current_snapshot(engine) is None:
        raise NotFoundError("no custodian records loaded: run 'dgate records load' first")
    agreement = find_agreement(engine, agreement_id) if agreement_id else None
    if agreement_id and agreement is None:
        raise NotFoundError(f"no agreement '{agreement_id}' in this home")
    t = load_table(engine, path, LOG_SPEC, "stg_log")
    try:
        words = ", ".join(f"'{w}'" for w in BOOL_WORDS)
        require_all(engine, t, [
            (f"upper(trim(coalesce(disclosed, ''))) NOT IN ({words})", "disclosed", "disclosed must be true or false"),
            (f"address_validated IS NOT NULL AND trim(address_validated) <> '' AND "
             f"upper(trim(address_validated)) NOT IN ({words})", "address_validated",
             "address_validated must be true, false or empty"),
        ])
        params: dict[str, object] = {"log": Path(path).name, "log_sha256": t.sha256, "agreement": agreement_id}
        audit_id = _audit_id("import", policy, params)
        batch_id = "L" + audit_id[1:]
        true_words = ", ".join(f"'{w}'" for w in TRUE_WORDS)
        cols = ", ".join(REQUEST_COLUMNS)
        with engine.transaction():
            engine.execute(f"INSERT INTO req_rows (batch_id, _row, {cols}) SELECT ?, _row, {cols} FROM stg_log",
                           [batch_id], label="log rows")
            engine.execute(
                "CREATE OR REPLACE TEMP TABLE p_log AS SELECT _row, trim(request_id) AS request_id, "
                f"upper(trim(disclosed)) IN ({true_words}) AS disclosed, "
                f"CASE WHEN nullif(trim(address_validated), '') IS NULL THEN NULL "
                f"     ELSE upper(trim(address_validated)) IN ({true_words}) END AS address_validated, "
                "TRY_CAST(nullif(trim(disclosed_on), '') AS DATE) AS disclosed_on FROM stg_log", label="log flags")
            reference = engine.scalar("SELECT max(disclosed_on) FROM p_log") or dt.date.today()
            params_m = match.MatchParams(batch_id=batch_id, address_style="free" if t.group == ("address",)
                                         else "structured", reference_date=reference,
                                         lookback_years=agreement.lookback_years if agreement else 6,
                                         shared_threshold=agreement.shared_address_threshold if agreement else 25)
            try:
                match.compute_facts(engine, params_m, inspect=True, seed=policy.unsafe)
                fcols = ", ".join(FACT_COLUMNS)
                engine.execute(f"INSERT INTO row_facts (batch_id, snapshot_id, _row, request_id, {fcols}) "
                               f"SELECT ?, ?, _row, request_id, {fcols} FROM p_facts",
                               [batch_id, current_snapshot(engine)], label="log facts")
            finally:
                match.drop_temp(engine)
            evaluate_into(engine, batch_id, policy, RequestFacts(True, True, True, True), "p_judged")
            engine.execute(
                "INSERT INTO audit_findings SELECT ?, ?, NULL, l.request_id, f.matched_tin, 'DISCLOSE', j.decision, "
                "j.reasons, l.disclosed_on, true, NULL FROM p_log l JOIN p_judged j USING (_row) "
                "JOIN row_facts f ON f.batch_id = ? AND f._row = l._row "
                "WHERE l.disclosed AND j.decision <> 'DISCLOSE'", [audit_id, batch_id, batch_id], label="log findings")
            figures = engine.fetchone(
                "SELECT count(*), count(*) FILTER (WHERE l.disclosed), "
                "count(*) FILTER (WHERE l.disclosed AND NOT coalesce(l.address_validated, NOT f.t_present)), "
                "count(*) FILTER (WHERE l.disclosed AND NOT (f.addr_usable AND f.address_on_file)) "
                "FROM p_log l JOIN row_facts f ON f.batch_id = ? AND f._row = l._row", [batch_id], label="log figures")
            assert figures is not None
            engine.execute("DROP TABLE IF EXISTS p_log")
            engine.execute("DROP TABLE IF EXISTS p_judged")
            return _finish(engine, audit_id, "import", policy, params, int(figures[0]), int(figures[1]),
                           int(figures[2]), int(figures[3]))
    finally:
        engine.execute("DROP TABLE IF EXISTS stg_log")


def get_audit(engine: Engine, audit_id: str) -> AuditResult:
    install(engine)
    row = engine.fetchone("SELECT audit_id, kind, policy, checked, disclosures, flagged, court_count, agency_count "
                          "FROM audits WHERE audit_id = ?", [audit_id])
    if row is None:
        raise NotFoundError(f"no audit '{audit_id}'")
    delivered = engine.scalar("SELECT count(*) FROM audit_findings WHERE audit_id = ? AND delivered", [audit_id])
    return AuditResult(str(row[0]), str(row[1]), str(row[2]), int(row[3]), int(row[4]), int(row[5]),
                       _by_reason(engine, audit_id), int(delivered or 0), row[6], row[7])


def check_format(fmt: str) -> None:
    if fmt != "csv":
        raise InputError("--format: only csv disclosure logs are supported")
