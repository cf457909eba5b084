"""``dgate audit`` and ``dgate incident``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from disclosure_gate.app import audits, incidents
from disclosure_gate.remediation.audit import AuditResult
from disclosure_gate.surfaces.cli.common import (
    AsOpt,
    DryRunOpt,
    HomeOpt,
    JsonOpt,
    dry_or,
    io,
    parse_date,
    plural,
    session,
)

audit_app = typer.Typer(help="Replay audits, audits of other systems' disclosure logs, judging review findings.",
                        no_args_is_help=True)
incident_app = typer.Typer(help="Incident response: report, recall notice, letters, certification.",
                           no_args_is_help=True)
AuditArg = Annotated[str, typer.Argument(metavar="AUDIT_ID")]
PolicySpec = Annotated[str, typer.Option("--policy", help="policy id or .cedar file")]


def print_audit(res: AuditResult) -> None:
    io().line(f"Audit {res.audit_id} ({res.kind}) under {res.policy}", "bold")
    io().line(f"checked {res.checked:,} rows; {res.disclosures:,} disclosures")
    io().line(f"{res.flagged:,} would not be disclosed under this policy: would be denied (unlawful) "
              f"({res.delivered_flagged:,} of them delivered)", "bold red" if res.flagged else None)
    io().line(f"{res.review_count:,} would need review (judged so far: {res.reviewed_unlawful:,} unlawful, "
              f"{res.reviewed_lawful:,} lawful)")
    if res.court_count is not None:
        io().line(f"address never validated (court's count): {res.court_count:,}")
        io().line(f"address actually insufficient or not on file (agency's count): {res.agency_count:,}")
    if res.by_reason:
        io().table(("reason", "findings"), list(res.by_reason.items()), title="would be denied, by reason")
    if res.review_by_reason:
        io().table(("reason", "findings"), list(res.review_by_reason.items()), title="would need review, by reason")
    io().plain(res.audit_id)


@audit_app.command("replay")
def audit_replay(policy_spec: PolicySpec, agreement: Annotated[str | None, typer.Option("--agreement")] = None,
                 since: Annotated[str | None, typer.Option("--since", help="YYYY-MM-DD")] = None,
                 home: HomeOpt = None, as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Re-evaluate past disclosures under another policy; prints the audit id last."""
    day = parse_date(since, "--since")
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: audits.plan_replay(s, policy_spec, agreement, day)):
            return
        res = audits.replay(s, policy_spec, agreement, day)
    print_audit(res)


@audit_app.command("import")
def audit_import(log: Path, fmt: Annotated[str, typer.Option("--format", help="csv")] = "csv",
                 policy_spec: PolicySpec = "6103i2", agreement: Annotated[str | None, typer.Option("--agreement")]
                 = None, home: HomeOpt = None, as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Audit another system's disclosure log (request rows + disclosed) under a policy."""
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: audits.plan_import(s, log, fmt, policy_spec, agreement)):
            return
        res = audits.import_log(s, log, fmt, policy_spec, agreement)
    print_audit(res)


