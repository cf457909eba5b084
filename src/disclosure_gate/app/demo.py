"""``dgate demo``: the 2025 incident, replayed on synthetic data, with and without disclosure-gate.

1. Generate an incident-shaped dataset (custodian records, an agreement, a
   manifest, a request batch, and a truth file).
2. Load it into a demo home, then submit and process the batch under the default
   policy (6103i2).
3. Process the same batch under the unsafe ``seed-2025`` baseline.
4. Print both funnels and the improper disclosures each one made.
5. Final act: import what seed-2025 disclosed as another system's log, audit
   it under 6103i2, and print the court's, the agency's and the improper counts.

The default size finishes in well under two minutes on two cores. ``--full``
runs at the incident's scale (1.28 M requests against 20 M persons).
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from disclosure_gate.ledger import store as ledger
from disclosure_gate.pipeline import batches, policy, records, reporting
from disclosure_gate.remediation import audit
from disclosure_gate.store.home import Home, init_home

DEMO_PERSONS, DEMO_REQUESTS = 200_000, 40_000
FULL_PERSONS, FULL_REQUESTS = 20_000_000, 1_280_000


def final_act(h: Home, batch_id: str, seed_run_id: str, agreement_id: str, work: Path,
              console: Console) -> audit.AuditResult:
    """Audit what the 2025 process disclosed, as if it were another system's log."""
    console.rule("[bold]Final act: auditing the 2025 process's disclosures")
    cols = ", ".join(f"r.{c}" for c in batches.REQUEST_COLUMNS if c not in ("street", "city", "state", "zip"))
    log = reporting.atomic_copy(
        h.engine, f"SELECT {cols}, (d.decision = 'DISCLOSE') AS disclosed FROM req_rows r JOIN decisions d "
        "ON d._row = r._row AND d.run_id = ? WHERE r.batch_id = ? ORDER BY r._row",
        work / "seed-2025-disclosure-log.csv", [seed_run_id, batch_id])
    res = audit.import_log(h.engine, log, policy.load_builtin("6103i2"), agreement_id=agreement_id)
    console.print(f"Imported {res.checked:,} request rows and {res.disclosures:,} disclosures from {log.name}; "
                  f"audit {res.audit_id}")
    console.print(f"address never validated (the court's count):                 {res.court_count:,}")
    console.print(f"address actually insufficient or not on file (the agency's):  {res.agency_count:,}")
    console.print(f"[bold red]improper under 26 U.S.C. 6103(i)(2) (policy 6103i2):          {res.flagged:,}[/]")
    return res


def run_demo(home: Path | None, *, full: bool, workdir: Path | None, console: Console,
             err: Console) -> dict[str, object]:
    from disclosure_gate import synth
    from disclosure_gate.surfaces.cli import main as cli

    persons, requests = (FULL_PERSONS, FULL_REQUESTS) if full else (DEMO_PERSONS, DEMO_REQUESTS)
    home_path = home if home is not None else Path("dgate-demo")
    work = workdir if workdir is not None else home_path.parent / f"{home_path.name}-data"
    fmt = "parquet" if full else "csv"
    started = time.perf_counter()
    console.rule("[bold]disclosure-gate demo: the 2025 incident, replayed")
    console.print(f"{requests:,} requests against {persons:,} persons. Files in {work}, home in {home_path}")
    data = work / f"synth-{persons}-{requests}"
    if not (data / "truth.csv").exists():
        with err.status("Generating synthetic custodian records and an incident-shaped request batch..."):
            synth.generate(data, persons=persons, requests=requests, seed=2025, fmt=fmt)
    h, _ = init_home(home_path)
    ledger.install(h.engine)
    ledger.ensure_keys(h.path)
    try:
        ext = "parquet" if fmt == "parquet" else "csv"
        with err.status("Loading and standardizing custodian records..."):
            records.load_records(h.engine, data / f"persons.{ext}", data / f"addresses.{ext}",
                                 on_swap=cli.snapshot_event)
        agreement, _ = cli.add_agreement(h, data / "agreement.yaml")
        sub = batches.submit(h.engine, data / f"requests.{ext}", data / "manifest.yaml")
        bid = sub.batch.batch_id
        console.print(f"Batch [bold]{bid}[/] ({sub.batch.rows:,} rows) under agreement {agreement.id}")
        safe = cli.process(h, bid, "6103i2", None)
        safe_funnel = reporting.funnel(h.engine, safe, cli.request_lawful(h, safe))
        cli.print_funnel(safe_funnel, "disclosure-gate (6103i2)")
        unsafe = cli.process(h, bid, "seed-2025", None)
        seed_funnel = reporting.funnel(h.engine, unsafe, True)
        cli.print_funnel(seed_funnel, "the 2025 process (seed-2025, UNSAFE baseline)")
        ev_safe = reporting.evaluate(h.engine, safe, data / "truth.csv")
        ev_seed = reporting.evaluate(h.engine, unsafe, data / "truth.csv")
        console.rule("[bold]Against the truth file")
        console.print(f"disclosure-gate: {ev_safe.improper_disclosures:,} improper disclosures, recall "
                      f"{ev_safe.recall:.2%} of lawful disclosures, review rate {ev_safe.review_rate:.2%}")
        console.print(f"2025 process:    [bold red]{ev_seed.improper_disclosures:,} improper disclosures[/], "
                      f"recall {ev_seed.recall:.2%}")
        result: dict[str, object] = {"batch": bid, "safe": ev_safe, "seed": ev_seed,
                                     "policy": policy.load_builtin("6103i2").label}
        result["audit"] = final_act(h, bid, unsafe.run_id, agreement.id, work, console)
        console.print(f"Done in {time.perf_counter() - started:.0f} s.")
        return result
    finally:
        h.close()
