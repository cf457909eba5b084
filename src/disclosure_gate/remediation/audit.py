"""Audit: replay past decisions under another policy, or audit another system's disclosure log.

**Replay** re-evaluates the stored facts of every primary run (optionally one
agreement, optionally since a date) under a policy version, each run on its
own processing date. Matching is re-run only where the new policy needs facts
that were never computed (an unsafe baseline's own facts). Every past
disclosure (a row whose *effective* decision was DISCLOSE, by policy or by two
reviewers) that the policy would not make is a **finding**:

* ``unlawful``: the policy would DENY it;
* ``review``: the policy would send it to REVIEW (LOW_CONFIDENCE,
  UNIT_MISMATCH, ADDRESS_SHARED_BY_MANY...). A review finding joins an incident
  only after an auditor has judged it unlawful (``dgate audit review``).

Findings are marked where they were delivered (in a delivered or recalled package).

**Import** takes a log from another system: the request rows it received (the
request-file columns) plus ``disclosed`` (true/false), and optionally
``address_validated`` and ``disclosed_on``. It computes facts for those rows
with the same facts computation as processing, judges every disclosure under
the chosen policy, and reports the two figures the 2025 court and agency
counted differently:

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

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from disclosure_gate.engine import Engine
from disclosure_gate.errors import NotFoundError
from disclosure_gate.ledger.digest import digest
from disclosure_gate.pipeline.batches import REQUEST_SPEC
from disclosure_gate.pipeline.intake import TableSpec
from disclosure_gate.pipeline.policy import Policy
from disclosure_gate.pipeline.review import effective_sql

TRUE_WORDS = ("TRUE", "T", "1", "YES", "Y")
BOOL_WORDS = (*TRUE_WORDS, "FALSE", "F", "0", "NO", "N")
LOG_SPEC = TableSpec(label="disclosure log", required=(*REQUEST_SPEC.required, "disclosed"),
                     optional=(*REQUEST_SPEC.optional, "address_validated", "disclosed_on"),
                     key="request_id", groups=REQUEST_SPEC.groups)
FINDINGS_DIGEST_COLUMNS = ("batch_id", "request_id", "matched_tin", "old_decision", "new_decision", "new_reasons",
                           "decided_on", "delivered", "package_id", "finding")
VERDICTS = ("unlawful", "lawful")


@dataclass(frozen=True)
class AuditResult:
    audit_id: str
    kind: str
    policy: str
    checked: int
    disclosures: int
    flagged: int  # unlawful findings
    by_reason: dict[str, int] = field(default_factory=dict)
    delivered_flagged: int = 0
    court_count: int | None = None
    agency_count: int | None = None
    review_count: int = 0  # findings that would need review
    review_by_reason: dict[str, int] = field(default_factory=dict)
    run_by: str | None = None
    created_at: Any = None
    reviewed_unlawful: int = 0
    reviewed_lawful: int = 0


def audit_id_for(kind: str, policy: Policy, params: dict[str, object], at: str) -> str:
    seed = f"{kind}\n{policy.label}\n{json.dumps(params, sort_keys=True)}\n{at}"
    return "A" + hashlib.sha256(seed.encode()).hexdigest()[:15]


def _by_reason(engine: Engine, audit_id: str, finding: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in engine.fetchall(
        "SELECT reason, count(*) FROM (SELECT unnest(string_split(new_reasons, ';')) AS reason FROM audit_findings "
        "WHERE audit_id = ? AND finding = ? AND new_reasons <> '') GROUP BY reason ORDER BY 2 DESC, 1",
        [audit_id, finding])}


def replay_findings(engine: Engine, audit_id: str, run_id: str, batch_id: str, decided: str, as_of: Any) -> None:
    """Insert the findings of one run: effective DISCLOSEs that temp table ``decided`` would not make."""
    engine.execute(
        f"INSERT INTO audit_findings SELECT $audit, $batch, e.run_id, e.request_id, e.matched_tin, e.decision, "
        "n.decision, n.reasons, $as_of, pk.package_id IS NOT NULL, pk.package_id, "
        "CASE WHEN n.decision = 'DENY' THEN 'unlawful' ELSE 'review' END, e._row "
        f"FROM ({effective_sql('d.run_id = $run')}) e JOIN {decided} n USING (_row) "
        "LEFT JOIN (SELECT pr._row, any_value(p.package_id) AS package_id FROM package_rows pr JOIN packages p "
        "           USING (package_id) WHERE p.run_id = $run AND p.delivered_at IS NOT NULL GROUP BY pr._row) pk "
        "  ON pk._row = e._row "
        "WHERE e.decision = 'DISCLOSE' AND n.decision <> 'DISCLOSE'",
        {"audit": audit_id, "batch": batch_id, "as_of": as_of, "run": run_id}, label="replay findings")


def findings_digest(engine: Engine, audit_id: str) -> str:
    return digest(engine, "(SELECT * FROM audit_findings WHERE audit_id = ?)", FINDINGS_DIGEST_COLUMNS,
                  ["batch_id", "request_id"], [audit_id])


def finish(engine: Engine, audit_id: str, kind: str, policy: Policy, params: dict[str, object], checked: int,
           disclosures: int, court: int | None, agency: int | None, run_by: str) -> tuple[AuditResult, str]:
    """Insert the audit row. Returns the result and the findings' digest (for the ledger event)."""
    counts = engine.fetchone(
        "SELECT count(*) FILTER (WHERE finding = 'unlawful'), count(*) FILTER (WHERE finding = 'review') "
        "FROM audit_findings WHERE audit_id = ?", [audit_id]) or (0, 0)
    value = findings_digest(engine, audit_id)
    engine.execute("INSERT INTO audits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [audit_id, kind, engine.clock.now().replace(tzinfo=None), policy.label,
                    json.dumps(params, sort_keys=True), checked, disclosures, int(counts[0]), court, agency,
                    int(counts[1]), run_by, value], label="audit")
    return get_audit(engine, audit_id), value


