"""Incidents: from an audit's findings to a safeguards report, a recall notice and letters.

``open_incident`` gathers the findings of an audit that actually left the
building: delivered packages for a replay, or every disclosure in an imported
log. It writes, under ``<home>/incidents/<id>/``:

* ``report.html`` and ``report.json``: dates of occurrence and discovery, how
  it was discovered, data elements, records, persons, recipients, counts by
  reason, and a chart of the funnel and reasons;
* ``recall.pdf`` and ``recall.csv``: the request ids whose data the recipient
  must destroy, with a certification block;
* ``letters.pdf``: one notification letter per affected person.

Status and certification of destruction are ledger events. The folder is
written to a temporary place and renamed into place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from disclosure_gate.engine import Engine
from disclosure_gate.errors import NotFoundError, StateError
from disclosure_gate.ledger import store as ledger
from disclosure_gate.remediation import incident_docs as docs
from disclosure_gate.remediation.audit import get_audit
from disclosure_gate.store.agreements import find_agreement

_DDL = """CREATE TABLE IF NOT EXISTS incidents (
    incident_id VARCHAR PRIMARY KEY, audit_id VARCHAR NOT NULL, opened_at TIMESTAMP NOT NULL, status VARCHAR NOT NULL,
    records BIGINT NOT NULL, persons BIGINT NOT NULL, folder VARCHAR NOT NULL, certified_on DATE)"""


@dataclass(frozen=True)
class Incident:
    incident_id: str
    audit_id: str
    status: str
    records: int
    persons: int
    folder: Path
    certified_on: dt.date | None


def install(engine: Engine) -> None:
    engine.execute(_DDL, label="incident schema")


def _people(engine: Engine, audit_id: str, key: bytes) -> list[docs.PersonNotice]:
    """Affected persons, each named on the documents by the prefix of their ledger commitment."""
    rows = engine.fetchall(
        """SELECT f.matched_tin, any_value(p.first_name), any_value(p.middle_name), any_value(p.last_name),
                  any_value(p.name_suffix), any_value(ca.street), any_value(ca.city), any_value(ca.state),
                  any_value(ca.zip),
                  list((CAST(f.decided_on AS VARCHAR), coalesce(g.recipient, '(unknown recipient)'),
                        coalesce(g.fields, 'last known address'), f.request_id) ORDER BY f.request_id)
           FROM audit_findings f
           JOIN c_person p ON p.tin = f.matched_tin
           LEFT JOIN c_address ca ON ca.tin = f.matched_tin AND ca.is_last_known
           LEFT JOIN (SELECT b.batch_id, json_extract_string(a.body, '$.recipient') AS recipient,
                             array_to_string(CAST(json_extract(a.body, '$.disclose') AS VARCHAR[]), ', ') AS fields
                      FROM batches b JOIN agreements a ON a.id = b.agreement_id) g ON g.batch_id = f.batch_id
           WHERE f.audit_id = ? AND f.delivered AND f.matched_tin IS NOT NULL
           GROUP BY f.matched_tin ORDER BY f.matched_tin""", [audit_id], label="incident persons")
    out = []
    for tin, first, middle, last, suffix, street, city, state, zip_, disclosed in rows:
        name = " ".join(str(x) for x in (first, middle, last, suffix) if x)
        lines = tuple(x for x in (street, f"{city or ''}, {state or ''} {zip_ or ''}".strip(", ")) if x)
        ref = ledger.commitment(key, str(tin))[:16]  # keyed: not brute-forceable from the 10^9 TINs
        events = tuple((str(d[0]), str(d[1]), str(d[2]), str(d[3])) for d in disclosed)
        out.append(docs.PersonNotice(ref, name, lines, events))
    return out


def build_data(engine: Engine, audit_id: str, incident_id: str, keys: ledger.Keys, agency: str) -> docs.IncidentData:
    audit = get_audit(engine, audit_id)
    summary = engine.fetchone(
        "SELECT count(*), count(DISTINCT matched_tin), min(decided_on), max(decided_on), list(DISTINCT batch_id) "
        "FROM audit_findings WHERE audit_id = ? AND delivered", [audit_id], label="incident summary")
    assert summary is not None
    records, persons, first, last, batch_ids = summary
    if not records:
        raise StateError(f"audit {audit_id} found no improper disclosure that was delivered: nothing to report")
    params = json.loads(str(engine.scalar("SELECT params FROM audits WHERE audit_id = ?", [audit_id])))
    agreement_ids = sorted({str(r[0]) for r in engine.fetchall(
        "SELECT agreement_id FROM batches WHERE batch_id IN (SELECT unnest(?))", [list(batch_ids)])
        if r[0]} | ({str(params["agreement"])} if params.get("agreement") else set()))
    agreements = [a for a in (find_agreement(engine, i) for i in agreement_ids) if a is not None]
    created = engine.scalar("SELECT created_at FROM audits WHERE audit_id = ?", [audit_id])
    request_ids = tuple(str(r[0]) for r in engine.fetchall(
        "SELECT request_id FROM audit_findings WHERE audit_id = ? AND delivered ORDER BY request_id", [audit_id]))
    how = (f"{'Replay audit' if audit.kind == 'replay' else 'Audit of an imported disclosure log'} {audit_id} "
           f"under policy {audit.policy}")
    funnel = [("decisions re-examined", audit.checked), ("disclosures", audit.disclosures),
              ("would not be disclosed now", audit.flagged), ("of which delivered", records)]
    if audit.court_count is not None:
        funnel += [("address never validated", audit.court_count),
                   ("address actually deficient", audit.agency_count or 0)]
    cp = ledger.make_checkpoint(engine, keys)
    return docs.IncidentData(
        incident_id=incident_id, opened_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), agency=agency,
        agreement_id=", ".join(agreement_ids) or "(none)",
        recipient=", ".join(sorted({a.recipient for a in agreements})) or "(recipient named in the log)",
        statutory_authority=", ".join(sorted({a.statutory_authority for a in agreements})) or "(unknown)",
        occurred_from=str(first or ""), occurred_to=str(last or ""),
        discovered_on=str(created.date() if created else dt.date.today()), how_discovered=how,
        data_elements=("last known address",), records=int(records), persons=int(persons),
        counts_by_reason=tuple(audit.by_reason.items()), funnel=tuple(funnel), request_ids=request_ids,
        ledger_checkpoint=cp.note, persons_notices=tuple(_people(engine, audit_id, keys.commitment_key)))


def open_incident(engine: Engine, home: Path, audit_id: str, keys: ledger.Keys, *,
                  agency: str = "The disclosing agency", dry_run: bool = False) -> Incident:
    install(engine)
    existing = engine.scalar("SELECT incident_id FROM incidents WHERE audit_id = ?", [audit_id])
    if existing is not None:
        return get_incident(engine, str(existing))
    incident_id = "I" + hashlib.sha256(f"{audit_id}\n{uuid.uuid4()}".encode()).hexdigest()[:11]
    data = build_data(engine, audit_id, incident_id, keys, agency)
    folder = home / "incidents" / incident_id
    if dry_run:
        return Incident(incident_id, audit_id, "planned", data.records, data.persons, folder, None)
    tmp = folder.with_name(f".{incident_id}.partial")
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        docs.write_report_json(data, tmp / "report.json")
        docs.write_report_html(data, tmp / "report.html")
        docs.write_recall_notice(data, tmp / "recall.pdf")
        docs.write_recall_csv(data, tmp / "recall.csv")
        docs.write_letters_pdf(data, tmp / "letters.pdf")
        tmp.replace(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with engine.transaction():
        engine.execute("INSERT INTO incidents VALUES (?, ?, ?, 'open', ?, ?, ?, NULL)",
                       [incident_id, audit_id, dt.datetime.now(dt.UTC).replace(tzinfo=None), data.records,
                        data.persons, str(folder)], label="incident")
        ledger.append_event(engine, "incident_opened", {"incident_id": incident_id, "audit_id": audit_id,
                                                        "records": data.records, "persons": data.persons})
        ledger.append_event(engine, "recall_requested", {"incident_id": incident_id,
                                                         "request_ids": len(data.request_ids)})
    return get_incident(engine, incident_id)


def get_incident(engine: Engine, incident_id: str) -> Incident:
    install(engine)
    row = engine.fetchone("SELECT incident_id, audit_id, status, records, persons, folder, certified_on "
                          "FROM incidents WHERE incident_id = ?", [incident_id])
    if row is None:
        raise NotFoundError(f"no incident '{incident_id}'")
    return Incident(str(row[0]), str(row[1]), str(row[2]), int(row[3]), int(row[4]), Path(row[5]), row[6])


def timeline(engine: Engine, incident_id: str) -> list[dict[str, Any]]:
    """The incident's ledger events, in order."""
    return [json.loads(r[0]) | {"ledger_index": int(r[1])} for r in engine.fetchall(
        "SELECT body, idx FROM ledger_entries WHERE kind IN ('incident_opened', 'recall_requested', "
        "'incident_status', 'incident_certified') AND json_extract_string(body, '$.incident_id') = ? ORDER BY idx",
        [incident_id])]


def record_status(engine: Engine, incident_id: str) -> Incident:
    """Record that the status was reviewed (a ledger event) and return it."""
    inc = get_incident(engine, incident_id)
    ledger.append_event(engine, "incident_status", {"incident_id": incident_id, "status": inc.status})
    return inc


def certify(engine: Engine, incident_id: str, destroyed_on: dt.date, *, dry_run: bool = False) -> Incident:
    inc = get_incident(engine, incident_id)
    if inc.status == "certified":
        return inc
    if destroyed_on > dt.date.today():
        raise StateError("the destruction date is in the future")
    if dry_run:
        return inc
    with engine.transaction():
        engine.execute("UPDATE incidents SET status = 'certified', certified_on = ? WHERE incident_id = ?",
                       [destroyed_on, incident_id], label="certify")
        ledger.append_event(engine, "incident_certified", {"incident_id": incident_id,
                                                           "destroyed_on": str(destroyed_on)})
    return get_incident(engine, incident_id)
