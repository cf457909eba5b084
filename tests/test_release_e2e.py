"""Release and remediation end to end, through the documented CLI, by authenticated people.

An agreement runs under a weaker policy version (no address corroboration,
like 2025). Its DISCLOSE rows are prepared, approved by a second person,
delivered and verified. Then the agreement is suspended, the past decisions
are replayed under 6103i2, an incident is opened, and the 2025 baseline's own
disclosures are audited as an imported log.
"""

from __future__ import annotations

import csv
import re

import pytest
from pypdf import PdfReader

from conftest import cli_people, run_cli
from disclosure_gate.engine import Engine
from disclosure_gate.pipeline import policy
from disclosure_gate.store.files import neutralise_cell, neutralise_sql

PEOPLE = {"officer": "officer", "auditor": "auditor", "alice": "preparer", "bob": "approver", "carol": "preparer",
          "dave": "approver", "rev1": "reviewer", "rev2": "reviewer"}


def weak_policy_text() -> str:
    """6103i2 without the address-corroboration requirement: the 2025 mistake as a policy version."""
    text = policy.builtin_text("6103i2")
    text = re.sub(r'@id\("ADDRESS_NOT_ON_FILE"\)\nforbid \(principal, action, resource\)\nwhen \{.*?\};\n', "",
                  text, flags=re.S)
    permit = text.index('@id("LAWFUL_DISCLOSURE")')
    text = text[:permit] + text[permit:].replace("  context.address_on_file &&\n", "")
    assert "ADDRESS_NOT_ON_FILE" not in text and "address_on_file" not in text[permit:]
    return text


def read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


class World:
    def __init__(self, root, data, home, tokens):
        self.root, self.data, self.home, self.tokens = root, data, home, tokens

    def run(self, *args, who=None):
        if who is None:
            return run_cli(*args, home=self.home)
        return run_cli(*args, "--as", who, home=self.home, token=self.tokens[who])

    def ok(self, *args, who=None):
        r = self.run(*args, who=who)
        assert r.code == 0, (args, r.stdout, r.stderr)
        return r


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    data, home = root / "data", root / "home"
    r = run_cli("synth", "--persons", "20000", "--requests", "4000", "--out", data, "--seed", "5")
    assert r.code == 0, r.stderr
    (root / "weak.cedar").write_text(weak_policy_text())
    (root / "agreement.yaml").write_text((data / "agreement.yaml").read_text() + "policy: weak-v1\n")
    assert run_cli("init", home=home).code == 0
    w = World(root, data, home, cli_people(home, PEOPLE))
    w.ok("records", "load", "--persons", data / "persons.csv", "--addresses", data / "addresses.csv")
    w.ok("policy", "add", root / "weak.cedar", "--id", "weak-v1", who="officer")
    w.ok("agreement", "add", root / "agreement.yaml", who="officer")
    w.ok("settings", "set", "agency_name", "Internal Revenue Service", who="officer")
    w.ok("settings", "set", "contact", "Disclosure Office, 1 Main St, Washington DC 20001, 555-0100", who="officer")
    w.batch = w.ok("request", "submit", data / "requests.csv", "--manifest", data / "manifest.yaml").stdout.strip()
    w.ok("request", "process", w.batch)
    w.truth = {r["request_id"]: r for r in read(data / "truth.csv")}
    return w


