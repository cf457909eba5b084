"""``dgate init``, ``dgate doctor``, ``dgate synth``, ``dgate demo``."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Annotated

import typer

from disclosure_gate.app import demo as demo_mod
from disclosure_gate.app import home as app_home
from disclosure_gate.errors import UsageError
from disclosure_gate.surfaces.cli.common import DryRunOpt, HomeOpt, home_path, io, plural, root
from disclosure_gate.surfaces.cli.requests import print_funnel


def init_cmd(home: HomeOpt = None, dry_run: DryRunOpt = False) -> None:
    """Create the home folder, its database and the ledger keys (idempotent)."""
    if dry_run:
        io().line(app_home.plan_init(home_path(home)))
        return
    res = app_home.init(home_path(home), notify=io().note)
    io().line(f"{'Created' if res.created else 'Home already exists at'} {res.path}")
    io().line(f"ledger origin {res.origin}; public key: dgate ledger key")
    for line in res.recovered:
        io().note(f"recovered: {line}")
    if res.needs_admin:
        io().line("next: add the first admin with 'dgate user add NAME --role admin' (prints its token once)")


def doctor_cmd(home: HomeOpt = None, dry_run: DryRunOpt = False) -> None:
    """Migrate the home to this version, finish or clean what a crash left, and check permissions."""
    res = app_home.doctor(home_path(home), notify=io().note, dry_run=dry_run)
    for line in res.lines:
        io().line(line)
    io().line(f"OK: schema version {res.schema_version}")


def synth_cmd(persons: Annotated[int, typer.Option("--persons", min=1)],
              requests: Annotated[int, typer.Option("--requests", min=1)],
              out_dir: Annotated[Path, typer.Option("--out")],
              seed: Annotated[int, typer.Option("--seed")] = 7,
              fmt: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
              address_style: Annotated[str, typer.Option("--address-style", help="free, structured or mixed")]
              = "free") -> None:
    """Generate synthetic custodian data, an agreement, a manifest, requests and a truth file."""
    from disclosure_gate import synth

    if fmt not in ("csv", "parquet"):
        raise UsageError("--format must be csv or parquet")
    if address_style not in ("free", "structured", "mixed"):
        raise UsageError("--address-style must be free, structured or mixed")
    with io().err.status("Generating synthetic data..."):
        res = synth.generate(out_dir, persons=persons, requests=requests, seed=seed, fmt=fmt,
                             address_style=address_style)
    io().line(f"Wrote {plural(res.persons, 'person')}, {plural(res.addresses, 'address', 'addresses')}, "
              f"{plural(res.requests, 'request')} to {res.out_dir}")
    for k, v in res.files.items():
        io().line(f"  {k}: {v}")


def demo_cmd(full: Annotated[bool, typer.Option("--full", help="1.28 M requests x 20 M persons")] = False,
             home: HomeOpt = None,
             workdir: Annotated[Path | None, typer.Option("--workdir", help="where generated files go")] = None,
             serve: Annotated[bool, typer.Option("--serve", help="then start the console on the demo home")] = False,
             port: Annotated[int, typer.Option("--port")] = 8000) -> None:
    """The 2025 incident replayed: one batch under 6103i2 and under the unsafe seed-2025 baseline.

    The home is --home, else $DGATE_HOME, else ./dgate-demo; it is rebuilt on every run.
    """
    out = io()
    out.line("disclosure-gate demo: the 2025 incident, replayed", "bold")
    res = demo_mod.run_demo(home_path(home), full=full, workdir=workdir,
                            os_user=root().get("os_user") or getpass.getuser(),
                            os_uid=root().get("os_uid", os.getuid()), say=out.note)
    print_funnel(res.safe_funnel, "disclosure-gate (6103i2)")
    print_funnel(res.seed_funnel, "the 2025 process (seed-2025, UNSAFE baseline)")
    out.line("Against the truth file", "bold")
    out.line(f"disclosure-gate: {res.safe.improper_disclosures:,} improper disclosures, recall {res.safe.recall:.2%} "
             f"of lawful disclosures, review rate {res.safe.review_rate:.2%}")
    out.line(f"2025 process:    {res.seed.improper_disclosures:,} improper disclosures, recall {res.seed.recall:.2%}",
             "bold red")
    out.line("Final act: auditing the 2025 process's disclosures", "bold")
    a = res.audit
    out.line(f"Imported {a.checked:,} request rows and {a.disclosures:,} disclosures; audit {a.audit_id}")
    out.line(f"address never validated (the court's count):                 {a.court_count:,}")
    out.line(f"address actually insufficient or not on file (the agency's):  {a.agency_count:,}")
    out.line(f"improper under 26 U.S.C. 6103(i)(2) (policy 6103i2):          {a.flagged:,}", "bold red")
    out.line(f"demo home: {res.home}; files in {res.work}")
    if serve:
        out.line("Demo people (one-time passwords, shown once):", "bold")
        out.table(("user", "role", "password"), [(n, r, p) for n, (r, p) in res.people.items()])
        from disclosure_gate.surfaces.web import server

        server.serve(res.home, host="127.0.0.1", port=port, secure_cookies=False)
