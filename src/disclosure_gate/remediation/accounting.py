"""Accounting of disclosures (26 U.S.C. 6103(p)(3)): per person, and the annual report.

The person is found through the ledger's keyed commitment, never by scanning
plain TINs in the ledger. Only decisions of *primary* runs count: a run under an
unsafe baseline (``seed-2025``) is a simulation, not a disclosure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from disclosure_gate.engine import Engine
from disclosure_gate.errors import InputError
from disclosure_gate.ledger import store
from disclosure_gate.pipeline.standardize.tin import tin_digits
from disclosure_gate.secret import Secret
from disclosure_gate.store.agreements import find_agreement


@dataclass(frozen=True)
class DisclosureRecord:
    index: int
    date: str
    batch_id: str
    request_id: str
    recipient: str
    authority: str
    purpose: str
    fields: tuple[str, ...]
    policy: str
    proof: dict[str, Any]


def normalise_tin(engine: Engine, tin: Secret[str]) -> Secret[str]:
    digits = engine.scalar(f"SELECT {tin_digits('?')}", [tin.reveal()])
    if not digits or len(str(digits)) != 9 or not str(digits).isdigit():
        raise InputError("TIN must be 9 digits (dashes and spaces allowed)")
    return Secret(str(digits))


def person_accounting(engine: Engine, keys: store.Keys, tin: Secret[str]) -> list[DisclosureRecord]:
    """Every disclosure decided about one person, each with an inclusion proof.

    The TIN stays wrapped in :class:`Secret` so it cannot reach a log line or an
    error message (it is only ever a bound query parameter). Each entry is
    regenerated from storage and checked against its leaf hash before it is shown.
    """
    store.install(engine)
    rows = engine.fetchall(
        "SELECT lr.first_idx + d._row AS idx, r.batch_id, b.manifest FROM decisions d "
        "JOIN runs r ON r.run_id = d.run_id JOIN batches b ON b.batch_id = r.batch_id "
        "JOIN ledger_runs lr ON lr.run_id = d.run_id WHERE d.matched_tin = ? AND r.is_primary "
        "AND d.decision = 'DISCLOSE' ORDER BY idx", [normalise_tin(engine, tin).reveal()],
        label="person accounting")
    if not rows:
        return []
    checkpoint = store.latest_checkpoint(engine)
    if checkpoint is None or checkpoint.size <= max(int(r[0]) for r in rows):
        checkpoint = store.make_checkpoint(engine, keys)
    out = []
    for idx, batch_id, manifest_json in rows:
        proof = store.inclusion_bundle(engine, int(idx), checkpoint, keys)
        entry = json.loads(proof["entry"])
        manifest = json.loads(manifest_json)
        agreement = find_agreement(engine, entry.get("agreement"))
        out.append(DisclosureRecord(
            index=int(idx), date=str(entry.get("as_of")), batch_id=str(batch_id),
            request_id=str(entry.get("request_id")),
            recipient=agreement.recipient if agreement else "(unknown agreement)",
            authority=str(manifest.get("statutory_authority") or ""), purpose=str(manifest.get("purpose") or ""),
            fields=agreement.disclose if agreement else (), policy=str(entry.get("policy")),
            proof=proof))
    return out


@dataclass(frozen=True)
class AnnualLine:
    agreement: str
    recipient: str
    authority: str
    batches: int
    requests: int
    disclosures: int
    persons: int
    purposes: tuple[str, ...]


ANNUAL_SQL = """
WITH b AS (
  SELECT batch_id, agreement_id, rows,
         json_extract_string(manifest, '$.statutory_authority') AS authority,
         json_extract_string(manifest, '$.purpose') AS purpose
  FROM batches WHERE year(CAST(json_extract_string(manifest, '$.submitted_at') AS DATE)) = ?
), d AS (
  SELECT r.batch_id, count(*) FILTER (WHERE dc.decision = 'DISCLOSE') AS disclosures,
         list(DISTINCT dc.matched_tin) FILTER (WHERE dc.decision = 'DISCLOSE' AND dc.matched_tin IS NOT NULL)
           AS tins
  FROM runs r JOIN decisions dc USING (run_id)
  WHERE r.is_primary GROUP BY r.batch_id
)
SELECT coalesce(b.agreement_id, '(none)'), coalesce(b.authority, ''), count(*), sum(b.rows),
       coalesce(sum(d.disclosures), 0), len(list_distinct(flatten(list(coalesce(d.tins, []))))),
       list(DISTINCT b.purpose) FILTER (WHERE b.purpose IS NOT NULL)
FROM b LEFT JOIN d USING (batch_id) GROUP BY 1, 2 ORDER BY 1, 2
"""


def annual_report(engine: Engine, year: int) -> list[AnnualLine]:
    """Requests, disclosures and persons per agreement and authority for one calendar year."""
    if not engine.table_exists("decisions"):
        return []
    lines = []
    for agreement_id, authority, nb, nreq, ndis, npers, purposes in engine.fetchall(
            ANNUAL_SQL, [year], label="annual report"):
        agreement = find_agreement(engine, agreement_id)
        lines.append(AnnualLine(str(agreement_id), agreement.recipient if agreement else "(unknown)",
                                str(authority), int(nb), int(nreq or 0), int(ndis), int(npers),
                                tuple(sorted(str(p) for p in purposes or []))))
    return lines