def test_release_approve_deliver_verify_suspend_replay_incident(world):
    w = world
    assert w.run("release", "prepare", w.batch, who="bob").code == 6  # not a preparer
    assert run_cli("release", "prepare", w.batch, "--as", "mallory", home=w.home, token="dgt_x").code == 8
    assert w.run("release", "prepare", w.batch).code == 6  # the operator is not a person
    package = w.ok("release", "prepare", w.batch, who="carol").stdout.strip().splitlines()[-1]
    assert w.run("release", "approve", package, who="carol").code == 6  # own package
    w.ok("release", "approve", package, who="bob")
    again = w.ok("release", "approve", package, who="dave")
    assert "already approved by bob" in again.stdout
    pkg = w.root / "delivered" / "pkg1"
    (w.root / "delivered").mkdir()
    w.ok("release", "deliver", package, "--out", pkg, who="carol")
    again = w.ok("release", "deliver", package, "--out", pkg, who="carol")
    assert "Already delivered" in again.stdout
    other = w.run("release", "deliver", package, "--out", w.root / "delivered" / "elsewhere", who="carol")
    assert other.code == 4 and str(pkg) in other.stderr
    assert sorted(p.name for p in pkg.iterdir()) == ["_COMPLETE", "data.csv", "data.parquet", "manifest.json",
                                                      "manifest.note"]
    key = w.root / "agency.pub"
    key.write_text(w.ok("ledger", "key").stdout)
    verified = run_cli("release", "verify", pkg, "--key", key)
    assert verified.code == 0 and "OK" in verified.stdout, verified.stderr

    # Only the permitted fields, only DISCLOSE decisions, no custodian identifiers.
    rows = list(read(pkg / "data.csv"))
    assert list(rows[0]) == ["request_id", "last_known_address"]
    assert len(rows) > 100
    persons_tins = {r["tin"] for r in read(w.data / "persons.csv")}
    text = (pkg / "data.csv").read_text()
    assert not any(t in text for t in list(persons_tins)[:2000])
    # The weak policy released addresses 6103(i)(2) forbids (not on file): the seed of the incident.
    released_improper = {r["request_id"] for r in rows if w.truth[r["request_id"]]["expected"] != "DISCLOSE"}
    assert released_improper

    # A tampered package, a missing file or an extra file fails the recipient's check.
    (pkg / "data.csv").write_text(text.replace(rows[0]["last_known_address"], "1 ELSEWHERE ST", 1))
    assert run_cli("release", "verify", pkg, "--key", key).code == 7
    (pkg / "data.csv").write_text(text)
    (pkg / "extra.txt").write_text("x")
    assert run_cli("release", "verify", pkg, "--key", key).code == 7
    (pkg / "extra.txt").unlink()
    parquet = (pkg / "data.parquet").read_bytes()
    (pkg / "data.parquet").unlink()
    assert run_cli("release", "verify", pkg, "--key", key).code == 7
    (pkg / "data.parquet").write_bytes(parquet)
    assert run_cli("release", "verify", w.root / "nowhere", "--key", key).code == 4

    # The accounting counts what was delivered, and names the package.
    report = w.ok("accounting", "report", "--year", "2026", "--json", who="auditor").stdout
    assert f'"disclosures": {len(rows)}' in report

    # A second batch, prepared before the court order, cannot be approved or delivered after it.
    sub = w.root / "requests2.csv"
    with (w.data / "requests.csv").open() as fh:
        lines = fh.readlines()
    sub.write_text("".join(lines[:400]))
    batch2 = w.ok("request", "submit", sub, "--manifest", w.data / "manifest.yaml").stdout.strip()
    w.ok("request", "process", batch2)
    package2 = w.ok("release", "prepare", batch2, who="alice").stdout.strip().splitlines()[-1]
    suspended = w.ok("agreement", "suspend", "AGR-ICE-2025-01", "--reason", "court order",
                     "--reference", "D. Mass. 26-cv-1", who="officer")
    assert package in suspended.stdout  # what was already delivered, for recall
    assert w.run("release", "approve", package2, who="bob").code == 4
    second = w.ok("agreement", "suspend", "AGR-ICE-2025-01", "--reason", "again", who="officer")
    assert package in second.stdout
    shown = w.ok("agreement", "show", "AGR-ICE-2025-01", "--json", who="officer").stdout
    assert "court order" in shown and "again" in shown and "D. Mass. 26-cv-1" in shown
    # New batches under the suspended agreement are denied outright.
    sub3 = w.root / "requests3.csv"
    sub3.write_text("".join(lines[:1] + lines[400:600]))
    batch3 = w.ok("request", "submit", sub3, "--manifest", w.data / "manifest.yaml").stdout.strip()
    w.ok("request", "process", batch3)
    out3 = w.root / "d3.csv"
    w.ok("decisions", "export", batch3, "--out", out3)
    d3 = list(read(out3))
    assert {r["decision"] for r in d3} == {"DENY"} and all("AGREEMENT_INACTIVE" in r["reasons"] for r in d3)

    # Replay under the corrected policy finds every improper disclosure that was released.
    replay = w.ok("audit", "replay", "--policy", "6103i2", "--agreement", "AGR-ICE-2025-01", who="auditor")
    audit_id = replay.stdout.strip().splitlines()[-1]
    assert "ADDRESS_NOT_ON_FILE" in replay.stdout
    incident = w.ok("incident", "open", "--from-audit", audit_id, who="auditor")
    incident_id = incident.stdout.strip().splitlines()[-1]
    folder = w.home / "incidents" / incident_id
    recalled = {r["request_id"] for r in read(folder / "recall.csv")}
    assert released_improper <= recalled
    assert recalled <= {r["request_id"] for r in rows}  # only what was actually delivered
    letters = PdfReader(folder / "letters.pdf")
    assert len(letters.pages) >= 1
    assert "7431" in letters.pages[-1].extract_text()
    html = (folder / "report.html").read_text()
    assert incident_id in html and "data:image/png;base64," in html and package in html
    # The same findings are never covered twice.
    assert w.run("incident", "open", "--from-audit", audit_id, who="auditor").code == 4
    status = w.ok("incident", "status", incident_id, who="auditor")
    assert "open" in status.stdout
    assert w.run("incident", "certify", incident_id, "--destroyed-on", "2020-01-10", who="auditor").code == 64
    w.ok("incident", "certify", incident_id, "--destroyed-on", status_date(w), who="auditor")
    assert w.run("incident", "certify", incident_id, "--destroyed-on", "2026-11-01", who="auditor").code in (4, 64)
    assert "certified" in w.ok("incident", "status", incident_id, who="auditor").stdout
    assert "OK" in w.ok("ledger", "verify").stdout


