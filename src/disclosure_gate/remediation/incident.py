"""Incidents: from an audit's unlawful, delivered findings to a report, a recall notice and letters.

An incident covers the findings of one audit that **left the agency** (in a
delivered or recalled package, or disclosed per an imported log) and are
**unlawful**: denied by the audit's policy, or judged unlawful by an auditor
after review. A finding already covered by an earlier incident is never
covered twice (one letter per person per disclosure): opening an incident
that overlaps is refused, naming the earlier incident, unless the caller asks
to leave the covered findings out.

Documents (``incident_docs``) go to ``<home>/incidents/<id>/``, built in a
temporary folder and renamed into place before the incident is committed; the
next write open removes a folder whose incident was never committed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from disclosure_gate.clock import iso_utc, naive_utc
from disclosure_gate.engine import Engine
from disclosure_gate.errors import NotFoundError
from disclosure_gate.ledger import store as ledger
from disclosure_gate.remediation import incident_docs as docs
from disclosure_gate.remediation.audit import get_audit, incident_findings_sql
from disclosure_gate.store import files
from disclosure_gate.store.agreements import find_agreement
from disclosure_gate.store.home import Home, recovery_step

T_FINDINGS = "p_incident_findings"


@dataclass(frozen=True)
class Incident:
    incident_id: str
    audit_id: str
    status: str
    records: int
    persons: int
    folder: Path
    certified_on: dt.date | None
    opened_at: Any = None
    opened_by: str | None = None
    certified_by: str | None = None


def incident_id_for(audit_id: str, at: str) -> str:
    return "I" + hashlib.sha256(f"{audit_id}\n{at}".encode()).hexdigest()[:11]


def select_findings(engine: Engine, audit_id: str, *, skip_covered: bool) -> tuple[int, list[tuple[str, int]]]:
    """Temp table :data:`T_FINDINGS` of the findings the incident would cover. Returns (count, overlaps):
    the earlier incidents that already cover some of them, with how many."""
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {T_FINDINGS} AS {incident_findings_sql()}", {"audit": audit_id},
                   label="incident findings")
    overlaps = [(str(r[0]), int(r[1])) for r in engine.fetchall(
        f"SELECT i.incident_id, count(*) FROM {T_FINDINGS} f JOIN incident_findings i "
        "ON i.batch_id = f.batch_id AND i.request_id = f.request_id GROUP BY 1 ORDER BY 1", label="overlap")]
    if skip_covered and overlaps:
        engine.execute(f"DELETE FROM {T_FINDINGS} f WHERE EXISTS (SELECT 1 FROM incident_findings i WHERE "
                       "i.batch_id = f.batch_id AND i.request_id = f.request_id)", label="skip covered")
    return int(engine.scalar(f"SELECT count(*) FROM {T_FINDINGS}")), overlaps


def _people(engine: Engine, key: bytes) -> list[docs.PersonNotice]:
    """Affected persons, each named on the documents by the prefix of their ledger commitment."""
    rows = engine.fetchall(
        f"""SELECT f.matched_tin, any_value(p.first_name), any_value(p.middle_name), any_value(p.last_name),
                  any_value(p.name_suffix), any_value(ca.street), any_value(ca.city), any_value(ca.state),
                  any_value(ca.zip),
                  list((CAST(coalesce(CAST(pk.delivered_at AS DATE), f.decided_on) AS VARCHAR),
                        coalesce(g.recipient, '(unknown recipient)'),
                        coalesce(g.fields, 'last known address'), f.request_id) ORDER BY f.request_id)
           FROM {T_FINDINGS} f
           JOIN c_person p ON p.tin = f.matched_tin
           LEFT JOIN c_address ca ON ca.tin = f.matched_tin AND ca.is_last_known
           LEFT JOIN packages pk ON pk.package_id = f.package_id
           LEFT JOIN (SELECT b.batch_id, json_extract_string(a.body, '$.recipient') AS recipient,
                             array_to_string(CAST(json_extract(a.body, '$.disclose') AS VARCHAR[]), ', ') AS fields
                      FROM batches b JOIN agreements a ON a.id = b.agreement_id) g ON g.batch_id = f.batch_id
           WHERE f.matched_tin IS NOT NULL
           GROUP BY f.matched_tin ORDER BY f.matched_tin""", label="incident persons")
    out = []
    for tin, first, middle, last, suffix, street, city, state, zip_, disclosed in rows:
        name = " ".join(str(x) for x in (first, middle, last, suffix) if x)
        place = f"{city or ''}, {state or ''} {docs.format_zip(str(zip_ or ''))}".strip(", ")
        lines = tuple(x for x in (street, place) if x)
        ref = ledger.commitment(key, str(tin))[:16]  # keyed: not brute-forceable from the 10^9 TINs
        events = tuple((str(d[0]), str(d[1]), str(d[2]), str(d[3])) for d in disclosed)
        out.append(docs.PersonNotice(ref, name, lines, events))
    return out


def build_data(engine: Engine, audit_id: str, incident_id: str, checkpoint_note: str, agency: str,
               contact: str | None, commitment_key: bytes) -> docs.IncidentData:
    """The documents' data for the findings in :data:`T_FINDINGS`."""
    audit = get_audit(engine, audit_id)
    summary = engine.fetchone(
        f"SELECT count(*), count(DISTINCT matched_tin), min(decided_on), max(decided_on), list(DISTINCT batch_id) "
        f"FROM {T_FINDINGS}", label="incident summary")
    assert summary is not None
    records, persons, first, last, batch_ids = summary
    params = json.loads(str(engine.scalar("SELECT params FROM audits WHERE audit_id = ?", [audit_id])))
    agreement_ids = sorted({str(r[0]) for r in engine.fetchall(
        "SELECT agreement_id FROM batches WHERE batch_id IN (SELECT unnest(?))", [list(batch_ids or [])])
        if r[0]} | ({str(params["agreement"])} if params.get("agreement") else set()))
    agreements = [a for a in (find_agreement(engine, i) for i in agreement_ids) if a is not None]
    request_ids = tuple(str(r[0]) for r in engine.fetchall(
        f"SELECT request_id FROM {T_FINDINGS} ORDER BY request_id"))
    packages = tuple((str(r[0]), str(r[1]), iso_utc(r[2]), int(r[3])) for r in engine.fetchall(
        f"SELECT p.package_id, p.batch_id, p.delivered_at, count(*) FROM {T_FINDINGS} f JOIN packages p "
        "ON p.package_id = f.package_id GROUP BY ALL ORDER BY p.delivered_at, p.package_id"))
    how = (f"{'Replay audit' if audit.kind == 'replay' else 'Audit of an imported disclosure log'} {audit_id} "
           f"under policy {audit.policy}")
    funnel = [("decisions re-examined", audit.checked), ("disclosures", audit.disclosures),
              ("would be denied now", audit.flagged), ("would need review now", audit.review_count),
              ("covered by this incident", int(records))]
    if audit.court_count is not None:
        funnel += [("address never validated", audit.court_count),
                   ("address actually deficient", audit.agency_count or 0)]
    created = audit.created_at
    return docs.IncidentData(
        incident_id=incident_id, opened_at=iso_utc(engine.clock.now()), agency=agency,
        agreement_id=", ".join(agreement_ids) or "(none)",
        recipient=", ".join(sorted({a.recipient for a in agreements})) or "(recipient named in the log)",
        statutory_authority=", ".join(sorted({a.statutory_authority for a in agreements})) or "(unknown)",
        occurred_from=str(first or ""), occurred_to=str(last or ""),
        discovered_on=str(created.date() if created else engine.clock.now().date()), how_discovered=how,
        data_elements=("last known address",), records=int(records), persons=int(persons),
        counts_by_reason=tuple(audit.by_reason.items()), funnel=tuple(funnel), request_ids=request_ids,
        ledger_checkpoint=checkpoint_note, persons_notices=tuple(_people(engine, commitment_key)),
        contact=contact, packages=packages, batches=tuple(sorted(str(b) for b in batch_ids or [])))


