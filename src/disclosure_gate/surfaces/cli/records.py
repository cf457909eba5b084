"""``dgate records``, ``dgate agreement``: custodian records and data-sharing agreements."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from disclosure_gate.app import agreements, records
from disclosure_gate.remediation.release import DeliveredPackage
from disclosure_gate.surfaces.cli.common import (
    AsOpt,
    DryRunOpt,
    HomeOpt,
    JsonOpt,
    cell,
    dry_or,
    io,
    parse_date,
    plural,
    session,
)

records_app = typer.Typer(help="Custodian records (the agency's own data).", no_args_is_help=True)
agreement_app = typer.Typer(help="Data-sharing agreements: add, list, show, suspend, reinstate, terminate.",
                            no_args_is_help=True)


@records_app.command("load")
def records_load(persons: Annotated[Path, typer.Option("--persons", help="persons CSV or Parquet")],
                 addresses: Annotated[Path, typer.Option("--addresses", help="addresses CSV or Parquet")],
                 home: HomeOpt = None, as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Load a custodian snapshot (replaces the previous one atomically)."""
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: records.plan_load(s, persons, addresses)):
            return
        with io().err.status("Loading, folding and standardizing custodian records..."):
            res = records.load(s, persons, addresses)
    what = f"{res.persons:,} persons, {res.addresses:,} addresses"
    if res.unchanged:
        io().line(f"Snapshot {res.snapshot_id} is already current ({what}); nothing changed.")
    else:
        io().line(f"Loaded snapshot {res.snapshot_id}: {what}")


def _print_delivered(view_delivered: list[DeliveredPackage], agreement_id: str) -> None:
    if not view_delivered:
        io().line(f"Nothing was delivered under {agreement_id}.")
        return
    rows = [(p.package_id, p.batch_id, p.rows, p.persons, p.delivered_at,
             f"recalled {cell(p.recalled_at)}" if p.recalled_at else "out") for p in view_delivered]
    io().table(("package", "batch", "records", "persons", "delivered at", "status"), rows,
               title=f"Delivered under {agreement_id} (recall candidates are the ones still out)")
    out = [p for p in view_delivered if not p.recalled_at]
    io().line(f"total: {plural(sum(p.rows for p in view_delivered), 'record')} in "
              f"{plural(len(view_delivered), 'package')}; still out: {plural(sum(p.rows for p in out), 'record')} "
              f"in {plural(len(out), 'package')}")


@agreement_app.command("add")
def agreement_add(file: Path, home: HomeOpt = None, as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Add a data-sharing agreement from a YAML file (an officer's act)."""
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: agreements.plan_add(s, file)):
            return
        res = agreements.add(s, file)
    a = res.agreement
    if res.created:
        io().line(f"Added agreement {a.id} ({a.status}, policy {a.policy})")
    else:
        io().line(f"Agreement {a.id} already present with the same content")


@agreement_app.command("list")
def agreement_list(home: HomeOpt = None, as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """List agreements: status with the current reason, validity, policy."""
    with session(home, as_user, write=False) as s:
        found = agreements.list_(s)
    if as_json:
        io().json(found)
        return
    io().table(("id", "recipient", "authority", "status", "reason", "valid", "policy"),
               [(a.id, a.recipient, a.statutory_authority,
                 a.status + (f" since {a.suspended_on}" if a.suspended_on else ""), a.suspension_reason or "",
                 f"{a.valid_from} .. {a.valid_to or 'open'}", a.policy) for a in found])


@agreement_app.command("show")
def agreement_show(agreement_id: Annotated[str, typer.Argument(metavar="ID")], home: HomeOpt = None,
                   as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """One agreement with its full history (status changes, policies, who and why) and what was delivered."""
    with session(home, as_user, write=False) as s:
        v = agreements.show(s, agreement_id)
    if as_json:
        io().json({"agreement": v.agreement, "in_force_today": v.in_force_today, "history": v.history,
                   "delivered": v.delivered})
        return
    a = v.agreement
    io().line(f"Agreement {a.id}: {a.status}" + (" (in force today)" if v.in_force_today else " (not in force today)"),
              "bold")
    for label, value in (("recipient", a.recipient), ("authority", a.statutory_authority),
                         ("purposes", "; ".join(a.purposes)), ("discloses", ", ".join(a.disclose)),
                         ("valid", f"{a.valid_from} .. {a.valid_to or 'open'}"), ("policy", a.policy),
                         ("reason", a.suspension_reason or "")):
        io().line(f"  {label}: {value}")
    io().table(("#", "change", "effective", "reason", "reference", "policy", "by", "at"),
               [(h.seq, h.kind, h.effective, h.reason, h.reference, h.policy, h.actor, h.at) for h in v.history],
               title="history")
    _print_delivered(v.delivered, a.id)


def _status(change: str, agreement_id: str, reason: str, effective: str | None, reference: str | None,
            home: HomeOpt, as_user: str | None, dry_run: bool) -> None:
    day = parse_date(effective, "--effective")
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: agreements.plan_change_status(s, agreement_id, change, reason, day, reference)):
            return
        res = agreements.change_status(s, agreement_id, change, reason, day, reference)
    _print_delivered(res.delivered, agreement_id)
    io().line(f"Agreement {agreement_id} {res.change} effective {res.agreement.suspended_on or day or 'today'}")


ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (for example the court order).")]
EffectiveOpt = Annotated[str | None, typer.Option("--effective", help="YYYY-MM-DD; default today")]
ReferenceOpt = Annotated[str | None, typer.Option("--reference", help="The court order's (or memo's) reference.")]


@agreement_app.command("suspend")
def agreement_suspend(agreement_id: Annotated[str, typer.Argument(metavar="ID")], reason: ReasonOpt,
                      effective: EffectiveOpt = None, reference: ReferenceOpt = None, home: HomeOpt = None,
                      as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Suspend an agreement at once: no further processing, approval or delivery under it."""
    _status("suspend", agreement_id, reason, effective, reference, home, as_user, dry_run)


@agreement_app.command("reinstate")
def agreement_reinstate(agreement_id: Annotated[str, typer.Argument(metavar="ID")], reason: ReasonOpt,
                        effective: EffectiveOpt = None, reference: ReferenceOpt = None, home: HomeOpt = None,
                        as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Lift a suspension (the history keeps both)."""
    _status("reinstate", agreement_id, reason, effective, reference, home, as_user, dry_run)


@agreement_app.command("terminate")
def agreement_terminate(agreement_id: Annotated[str, typer.Argument(metavar="ID")], reason: ReasonOpt,
                        effective: EffectiveOpt = None, reference: ReferenceOpt = None, home: HomeOpt = None,
                        as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """End an agreement for good."""
    _status("terminate", agreement_id, reason, effective, reference, home, as_user, dry_run)


@agreement_app.command("set-policy")
def agreement_set_policy(agreement_id: Annotated[str, typer.Argument(metavar="ID")],
                         policy_id: Annotated[str, typer.Option("--policy", help="a built-in or registered id")],
                         reason: Annotated[str, typer.Option("--reason", help="Why the policy changes.")],
                         home: HomeOpt = None, as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Adopt a policy version for an agreement (releases then need a run under it)."""
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: agreements.plan_adopt_policy(s, agreement_id, policy_id, reason)):
            return
        a = agreements.adopt_policy(s, agreement_id, policy_id, reason)
    io().line(f"Agreement {a.id} is decided under policy {a.policy}")