def status_date(w: World) -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).date().isoformat()


def test_audit_of_seed_2025_log_flags_every_improper_disclosure(world):
    w = world
    w.ok("request", "process", w.batch, "--policy", "seed-2025")
    seed_out = w.root / "seed.csv"
    w.ok("decisions", "export", w.batch, "--policy", "seed-2025", "--out", seed_out)
    seed = {r["request_id"]: r["decision"] for r in read(seed_out)}
    log = w.root / "seed-log.csv"
    with (w.data / "requests.csv").open() as src, log.open("w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, [*reader.fieldnames, "disclosed"])
        writer.writeheader()
        for r in reader:
            writer.writerow({**r, "disclosed": "true" if seed[r["request_id"]] == "DISCLOSE" else "false"})
    res = w.ok("audit", "import", log, "--format", "csv", "--policy", "6103i2", who="auditor")
    improper = {k for k, d in seed.items() if d == "DISCLOSE" and w.truth[k]["expected"] != "DISCLOSE"}
    assert len(improper) > 300
    denied = int(re.search(r"([\d,]+) would not be disclosed", res.stdout).group(1).replace(",", ""))
    review = int(re.search(r"([\d,]+) would need review", res.stdout).group(1).replace(",", ""))
    court = int(re.search(r"court's count\): ([\d,]+)", res.stdout).group(1).replace(",", ""))
    agency = int(re.search(r"agency's count\): ([\d,]+)", res.stdout).group(1).replace(",", ""))
    assert denied + review >= len(improper)
    assert court > agency > 0
    audit_id = res.stdout.strip().splitlines()[-1]
    e = Engine(w.home / "dgate.duckdb", read_only=True)
    found = {r[0] for r in e.fetchall("SELECT request_id FROM audit_findings WHERE audit_id = ?", [audit_id])}
    e.close()
    assert improper <= found, f"{len(improper - found)} improper disclosures were not flagged"


@pytest.mark.parametrize("value, safe", [
    ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+1", "'+1"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("R0001", "R0001"), ("12 MAIN ST", "12 MAIN ST"),
    ("-2+3+cmd", "'-2+3+cmd"), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
])
def test_csv_injection_is_neutralised_the_same_in_sql_and_python(engine, value, safe):
    assert engine.scalar(f"SELECT {neutralise_sql('v')} FROM (SELECT ?::VARCHAR AS v)", [value]) == safe
    assert neutralise_cell(value) == safe


def test_cli_rejects_unknown_audit_format(tmp_path):
    r = run_cli("audit", "import", tmp_path / "x.csv", "--format", "xml", home=tmp_path / "h")
    assert r.code in (2, 64) and "Traceback" not in r.stderr
