"""``dgate ledger ...`` and ``dgate accounting ...``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from disclosure_gate.app import accounting
from disclosure_gate.app import ledger as app_ledger
from disclosure_gate.errors import IntegrityError, NotFoundError
from disclosure_gate.secret import Secret
from disclosure_gate.store import files
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

ledger_app = typer.Typer(help="The append-only, verifiable ledger of decisions and events.", no_args_is_help=True)
witness_app = typer.Typer(help="Witnesses that cosign the agency's checkpoints (C2SP tlog-witness).",
                          no_args_is_help=True)
ledger_app.add_typer(witness_app, name="witness")
accounting_app = typer.Typer(help="Accounting of disclosures (6103(p)(3)).", no_args_is_help=True)
OutOpt = Annotated[Path | None, typer.Option("--out", help="also write it to this file")]


@ledger_app.command("key")
def key_cmd(home: HomeOpt = None, as_user: AsOpt = None) -> None:
    """Print the ledger's public verifier key (give it to overseers and recipients)."""
    with session(home, as_user, write=False) as s:
        io().plain(app_ledger.key(s))


def _outcomes(pub: app_ledger.Published) -> None:
    for w in pub.witnesses:
        io().note(f"witness {w.name}: {'ok, ' if w.ok else 'REFUSED or unreachable: '}{w.message}")


@ledger_app.command("checkpoint")
def checkpoint_cmd(out_file: OutOpt = None, home: HomeOpt = None, as_user: AsOpt = None,
                   dry_run: DryRunOpt = False) -> None:
    """Sign a checkpoint of the current tree, send it to the witnesses, print it with their cosignatures."""
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: app_ledger.plan_checkpoint(s)):
            return
        pub = app_ledger.checkpoint(s)
    _outcomes(pub)
    if out_file is not None:
        files.atomic_write(out_file, pub.cosigned)
    io().stdout.write(pub.cosigned)


@ledger_app.command("prove")
def prove_cmd(batch: Annotated[str, typer.Argument(metavar="BATCH")],
              request_id: Annotated[str, typer.Argument(metavar="REQUEST_ID")],
              policy_id: Annotated[str | None, typer.Option("--policy")] = None,
              out_file: Annotated[Path | None, typer.Option("--out", help="write the proof bundle (JSON) for "
                                                            "dgate-verify inclusion")] = None,
              as_json: JsonOpt = False, home: HomeOpt = None, as_user: AsOpt = None) -> None:
    """Print a decision's ledger entry, its inclusion proof and the checkpoint it is proved against."""
    with session(home, as_user, write=False) as s:
        bundle = app_ledger.prove(s, batch, request_id, policy_id)
    if out_file is not None:
        files.atomic_write(out_file, json.dumps(bundle, indent=2))
    if as_json:
        io().json(bundle)
        return
    io().line(f"entry {bundle['index']}", "bold")
    io().line(bundle["entry"])
    io().line("leaf hash", "bold")
    io().plain(bundle["leaf_hash"])
    io().line(f"inclusion proof (tree size {bundle['tree_size']}, {plural(len(bundle['proof']), 'hash', 'hashes')})",
              "bold")
    for p in bundle["proof"]:
        io().plain(p)
    io().line("checkpoint", "bold")
    io().stdout.write(bundle["checkpoint"])


@ledger_app.command("consistency")
def consistency_cmd(from_size: Annotated[int, typer.Option("--from", help="size of the older checkpoint (0: the "
                                                           "empty tree)")],
                    to_size: Annotated[int | None, typer.Option("--to", help="size of the newer checkpoint "
                                                                "(default: latest)")] = None,
                    out_file: OutOpt = None, home: HomeOpt = None, as_user: AsOpt = None) -> None:
    """A consistency proof between two signed checkpoints, for dgate-verify consistency or a witness."""
    with session(home, as_user, write=False) as s:
        bundle = app_ledger.consistency(s, from_size, to_size)
    text = json.dumps(bundle, indent=2)
    if out_file is not None:
        files.atomic_write(out_file, text + "\n")
    io().plain(text)


@ledger_app.command("verify")
def verify_cmd(home: HomeOpt = None, as_user: AsOpt = None) -> None:
    """Recompute the whole ledger and check stored state against it; name the first difference."""
    with session(home, as_user, write=False) as s:
        report = app_ledger.verify(s)
    if not report.ok:
        raise IntegrityError(f"ledger verification failed: {report.problem}")
    io().line(f"OK: {report.entries:,} entries and {plural(report.checkpoints, 'checkpoint')} verify; stored "
              "state agrees with the ledger")
    for n in report.notes:
        io().line(f"note: {n}")


