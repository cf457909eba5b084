"""Incidents: open from an audit, follow, certify the recipient's destruction of the data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from disclosure_gate.app.plans import Plan
from disclosure_gate.app.session import Session
from disclosure_gate.clock import iso_utc, today
from disclosure_gate.errors import ConflictError, StateError, UsageError
from disclosure_gate.ledger import store as ledger
from disclosure_gate.remediation import incident
from disclosure_gate.remediation.audit import get_audit
from disclosure_gate.remediation.incident import Incident
from disclosure_gate.store import settings


@dataclass(frozen=True)
class _Checked:
    audit_id: str
    records: int
    overlaps: list[tuple[str, int]]
    agency: str
    contact: str


def _check_open(s: Session, audit_id: str, agency: str | None, contact: str | None, skip_covered: bool) -> _Checked:
    s.authorize("incident.open")
    get_audit(s.engine, audit_id)
    name = (agency or settings.get(s.engine, "agency_name")).strip()
    point = (contact or settings.get(s.engine, "contact")).strip()
    if not name:
        raise UsageError("the documents need the agency's name: pass --agency or set it once with "
                         "'dgate settings set agency_name \"...\"'")
    if not point:
        raise UsageError("letters and the recall notice need a contact point: pass --contact or set it once with "
                         "'dgate settings set contact \"office, address, telephone, hours\"'")
    records, overlaps = incident.select_findings(s.engine, audit_id, skip_covered=skip_covered)
    if overlaps and not skip_covered:
        first = ", ".join(f"{i} ({n:,})" for i, n in overlaps)
        raise ConflictError(f"findings of audit {audit_id} are already covered by incident {first}: one letter per "
                            "person per disclosure; pass --skip-covered to open an incident for the rest only")
    if not records:
        raise StateError(f"audit {audit_id} has no unlawful finding that was delivered and is not yet covered: "
                         "nothing to report (judge review findings with 'dgate audit review')")
    return _Checked(audit_id, records, overlaps, name, point)


def plan_open(s: Session, audit_id: str, *, agency: str | None = None, contact: str | None = None,
              skip_covered: bool = False) -> Plan:
    c = _check_open(s, audit_id, agency, contact, skip_covered)
    steps = [f"leave out {n:,} findings already covered by {i}" for i, n in c.overlaps]
    return Plan("incident.open", f"open an incident for {c.records:,} delivered unlawful findings of {audit_id}",
                ("report.html, report.json, recall.pdf, recall.csv, letters.pdf", *steps))


def open_(s: Session, audit_id: str, *, agency: str | None = None, contact: str | None = None,
          skip_covered: bool = False) -> Incident:
    c = _check_open(s, audit_id, agency, contact, skip_covered)
    incident_id = incident.incident_id_for(audit_id, iso_utc(s.engine.clock.now()))
    cp = ledger.make_checkpoint(s.engine, s.keys)
    data = incident.build_data(s.engine, audit_id, incident_id, cp.note, c.agency, c.contact, s.keys.commitment_key)
    folder = s.home.path / "incidents" / incident_id
    incident.render(data, folder)
    try:
        with s.engine.transaction():
            incident.insert(s.engine, incident_id, audit_id, data, folder, s.actor.name)
            s.events([("incident_opened", {"incident_id": incident_id, "audit_id": audit_id, "records": data.records,
                                           "persons": data.persons, "packages": [p[0] for p in data.packages]}),
                      ("recall_requested", {"incident_id": incident_id, "request_ids": len(data.request_ids)})])
    except BaseException:
        from disclosure_gate.remediation.release import remove_folder

        remove_folder(folder)
        raise
    finally:
        s.engine.execute(f"DROP TABLE IF EXISTS {incident.T_FINDINGS}")
    return incident.get_incident(s.engine, incident_id)


@dataclass(frozen=True)
class IncidentView:
    incident: Incident
    timeline: list[dict[str, Any]]


def status(s: Session, incident_id: str) -> IncidentView:
    s.authorize("incident.view")
    return IncidentView(incident.get_incident(s.engine, incident_id), incident.timeline(s.engine, incident_id))


def list_(s: Session) -> list[Incident]:
    s.authorize("incident.view")
    return incident.list_incidents(s.engine)


def _check_certify(s: Session, incident_id: str, destroyed_on: dt.date) -> tuple[Incident, bool]:
    s.authorize("incident.certify")
    inc = incident.get_incident(s.engine, incident_id)
    if inc.status == "certified":
        if inc.certified_on == destroyed_on:
            return inc, True
        who = inc.certified_by or "an earlier version"
        raise ConflictError(f"incident {incident_id} was already certified by {who} with destruction on "
                            f"{inc.certified_on}: a second certification is refused")
    if destroyed_on > today(s.engine.clock):
        raise UsageError("--destroyed-on is in the future")
    opened = inc.opened_at.date() if isinstance(inc.opened_at, dt.datetime) else None
    if opened is not None and destroyed_on < opened:
        raise UsageError(f"--destroyed-on is before the incident was opened ({opened}): the recall came first")
    delivered = incident.earliest_delivery(s.engine, incident_id)
    if delivered is not None and destroyed_on < delivered:
        raise UsageError(f"--destroyed-on is before the data was delivered ({delivered})")
    return inc, False


def plan_certify(s: Session, incident_id: str, destroyed_on: dt.date) -> Plan:
    _, done = _check_certify(s, incident_id, destroyed_on)
    return Plan("incident.certify", f"record that the data of incident {incident_id} was destroyed on {destroyed_on}",
                noop=done)


def certify(s: Session, incident_id: str, destroyed_on: dt.date) -> tuple[Incident, bool]:
    """Record the recipient's certification; returns (incident, already certified with that date)."""
    inc, done = _check_certify(s, incident_id, destroyed_on)
    if done:
        return inc, True
    with s.engine.transaction():
        incident.record_certification(s.engine, incident_id, destroyed_on, s.actor.name)
        s.event("incident_certified", {"incident_id": incident_id, "destroyed_on": destroyed_on})
    return incident.get_incident(s.engine, incident_id), False


DOCUMENTS = ("report.html", "report.json", "recall.pdf", "recall.csv", "letters.pdf")
CONFIDENTIAL_DOCUMENTS = ("letters.pdf",)  # names and addresses of affected persons


def document(s: Session, incident_id: str, name: str) -> Path:
    """The path of one of an incident's documents, for a download. Letters carry names and addresses:
    opening them is a recorded view (a ledger event), like a review case."""
    s.authorize("incident.view")
    if name not in DOCUMENTS:
        raise UsageError(f"an incident's documents are {', '.join(DOCUMENTS)}")
    inc = incident.get_incident(s.engine, incident_id)
    path = inc.folder / name
    if not path.is_file():
        raise StateError(f"{name} of incident {incident_id} is missing from {inc.folder}")
    if name in CONFIDENTIAL_DOCUMENTS:
        with s.engine.transaction():
            s.event("document_viewed", {"incident_id": incident_id, "document": name})
    return path
