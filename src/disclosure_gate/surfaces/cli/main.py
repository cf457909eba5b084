"""The ``dgate`` command line (Typer + Rich). I/O edge only: no decision logic here.

Every command takes ``--home DIR`` (or ``DGATE_HOME``; default ``./dgate-home``).
Errors from the package print as ``error[CODE]: message`` with the error's exit
code, never a traceback; mutating commands take ``--dry-run``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from disclosure_gate.engine import Engine
from disclosure_gate.errors import DgateError, InputError
from disclosure_gate.ledger import store as ledger
from disclosure_gate.pipeline import batches as batches_mod
from disclosure_gate.pipeline import decide, policy, records, reporting
from disclosure_gate.pipeline.documents import Agreement
from disclosure_gate.store import agreements as agreements_mod
from disclosure_gate.store.home import Home, init_home, open_home
from disclosure_gate.surfaces import verify as verify_cli
from disclosure_gate.surfaces.cli import ledger as cli_ledger
from disclosure_gate.surfaces.cli import release as cli_release

app = typer.Typer(name="dgate", help="disclosure-gate: lawful, explained, provable answers to bulk "
                  "disclosure requests.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
records_app = typer.Typer(help="Custodian records (the agency's own data).", no_args_is_help=True)
agreement_app = typer.Typer(help="Data-sharing agreements.", no_args_is_help=True)
request_app = typer.Typer(help="Request batches from a requesting agency.", no_args_is_help=True)
decisions_app = typer.Typer(help="Decisions of a processed batch.", no_args_is_help=True)
app.add_typer(records_app, name="records")
app.add_typer(agreement_app, name="agreement")
app.add_typer(request_app, name="request")
app.add_typer(decisions_app, name="decisions")
app.add_typer(cli_ledger.ledger_app, name="ledger")
app.add_typer(cli_ledger.accounting_app, name="accounting")
app.add_typer(verify_cli.app, name="verify", help="The overseer's verifier (same as dgate-verify).")
app.add_typer(cli_release.user_app, name="user")
app.add_typer(cli_release.policy_app, name="policy")
app.add_typer(cli_release.release_app, name="release")
app.add_typer(cli_release.audit_app, name="audit")
app.add_typer(cli_release.incident_app, name="incident")

out = Console()
err = Console(stderr=True)

HomeOpt = Annotated[Path | None, typer.Option("--home", help="Home folder (default: $DGATE_HOME or ./dgate-home).",
                                              show_default=False)]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Check and show what would happen; change nothing.")]
PolicyOpt = Annotated[str | None, typer.Option("--policy", help="Policy id (default: the agreement's, 6103i2). "
                                               "'seed-2025' is the UNSAFE 2025 baseline.")]

_root_home: list[Path | None] = [None]


@app.callback()
def _root(home: HomeOpt = None) -> None:
    _root_home[0] = home
    cli_ledger._root_home[0] = home
    cli_release._root_home[0] = home


def _home_path(home: Path | None) -> Path | None:
    return home if home is not None else _root_home[0]


def _open(home: Path | None) -> Home:
    return open_home(_home_path(home))


def _parse_date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option} must be a date as YYYY-MM-DD") from None


# -- init ---------------------------------------------------------------------------
@app.command("init")
def init_cmd(home: HomeOpt = None) -> None:
    """Create the home folder and its database (idempotent)."""
    h, created = init_home(_home_path(home))
    ledger.install(h.engine)
    keys = ledger.ensure_keys(h.path)
    out.print(f"{'Created' if created else 'Home already exists at'} {h.path}")
    out.print(f"ledger origin {keys.origin}; public key: dgate ledger key", highlight=False)
    h.close()


# -- records --------------------------------------------------------------------------
@records_app.command("load")
def records_load(persons: Annotated[Path, typer.Option("--persons", help="persons CSV or Parquet")],
                 addresses: Annotated[Path, typer.Option("--addresses", help="addresses CSV or Parquet")],
                 home: HomeOpt = None, dry_run: DryRunOpt = False) -> None:
    """Load a custodian snapshot (replaces the previous one atomically)."""
    h = _open(home)
    with err.status("Loading and standardizing custodian records..."):
        res = records.load_records(h.engine, persons, addresses, dry_run=dry_run, on_swap=snapshot_event)
    if res.dry_run:
        out.print(f"[dry run] would load snapshot {res.snapshot_id[:16]}: {res.persons:,} persons, "
                  f"{res.addresses:,} addresses" + (" (already current)" if res.unchanged else ""))
    elif res.unchanged:
        out.print(f"Snapshot {res.snapshot_id[:16]} is already current ({res.persons:,} persons, "
                  f"{res.addresses:,} addresses); nothing changed.")
    else:
        out.print(f"Loaded snapshot {res.snapshot_id[:16]}: {res.persons:,} persons, "
                  f"{res.addresses:,} addresses")
    h.close()


# -- agreements -----------------------------------------------------------------------
@agreement_app.command("add")
def agreement_add(file: Path, home: HomeOpt = None, dry_run: DryRunOpt = False) -> None:
    """Add a data-sharing agreement from a YAML file."""
    h = _open(home)
    agreement, created = add_agreement(h, file, dry_run=dry_run)
    cli_release.resolve_policy(h, agreement.policy)
    if dry_run:
        out.print(f"[dry run] agreement {agreement.id} is valid")
    elif created:
        out.print(f"Added agreement {agreement.id} ({agreement.status})")
    else:
        out.print(f"Agreement {agreement.id} already present with the same content")
    h.close()


def add_agreement(h: Home, file: Path, *, dry_run: bool = False) -> tuple[Agreement, bool]:
    """Store an agreement and its ledger event in one transaction."""
    with h.engine.transaction():
        agreement, created = agreements_mod.add_agreement(h.engine, file, dry_run=dry_run)
        if created:
            ledger.append_event(h.engine, "agreement_added", {
                "agreement_id": agreement.id, "recipient": agreement.recipient,
                "statutory_authority": agreement.statutory_authority})
    return agreement, created


@agreement_app.command("list")
def agreement_list(home: HomeOpt = None) -> None:
    """List agreements and their status."""
    h = _open(home)
    table = Table("id", "recipient", "authority", "status", "valid", "policy")
    today = dt.date.today()
    for a in agreements_mod.list_agreements(h.engine):
        status = a.status + ("" if a.active_on(today) or a.status != "active" else " (not in force today)")
        if a.suspended_on:
            status += f" since {a.suspended_on}"
        table.add_row(a.id, a.recipient, a.statutory_authority, status,
                      f"{a.valid_from} .. {a.valid_to or 'open'}", a.policy)
    out.print(table)
    h.close()


@agreement_app.command("suspend")
def agreement_suspend(agreement_id: Annotated[str, typer.Argument(metavar="ID")],
                      reason: Annotated[str, typer.Option("--reason", help="Why (e.g. the court order).")],
                      effective: Annotated[str | None, typer.Option("--effective", help="YYYY-MM-DD; default today")]
                      = None, home: HomeOpt = None, dry_run: DryRunOpt = False) -> None:
    """Suspend an agreement at once: no further processing, approval or delivery under it."""
    h = _open(home)
    day = _parse_date(effective, "--effective")
    with h.engine.transaction():
        a = agreements_mod.suspend_agreement(h.engine, agreement_id, reason, day, dry_run=dry_run)
        if not dry_run:
            ledger.append_event(h.engine, "agreement_suspended", {"agreement_id": a.id,
                                                                  "effective": str(a.suspended_on)})
    cli_release.print_delivered(h, a.id)
    out.print(f"{'[dry run] would suspend' if dry_run else 'Suspended'} agreement {a.id} "
              f"effective {a.suspended_on}")
    h.close()


# -- requests -------------------------------------------------------------------------
@request_app.command("submit")
def request_submit(request_file: Path,
                   manifest: Annotated[Path, typer.Option("--manifest", help="Manifest YAML")],
                   home: HomeOpt = None, dry_run: DryRunOpt = False) -> None:
    """Store a request batch; prints its batch id (same content -> same id)."""
    h = _open(home)
    res = batches_mod.submit(h.engine, request_file, manifest, dry_run=dry_run)
    if res.ignored_columns:
        err.print(f"note: ignored unknown columns: {', '.join(res.ignored_columns)}")
    if dry_run:
        err.print(f"[dry run] valid batch of {res.batch.rows:,} rows")
    elif not res.created:
        err.print(f"already submitted ({res.batch.rows:,} rows); nothing stored")
    else:
        err.print(f"stored {res.batch.rows:,} rows")
    out.print(res.batch.batch_id)
    h.close()


@request_app.command("list")
def request_list(home: HomeOpt = None) -> None:
    """List batches and whether they have been processed."""
    h = _open(home)
    table = Table("batch", "agreement", "rows", "submitted", "processed under")
    for b in batches_mod.list_batches(h.engine):
        pols = [str(r[0]) for r in h.engine.fetchall(
            "SELECT DISTINCT policy_id FROM runs WHERE batch_id = ? ORDER BY 1", [b.batch_id])]
        table.add_row(b.batch_id, b.agreement_id or "-", f"{b.rows:,}", str(b.manifest.submitted_at),
                      ", ".join(pols) or "-")
    out.print(table)
    h.close()


def resolve_policy(h: Home, batch_id: str, policy_id: str | None) -> policy.Policy:
    """The named policy, or the batch's agreement's policy (default 6103i2)."""
    if policy_id is None:
        batch = batches_mod.get_batch(h.engine, batch_id)
        agreement = agreements_mod.find_agreement(h.engine, batch.agreement_id)
        policy_id = agreement.policy if agreement else policy.BUILTIN_POLICIES[0]
    return cli_release.resolve_policy(h, policy_id)


STAGE_LABELS = {"standardize": "standardize names, TINs, addresses", "tin": "TIN path identity",
                "corroborate": "corroborate addresses", "notin": "no-TIN path identity",
                "facts": "batch hygiene and facts", "policy": "Cedar policy",
                "store": "store decisions and ledger leaves"}


def process(h: Home, batch_id: str, policy_id: str | None, as_of: dt.date | None, *,
            dry_run: bool = False, quiet: bool = False) -> decide.Run:
    pol = resolve_policy(h, batch_id, policy_id)
    if pol.unsafe and not quiet:
        err.print(f"[bold red]WARNING: policy '{pol.id}' is the UNSAFE 2025 baseline. It skips address "
                  "corroboration and is kept only for comparison. Never release under it.[/]")
    keys = ledger.load_keys(h.path)
    ledger.install(h.engine)

    def append(engine: Engine, run: decide.Run, table: str) -> None:
        ledger.append_decisions(engine, run.run_id, keys, source=table)

    if quiet:
        run = decide.process_batch(h.engine, batch_id, pol, as_of=as_of, dry_run=dry_run,
                                   primary=not pol.unsafe, on_store=append)
        if run.created:
            ledger.make_checkpoint(h.engine, keys)
        return run
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=err, transient=False) as prog:
        task = prog.add_task("deciding", total=len(STAGE_LABELS))

        def tick(stage: str) -> None:
            prog.update(task, advance=1, description=STAGE_LABELS.get(stage, stage))

        run = decide.process_batch(h.engine, batch_id, pol, as_of=as_of, dry_run=dry_run,
                                   primary=not pol.unsafe, progress=tick, on_store=append)
        if run.created:
            ledger.make_checkpoint(h.engine, keys)
        prog.update(task, completed=len(STAGE_LABELS), description="done")
    return run


def request_lawful(h: Home, run: decide.Run) -> bool:
    batch = batches_mod.get_batch(h.engine, run.batch_id)
    agreement = agreements_mod.find_agreement(h.engine, batch.agreement_id)
    return decide.request_facts(batch, agreement, run.as_of).lawful


def print_funnel(f: reporting.Funnel, title: str) -> None:
    table = Table(title=title, show_header=True)
    table.add_column("stage")
    table.add_column("rows", justify="right")
    for label, n in (("requested", f.requested), ("sufficient", f.sufficient),
                     ("identity confirmed", f.identity_confirmed),
                     ("address corroborated", f.address_corroborated),
                     ("DISCLOSE", f.disclose), ("REVIEW", f.review), ("DENY", f.deny)):
        table.add_row(label, f"{n:,}")
    out.print(table)
    if f.reasons:
        reasons = Table(title="reasons", show_header=True)
        reasons.add_column("reason")
        reasons.add_column("rows", justify="right")
        for code, n in f.reasons.items():
            reasons.add_row(code, f"{n:,}")
        out.print(reasons)


@request_app.command("process")
def request_process(batch: Annotated[str, typer.Argument(metavar="BATCH")], policy_id: PolicyOpt = None,
                    as_of: Annotated[str | None, typer.Option("--as-of", help="Processing date YYYY-MM-DD "
                                                              "(default today)")] = None,
                    home: HomeOpt = None, dry_run: DryRunOpt = False) -> None:
    """Decide every row of a batch and print the funnel."""
    h = _open(home)
    run = process(h, batch, policy_id, _parse_date(as_of, "--as-of"), dry_run=dry_run)
    if dry_run:
        out.print(f"[dry run] would decide {run.rows:,} rows of {batch} under {run.policy_id}")
        h.close()
        return
    if not run.created:
        err.print(f"batch already processed under {run.policy_id} on {run.as_of}; showing stored result")
    f = reporting.funnel(h.engine, run, request_lawful(h, run))
    print_funnel(f, f"{batch} under {run.policy_id}" + (" (UNSAFE BASELINE)" if run.policy_id in
                                                         policy.UNSAFE_POLICIES else ""))
    h.close()


def snapshot_event(engine: Engine, res: records.SnapshotResult) -> None:
    ledger.install(engine)
    ledger.append_event(engine, "snapshot_loaded", {"snapshot_id": res.snapshot_id, "persons": res.persons,
                                                    "addresses": res.addresses})


# -- decisions ------------------------------------------------------------------------
@decisions_app.command("export")
def decisions_export(batch: Annotated[str, typer.Argument(metavar="BATCH")],
                     out_file: Annotated[Path, typer.Option("--out", help="CSV or Parquet file")],
                     policy_id: PolicyOpt = None, home: HomeOpt = None) -> None:
    """Write request_id, decision, reasons, match_basis, policy (no custodian data)."""
    h = _open(home)
    run = decide.get_run(h.engine, batch, policy_id)
    n = reporting.export_decisions(h.engine, run, out_file)
    out.print(f"Wrote {n:,} decisions to {out_file}")
    h.close()


# -- evaluate ---------------------------------------------------------------------------
@app.command("evaluate")
def evaluate_cmd(batch: Annotated[str, typer.Argument(metavar="BATCH")],
                 truth: Annotated[Path, typer.Option("--truth", help="truth CSV from dgate synth")],
                 policy_id: PolicyOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False,
                 home: HomeOpt = None) -> None:
    """Improper disclosures, recall of lawful disclosures, and review rate against a truth file."""
    h = _open(home)
    run = decide.get_run(h.engine, batch, policy_id)
    ev = reporting.evaluate(h.engine, run, truth)
    if as_json:
        out.print_json(json.dumps({"rows": ev.rows, "improper_disclosures": ev.improper_disclosures,
                                   "recall": ev.recall, "review_rate": ev.review_rate,
                                   "lawful_expected": ev.lawful_expected,
                                   "lawful_disclosed": ev.lawful_disclosed,
                                   "unmatched_truth_rows": ev.unmatched_truth, "policy": run.policy_id}))
    else:
        print_evaluation(ev, run.policy_id)
    h.close()


def print_evaluation(ev: reporting.Evaluation, policy_id: str) -> None:
    table = Table("category", "expected", "rows", "DISCLOSE", "REVIEW", "DENY", title=f"evaluation ({policy_id})")
    for cat, exp, n, d, r, x in ev.by_category:
        style = "bold red" if exp != "DISCLOSE" and d else ""
        table.add_row(cat, exp, f"{n:,}", f"[{style}]{d:,}[/]" if style else f"{d:,}", f"{r:,}", f"{x:,}")
    out.print(table)
    out.print(f"improper disclosures: {ev.improper_disclosures:,}")
    out.print(f"recall of lawful disclosures: {ev.recall:.4f} ({ev.lawful_disclosed:,}/{ev.lawful_expected:,})")
    out.print(f"review rate: {ev.review_rate:.4f}")


# -- synth / demo -----------------------------------------------------------------------
@app.command("synth")
def synth_cmd(persons: Annotated[int, typer.Option("--persons", min=1)],
              requests: Annotated[int, typer.Option("--requests", min=1)],
              out_dir: Annotated[Path, typer.Option("--out")],
              seed: Annotated[int, typer.Option("--seed")] = 7,
              fmt: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
              address_style: Annotated[str, typer.Option("--address-style", help="free or structured")]
              = "free") -> None:
    """Generate synthetic custodian data, an agreement, a manifest, requests and a truth file."""
    from disclosure_gate import synth

    if fmt not in ("csv", "parquet"):
        raise InputError("--format must be csv or parquet")
    if address_style not in ("free", "structured", "mixed"):
        raise InputError("--address-style must be free or structured")
    with err.status("Generating synthetic data..."):
        res = synth.generate(out_dir, persons=persons, requests=requests, seed=seed, fmt=fmt,
                             address_style=address_style)
    out.print(f"Wrote {res.persons:,} persons, {res.addresses:,} addresses, {res.requests:,} requests to "
              f"{res.out_dir}")
    for k, v in res.files.items():
        out.print(f"  {k}: {v}")


@app.command("demo")
def demo_cmd(full: Annotated[bool, typer.Option("--full", help="1.28 M requests x 20 M persons")] = False,
             home: HomeOpt = None,
             workdir: Annotated[Path | None, typer.Option("--workdir", help="where generated files go")]
             = None) -> None:
    """Generate an incident-shaped dataset, run it under 6103i2 and seed-2025, print both funnels."""
    from disclosure_gate.app import demo

    demo.run_demo(_home_path(home), full=full, workdir=workdir, console=out, err=err)


def main() -> None:
    """Entry point: Typer handles usage errors; package errors print without a traceback."""
    debug = os.environ.get("DGATE_DEBUG") == "1"
    try:
        app()  # standalone mode: exits itself on success and on usage errors
    except DgateError as exc:
        err.print(f"[bold red]error[{exc.code}][/]: {escape(exc.message)}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        err.print(f"internal error: {type(exc).__name__} (set DGATE_DEBUG=1 for details)")
        sys.exit(70)


if __name__ == "__main__":  # pragma: no cover
    main()