@ledger_app.command("events")
def events_cmd(kind: Annotated[str | None, typer.Option("--kind", help="only this event kind")] = None,
               since: Annotated[str | None, typer.Option("--since", help="YYYY-MM-DD")] = None,
               limit: Annotated[int, typer.Option("--limit", min=1, max=1_000_000)] = 1000,
               as_json: JsonOpt = False, home: HomeOpt = None, as_user: AsOpt = None) -> None:
    """Browse ledger events (not decisions), oldest first."""
    with session(home, as_user, write=False) as s:
        found = app_ledger.events(s, kind, parse_date(since, "--since"), limit)
    if as_json:
        io().json(found)
        return
    skip = {"v", "idx", "type", "kind", "at", "actor"}
    io().table(("entry", "at", "kind", "actor", "details"),
               [(e["idx"], e.get("at", ""), e.get("kind"), e.get("actor", e.get("by", "")),
                 "; ".join(f"{k}={v}" for k, v in sorted(e.items()) if k not in skip)) for e in found])


@witness_app.command("add")
def witness_add(url: str, vkey: Annotated[str, typer.Argument(metavar="VKEY")], home: HomeOpt = None,
                as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Send every new checkpoint to a witness (its URL and cosignature verifier key)."""
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: app_ledger.plan_add_witness(s, url, vkey)):
            return
        pub = app_ledger.add_witness(s, url, vkey)
    _outcomes(pub)
    io().line("Witness added")


@witness_app.command("list")
def witness_list(home: HomeOpt = None, as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """The configured witnesses, the last size each cosigned, and the last refusal."""
    with session(home, as_user, write=False) as s:
        found = app_ledger.witnesses(s)
    if as_json:
        io().json(found)
        return
    io().table(("witness", "url", "cosigned size", "last error"),
               [(w["name"], w["url"], w["last_size"], w["last_error"] or "") for w in found])


@accounting_app.command("person")
def person_cmd(tin: Annotated[str, typer.Argument(metavar="TIN")], as_json: JsonOpt = False, home: HomeOpt = None,
               as_user: AsOpt = None) -> None:
    """Every disclosure of one person's information, with proofs (the look-up is recorded)."""
    with session(home, as_user, write=True) as s:
        records = accounting.person(s, Secret(tin))
    if as_json:
        io().json(records)
        return
    if not records:
        io().line("No disclosure of this person's information is recorded.")
        return
    for r in records:
        io().line(f"{r.delivered_at}  package {r.package_id}  request {r.request_id}", "bold")
        for label, value in (("recipient", r.recipient), ("agreement", r.agreement), ("authority", r.authority),
                             ("purpose", r.purpose), ("fields", ", ".join(r.fields)), ("batch", r.batch_id),
                             ("decided by", r.decided_by),
                             ("recalled", f"{r.recalled_at}: {r.recall_reason}" if r.recalled_at else "no"),
                             ("ledger entry", f"{r.index} (proof: {len(r.proof.get('proof', []))} hashes, tree size "
                                              f"{r.proof.get('tree_size', '-')})")):
            io().line(f"  {label}: {value}")


@accounting_app.command("report")
def report_cmd(year: Annotated[int, typer.Option("--year", min=1900, max=9999)], as_json: JsonOpt = False,
               home: HomeOpt = None, as_user: AsOpt = None) -> None:
    """What was delivered in a year, per agreement and recipient, with recalls (6103(p)(3)(C))."""
    with session(home, as_user, write=False) as s:
        lines = accounting.report(s, year)
    if as_json:
        io().json(lines)
        return
    if not lines:
        raise NotFoundError(f"nothing was delivered in {year}")
    io().table(("agreement", "recipient", "authority", "packages", "disclosures", "persons", "recalled packages",
                "recalled disclosures", "batches", "requests", "purposes"),
               [(x.agreement, x.recipient, x.authority, x.packages, x.disclosures, x.persons, x.recalled_packages,
                 x.recalled_disclosures, x.batches, x.requests, "; ".join(x.purposes)) for x in lines],
               title=f"Disclosures delivered in {year}")
