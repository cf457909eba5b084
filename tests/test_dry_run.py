"""Plan, then apply: every mutating command has --dry-run, and a dry run (like every read command) leaves the
home byte-for-byte unchanged. The test walks the Typer app, so a new command cannot slip through."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import pytest
import typer.main

from conftest import cli_people, run_cli
from disclosure_gate.engine import Engine
from disclosure_gate.surfaces.cli.main import app
from test_release_e2e import weak_policy_text

MINI = Path(__file__).parent / "fixtures" / "mini"
PEOPLE = {"officer": "officer", "auditor": "auditor", "rev1": "reviewer", "rev2": "reviewer", "alice": "preparer",
          "bob": "approver", "olga": "overseer"}
#: Commands that change no state the user asked to change: run as is, the home must stay byte-identical.
READ_ONLY = {
    "agreement list", "agreement show", "request list", "request show", "review list", "release list",
    "release show", "release verify", "audit show", "audit list", "audit findings", "incident status",
    "incident list", "ledger key", "ledger prove", "ledger consistency", "ledger verify", "ledger events",
    "ledger witness list", "accounting report", "user list", "policy list", "settings show", "evaluate",
    "verify checkpoint", "verify inclusion", "verify consistency",
}
#: Views of confidential values: they append an access event to the ledger (Pub 1075), so they write.
ACCESS_LOGGED = {"review show", "accounting person"}
#: Not about a home's state: synth writes a new folder; demo rebuilds its own home; serve runs a server.
EXEMPT = {"synth", "demo", "serve", "verify witness serve"}


def command_paths() -> dict[str, list[str]]:
    """Every leaf command -> its long option names."""
    out: dict[str, list[str]] = {}

    def walk(cmd, prefix):
        sub = getattr(cmd, "commands", None)
        if sub:
            for name, child in sub.items():
                walk(child, [*prefix, name])
        else:
            out[" ".join(prefix)] = [o for p in cmd.params for o in p.opts if o.startswith("--")]
    walk(typer.main.get_command(app), [])
    return out


class World:
    def __init__(self, root: Path):
        self.root, self.home, self.data = root, root / "home", root / "data"

    def run(self, *args, who=None, home=True):
        extra = ("--as", who) if who else ()
        return run_cli(*args, *extra, home=self.home if home else None,
                       token=self.tokens[who] if who else None)

    def ok(self, *args, who=None):
        r = self.run(*args, who=who)
        assert r.code == 0, (args, r.stdout, r.stderr)
        return r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    w = World(tmp_path_factory.mktemp("dry"))
    assert run_cli("synth", "--persons", "6000", "--requests", "1200", "--out", w.data, "--seed", "3").code == 0
    assert run_cli("init", home=w.home).code == 0
    w.tokens = cli_people(w.home, PEOPLE)
    (w.root / "weak.cedar").write_text(weak_policy_text())
    (w.root / "agreement.yaml").write_text((w.data / "agreement.yaml").read_text() + "policy: weak-v1\n")
    second = (MINI / "agreement.yaml").read_text()
    (w.root / "agreement2.yaml").write_text(second)
    (w.root / "agreement3.yaml").write_text(second.replace("AGR-1", "AGR-3"))
    w.ok("records", "load", "--persons", w.data / "persons.csv", "--addresses", w.data / "addresses.csv")
    w.ok("policy", "add", w.root / "weak.cedar", "--id", "weak-v1", who="officer")
    w.ok("agreement", "add", w.root / "agreement.yaml", who="officer")
    w.ok("agreement", "add", w.root / "agreement2.yaml", who="officer")
    w.ok("agreement", "suspend", "AGR-1", "--reason", "test", who="officer")
    w.ok("settings", "set", "agency_name", "Internal Revenue Service", who="officer")
    w.ok("settings", "set", "contact", "Disclosure Office, 1 Main St, Washington DC, 555-0100", who="officer")
    lines = (w.data / "requests.csv").read_text().splitlines(keepends=True)
    (w.root / "half1.csv").write_text("".join(lines[:601]))
    (w.root / "half2.csv").write_text("".join(lines[:1] + lines[601:]))
    w.batch = w.ok("request", "submit", w.root / "half1.csv", "--manifest", w.data / "manifest.yaml")
    w.batch2 = w.ok("request", "submit", w.root / "half2.csv", "--manifest", w.data / "manifest.yaml")
    for b in (w.batch, w.batch2):
        w.ok("request", "process", b)
    export = w.root / "d.csv"
    w.ok("decisions", "export", w.batch, "--out", export)
    review = [ln.split(",")[0] for ln in export.read_text().splitlines()[1:] if ",REVIEW," in ln]
    assert len(review) >= 2
    w.review_row = review[0]
    w.package = w.ok("release", "prepare", w.batch, who="alice")
    w.ok("release", "approve", w.package, who="bob")
    w.ok("release", "deliver", w.package, "--out", w.root / "out1", who="alice")
    w.package2 = w.ok("release", "prepare", w.batch2, who="alice")  # prepared, not approved
    w.disclosed = next(ln.split(",")[0] for ln in export.read_text().splitlines()[1:] if ",DISCLOSE," in ln)
    w.audit = w.ok("audit", "replay", "--policy", "6103i2", who="auditor")
    w.incident = w.ok("incident", "open", "--from-audit", w.audit, who="auditor")
    w.key = w.root / "agency.pub"
    w.key.write_text(run_cli("ledger", "key", home=w.home).stdout)
    assert run_cli("verify", "witness-key", "court.example/w", "--out", w.root / "w.key").code == 0
    w.witness_vkey = run_cli("verify", "witness-key", "court.example/w2", "--out", w.root / "w2.key").stdout.strip()
    (w.root / "cp.note").write_text(run_cli("ledger", "checkpoint", home=w.home).stdout)
    w.proof = w.root / "proof.json"
    w.ok("ledger", "prove", w.batch, w.disclosed, "--out", w.proof)
    (w.root / "log.csv").write_text("request_id,first_name,last_name,tin,address,disclosed\n"
                                    "L1,Ann,Smith,,\"1 Main St, Springfield IL 62704\",true\n")
    (w.root / "pw.txt").write_text("a-long-enough-password\n")
    return w


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (and every folder) with its content hash and mode."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        out[rel] += f":{p.stat().st_mode:o}"
    return out


def dry_args(w: World) -> dict[str, tuple[tuple, str | None]]:
    """command -> (arguments, the person running it) for a dry run that must succeed."""
    today = dt.datetime.now(dt.UTC).date().isoformat()
    return {
        "init": ((), None),
        "doctor": ((), None),
        "records load": (("--persons", w.data / "persons.csv", "--addresses", w.data / "addresses.csv"), None),
        "agreement add": ((w.root / "agreement3.yaml",), "officer"),
        "agreement suspend": (("AGR-ICE-2025-01", "--reason", "order"), "officer"),
        "agreement reinstate": (("AGR-1", "--reason", "lifted"), "officer"),
        "agreement terminate": (("AGR-ICE-2025-01", "--reason", "end"), "officer"),
        "agreement set-policy": (("AGR-ICE-2025-01", "--policy", "6103i2", "--reason", "fix"), "officer"),
        "request submit": ((MINI / "requests.csv", "--manifest", MINI / "manifest.yaml"), None),
        "request process": ((w.batch,), None),
        "decisions export": ((w.batch, "--out", w.root / "never.csv"), None),
        "review resolve": ((w.batch, w.review_row, "--decision", "DENY", "--reason", "r"), "rev1"),
        "release prepare": ((w.batch,), "alice"),
        "release approve": ((w.package2,), "bob"),
        "release deliver": ((w.package, "--out", w.root / "out1"), "alice"),
        "release recall": ((w.package, "--reason", "court"), "officer"),
        "audit replay": (("--policy", "6103i2"), "auditor"),
        "audit import": ((w.root / "log.csv", "--format", "csv"), "auditor"),
        "audit review": ((w.audit, "NO-SUCH-FINDING", "--verdict", "unlawful", "--reason", "x"), "auditor"),
        "incident open": (("--from-audit", w.audit, "--skip-covered"), "auditor"),
        "incident certify": ((w.incident, "--destroyed-on", today), "auditor"),
        "ledger checkpoint": ((), None),
        "ledger witness add": (("http://127.0.0.1:9/", w.witness_vkey), "officer"),
        "user add": (("newbie", "--role", "reviewer"), "admin"),
        "user token": (("rev1",), "admin"),
        "user revoke": (("rev2",), "admin"),
        "user password": (("rev1", "--password-stdin"), "rev1"),
        "policy add": ((w.root / "weak.cedar", "--id", "weak-v2"), "officer"),
        "settings set": (("processing", "automatic"), "officer"),
        "verify witness-key": (("court.example/w3", "--out", w.root / "w3.key"), None),
        "verify cosign": ((w.root / "cp.note", "--key", w.key, "--witness-key", w.root / "w.key", "--state",
                           w.root / "w.state"), None),
    }


#: Dry runs that stop at a documented refusal: still, they must touch nothing.
REFUSALS = {"audit review": 4, "incident open": 4}


def read_args(w: World) -> dict[str, tuple[tuple, str | None]]:
    return {
        "agreement list": ((), None), "agreement show": (("AGR-1",), None), "request list": ((), None),
        "request show": ((w.batch,), None), "review list": ((), "rev1"), "release list": ((), None),
        "release show": ((w.package,), None), "release verify": ((w.root / "out1", "--key", w.key), None),
        "audit show": ((w.audit,), None), "audit list": ((), None), "audit findings": ((w.audit,), None),
        "incident status": ((w.incident,), None), "incident list": ((), None), "ledger key": ((), None),
        "ledger prove": ((w.batch, w.disclosed), None), "ledger consistency": (("--from", "0"), None),
        "ledger verify": ((), None), "ledger events": ((), None), "ledger witness list": ((), None),
        "accounting report": (("--year", str(dt.datetime.now(dt.UTC).year)), None), "user list": ((), None),
        "policy list": ((), None), "settings show": ((), None),
        "evaluate": ((w.batch, "--truth", w.data / "truth.csv"), None),
        "verify checkpoint": ((w.root / "cp.note", "--key", w.key), None),
        "verify inclusion": ((w.proof, "--key", w.key), None),
    }


def test_every_command_is_classified():
    paths = command_paths()
    mutating = {p for p, opts in paths.items() if "--dry-run" in opts}
    unclassified = set(paths) - mutating - READ_ONLY - ACCESS_LOGGED - EXEMPT - {"verify consistency"}
    assert not unclassified, f"commands that are neither read-only nor have --dry-run: {sorted(unclassified)}"
    assert not (mutating & READ_ONLY), "a read-only command should not need --dry-run"


def test_dry_runs_touch_nothing(world, tmp_path):
    w = world
    paths = command_paths()
    mutating = sorted(p for p, opts in paths.items() if "--dry-run" in opts)
    cases = dry_args(w)
    assert set(mutating) <= set(cases), f"no dry-run case for {sorted(set(mutating) - set(cases))}"
    before = fingerprint(w.root)
    failures = []
    for command in mutating:
        args, who = cases[command]
        home = not command.startswith("verify ")
        stdin = "a-long-enough-password\n" if command == "user password" else None
        r = run_cli(*command.split(), *args, "--dry-run", *(("--as", who) if who else ()),
                    home=w.home if home else None, token=w.tokens[who] if who else None, stdin=stdin)
        if r.code != REFUSALS.get(command, 0):
            failures.append(f"{command}: exit {r.code}: {r.stderr.strip()[:200]}")
        elif command not in REFUSALS and "[dry run]" not in r.stdout:
            failures.append(f"{command}: no plan printed")
        after = fingerprint(w.root)
        if after != before:
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            failures.append(f"{command} --dry-run changed {changed[:5]}")
            before = after
    assert not failures, "\n".join(failures)


def test_read_commands_touch_nothing(world):
    w = world
    cases = read_args(w)
    assert READ_ONLY - {"verify consistency"} <= set(cases)
    before = fingerprint(w.root)
    for command, (args, who) in sorted(cases.items()):
        home = not command.startswith("verify ")
        r = run_cli(*command.split(), *args, *(("--as", who) if who else ()), home=w.home if home else None,
                    token=w.tokens[who] if who else None)
        assert r.code == 0, (command, r.stderr)
        assert fingerprint(w.root) == before, f"{command} changed the home"


def test_dry_run_of_submit_on_a_copy_stores_nothing_and_the_real_run_stores_it(world, tmp_path):
    w = world
    home = tmp_path / "home"
    shutil.copytree(w.home, home)
    r = run_cli("request", "submit", MINI / "requests.csv", "--manifest", MINI / "manifest.yaml", "--dry-run",
                home=home)
    assert r.code == 0 and "[dry run] store batch" in r.stdout
    e = Engine(home / "dgate.duckdb", read_only=True)
    n = e.scalar("SELECT count(*) FROM batches")
    e.close()
    assert run_cli("request", "submit", MINI / "requests.csv", "--manifest", MINI / "manifest.yaml",
                   home=home).code == 0
    e = Engine(home / "dgate.duckdb", read_only=True)
    assert e.scalar("SELECT count(*) FROM batches") == n + 1
    e.close()
