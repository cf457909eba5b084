"""``dgate demo``: the 2025 incident, replayed on synthetic data, with and without disclosure-gate.

1. Generate an incident-shaped dataset (custodian records, an agreement, a
   manifest, a request batch, and a truth file).
2. Create the demo's people (an admin, an officer, an auditor, two reviewers, a
   preparer and an approver), each with a token and a one-time password.
3. Load the records (the operator), add the agreement (the officer), submit and
   process the batch under the default policy (6103i2) and under the unsafe
   ``seed-2025`` baseline (the operator).
4. Score both runs against the truth file.
5. Final act: import what seed-2025 disclosed as another system's log and audit
   it under 6103i2 (the auditor): the court's, the agency's and the improper counts.

The default size finishes in well under two minutes on two cores. ``--full``
runs at the incident's scale (1.28 M requests against 20 M persons).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from disclosure_gate.app import agreements, audits, records, requests, settings, users
from disclosure_gate.app.session import Credentials, Session, authenticate, session_for
from disclosure_gate.pipeline import reporting
from disclosure_gate.pipeline.reporting import Evaluation, Funnel
from disclosure_gate.remediation.audit import AuditResult
from disclosure_gate.store import files
from disclosure_gate.store.home import init_home

DEMO_PERSONS, DEMO_REQUESTS = 200_000, 40_000
FULL_PERSONS, FULL_REQUESTS = 20_000_000, 1_280_000
DEFAULT_DEMO_HOME = "./dgate-demo"
PEOPLE = (("demo-admin", "admin"), ("demo-officer", "officer"), ("demo-auditor", "auditor"),
          ("demo-reviewer-1", "reviewer"), ("demo-reviewer-2", "reviewer"), ("demo-preparer", "preparer"),
          ("demo-approver", "approver"))
AGENCY = "Internal Revenue Service (synthetic demo)"
CONTACT = ("Disclosure Office (synthetic demo), 1111 Constitution Ave NW, Washington, DC 20224; "
           "telephone 000-000-0000; Monday to Friday, 8 am to 5 pm")


@dataclass
class DemoResult:
    home: Path
    work: Path
    batch_id: str
    rows: int
    safe_funnel: Funnel
    seed_funnel: Funnel
    safe: Evaluation
    seed: Evaluation
    audit: AuditResult
    policy: str
    people: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (role, one-time password)


def demo_home(home: Path | None) -> Path:
    """``--home``, else ``$DGATE_HOME``, else ``./dgate-demo`` (a real ``./dgate-home`` is never touched)."""
    if home is not None:
        return Path(home)
    return Path(os.environ.get("DGATE_HOME") or DEFAULT_DEMO_HOME)


def _person(s: Session, token: str, name: str) -> Session:
    return session_for(s.home, authenticate(s.engine, s.home.path, Credentials(user=name, token=token)), s.notify)


def run_demo(home: Path | None, *, full: bool, workdir: Path | None, os_user: str, os_uid: int,
             say: Callable[[str], None], progress: Callable[[str, float], None] | None = None,
             size: tuple[int, int] | None = None) -> DemoResult:
    """The demo (``size`` = (persons, requests) overrides the default sizes, for tests)."""
    from disclosure_gate import synth

    persons, rows = size or ((FULL_PERSONS, FULL_REQUESTS) if full else (DEMO_PERSONS, DEMO_REQUESTS))
    home_path = demo_home(home)
    work = workdir if workdir is not None else home_path.parent / f"{home_path.name}-data"
    fmt = "parquet" if full else "csv"
    data = work / f"synth-{persons}-{rows}"
    if not (data / "truth.csv").exists():
        say(f"Generating {persons:,} synthetic persons and an incident-shaped batch of {rows:,} requests...")
        synth.generate(data, persons=persons, requests=rows, seed=2025, fmt=fmt)
    prepare_home(home_path)
    h, _ = init_home(home_path)
    files.atomic_write(h.path / ".dgate-demo", "this home was made by dgate demo and is rebuilt by it\n")
    from disclosure_gate.ledger import store as ledger

    ledger.ensure_keys(h.path)
    op = Session(h, authenticate(h.engine, h.path, Credentials(os_user=os_user, os_uid=os_uid)), say, progress)
    try:
        people = _people(op)
        tokens = {name: tok for name, (_, _, tok) in people.items()}
        officer = _person(op, tokens["demo-officer"], "demo-officer")
        auditor = _person(op, tokens["demo-auditor"], "demo-auditor")
        admin = _person(op, tokens["demo-admin"], "demo-admin")
        for key, value in (("agency_name", AGENCY), ("contact", CONTACT)):
            settings.set_(admin, key, value)
        ext = "parquet" if fmt == "parquet" else "csv"
        say("Loading, folding and standardizing custodian records...")
        records.load(op, data / f"persons.{ext}", data / f"addresses.{ext}")
        agreement = agreements.add(officer, data / "agreement.yaml").agreement
        sub = requests.submit(op, data / f"requests.{ext}", data / "manifest.yaml")
        bid = sub.batch.batch_id
        say(f"Batch {bid} ({sub.batch.rows:,} rows) under agreement {agreement.id}")
        safe = requests.process(op, bid, "6103i2")
        unsafe = requests.process(op, bid, "seed-2025")
        ev_safe = reporting.evaluate(op.engine, safe.run, data / "truth.csv")
        ev_seed = reporting.evaluate(op.engine, unsafe.run, data / "truth.csv")
        log = reporting.export_disclosure_log(op.engine, unsafe.run, work / "seed-2025-disclosure-log.csv")
        audit = audits.import_log(auditor, log, "csv", "6103i2", agreement.id)
        return DemoResult(home_path.absolute(), work, bid, sub.batch.rows, safe.funnel, unsafe.funnel, ev_safe,
                          ev_seed, audit, safe.run.policy_label,
                          {name: (role, pw) for name, (role, pw, _) in people.items()})
    finally:
        h.close()


def _people(op: Session) -> dict[str, tuple[str, str, str]]:
    """The demo's people on a fresh demo home: name -> (role, one-time password, token)."""
    out: dict[str, tuple[str, str, str]] = {}
    admin: Session | None = None
    for name, role in PEOPLE:
        res = users.add(admin or op, name, [role])
        assert res.token is not None
        if admin is None:
            admin = _person(op, res.token, name)
        password = "demo-" + secrets.token_urlsafe(9)
        users.set_password(_person(op, res.token, name), name, password)
        out[name] = (role, password, res.token)
    return out


def prepare_home(home_path: Path) -> None:
    """A demo home is rebuilt on every run; a folder that is not a demo home is never touched."""
    import shutil

    from disclosure_gate.errors import HomeError
    from disclosure_gate.store.home import DB_NAME

    marker = home_path / ".dgate-demo"
    if (home_path / DB_NAME).exists() and not marker.exists():
        raise HomeError(f"{home_path} is a disclosure-gate home that the demo did not create: choose another --home")
    if home_path.exists():
        if any(home_path.iterdir()) and not marker.exists():
            raise HomeError(f"{home_path} is not empty: choose another --home for the demo")
        shutil.rmtree(home_path)
