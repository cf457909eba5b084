"""``dgate release``: prepare, approve, deliver, verify, list, show, recall."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from disclosure_gate.app import releases
from disclosure_gate.errors import HomeError
from disclosure_gate.ledger import overseer
from disclosure_gate.store.home import resolve
from disclosure_gate.surfaces.cli.common import (
    AsOpt,
    DryRunOpt,
    HomeOpt,
    JsonOpt,
    cell,
    dry_or,
    home_path,
    io,
    plural,
    session,
)

release_app = typer.Typer(help="Release packages: prepare, approve, deliver, verify, recall.", no_args_is_help=True)
PackageArg = Annotated[str, typer.Argument(metavar="PACKAGE")]


@release_app.command("prepare")
def release_prepare(batch: Annotated[str, typer.Argument(metavar="BATCH")], home: HomeOpt = None,
                    as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Build a package from the rows to disclose, with only the agreement's fields; prints its id last."""
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: releases.plan_prepare(s, batch)):
            return
        res = releases.prepare(s, batch)
    pkg = res.package
    verb = "Prepared" if res.created else "Already prepared:"
    io().line(f"{verb} package {pkg.package_id}: {plural(pkg.rows, 'row')}"
              + (f" ({res.from_review:,} resolved in review)" if res.from_review else "")
              + f", fields request_id, {', '.join(pkg.fields)}")
    io().plain(pkg.package_id)


@release_app.command("approve")
def release_approve(package: PackageArg, home: HomeOpt = None, as_user: AsOpt = None,
                    dry_run: DryRunOpt = False) -> None:
    """Second-person approval (the preparer, or anyone who resolved its rows, cannot approve it)."""
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: releases.plan_approve(s, package)):
            return
        res = releases.approve(s, package)
    p = res.package
    if res.already:
        io().line(f"Package {p.package_id} was already approved by {p.approved_by} at {cell(p.approved_at)}")
    else:
        io().line(f"Approved package {p.package_id} (prepared by {p.prepared_by}, approved by {p.approved_by})")


@release_app.command("deliver")
def release_deliver(package: PackageArg, out: Annotated[Path, typer.Option("--out", help="the package folder")],
                    home: HomeOpt = None, as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Write the signed package folder (crash-safe). Delivered once; again to the same folder is a no-op."""
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: releases.plan_deliver(s, package, out)):
            return
        res = releases.deliver(s, package, out)
    io().line(f"{'Delivered to' if res.written else 'Already delivered at'} {res.folder}")


@release_app.command("verify")
def release_verify(folder: Path,
                   key: Annotated[str | None, typer.Option("--key", help="the agency's public key, inline or a file "
                                                           "(default: this home's)")] = None,
                   home: HomeOpt = None) -> None:
    """Check a delivered package with only the public key (what the recipient runs)."""
    if key is None:
        vkey = resolve(home_path(home)) / "keys" / "ledger.vkey"
        if not vkey.is_file():
            raise HomeError(f"no ledger key at {vkey}: pass --key (the agency's public key)")
        key = str(vkey)
    v = releases.verify(folder, overseer.load_verifier(key))
    io().line(f"OK: package {v.package_id}, {plural(v.rows, 'row')}, columns {', '.join(v.fields)}; signature, "
              "file hashes and ledger checkpoint verify")


@release_app.command("list")
def release_list(home: HomeOpt = None, as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """List packages with their state and who prepared, approved, delivered and recalled them."""
    with session(home, as_user, write=False) as s:
        found = releases.list_(s)
    if as_json:
        io().json(found)
        return
    io().table(("package", "batch", "agreement", "state", "rows", "prepared by", "approved by", "delivered at"),
               [(p.package_id, p.batch_id, p.agreement_id, p.state, p.rows, p.prepared_by, p.approved_by or "-",
                 p.delivered_at) for p in found])


@release_app.command("show")
def release_show(package: PackageArg, home: HomeOpt = None, as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """One package: its state and every step, who and when."""
    with session(home, as_user, write=False) as s:
        p = releases.show(s, package)
    if as_json:
        io().json(p)
        return
    io().line(f"Package {p.package_id}: {p.state}, {plural(p.rows, 'row')}", "bold")
    for label, value in (("batch", p.batch_id), ("run", p.run_id), ("agreement", p.agreement_id),
                         ("fields", ", ".join(("request_id", *p.fields))),
                         ("prepared", f"{p.prepared_by} at {cell(p.prepared_at)}"),
                         ("approved", f"{p.approved_by} at {cell(p.approved_at)}" if p.approved_by else "-"),
                         ("delivered", f"{cell(p.delivered_at)} to {p.delivered_to}" if p.delivered_at else "-"),
                         ("manifest sha256", p.manifest_sha256 or "-"),
                         ("recalled", f"{cell(p.recalled_at)} by {p.recalled_by}: {p.recall_reason}"
                          if p.recalled_at else "-")):
        io().line(f"  {label}: {value}")


@release_app.command("recall")
def release_recall(package: PackageArg, reason: Annotated[str, typer.Option("--reason", help="why")],
                   home: HomeOpt = None, as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Record that a package was recalled (a ledger event with reason and actor)."""
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: releases.plan_recall(s, package, reason)):
            return
        p = releases.recall(s, package, reason)
    io().line(f"Package {p.package_id} recalled")
