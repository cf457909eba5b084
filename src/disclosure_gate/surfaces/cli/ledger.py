"""``dgate ledger ...`` and ``dgate accounting ...`` commands (I/O edge only)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from disclosure_gate.errors import IntegrityError, NotFoundError
from disclosure_gate.ledger import store
from disclosure_gate.ledger.verify import verify_ledger
from disclosure_gate.pipeline import decide
from disclosure_gate.remediation import accounting
from disclosure_gate.secret import Secret
from disclosure_gate.store.home import Home, open_home

ledger_app = typer.Typer(help="The append-only, verifiable ledger of decisions and events.", no_args_is_help=True)
accounting_app = typer.Typer(help="Accounting of disclosures (6103(p)(3)).", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

HomeOpt = Annotated[Path | None, typer.Option("--home", help="Home folder (default: $DGATE_HOME or ./dgate-home).",
                                              show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
_root_home: list[Path | None] = [None]


def _open(home: Path | None) -> tuple[Home, store.Keys]:
    h = open_home(home if home is not None else _root_home[0])
    store.install(h.engine)
    return h, store.load_keys(h.path)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


@ledger_app.command("key")
def key_cmd(home: HomeOpt = None) -> None:
    """Print the ledger's public verifier key (give it to overseers)."""
    h, keys = _open(home)
    out.print(keys.verifier_key, highlight=False, soft_wrap=True)
    h.close()


@ledger_app.command("checkpoint")
def checkpoint_cmd(home: HomeOpt = None,
                   out_file: Annotated[Path | None, typer.Option("--out", help="also write the note here")] = None
                   ) -> None:
    """Sign and print a checkpoint of the current tree (refuses if inconsistent with the last)."""
    h, keys = _open(home)
    cp = store.make_checkpoint(h.engine, keys)
    if out_file is not None:
        _write(out_file, cp.note)
    out.print(cp.note, end="", highlight=False, soft_wrap=True)
    h.close()


@ledger_app.command("prove")
def prove_cmd(batch: Annotated[str, typer.Argument(metavar="BATCH")],
              request_id: Annotated[str, typer.Argument(metavar="REQUEST_ID")],
              policy_id: Annotated[str | None, typer.Option("--policy")] = None,
              out_file: Annotated[Path | None, typer.Option("--out", help="write the proof bundle (JSON) for "
                                                            "dgate-verify inclusion")] = None,
              as_json: JsonOpt = False, home: HomeOpt = None) -> None:
    """Print a decision's ledger entry, its inclusion proof and the checkpoint it is proved against."""
    h, keys = _open(home)
    run = decide.get_run(h.engine, batch, policy_id)
    idx = store.find_decision_entry(h.engine, run.run_id, request_id)
    cp = store.checkpoint_covering(h.engine, idx) or store.make_checkpoint(h.engine, keys)
    bundle = store.inclusion_bundle(h.engine, idx, cp, keys)
    if out_file is not None:
        _write(out_file, json.dumps(bundle, indent=2))
    if as_json:
        out.print_json(json.dumps(bundle))
    else:
        out.print(f"[bold]entry {idx}[/]")
        out.print(bundle["entry"], highlight=False, soft_wrap=True)
        out.print(f"[bold]leaf hash[/] {bundle['leaf_hash']}")
        out.print(f"[bold]inclusion proof[/] (tree size {cp.size}, {len(bundle['proof'])} hashes)")
        for p in bundle["proof"]:
            out.print(f"  {p}")
        out.print("[bold]checkpoint[/]")
        out.print(cp.note, end="", highlight=False, soft_wrap=True)
    h.close()


@ledger_app.command("consistency")
def consistency_cmd(from_size: Annotated[int, typer.Option("--from", help="size of the older checkpoint")],
                    to_size: Annotated[int | None, typer.Option("--to", help="size of the newer checkpoint "
                                                                "(default: latest)")] = None,
                    out_file: Annotated[Path | None, typer.Option("--out")] = None, home: HomeOpt = None) -> None:
    """A consistency proof between two signed checkpoints, for dgate-verify consistency."""
    h, keys = _open(home)
    old = store.checkpoint_at(h.engine, from_size)
    new = store.checkpoint_at(h.engine, to_size) if to_size is not None else store.make_checkpoint(h.engine, keys)
    bundle = store.consistency_bundle(h.engine, old, new)
    text = json.dumps(bundle, indent=2)
    if out_file is not None:
        _write(out_file, text)
    out.print(text, highlight=False, soft_wrap=True)
    h.close()


@ledger_app.command("verify")
def verify_cmd(home: HomeOpt = None) -> None:
    """Recompute the whole ledger from storage; name the first bad entry, if any."""
    h, keys = _open(home)
    report = verify_ledger(h.engine, keys)
    h.close()
    if not report.ok:
        raise IntegrityError(f"ledger verification failed: {report.problem}")
    out.print(f"OK: {report.entries:,} entries and {report.checkpoints} checkpoints verify")
    for n in report.notes:
        out.print(f"note: {n}")


@accounting_app.command("person")
def person_cmd(tin: Annotated[str, typer.Argument(metavar="TIN")], as_json: JsonOpt = False,
               home: HomeOpt = None) -> None:
    """Every disclosure of one person's information, with inclusion proofs."""
    h, keys = _open(home)
    records = accounting.person_accounting(h.engine, keys, Secret(tin))
    h.close()
    if as_json:
        out.print_json(json.dumps([dataclasses.asdict(r) for r in records]))
        return
    if not records:
        out.print("No disclosures recorded for this person.")
        return
    table = Table("date", "recipient", "authority", "purpose", "fields", "request", "ledger entry",
                  title="Accounting of disclosures")
    for r in records:
        table.add_row(r.date, r.recipient, r.authority, r.purpose, ", ".join(r.fields), r.request_id,
                      f"{r.index} (proof: {len(r.proof['proof'])} hashes, size {r.proof['tree_size']})")
    out.print(table)


@accounting_app.command("report")
def report_cmd(year: Annotated[int, typer.Option("--year", min=1900, max=9999)], as_json: JsonOpt = False,
               home: HomeOpt = None) -> None:
    """Annual counts of requests, disclosures and persons per agreement and authority (6103(p)(3)(C))."""
    h, _ = _open(home)
    lines = accounting.annual_report(h.engine, year)
    h.close()
    if as_json:
        out.print_json(json.dumps([dataclasses.asdict(x) for x in lines]))
        return
    if not lines:
        raise NotFoundError(f"no requests submitted in {year}")
    table = Table("agreement", "recipient", "authority", "batches", "requests", "disclosures", "persons",
                  "purposes", title=f"Disclosure report {year}")
    for x in lines:
        table.add_row(x.agreement, x.recipient, x.authority, f"{x.batches:,}", f"{x.requests:,}",
                      f"{x.disclosures:,}", f"{x.persons:,}", "; ".join(x.purposes))
    out.print(table)