def render(data: docs.IncidentData, folder: Path) -> None:
    """Write the documents into ``folder`` (crash-safe: temporary sibling, renamed into place)."""
    files.remove_partials(folder)
    with files.atomic_folder(folder) as tmp:
        docs.write_report_json(data, tmp / "report.json")
        docs.write_report_html(data, tmp / "report.html")
        issued = data.opened_at[:10]  # the app's clock, not the machine's
        docs.write_recall_notice(data, tmp / "recall.pdf", issued_on=issued)
        docs.write_recall_csv(data, tmp / "recall.csv")
        docs.write_letters_pdf(data, tmp / "letters.pdf", issued_on=issued)
        files.restrict_tree(tmp)


def insert(engine: Engine, incident_id: str, audit_id: str, data: docs.IncidentData, folder: Path,
           opened_by: str) -> None:
    """Store the incident and the findings it covers. Call inside the transaction with its ledger events."""
    engine.execute("INSERT INTO incidents VALUES (?, ?, ?, 'open', ?, ?, ?, NULL, ?, NULL, NULL)",
                   [incident_id, audit_id, naive_utc(engine.clock), data.records, data.persons, str(folder),
                    opened_by], label="incident")
    engine.execute(f"INSERT INTO incident_findings SELECT ?, ?, batch_id, request_id, matched_tin, package_id "
                   f"FROM {T_FINDINGS}", [incident_id, audit_id], label="incident findings")


