"""Release and remediation end to end, through the documented CLI.

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

from conftest import run_cli
from disclosure_gate.engine import Engine
from disclosure_gate.pipeline import policy
from disclosure_gate.remediation.release import neutralise_sql


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


def ok(*args, home):
    r = run_cli(*args, home=home)
    assert r.code == 0, (args, r.stdout, r.stderr)
    return r


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    data, home = root / "data", root / "home"
    ok("synth", "--persons", "20000", "--requests", "4000", "--out", data, "--seed", "5", home=None)
    (root / "weak.cedar").write_text(weak_policy_text())
    agreement = (data / "agreement.yaml").read_text() + "policy: weak-v1\n"
    (root / "agreement.yaml").write_text(agreement)
    ok("init", home=home)
    for user, role in (("alice", "preparer"), ("bob", "approver"), ("carol", "preparer"), ("carol", "approver")):
        ok("user", "add", user, "--role", role, home=home)
    ok("records", "load", "--persons", data / "persons.csv", "--addresses", data / "addresses.csv", home=home)
    ok("policy", "add", root / "weak.cedar", "--id", "weak-v1", home=home)
    ok("agreement", "add", root / "agreement.yaml", home=home)
    batch = ok("request", "submit", data / "requests.csv", "--manifest", data / "manifest.yaml",
               home=home).stdout.strip()
    ok("request", "process", batch, home=home)
    truth = {r["request_id"]: r for r in read(data / "truth.csv")}
    return root, data, home, batch, truth


def test_release_approve_deliver_verify_suspend_replay_incident(world):
    root, data, home, batch, truth = world
    assert run_cli("release", "prepare", batch, "--as", "bob", home=home).code == 6  # not a preparer
    assert run_cli("release", "prepare", batch, "--as", "mallory", home=home).code == 6  # unknown user
    package = ok("release", "prepare", batch, "--as", "carol", home=home).stdout.strip().splitlines()[-1]
    assert run_cli("release", "approve", package, "--as", "carol", home=home).code == 6  # own package
    ok("release", "approve", package, "--as", "bob", home=home)
    pkg = root / "delivered" / "pkg1"
    ok("release", "deliver", package, "--out", pkg, home=home)
    again = ok("release", "deliver", package, "--out", pkg, home=home)
    assert "Already delivered" in again.stdout
    assert sorted(p.name for p in pkg.iterdir()) == ["_COMPLETE", "data.csv", "data.parquet", "manifest.json",
                                                      "manifest.note"]
    key = root / "agency.pub"
    key.write_text(ok("ledger", "key", home=home).stdout)
    verified = run_cli("release", "verify", pkg, "--key", key)
    assert verified.code == 0 and "OK" in verified.stdout, verified.stderr

    # Only the permitted fields, only DISCLOSE decisions, no custodian identifiers.
    rows = list(read(pkg / "data.csv"))
    assert list(rows[0]) == ["request_id", "last_known_address"]
    assert len(rows) > 100
    persons_tins = {r["tin"] for r in read(data / "persons.csv")}
    text = (pkg / "data.csv").read_text()
    assert not any(t in text for t in list(persons_tins)[:2000])
    # The weak policy released addresses 6103(i)(2) forbids (not on file): the seed of the incident.
    released_improper = {r["request_id"] for r in rows if truth[r["request_id"]]["expected"] != "DISCLOSE"}
    assert released_improper

    # A tampered package fails the recipient's check.
    (pkg / "data.csv").write_text(text.replace(rows[0]["last_known_address"], "1 ELSEWHERE ST", 1))
    assert run_cli("release", "verify", pkg, "--key", key).code == 7
    (pkg / "data.csv").write_text(text)

    # A second batch, prepared before the court order, cannot be approved or delivered after it.
    sub = root / "requests2.csv"
    with (data / "requests.csv").open() as fh:
        lines = fh.readlines()
    sub.write_text("".join(lines[:400]))
    batch2 = ok("request", "submit", sub, "--manifest", data / "manifest.yaml", home=home).stdout.strip()
    ok("request", "process", batch2, home=home)
    package2 = ok("release", "prepare", batch2, "--as", "alice", home=home).stdout.strip().splitlines()[-1]
    suspended = ok("agreement", "suspend", "AGR-ICE-2025-01", "--reason", "court order", home=home)
    assert package in suspended.stdout  # what was already delivered, for recall
    assert run_cli("release", "approve", package2, "--as", "bob", home=home).code == 4
    # New batches under the suspended agreement are denied outright.
    sub3 = root / "requests3.csv"
    sub3.write_text("".join(lines[:1] + lines[400:600]))
    batch3 = ok("request", "submit", sub3, "--manifest", data / "manifest.yaml", home=home).stdout.strip()
    ok("request", "process", batch3, home=home)
    out3 = root / "d3.csv"
    ok("decisions", "export", batch3, "--out", out3, home=home)
    d3 = list(read(out3))
    assert {r["decision"] for r in d3} == {"DENY"} and all("AGREEMENT_INACTIVE" in r["reasons"] for r in d3)

    # Replay under the corrected policy finds every improper disclosure that was released.
    replay = ok("audit", "replay", "--policy", "6103i2", "--agreement", "AGR-ICE-2025-01", home=home)
    audit_id = replay.stdout.strip().splitlines()[-1]
    assert "ADDRESS_NOT_ON_FILE" in replay.stdout
    incident = ok("incident", "open", "--from-audit", audit_id, home=home)
    incident_id = incident.stdout.strip().splitlines()[-1]
    folder = home / "incidents" / incident_id
    recalled = {r["request_id"] for r in read(folder / "recall.csv")}
    assert released_improper <= recalled
    assert recalled <= {r["request_id"] for r in rows}  # only what was actually delivered
    letters = PdfReader(folder / "letters.pdf")
    assert len(letters.pages) >= 1
    assert "7431" in "".join(page.extract_text() for page in letters.pages[:3])
    html = (folder / "report.html").read_text()
    assert incident_id in html and "data:image/png;base64," in html
    status = ok("incident", "status", incident_id, home=home)
    assert "open" in status.stdout
    ok("incident", "certify", incident_id, "--destroyed-on", "2026-01-10", home=home)
    assert "certified" in ok("incident", "status", incident_id, home=home).stdout
    assert "OK" in ok("ledger", "verify", home=home).stdout


def test_audit_of_seed_2025_log_flags_every_improper_disclosure(world):
    root, data, home, batch, truth = world
    ok("request", "process", batch, "--policy", "seed-2025", home=home)
    seed_out = root / "seed.csv"
    ok("decisions", "export", batch, "--policy", "seed-2025", "--out", seed_out, home=home)
    seed = {r["request_id"]: r["decision"] for r in read(seed_out)}
    log = root / "seed-log.csv"
    with (data / "requests.csv").open() as src, log.open("w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, [*reader.fieldnames, "disclosed"])
        writer.writeheader()
        for r in reader:
            writer.writerow({**r, "disclosed": "true" if seed[r["request_id"]] == "DISCLOSE" else "false"})
    res = ok("audit", "import", log, "--format", "csv", "--policy", "6103i2", home=home)
    improper = {k for k, d in seed.items() if d == "DISCLOSE" and truth[k]["expected"] != "DISCLOSE"}
    assert len(improper) > 300
    flagged = int(re.search(r"([\d,]+) would not be disclosed", res.stdout).group(1).replace(",", ""))
    court = int(re.search(r"court's count\): ([\d,]+)", res.stdout).group(1).replace(",", ""))
    agency = int(re.search(r"agency's count\): ([\d,]+)", res.stdout).group(1).replace(",", ""))
    assert flagged >= len(improper)
    assert court > agency > 0
    audit_id = res.stdout.strip().splitlines()[-1]
    e = Engine(home / "dgate.duckdb", read_only=True)
    found = {r[0] for r in e.fetchall("SELECT request_id FROM audit_findings WHERE audit_id = ?", [audit_id])}
    e.close()
    assert improper <= found, f"{len(improper - found)} improper disclosures were not flagged"


@pytest.mark.parametrize("value, safe", [
    ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+1", "'+1"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("R0001", "R0001"), ("12 MAIN ST", "12 MAIN ST"),
])
def test_csv_injection_is_neutralised(engine, value, safe):
    assert engine.scalar(f"SELECT {neutralise_sql('v')} FROM (SELECT ?::VARCHAR AS v)", [value]) == safe


def test_cli_rejects_unknown_audit_format(tmp_path):
    r = run_cli("audit", "import", tmp_path / "x.csv", "--format", "xml", home=tmp_path / "h")
    assert r.code == 3 and "Traceback" not in r.stderr
