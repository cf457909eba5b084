"""``dgate user|policy|release|audit|incident ...`` commands (I/O edge only)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from disclosure_gate.errors import InputError, PolicyError
from disclosure_gate.ledger import overseer
from disclosure_gate.ledger import store as ledger
from disclosure_gate.pipeline import policy
from disclosure_gate.remediation import audit as audit_mod
from disclosure_gate.remediation import release
from disclosure_gate.store import users
from disclosure_gate.store.home import Home, open_home

user_app = typer.Typer(help="Users and their roles (preparer, approver, auditor).", no_args_is_help=True)
policy_app = typer.Typer(help="Policy versions (Cedar).", no_args_is_help=True)
release_app = typer.Typer(help="Release packages: prepare, approve, deliver, verify, recall.", no_args_is_help=True)
audit_app = typer.Typer(help="Replay audits and audits of other systems' disclosure logs.", no_args_is_help=True)
incident_app = typer.Typer(help="Incident response: report, recall notice, letters, certification.",
                           no_args_is_help=True)
out = Console()
err = Console(stderr=True)
HomeOpt = Annotated[Path | None, typer.Option("--home", help="Home folder (default: $DGATE_HOME or ./dgate-home).",
                                              show_default=False)]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Check and show what would happen; change nothing.")]
AsOpt = Annotated[str, typer.Option("--as", help="The user acting (see dgate user add).")]
_root_home: list[Path | None] = [None]


def _open(home: Path | None) -> tuple[Home, ledger.Keys]:
    h = open_home(home if home is not None else _root_home[0])
    ledger.install(h.engine)
    release.install(h.engine)
    return h, ledger.load_keys(h.path)


def resolve_policy(h: Home, spec: str) -> policy.Policy:
    """A built-in id, a policy added with 'dgate policy add', or a path to a .cedar file."""
    if spec in policy.BUILTIN_POLICIES:
        return policy.load_builtin(spec)
    row = h.engine.fetchone("SELECT body FROM policies WHERE id = ?", [spec])
    if row is not None:
        return policy.compile_policy(spec, str(row[0]))
    path = Path(spec)
    if path.suffix == ".cedar" and path.is_file():
        return add_policy(h, path, path.stem)
    raise PolicyError(f"unknown policy '{spec}': a built-in id ({', '.join(policy.BUILTIN_POLICIES)}), "
                      "an id added with 'dgate policy add', or a .cedar file")


def add_policy(h: Home, path: Path, policy_id: str) -> policy.Policy:
    pol = policy.load_file(policy_id, path)
    row = h.engine.fetchone("SELECT sha256 FROM policies WHERE id = ?", [policy_id])
    if row is not None and row[0] != pol.sha256:
        raise PolicyError(f"policy id '{policy_id}' already names other content; choose a new id (versions are "
                          "immutable)")
    if row is None and policy_id not in policy.BUILTIN_POLICIES:
        with h.engine.transaction():
            h.engine.execute("INSERT INTO policies VALUES (?, ?, ?, ?)",
                             [policy_id, pol.sha256, pol.text, dt.datetime.now(dt.UTC).replace(tzinfo=None)])
            ledger.append_event(h.engine, "policy_added", {"policy_id": policy_id, "sha256": pol.sha256})
    return pol


# -- users ---------------------------------------------------------------------------
@user_app.command("add")
def user_add(name: str, role: Annotated[str, typer.Option("--role", help="preparer, approver or auditor")],
             home: HomeOpt = None) -> None:
    """Give a user a role (stored in the home's config.yaml)."""
    h, _ = _open(home)
    roles = users.add_user(h.path, name, role)
    out.print(f"{name}: {', '.join(roles)}")
    h.close()


@user_app.command("list")
def user_list(home: HomeOpt = None) -> None:
    """List users and roles."""
    h, _ = _open(home)
    table = Table("user", "roles")
    for name, roles in sorted(users.load_users(h.path).items()):
        table.add_row(name, ", ".join(roles))
    out.print(table)
    h.close()


# -- policies -------------------------------------------------------------------------
@policy_app.command("add")
def policy_add(file: Path, policy_id: Annotated[str, typer.Option("--id", help="the new version's id")],
               home: HomeOpt = None) -> None:
    """Register a policy version (validated against the fact schema); a ledger event."""
    h, _ = _open(home)
    pol = add_policy(h, file, policy_id)
    out.print(f"policy {pol.label}: {len(pol.reason_codes)} reason codes")
    h.close()


@policy_app.command("list")
def policy_list(home: HomeOpt = None) -> None:
    """List built-in and added policies with their content hashes."""
    h, _ = _open(home)
    table = Table("id", "sha256", "source")
    for pid in policy.BUILTIN_POLICIES:
        table.add_row(pid, policy.load_builtin(pid).sha256, "built-in" + (" (UNSAFE)" if pid in policy.UNSAFE_POLICIES
                                                                         else ""))
    for pid, sha in h.engine.fetchall("SELECT id, sha256 FROM policies ORDER BY id"):
        table.add_row(str(pid), str(sha), "added")
    out.print(table)
    h.close()


# -- releases --------------------------------------------------------------------------
@release_app.command("prepare")
def release_prepare(batch: Annotated[str, typer.Argument(metavar="BATCH")], user: AsOpt, home: HomeOpt = None,
                    dry_run: DryRunOpt = False) -> None:
    """Build a package from the batch's DISCLOSE decisions, with only the agreement's fields."""
    h, _ = _open(home)
    pkg, created = release.prepare(h.engine, h.path, batch, user, dry_run=dry_run)
    verb = "[dry run] would prepare" if dry_run else ("Prepared" if created else "Already prepared:")
    out.print(f"{verb} package {pkg.package_id}: {pkg.rows:,} rows, fields request_id, {', '.join(pkg.fields)}")
    out.print(pkg.package_id, highlight=False) if not dry_run else None
    h.close()


@release_app.command("approve")
def release_approve(package: Annotated[str, typer.Argument(metavar="PACKAGE")], user: AsOpt, home: HomeOpt = None,
                    dry_run: DryRunOpt = False) -> None:
    """Second-person approval (the preparer cannot approve their own package)."""
    h, _ = _open(home)
    pkg = release.approve(h.engine, h.path, package, user, dry_run=dry_run)
    out.print(f"{'[dry run] would approve' if dry_run else 'Approved'} package {pkg.package_id} "
              f"(prepared by {pkg.prepared_by}, approved by {pkg.approved_by or user})")
    h.close()


@release_app.command("deliver")
def release_deliver(package: Annotated[str, typer.Argument(metavar="PACKAGE")],
                    out_dir: Annotated[Path, typer.Option("--out", help="folder to create")], home: HomeOpt = None,
                    dry_run: DryRunOpt = False) -> None:
    """Write the signed, crash-safe package folder (idempotent)."""
    h, keys = _open(home)
    folder, written = release.deliver(h.engine, package, out_dir, keys, dry_run=dry_run)
    out.print(f"{'[dry run] would deliver to' if dry_run else 'Delivered to' if written else 'Already delivered at'} "
              f"{folder}")
    h.close()


@release_app.command("verify")
def release_verify(folder: Path, key: Annotated[str | None, typer.Option("--key", help="the agency's public key "
                                                                          "(default: this home's)")] = None,
                   home: HomeOpt = None) -> None:
    """Check a delivered package with only the public key (what the recipient runs)."""
    if key is None:
        h, keys = _open(home)
        h.close()
        key = keys.verifier_key
    v = release.verify_package(folder, overseer.load_verifier(key))
    out.print(f"OK: package {v.package_id}, {v.rows:,} rows, columns {', '.join(v.fields)}; signature, file hashes "
              "and ledger checkpoint verify")


@release_app.command("list")
def release_list(home: HomeOpt = None) -> None:
    """List packages and their state."""
    h, _ = _open(home)
    table = Table("package", "batch", "agreement", "state", "rows", "prepared by", "approved by")
    for r in h.engine.fetchall("SELECT package_id, batch_id, agreement_id, state, rows, prepared_by, "
                               "coalesce(approved_by, '-') FROM packages ORDER BY prepared_at"):
        table.add_row(*(str(x) for x in r))
    out.print(table)
    h.close()


@release_app.command("recall")
def release_recall(package: Annotated[str, typer.Argument(metavar="PACKAGE")],
                   reason: Annotated[str, typer.Option("--reason")], home: HomeOpt = None) -> None:
    """Record that a package was recalled (a ledger event)."""
    h, _ = _open(home)
    pkg = release.recall(h.engine, package, reason)
    out.print(f"Package {pkg.package_id} recalled")
    h.close()


def print_delivered(h: Home, agreement_id: str) -> None:
    rows = release.delivered_under(h.engine, agreement_id)
    if not rows:
        out.print("Nothing was delivered under this agreement.")
        return
    table = Table("package", "batch", "rows", "persons", "delivered at",
                  title=f"Already delivered under {agreement_id} (candidates for recall)")
    for p, b, n, persons, at in rows:
        table.add_row(p, b, f"{n:,}", f"{persons:,}", at)
    out.print(table)
    out.print(f"total: {sum(r[2] for r in rows):,} records in {len(rows)} packages")


# -- audits ------------------------------------------------------------------------------
def print_audit(res: audit_mod.AuditResult) -> None:
    out.print(f"Audit [bold]{res.audit_id}[/] ({res.kind}) under {res.policy}")
    out.print(f"checked {res.checked:,} rows; {res.disclosures:,} disclosures; "
              f"[bold red]{res.flagged:,} would not be disclosed under this policy[/] "
              f"({res.delivered_flagged:,} of them delivered)")
    if res.court_count is not None:
        out.print(f"address never validated (court's count): {res.court_count:,}")
        out.print(f"address actually insufficient or not on file (agency's count): {res.agency_count:,}")
    if res.by_reason:
        table = Table("reason", "findings", title="candidate improper disclosures by reason")
        for k, v in res.by_reason.items():
            table.add_row(k, f"{v:,}")
        out.print(table)
    out.print(res.audit_id, highlight=False)


@audit_app.command("replay")
def audit_replay(policy_spec: Annotated[str, typer.Option("--policy", help="policy id or .cedar file")],
                 agreement: Annotated[str | None, typer.Option("--agreement")] = None,
                 since: Annotated[str | None, typer.Option("--since", help="YYYY-MM-DD")] = None,
                 home: HomeOpt = None) -> None:
    """Re-evaluate past decisions under another policy; report DISCLOSEs it would not make."""
    h, _ = _open(home)
    try:
        day = dt.date.fromisoformat(since) if since else None
    except ValueError:
        raise InputError("--since must be YYYY-MM-DD") from None
    res = audit_mod.replay(h.engine, resolve_policy(h, policy_spec), agreement_id=agreement, since=day)
    print_audit(res)
    h.close()


@audit_app.command("import")
def audit_import(log: Path, fmt: Annotated[str, typer.Option("--format", help="csv")] = "csv",
                 policy_spec: Annotated[str, typer.Option("--policy", help="policy id or .cedar file")] = "6103i2",
                 agreement: Annotated[str | None, typer.Option("--agreement")] = None, home: HomeOpt = None) -> None:
    """Audit another system's disclosure log (request rows + disclosed) under a policy."""
    audit_mod.check_format(fmt)
    h, _ = _open(home)
    res = audit_mod.import_log(h.engine, log, resolve_policy(h, policy_spec), agreement_id=agreement)
    print_audit(res)
    h.close()


@audit_app.command("show")
def audit_show(audit_id: Annotated[str, typer.Argument(metavar="AUDIT_ID")], home: HomeOpt = None) -> None:
    """Show a stored audit's figures."""
    h, _ = _open(home)
    print_audit(audit_mod.get_audit(h.engine, audit_id))
    h.close()


# -- incidents ----------------------------------------------------------------------------
@incident_app.command("open")
def incident_open(from_audit: Annotated[str, typer.Option("--from-audit", help="AUDIT_ID")],
                  agency: Annotated[str, typer.Option("--agency", help="name on the documents")]
                  = "The disclosing agency", home: HomeOpt = None, dry_run: DryRunOpt = False) -> None:
    """Open an incident: report (HTML, JSON), recall notice, notification letters (PDF)."""
    from disclosure_gate.remediation import incident as incident_mod

    h, keys = _open(home)
    inc = incident_mod.open_incident(h.engine, h.path, from_audit, keys, agency=agency, dry_run=dry_run)
    out.print(f"{'[dry run] would open' if dry_run else 'Incident'} {inc.incident_id}: {inc.records:,} records, "
              f"{inc.persons:,} persons; documents in {inc.folder}")
    out.print(inc.incident_id, highlight=False)
    h.close()


@incident_app.command("status")
def incident_status(incident_id: Annotated[str, typer.Argument(metavar="ID")], home: HomeOpt = None) -> None:
    """Show an incident's status and timeline (recorded as a ledger event)."""
    from disclosure_gate.remediation import incident as incident_mod

    h, _ = _open(home)
    inc = incident_mod.record_status(h.engine, incident_id)
    out.print(f"Incident {inc.incident_id} from audit {inc.audit_id}: [bold]{inc.status}[/]"
              + (f" (destruction certified for {inc.certified_on})" if inc.certified_on else ""))
    out.print(f"{inc.records:,} records, {inc.persons:,} persons; documents in {inc.folder}")
    for ev in incident_mod.timeline(h.engine, incident_id):
        out.print(f"  {ev.get('at', '')}  {ev.get('kind')}  (ledger entry {ev['ledger_index']})", highlight=False)
    h.close()


@incident_app.command("certify")
def incident_certify(incident_id: Annotated[str, typer.Argument(metavar="ID")],
                     destroyed_on: Annotated[str, typer.Option("--destroyed-on", help="YYYY-MM-DD")],
                     home: HomeOpt = None, dry_run: DryRunOpt = False) -> None:
    """Record the recipient's certification that the data was destroyed (a ledger event)."""
    from disclosure_gate.remediation import incident as incident_mod

    h, _ = _open(home)
    try:
        day = dt.date.fromisoformat(destroyed_on)
    except ValueError:
        raise InputError("--destroyed-on must be YYYY-MM-DD") from None
    inc = incident_mod.certify(h.engine, incident_id, day, dry_run=dry_run)
    out.print(f"Incident {inc.incident_id}: {inc.status}" + (f", destroyed on {inc.certified_on}" if inc.certified_on
                                                               else ""))
    h.close()
