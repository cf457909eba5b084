"""``dgate request``, ``dgate decisions export``, ``dgate evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from disclosure_gate.app import requests
from disclosure_gate.pipeline import reporting
from disclosure_gate.surfaces.cli.common import (
    AsOpt,
    DryRunOpt,
    HomeOpt,
    JsonOpt,
    Progress,
    dry_or,
    io,
    parse_date,
    plural,
    session,
)

request_app = typer.Typer(help="Request batches from a requesting agency.", no_args_is_help=True)
decisions_app = typer.Typer(help="Decisions of a processed batch.", no_args_is_help=True)
PolicyOpt = Annotated[str | None, typer.Option("--policy", help="Policy id (default: the agreement's). "
                                               "'seed-2025' is the UNSAFE 2025 baseline.")]
BatchArg = Annotated[str, typer.Argument(metavar="BATCH")]


@request_app.command("submit")
def request_submit(request_file: Path, manifest: Annotated[Path, typer.Option("--manifest", help="Manifest YAML")],
                   home: HomeOpt = None, as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Store a request batch; prints its batch id (same content -> same id)."""
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: requests.plan_submit(s, request_file, manifest)):
            return
        res = requests.submit(s, request_file, manifest)
    if res.ignored_columns:
        io().note(f"note: ignored unknown columns: {', '.join(res.ignored_columns)}")
    if res.folded_values:
        what = plural(res.folded_values, "distinct non-ASCII name or address", "distinct non-ASCII names or addresses")
        io().note(f"note: {what} went through Unicode folding")
    if not res.created:
        io().note(f"already submitted ({plural(res.batch.rows, 'row')}); nothing stored")
    else:
        io().note(f"stored {plural(res.batch.rows, 'row')}")
    io().plain(res.batch.batch_id)


@request_app.command("list")
def request_list(home: HomeOpt = None, as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """List batches and the policies they were processed under."""
    with session(home, as_user, write=False) as s:
        found = requests.list_(s)
    if as_json:
        io().json([{"batch": b, "runs": runs} for b, runs in found])
        return
    io().table(("batch", "agreement", "rows", "submitted", "by", "processed under"),
               [(b.batch_id, b.agreement_id or "-", b.rows, str(b.manifest.submitted_at), b.submitted_by or "",
                 ", ".join(sorted({r.policy_id for r in runs})) or "-") for b, runs in found])


def print_funnel(f: reporting.Funnel, title: str) -> None:
    io().table(("stage", "rows"), f.stages(), title=title)
    if f.resolved_disclose or f.resolved_deny:
        io().line(f"resolved in review: {f.resolved_disclose:,} DISCLOSE, {f.resolved_deny:,} DENY")
    if f.reasons:
        io().table(("reason", "rows"), list(f.reasons.items()), title="reasons")


@request_app.command("show")
def request_show(batch: BatchArg, home: HomeOpt = None, as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """A batch: status, its runs and the funnel of its primary run."""
    with session(home, as_user, write=False) as s:
        v = requests.show(s, batch)
    if as_json:
        io().json({"batch_id": v.batch.batch_id, "agreement": v.batch.agreement_id, "rows": v.batch.rows,
                   "status": v.status, "submitted_by": v.batch.submitted_by, "runs": v.runs, "funnel": v.funnel})
        return
    io().line(f"Batch {v.batch.batch_id}: {v.status}, {plural(v.batch.rows, 'row')}, agreement "
              f"{v.batch.agreement_id or '-'}", "bold")
    io().table(("run", "policy", "as of", "primary"),
               [(r.run_id, r.policy_label, r.as_of, "yes" if r.is_primary else "") for r in v.runs])
    if v.funnel is not None and v.primary is not None:
        print_funnel(v.funnel, f"{batch} under {v.primary.policy_id}")


@request_app.command("process")
def request_process(batch: BatchArg, policy_id: PolicyOpt = None,
                    as_of: Annotated[str | None, typer.Option("--as-of", help="Processing date YYYY-MM-DD "
                                                              "(default today)")] = None,
                    home: HomeOpt = None, as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Decide every row of a batch and print the funnel."""
    day = parse_date(as_of, "--as-of")
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: requests.plan_process(s, batch, policy_id, day)):
            return
        with Progress("deciding") as bar:
            s.progress = bar
            res = requests.process(s, batch, policy_id, day)
    if not res.created:
        io().note(f"batch already processed under {res.run.policy_id} on {res.run.as_of}; showing stored result")
    print_funnel(res.funnel, f"{batch} under {res.run.policy_id}" + (" (UNSAFE BASELINE)" if res.unsafe else ""))


@decisions_app.command("export")
def decisions_export(batch: BatchArg, out_file: Annotated[Path, typer.Option("--out", help="CSV or Parquet file")],
                     policy_id: PolicyOpt = None, home: HomeOpt = None, as_user: AsOpt = None,
                     dry_run: DryRunOpt = False) -> None:
    """Write request_id, decision, reasons, match_basis, policy, final_decision, resolved_by (no custodian data)."""
    with session(home, as_user, write=False) as s:
        if dry_or(dry_run, lambda: requests.plan_export(s, batch, out_file, policy_id)):
            return
        run = requests.export(s, batch, out_file, policy_id)
    io().line(f"Wrote {plural(run.rows, 'decision')} to {out_file}")


def evaluate_cmd(batch: BatchArg, truth: Annotated[Path, typer.Option("--truth", help="truth CSV from dgate synth")],
                 policy_id: PolicyOpt = None, as_json: JsonOpt = False, home: HomeOpt = None,
                 as_user: AsOpt = None) -> None:
    """Improper disclosures, recall of lawful disclosures, and review rate against a truth file."""
    with session(home, as_user, write=False) as s:
        run, ev = requests.evaluate(s, batch, truth, policy_id)
    if as_json:
        io().json({"rows": ev.rows, "improper_disclosures": ev.improper_disclosures, "recall": ev.recall,
                   "review_rate": ev.review_rate, "lawful_expected": ev.lawful_expected,
                   "lawful_disclosed": ev.lawful_disclosed, "unmatched_truth_rows": ev.unmatched_truth,
                   "policy": run.policy_id})
        return
    print_evaluation(ev, run.policy_id)


def print_evaluation(ev: reporting.Evaluation, policy_id: str) -> None:
    io().table(("category", "expected", "rows", "DISCLOSE", "REVIEW", "DENY"), ev.by_category,
               title=f"evaluation ({policy_id})")
    io().line(f"improper disclosures: {ev.improper_disclosures:,}", "bold red" if ev.improper_disclosures else None)
    io().line(f"recall of lawful disclosures: {ev.recall:.4f} ({ev.lawful_disclosed:,}/{ev.lawful_expected:,})")
    io().line(f"review rate: {ev.review_rate:.4f}")
