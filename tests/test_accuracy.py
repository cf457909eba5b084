"""End to end through the documented CLI: a generated batch of 20,000 rows.

Required outcome: 0 improper disclosures and recall >= 99% of lawful disclosures
under the default policy; the seed-2025 baseline on the same batch makes improper
disclosures (that is the incident). Runs the real `dgate` entry point.
"""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    from conftest import cli_people, run_cli

    root = tmp_path_factory.mktemp("accuracy")
    data, home = root / "data", root / "home"
    r = run_cli("synth", "--persons", "60000", "--requests", "20000", "--out", data, "--seed", "11")
    assert r.code == 0, r.stderr
    for args in (("init",), ("records", "load", "--persons", data / "persons.csv", "--addresses",
                              data / "addresses.csv")):
        r = run_cli(*args, home=home)
        assert r.code == 0, r.stderr
    tokens = cli_people(home, {"officer": "officer"})
    r = run_cli("agreement", "add", data / "agreement.yaml", "--as", "officer", home=home, token=tokens["officer"])
    assert r.code == 0, r.stderr
    r = run_cli("request", "submit", data / "requests.csv", "--manifest", data / "manifest.yaml", home=home)
    assert r.code == 0, r.stderr
    batch = r.stdout.strip()
    r = run_cli("request", "process", batch, home=home)
    assert r.code == 0, r.stderr
    assert "address corroborated" in r.stdout and "DISCLOSE" in r.stdout
    return root, data, home, batch


def evaluate(processed, *extra):
    from conftest import run_cli

    _, data, home, batch = processed
    r = run_cli("evaluate", batch, "--truth", data / "truth.csv", "--json", *extra, home=home)
    assert r.code == 0, r.stderr
    return json.loads(r.stdout)


def test_default_policy_zero_improper_and_high_recall(processed):
    ev = evaluate(processed)
    assert ev["rows"] == 20000 and ev["unmatched_truth_rows"] == 0
    assert ev["improper_disclosures"] == 0
    assert ev["recall"] >= 0.99
    assert ev["lawful_expected"] > 3000


def test_seed_2025_baseline_discloses_improperly_on_the_same_batch(processed):
    from conftest import run_cli

    _, _, home, batch = processed
    r = run_cli("request", "process", batch, "--policy", "seed-2025", home=home)
    assert r.code == 0 and "UNSAFE" in r.stderr
    ev = evaluate(processed, "--policy", "seed-2025")
    assert ev["improper_disclosures"] > 1000


def test_export_has_exactly_the_documented_columns_and_no_custodian_data(processed):
    import csv

    from conftest import run_cli

    root, data, home, batch = processed
    out = root / "decisions.csv"
    r = run_cli("decisions", "export", batch, "--out", out, home=home)
    assert r.code == 0, r.stderr
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["request_id", "decision", "reasons", "match_basis", "policy", "final_decision",
                            "resolved_by"]
    assert len(rows) == 20000
    assert {r["decision"] for r in rows} == {"DISCLOSE", "DENY", "REVIEW"}
    assert all((r["reasons"] == "") == (r["decision"] == "DISCLOSE") for r in rows)
    assert all(r["policy"].startswith("6103i2@sha256:") and len(r["policy"]) == len("6103i2@sha256:") + 64
               for r in rows)
    text = out.read_text()
    with (data / "persons.csv").open() as fh:
        tins = [row["tin"] for _, row in zip(range(200), csv.DictReader(fh), strict=False)]
    assert not any(t in text for t in tins)


def test_ledger_verifies_after_both_runs(processed):
    from conftest import run_cli

    _, _, home, _ = processed
    r = run_cli("ledger", "verify", home=home)
    assert r.code == 0 and "OK" in r.stdout, r.stderr
