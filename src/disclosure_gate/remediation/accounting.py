"""Accounting of disclosures (26 U.S.C. 6103(p)(3)): per person, and the annual report.

A **disclosure** is a row of a **delivered** package: what left the agency.
Prepared, unapproved or undelivered packages are not disclosures; a recalled
package still was one (its recall is reported with it); a run under an unsafe
baseline is a simulation and never reaches a package.

The person is found by TIN among the matched persons of delivered rows (the
TIN stays wrapped in :class:`Secret` and is only ever a bound parameter). Each
disclosure carries the inclusion proof of the ledger entry of the decision that
released it, regenerated from storage and checked against its leaf.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from disclosure_gate.clock import iso_utc
from disclosure_gate.engine import Engine
from disclosure_gate.errors import UsageError
from disclosure_gate.ledger import store
from disclosure_gate.pipeline.standardize.tin import tin_digits
from disclosure_gate.secret import Secret


@dataclass(frozen=True)
class DisclosureRecord:
    delivered_at: str
    recipient: str
    agreement: str
    purpose: str
    authority: str
    fields: tuple[str, ...]
    package_id: str
    batch_id: str
    request_id: str
    decided_by: str  # the policy label, plus the reviewers for a row resolved in review
    recalled_at: str | None
    recall_reason: str | None
    index: int
    proof: dict[str, Any]


def normalise_tin(engine: Engine, tin: Secret[str]) -> Secret[str]:
    digits = engine.scalar(f"SELECT {tin_digits('?')}", [tin.reveal()])
    if not digits or len(str(digits)) != 9 or not str(digits).isdigit():
        raise UsageError("TIN must be 9 digits (dashes and spaces allowed)")
    return Secret(str(digits))


PERSON_SQL = """
SELECT p.delivered_at, json_extract_string(a.body, '$.recipient'), p.agreement_id,
       json_extract_string(b.manifest, '$.purpose'), json_extract_string(b.manifest, '$.statutory_authority'),
       p.fields, p.package_id, p.batch_id, r.request_id, run.policy_id || '@sha256:' || run.policy_sha256,
       r.source, p.recalled_at, p.recall_reason, lr.first_idx + r._row AS idx,
       (SELECT list(DISTINCT v.reviewer ORDER BY v.reviewer) FROM review_resolutions v WHERE v.run_id = p.run_id
        AND v._row = r._row AND v.withdrawn_at IS NULL)
FROM package_rows r JOIN packages p USING (package_id)
JOIN agreements a ON a.id = p.agreement_id JOIN batches b ON b.batch_id = p.batch_id
JOIN runs run ON run.run_id = p.run_id JOIN ledger_runs lr ON lr.run_id = p.run_id
WHERE r.matched_tin = ? AND p.delivered_at IS NOT NULL
ORDER BY p.delivered_at, p.package_id, r._row
"""


def person_accounting(engine: Engine, keys: store.Keys, tin: Secret[str],
                      checkpoint: store.SignedCheckpoint | None) -> list[DisclosureRecord]:
    """Every disclosure of one person's information, each with an inclusion proof under ``checkpoint``."""
    rows = engine.fetchall(PERSON_SQL, [normalise_tin(engine, tin).reveal()], label="person accounting")
    out = []
    for r in rows:
        idx = int(r[13])
        proof = store.inclusion_bundle(engine, idx, checkpoint, keys) if checkpoint and checkpoint.size > idx else {}
        decided = str(r[9]) + (f", resolved in review by {' and '.join(r[14])}" if r[10] == "review" and r[14] else "")
        out.append(DisclosureRecord(
            delivered_at=iso_utc(r[0]), recipient=str(r[1] or ""), agreement=str(r[2]), purpose=str(r[3] or ""),
            authority=str(r[4] or ""), fields=tuple(json.loads(r[5])), package_id=str(r[6]), batch_id=str(r[7]),
            request_id=str(r[8]), decided_by=decided, recalled_at=iso_utc(r[11]) if r[11] else None,
            recall_reason=r[12], index=idx, proof=proof))
    return out


def highest_index(engine: Engine, tin: Secret[str]) -> int | None:
    value = engine.scalar("SELECT max(lr.first_idx + r._row) FROM package_rows r JOIN packages p USING (package_id) "
                          "JOIN ledger_runs lr ON lr.run_id = p.run_id WHERE r.matched_tin = ? "
                          "AND p.delivered_at IS NOT NULL", [normalise_tin(engine, tin).reveal()])
    return None if value is None else int(value)


@dataclass(frozen=True)
class AnnualLine:
    agreement: str
    recipient: str
    authority: str
    packages: int
    disclosures: int
    persons: int
    recalled_packages: int
    recalled_disclosures: int
    batches: int
    requests: int
    purposes: tuple[str, ...]


ANNUAL_SQL = """
WITH p AS (
  SELECT p.*, json_extract_string(b.manifest, '$.purpose') AS purpose,
         json_extract_string(b.manifest, '$.statutory_authority') AS authority, b.rows AS requests
  FROM packages p JOIN batches b USING (batch_id)
  WHERE p.delivered_at IS NOT NULL AND year(p.delivered_at) = ?
)
SELECT p.agreement_id, json_extract_string(any_value(a.body), '$.recipient'),
       json_extract_string(any_value(a.body), '$.statutory_authority'),
       count(DISTINCT p.package_id), count(r.request_id), count(DISTINCT r.matched_tin),
       count(DISTINCT p.package_id) FILTER (WHERE p.recalled_at IS NOT NULL),
       count(r.request_id) FILTER (WHERE p.recalled_at IS NOT NULL),
       count(DISTINCT p.batch_id), (SELECT sum(b.rows) FROM batches b WHERE b.batch_id IN
            (SELECT batch_id FROM p p2 WHERE p2.agreement_id = p.agreement_id)),
       list(DISTINCT p.purpose) FILTER (WHERE p.purpose IS NOT NULL)
FROM p JOIN package_rows r USING (package_id) JOIN agreements a ON a.id = p.agreement_id
GROUP BY p.agreement_id ORDER BY p.agreement_id
"""


def annual_report(engine: Engine, year: int) -> list[AnnualLine]:
    """Per agreement and recipient: what was delivered in ``year``, with recalls (6103(p)(3)(C))."""
    return [AnnualLine(str(r[0]), str(r[1] or ""), str(r[2] or ""), int(r[3]), int(r[4]), int(r[5]), int(r[6]),
                       int(r[7]), int(r[8]), int(r[9] or 0), tuple(sorted(str(x) for x in r[10] or [])))
            for r in engine.fetchall(ANNUAL_SQL, [year], label="annual report")]