def get_audit(engine: Engine, audit_id: str) -> AuditResult:
    row = engine.fetchone("SELECT audit_id, kind, policy, checked, disclosures, flagged, court_count, agency_count, "
                          "coalesce(review_count, 0), run_by, created_at FROM audits WHERE audit_id = ?", [audit_id])
    if row is None:
        raise NotFoundError(f"no audit '{audit_id}'")
    delivered = engine.scalar("SELECT count(*) FROM audit_findings WHERE audit_id = ? AND delivered "
                              "AND coalesce(finding, 'unlawful') = 'unlawful'", [audit_id])
    judged: dict[str, int] = dict(engine.fetchall(
        "SELECT verdict, count(*) FROM (SELECT DISTINCT ON (request_id, batch_id) verdict FROM finding_reviews "
        "WHERE audit_id = ? ORDER BY request_id, batch_id, recorded_at DESC) GROUP BY verdict", [audit_id]))
    return AuditResult(str(row[0]), str(row[1]), str(row[2]), int(row[3]), int(row[4]), int(row[5]),
                       _by_reason(engine, audit_id, "unlawful"), int(delivered or 0), row[6], row[7], int(row[8]),
                       _by_reason(engine, audit_id, "review"), row[9], row[10],
                       int(judged.get("unlawful", 0)), int(judged.get("lawful", 0)))


def list_audits(engine: Engine) -> list[AuditResult]:
    return [get_audit(engine, str(r[0])) for r in engine.fetchall("SELECT audit_id FROM audits ORDER BY created_at")]


@dataclass(frozen=True)
class Finding:
    batch_id: str
    request_id: str
    finding: str
    new_reasons: tuple[str, ...]
    delivered: bool
    package_id: str | None
    verdict: str | None


def findings(engine: Engine, audit_id: str, finding: str | None = None) -> list[Finding]:
    rows = engine.fetchall(
        "SELECT f.batch_id, f.request_id, coalesce(f.finding, 'unlawful'), f.new_reasons, f.delivered, f.package_id, "
        "(SELECT verdict FROM finding_reviews v WHERE v.audit_id = f.audit_id AND v.request_id = f.request_id AND "
        " v.batch_id = f.batch_id ORDER BY recorded_at DESC LIMIT 1) FROM audit_findings f WHERE f.audit_id = ? "
        "AND (? IS NULL OR coalesce(f.finding, 'unlawful') = ?) ORDER BY f.batch_id, f.request_id",
        [audit_id, finding, finding], label="findings")
    return [Finding(str(r[0]), str(r[1]), str(r[2]), tuple(x for x in str(r[3] or "").split(";") if x), bool(r[4]),
                    r[5], r[6]) for r in rows]


def record_verdicts(engine: Engine, audit_id: str, items: list[Finding], verdict: str, reason: str,
                    reviewer: str) -> None:
    now = engine.clock.now().replace(tzinfo=None)
    for f in items:
        engine.execute("INSERT INTO finding_reviews VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [audit_id, f.request_id, f.batch_id, verdict, reason, reviewer, now], label="finding review")


def incident_findings_sql() -> str:
    """The findings an incident of audit ``$audit`` covers: delivered, and unlawful (by policy, or judged so)."""
    return """
SELECT f.* FROM audit_findings f
WHERE f.audit_id = $audit AND f.delivered AND (coalesce(f.finding, 'unlawful') = 'unlawful' OR (
  SELECT verdict FROM finding_reviews v WHERE v.audit_id = f.audit_id AND v.request_id = f.request_id
  AND v.batch_id = f.batch_id ORDER BY recorded_at DESC LIMIT 1) = 'unlawful')"""