@audit_app.command("show")
def audit_show(audit_id: AuditArg, home: HomeOpt = None, as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """Show a stored audit's figures."""
    with session(home, as_user, write=False) as s:
        res = audits.show(s, audit_id)
    if as_json:
        io().json(res)
        return
    print_audit(res)


@audit_app.command("list")
def audit_list(home: HomeOpt = None, as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """List audits."""
    with session(home, as_user, write=False) as s:
        found = audits.list_(s)
    if as_json:
        io().json(found)
        return
    io().table(("audit", "kind", "policy", "when", "by", "checked", "would deny", "would review"),
               [(a.audit_id, a.kind, a.policy, a.created_at, a.run_by or "", a.checked, a.flagged, a.review_count)
                for a in found])


@audit_app.command("findings")
def audit_findings(audit_id: AuditArg,
                   finding: Annotated[str | None, typer.Option("--finding", help="unlawful or review")] = None,
                   home: HomeOpt = None, as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """An audit's findings (request ids, never custodian data), with any judgement of review findings."""
    with session(home, as_user, write=False) as s:
        found = audits.findings(s, audit_id, finding)
    if as_json:
        io().json(found)
        return
    io().table(("batch", "request", "finding", "reasons", "delivered", "package", "judged"),
               [(f.batch_id, f.request_id, f.finding, ";".join(f.new_reasons), "yes" if f.delivered else "",
                 f.package_id or "", f.verdict or "") for f in found])


@audit_app.command("review")
def audit_review(audit_id: AuditArg, request_ids: Annotated[list[str], typer.Argument(metavar="REQUEST_ID...")],
                 verdict: Annotated[str, typer.Option("--verdict", help="unlawful or lawful")],
                 reason: Annotated[str, typer.Option("--reason", help="why (required)")],
                 home: HomeOpt = None, as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Judge review findings: only those judged unlawful join an incident."""
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: audits.plan_review(s, audit_id, request_ids, verdict, reason)):
            return
        n = audits.review(s, audit_id, request_ids, verdict, reason)
    io().line(f"Judged {plural(n, 'finding')} {verdict}")


@incident_app.command("open")
def incident_open(from_audit: Annotated[str, typer.Option("--from-audit", help="AUDIT_ID")],
                  agency: Annotated[str | None, typer.Option("--agency", help="name on the documents (default: the "
                                                             "agency_name setting)")] = None,
                  contact: Annotated[str | None, typer.Option("--contact", help="contact point on letters (default: "
                                                              "the contact setting)")] = None,
                  skip_covered: Annotated[bool, typer.Option("--skip-covered", help="leave out findings an earlier "
                                                             "incident covers")] = False,
                  home: HomeOpt = None, as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Open an incident: report (HTML, JSON), recall notice, notification letters. Prints its id last."""
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: incidents.plan_open(s, from_audit, agency=agency, contact=contact,
                                                       skip_covered=skip_covered)):
            return
        inc = incidents.open_(s, from_audit, agency=agency, contact=contact, skip_covered=skip_covered)
    io().line(f"Incident {inc.incident_id}: {plural(inc.records, 'record')}, {plural(inc.persons, 'person')}; "
              f"documents in {inc.folder}")
    io().plain(inc.incident_id)


@incident_app.command("status")
def incident_status(incident_id: Annotated[str, typer.Argument(metavar="ID")], home: HomeOpt = None,
                    as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """An incident's status and its ledger timeline."""
    with session(home, as_user, write=False) as s:
        v = incidents.status(s, incident_id)
    if as_json:
        io().json(v)
        return
    inc = v.incident
    io().line(f"Incident {inc.incident_id} from audit {inc.audit_id}: {inc.status}"
              + (f" (destruction on {inc.certified_on}, certified by {inc.certified_by})" if inc.certified_on else ""),
              "bold")
    io().line(f"{plural(inc.records, 'record')}, {plural(inc.persons, 'person')}; documents in {inc.folder}")
    io().table(("at", "event", "by", "ledger entry"),
               [(ev.get("at", ""), ev.get("kind"), ev.get("actor", ""), ev["ledger_index"]) for ev in v.timeline])


@incident_app.command("list")
def incident_list(home: HomeOpt = None, as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """List incidents."""
    with session(home, as_user, write=False) as s:
        found = incidents.list_(s)
    if as_json:
        io().json(found)
        return
    io().table(("incident", "audit", "status", "records", "persons", "opened", "by", "destroyed on"),
               [(i.incident_id, i.audit_id, i.status, i.records, i.persons, i.opened_at, i.opened_by or "",
                 i.certified_on) for i in found])


@incident_app.command("certify")
def incident_certify(incident_id: Annotated[str, typer.Argument(metavar="ID")],
                     destroyed_on: Annotated[str, typer.Option("--destroyed-on", help="YYYY-MM-DD")],
                     home: HomeOpt = None, as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Record the recipient's certification that the data was destroyed (a ledger event)."""
    day = parse_date(destroyed_on, "--destroyed-on")
    assert day is not None
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: incidents.plan_certify(s, incident_id, day)):
            return
        inc, already = incidents.certify(s, incident_id, day)
    io().line(f"Incident {inc.incident_id}: {inc.status}, destroyed on {inc.certified_on}, certified by "
              f"{inc.certified_by}" + (" (already recorded; nothing changed)" if already else ""))