_COLS = ("incident_id, audit_id, status, records, persons, folder, certified_on, opened_at, opened_by, "
         "certified_by")


def _incident(r: tuple[Any, ...]) -> Incident:
    return Incident(str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4]), Path(r[5]), r[6], r[7], r[8], r[9])


def find_incident(engine: Engine, incident_id: str) -> Incident | None:
    row = engine.fetchone(f"SELECT {_COLS} FROM incidents WHERE incident_id = ?", [incident_id])
    return None if row is None else _incident(row)


def get_incident(engine: Engine, incident_id: str) -> Incident:
    inc = find_incident(engine, incident_id)
    if inc is None:
        raise NotFoundError(f"no incident '{incident_id}'")
    return inc


def list_incidents(engine: Engine) -> list[Incident]:
    return [_incident(r) for r in engine.fetchall(f"SELECT {_COLS} FROM incidents ORDER BY opened_at")]


def timeline(engine: Engine, incident_id: str) -> list[dict[str, Any]]:
    """The incident's ledger events, in order."""
    return [json.loads(r[0]) | {"ledger_index": int(r[1])} for r in engine.fetchall(
        "SELECT body, idx FROM ledger_entries WHERE kind IN ('incident_opened', 'recall_requested', "
        "'incident_certified') AND json_extract_string(body, '$.incident_id') = ? ORDER BY idx", [incident_id])]


def earliest_delivery(engine: Engine, incident_id: str) -> dt.date | None:
    value = engine.scalar("SELECT min(CAST(p.delivered_at AS DATE)) FROM incident_findings f JOIN packages p "
                          "USING (package_id) WHERE f.incident_id = ?", [incident_id])
    return value if isinstance(value, dt.date) else None


def record_certification(engine: Engine, incident_id: str, destroyed_on: dt.date, by: str) -> None:
    engine.execute("UPDATE incidents SET status = 'certified', certified_on = ?, certified_by = ?, certified_at = ? "
                   "WHERE incident_id = ?", [destroyed_on, by, naive_utc(engine.clock), incident_id], label="certify")


@recovery_step
def _orphan_folders(home: Home, apply: bool) -> list[str]:
    """Incident folders (or partial ones) the database does not know: a crash before the commit."""
    root = home.path / "incidents"
    done: list[str] = []
    if not root.is_dir():
        return done
    known = {str(r[0]) for r in home.engine.fetchall("SELECT incident_id FROM incidents")}
    for p in root.iterdir():
        name = p.name
        if name.startswith("."):
            if apply:
                shutil.rmtree(p, ignore_errors=True)
            done.append(f"partial incident folder {name} (names and addresses): removed")
        elif p.is_dir() and name not in known:
            if apply:
                shutil.rmtree(p, ignore_errors=True)
            done.append(f"incident folder {name}, whose incident was never recorded: removed")
    return done
