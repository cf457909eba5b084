"""The review workflow end to end, through the CLI, by authenticated people.

A small custodian world and a batch built so that the policy sends rows to
review for every kind of reason (``UNIT_MISMATCH``, ``DIRECTIONAL_MISMATCH``,
``LOW_CONFIDENCE``, ``ADDRESS_SHARED_BY_MANY``), next to one policy DISCLOSE
and one policy DENY. Two reviewers (and a third who is also an approver)
resolve them; a preparer and an approver release the result; the accounting,
the ledger and a replay audit see the resolutions.

The tests of this module run in file order on one home (the workflow is a
sequence); each test names the rows it touches.

Most commands run in-process through the real Typer app (``dgate``, below:
the same ``run`` the entry point calls, with its own I/O), which keeps the
module fast; a few run as real subprocesses (``run_cli``) to check the entry
point itself.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import CliResult, run_cli
from disclosure_gate.surfaces.cli.common import IO, using_io
from disclosure_gate.surfaces.cli.main import run

FIXTURES = Path(__file__).parent / "fixtures" / "mini"


# -- helpers shared with test_people.py and test_authz.py -------------------------------------------
def dgate(home: Path, *args: object, who: str | None = None, token: str | None = None,
          stdin: str | None = None) -> CliResult:
    """Run one ``dgate`` command in this process through the real Typer app (``main.run``).

    ``who`` adds ``--as WHO``; ``token`` is what ``DGATE_TOKEN`` would hold (never a prompt: the
    root context says non-interactive); ``stdin`` feeds ``--password-stdin``.
    """
    assert "DGATE_TOKEN" not in os.environ
    out, err = io.StringIO(), io.StringIO()
    root: dict[str, object] = {"interactive": False}
    if token is not None:
        root["token"] = token
    if stdin is not None:
        root["stdin"] = stdin
    argv = ["--home", str(home), *(str(a) for a in args)] + (["--as", who] if who else [])
    value = IO(out, err, tty=False)
    with using_io(value, root):
        code = run(argv, value)
    return CliResult(code, out.getvalue(), err.getvalue())


#: The persons of the review world: (tin, first, last, dob, address on file).
PERSONS = [
    ("123456789", "MARIA", "GARCIA", "1984-03-07", "123 N MAIN ST APT 4"),  # R1: DISCLOSE by policy
    ("212345670", "PETER", "UNITSON", "1980-01-01", "10 OAK ST APT 5"),  # R2: unit on file only
    ("212345671", "LUCY", "DIRECTO", "1981-02-02", "100 N ELM ST"),  # R3: directional on file only
    ("212345672", "KARL", "LOWMAN", "1982-03-03", "7 BIRCH RD"),  # R4: DOB conflicts: LOW_CONFIDENCE
    ("212345673", "ZOE", "DENIED", "1983-04-04", "8 CEDAR RD"),  # R5: wrong surname: DENY by policy
    ("212345674", "IVAN", "UNITOV", "1984-05-05", "11 OAK ST APT 6"),  # R6: unit on file only
    ("212345675", "JANE", "UNITAS", "1985-06-06", "12 OAK ST APT 7"),  # R7: unit on file only
]
REQUESTS = [
    ("R1", "Maria", "Garcia", "123-45-6789", "", "123 N Main St Apt 4"),
    ("R2", "Peter", "Unitson", "212-34-5670", "", "10 Oak St"),
    ("R3", "Lucy", "Directo", "212-34-5671", "", "100 Elm St"),
    ("R4", "Karl", "Lowman", "212-34-5672", "1999-09-09", "7 Birch Rd"),
    ("R5", "Zoe", "Wrongname", "212-34-5673", "", "8 Cedar Rd"),
    ("R6", "Ivan", "Unitov", "212-34-5674", "", "11 Oak St"),
    ("R7", "Jane", "Unitas", "212-34-5675", "", "12 Oak St"),
]
SHELTER = "500 HOPE AVE"
EXPECTED = {"R1": ("DISCLOSE", ""), "R2": ("REVIEW", "UNIT_MISMATCH"), "R3": ("REVIEW", "DIRECTIONAL_MISMATCH"),
            "R4": ("REVIEW", "LOW_CONFIDENCE"), "R5": ("DENY", "TIN_NAME_MISMATCH"),
            "R6": ("REVIEW", "UNIT_MISMATCH"), "R7": ("REVIEW", "UNIT_MISMATCH")}


def shelter_tin(i: int) -> str:
    """A valid SSN per person: area 312, group 11.., serial 0001..9999."""
    return f"312{11 + i // 9999:02d}{1 + i % 9999:04d}"


def write_review_data(folder: Path, *, shelter: int = 5, threshold: int = 3, prefix: str = "S",
                      core: bool = True) -> dict[str, Path]:
    """Write persons, addresses, an agreement (``shared_address_threshold``), a manifest and a request file.

    The request file holds the core rows R1..R7 (``core``) and ``shelter`` rows ``{prefix}{i}`` requesting
    the one address on file of ``shelter`` different people (more than ``threshold``: every one of them is
    REVIEW ``ADDRESS_SHARED_BY_MANY``). The persons file always holds the persons of up to ``shelter`` rows.
    """
    folder.mkdir(parents=True, exist_ok=True)
    persons = ["tin,first_name,middle_name,last_name,name_suffix,dob,protected"]
    addresses = ["tin,street,city,state,zip,valid_from,valid_to"]
    for tin, first, last, dob, street in PERSONS:
        persons.append(f"{tin},{first},,{last},,{dob},false")
        addresses.append(f"{tin},{street},SPRINGFIELD,IL,62704,2020-01-01,")
    for i in range(shelter):
        tin = shelter_tin(i)
        persons.append(f"{tin},SAM,,SHELTER{_letters(i)},,1970-01-01,false")
        addresses.append(f"{tin},{SHELTER},SPRINGFIELD,IL,62704,2020-01-01,")
    requests = ["request_id,first_name,middle_name,last_name,tin,dob,address"]
    if core:
        for rid, first, last, tin, dob, street in REQUESTS:
            requests.append(f'{rid},{first},,{last},{tin},{dob},"{street}, Springfield, IL 62704"')
    for i in range(shelter):
        tin = shelter_tin(i)
        requests.append(f'{prefix}{i},Sam,,Shelter{_letters(i).lower()},{tin[:3]}-{tin[3:5]}-{tin[5:]},,'
                        '"500 Hope Ave, Springfield, IL 62704"')
    paths = {name: folder / name for name in ("persons.csv", "addresses.csv", "requests.csv", "agreement.yaml",
                                                "manifest.yaml")}
    paths["persons.csv"].write_text("\n".join(persons) + "\n")
    paths["addresses.csv"].write_text("\n".join(addresses) + "\n")
    paths["requests.csv"].write_text("\n".join(requests) + "\n")
    paths["agreement.yaml"].write_text((FIXTURES / "agreement.yaml").read_text()
                                       + f"shared_address_threshold: {threshold}\n")
    paths["manifest.yaml"].write_text((FIXTURES / "manifest.yaml").read_text())
    return paths


def _letters(i: int) -> str:
    """A distinct all-letter surname suffix per person (A, B, ..., Z, BA, BB, ...)."""
    out = ""
    i += 26  # at least two letters, so no surname is a prefix of another
    while i:
        i, r = divmod(i, 26)
        out = chr(65 + r) + out
    return out


# -- the world ------------------------------------------------------------------------------------------
PEOPLE = {"officer": "officer", "rev1": "reviewer", "rev2": "reviewer", "rev3": "reviewer", "alice": "preparer",
          "bob": "approver", "auditor": "auditor", "subrev": "officer"}


@dataclass
class World:
    root: Path
    home: Path
    data: dict[str, Path]
    tokens: dict[str, str]
    batch: str = ""
    package: str = ""

    def run(self, *args: object, who: str | None = None) -> CliResult:
        return dgate(self.home, *args, who=who, token=self.tokens[who] if who else None)

    def ok(self, *args: object, who: str | None = None) -> CliResult:
        r = self.run(*args, who=who)
        assert r.code == 0, (args, who, r.stdout, r.stderr)
        return r

    def json(self, *args: object, who: str | None = None) -> Any:
        return json.loads(self.ok(*args, "--json", who=who).stdout)

    def events(self, kind: str) -> list[dict[str, Any]]:
        found = self.json("ledger", "events", "--kind", kind, "--limit", "100000")
        assert isinstance(found, list)
        return found

    def cases(self, who: str = "rev1") -> dict[str, dict[str, Any]]:
        found = self.json("review", "list", self.batch, "--cases", "--limit", "1000", who=who)
        assert isinstance(found, list)
        return {str(c["request_id"]): c for c in found}

    def decisions(self) -> dict[str, dict[str, str]]:
        out = self.root / f"decisions-{len(list(self.root.glob('decisions-*')))}.csv"
        self.ok("decisions", "export", self.batch, "--out", out)
        with out.open(newline="") as fh:
            return {r["request_id"]: r for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("review")
    home = root / "home"
    data = write_review_data(root / "data")
    # The entry point itself: init and the first admin as real subprocesses.
    assert run_cli("init", home=home).code == 0
    first = run_cli("user", "add", "admin", "--role", "admin", home=home)
    assert first.code == 0, first.stderr
    tokens = {"admin": first.stdout.strip().splitlines()[-1]}
    w = World(root, home, data, tokens)
    for name, role in PEOPLE.items():
        tokens[name] = w.ok("user", "add", name, "--role", role, who="admin").stdout.strip().splitlines()[-1]
    w.ok("user", "add", "rev3", "--role", "approver", who="admin")  # a reviewer who is also an approver
    w.ok("user", "add", "subrev", "--role", "reviewer", who="admin")  # an officer who is also a reviewer
    w.ok("records", "load", "--persons", data["persons.csv"], "--addresses", data["addresses.csv"])
    w.ok("agreement", "add", data["agreement.yaml"], who="officer")
    w.batch = w.ok("request", "submit", data["requests.csv"], "--manifest", data["manifest.yaml"]).stdout.strip()
    w.ok("request", "process", w.batch)
    return w


# -- the queue ------------------------------------------------------------------------------------------
def test_the_batch_sends_each_kind_of_doubt_to_review(world: World) -> None:
    got = {rid: (d["decision"], d["reasons"]) for rid, d in world.decisions().items()}
    for rid, expected in EXPECTED.items():
        assert got[rid] == expected, rid
    for i in range(5):
        assert got[f"S{i}"] == ("REVIEW", "ADDRESS_SHARED_BY_MANY")


def test_review_list_groups_the_queue_by_reason_with_counts(world: World) -> None:
    groups = world.json("review", "list", world.batch, who="rev1")
    assert isinstance(groups, list)
    by_reason = {g["reason"]: g for g in groups}
    assert {r: g["rows"] for r, g in by_reason.items()} == {
        "ADDRESS_SHARED_BY_MANY": 5, "UNIT_MISMATCH": 3, "DIRECTIONAL_MISMATCH": 1, "LOW_CONFIDENCE": 1}
    assert all(g["batch_id"] == world.batch and g["claimed"] == 0 and g["awaiting_second"] == 0 for g in groups)
    text = world.ok("review", "list", who="rev1").stdout
    assert "UNIT_MISMATCH" in text and "total: 10 reason-rows" in text
    one = world.json("review", "list", world.batch, "--reason", "UNIT_MISMATCH", who="rev1")
    assert [(g["reason"], g["rows"]) for g in one] == [("UNIT_MISMATCH", 3)]
    cases = world.cases()
    assert sorted(cases) == ["R2", "R3", "R4", "R6", "R7", "S0", "S1", "S2", "S3", "S4"]  # no policy decisions
    assert cases["R4"]["reasons"] == ["LOW_CONFIDENCE"]
    # Officers and auditors may see the queue (no confidential values); the operator and a preparer may not.
    world.ok("review", "list", who="officer")
    world.ok("review", "list", who="auditor")
    assert world.run("review", "list").code == 6
    assert world.run("review", "list", who="alice").code == 6


# -- a case side by side ----------------------------------------------------------------------------------
def test_review_show_puts_the_case_side_by_side_for_reviewers_only_and_records_the_view(world: World) -> None:
    before = len(world.events("case_viewed"))
    view = world.json("review", "show", world.batch, "R2", who="rev1")
    assert isinstance(view, dict)
    assert view["reasons"] == ["UNIT_MISMATCH"] and view["decision"] == "REVIEW"
    fields = {c["field"]: c for c in view["comparisons"]}
    assert fields["last name"]["verdict"] == "exact"
    assert fields["unit"]["verdict"] in ("missing", "different") and fields["unit"]["on_file"]
    assert fields["TIN"]["requested"] == "***-**-5670"  # masked
    assert view["record"]["last_name"] == "UNITSON" and view["record"]["tin"] == "***-**-5670"
    assert [a["street"] for a in view["addresses"]] == ["10 OAK ST APT 5"]
    assert view["facts"]
    text = world.ok("review", "show", world.batch, "R2", who="rev1").stdout
    assert "UNIT_MISMATCH" in text and "10 OAK ST APT 5" in text
    assert "212345670" not in text and "212-34-5670" not in text  # the TIN is never shown whole

    # Each view is a ledger event naming the reviewer and the case.
    views = world.events("case_viewed")
    assert len(views) == before + 2
    assert all(v["actor"] == "rev1" and v["request_id"] == "R2" and v["batch_id"] == world.batch
               for v in views[before:])

    # Nobody but a reviewer sees the confidential values, and their attempts leave no view event.
    for who in ("alice", "bob", "auditor", "officer", "admin", None):
        r = world.run("review", "show", world.batch, "R2", who=who)
        assert r.code == 6, (who, r.stderr)
        assert "UNITSON" not in r.stdout + r.stderr and "10 OAK ST" not in r.stdout + r.stderr
    assert len(world.events("case_viewed")) == before + 2


def test_blind_review_hides_the_reasons_and_the_matchers_verdicts(world: World) -> None:
    view = world.json("review", "show", world.batch, "R4", "--blind", who="rev2")
    assert isinstance(view, dict)
    assert view["blind"] is True and view["reasons"] == [] and view["facts"] == {}
    assert view["comparisons"] and {c["verdict"] for c in view["comparisons"]} == {"hidden"}
    assert view["record"]["last_name"] == "LOWMAN"  # the values themselves are still side by side
    raw = json.dumps(view)
    assert "LOW_CONFIDENCE" not in raw
    text = world.ok("review", "show", world.batch, "R4", "--blind", who="rev2").stdout
    assert "LOW_CONFIDENCE" not in text and "reasons:" not in text
    assert "different" not in text and "exact" not in text


def test_a_claimed_case_shows_as_claimed_to_another_reviewer(world: World) -> None:
    r = world.ok("review", "show", world.batch, "R3", "--claim", who="rev2")
    assert "claimed by you until" in r.stdout
    assert world.cases("rev1")["R3"]["claimed_by"] == "rev2"
    groups = {g["reason"]: g for g in world.json("review", "list", world.batch, who="rev1")}
    assert groups["DIRECTIONAL_MISMATCH"]["claimed"] == 1
    taken = world.run("review", "show", world.batch, "R3", "--claim", who="rev1")
    assert taken.code == 4 and "claimed by rev2" in taken.stderr
    # A claim is advisory: rev2 claiming again renews it; it is no lock on resolutions (checked below).
    world.ok("review", "show", world.batch, "R3", "--claim", who="rev2")


# -- resolutions ------------------------------------------------------------------------------------------
def test_disclose_needs_two_different_reviewers(world: World) -> None:
    first = world.ok("review", "resolve", world.batch, "R2", "--decision", "DISCLOSE", "--reason",
                     "unit is the only difference; same person", who="rev1")
    assert "REVIEW 1" in first.stdout and "second reviewer" in first.stdout
    assert world.cases()["R2"]["votes"] == ["rev1"]
    again = world.run("review", "resolve", world.batch, "R2", "--decision", "DISCLOSE", "--reason", "again",
                      who="rev1")
    assert again.code == 6 and "second reviewer" in again.stderr
    assert world.decisions()["R2"]["final_decision"] == "REVIEW"
    second = world.ok("review", "resolve", world.batch, "R2", "--decision", "DISCLOSE", "--reason", "agree",
                      who="rev2")
    assert "DISCLOSE 1" in second.stdout
    assert "R2" not in world.cases()
    row = world.decisions()["R2"]
    assert row["final_decision"] == "DISCLOSE" and "rev1" in row["resolved_by"] and "rev2" in row["resolved_by"]
    # Once decided, nobody resolves it again, whatever they say.
    late = world.run("review", "resolve", world.batch, "R2", "--decision", "DENY", "--reason", "late",
                     who="rev3")
    assert late.code == 4 and "already resolved" in late.stderr


def test_deny_takes_effect_with_one_reviewer(world: World) -> None:
    r = world.ok("review", "resolve", world.batch, "R4", "--decision", "DENY", "--reason", "DOB conflicts",
                 who="rev1")
    assert "DENY 1" in r.stdout
    assert world.decisions()["R4"]["final_decision"] == "DENY"
    after = world.run("review", "resolve", world.batch, "R4", "--decision", "DISCLOSE", "--reason", "no",
                      who="rev2")
    assert after.code == 4
    assert world.decisions()["R4"]["final_decision"] == "DENY"


def test_policy_decisions_cannot_be_resolved(world: World) -> None:
    before = len(world.events("review_resolved"))
    for rid, decision in (("R5", "DISCLOSE"), ("R5", "DENY"), ("R1", "DENY")):
        r = world.run("review", "resolve", world.batch, rid, "--decision", decision, "--reason", "try",
                      who="rev1")
        assert r.code == 4 and "only REVIEW rows can be resolved" in r.stderr, (rid, r.stderr)
    assert world.decisions()["R5"]["final_decision"] == "DENY"
    assert len(world.events("review_resolved")) == before


def test_group_resolution_by_address_records_each_row_as_its_own_event(world: World) -> None:
    before = len(world.events("review_resolved"))
    dry = world.ok("review", "resolve", world.batch, "--address-of", "S0", "--decision", "DENY", "--reason",
                   "a shelter", "--dry-run", who="rev2")
    assert "5 rows" in dry.stdout
    assert len(world.events("review_resolved")) == before
    r = world.ok("review", "resolve", world.batch, "--address-of", "S0", "--decision", "DENY", "--reason",
                 "a shelter", who="rev2")
    assert "Resolved 5 rows DENY" in r.stdout and "(group G" in r.stdout
    events = world.events("review_resolved")[before:]
    assert sorted(e["request_id"] for e in events) == ["S0", "S1", "S2", "S3", "S4"]
    assert len({e["group"] for e in events}) == 1 and events[0]["group"]
    assert all(e["actor"] == "rev2" and e["decision"] == "DENY" and e["reason"] == "a shelter" for e in events)
    final = world.decisions()
    assert all(final[f"S{i}"]["final_decision"] == "DENY" for i in range(5))


def test_group_resolution_by_reason(world: World) -> None:
    before = len(world.events("review_resolved"))
    # R2 (UNIT_MISMATCH) is already decided: the group is the pending rows with the reason.
    r = world.ok("review", "resolve", world.batch, "--with-reason", "UNIT_MISMATCH", "--decision", "DISCLOSE",
                 "--reason", "units are not recorded by the requester", who="rev1")
    assert "Resolved 2 rows DISCLOSE" in r.stdout
    events = world.events("review_resolved")[before:]
    assert sorted(e["request_id"] for e in events) == ["R6", "R7"]
    assert world.cases()["R6"]["votes"] == ["rev1"]
    # The same reviewer cannot complete the pair: refused for the whole group, nothing recorded.
    twice = world.run("review", "resolve", world.batch, "--with-reason", "UNIT_MISMATCH", "--decision",
                      "DISCLOSE", "--reason", "again", who="rev1")
    assert twice.code == 6
    assert len(world.events("review_resolved")) == before + 2
    # rev3 (a reviewer who is also an approver) is the second reviewer.
    world.ok("review", "resolve", world.batch, "--with-reason", "UNIT_MISMATCH", "--decision", "DISCLOSE",
             "--reason", "agree", who="rev3")
    final = world.decisions()
    assert final["R6"]["final_decision"] == "DISCLOSE" and final["R7"]["final_decision"] == "DISCLOSE"
    assert len(world.events("review_resolved")) == before + 4


def test_claims_are_advisory_and_resolving_clears_them(world: World) -> None:
    # R3 is claimed by rev2 (above); rev1 may still resolve it, then rev2 agrees.
    world.ok("review", "resolve", world.batch, "R3", "--decision", "DISCLOSE", "--reason", "same building",
             who="rev1")
    world.ok("review", "resolve", world.batch, "R3", "--decision", "DISCLOSE", "--reason", "agree", who="rev2")
    assert world.decisions()["R3"]["final_decision"] == "DISCLOSE"
    assert world.cases() == {}  # the queue of this batch is empty
    assert world.json("review", "list", world.batch, who="rev1") == []
    assert "The review queue is empty." in world.ok("review", "list", world.batch, who="rev1").stdout


# -- release, accounting, ledger, audit -----------------------------------------------------------------------
def test_release_holds_the_resolved_rows_and_no_resolver_approves_it(world: World) -> None:
    prepared = world.ok("release", "prepare", world.batch, who="alice")
    assert "5 rows (4 resolved in review)" in prepared.stdout
    world.package = prepared.stdout.strip().splitlines()[-1]
    # rev3 holds the approver role but resolved rows of this package (R6, R7).
    refused = world.run("release", "approve", world.package, who="rev3")
    assert refused.code == 6 and "resolved review rows" in refused.stderr
    assert world.run("release", "approve", world.package, who="alice").code == 6  # the preparer
    world.ok("release", "approve", world.package, who="bob")
    out = world.root / "outbox"
    out.mkdir()
    world.ok("release", "deliver", world.package, "--out", out / "pkg", who="alice")
    with (out / "pkg" / "data.csv").open(newline="") as fh:
        rows = {r["request_id"]: r for r in csv.DictReader(fh)}
    assert sorted(rows) == ["R1", "R2", "R3", "R6", "R7"]  # R1 by policy; R2, R3, R6, R7 by two reviewers each
    assert rows["R2"]["last_known_address"].startswith("10 OAK ST APT 5")
    events = {e["package_id"]: e for e in world.events("release_prepared")}
    assert events[world.package]["from_review"] == 4 and events[world.package]["actor"] == "alice"


def test_accounting_names_both_reviewers(world: World) -> None:
    records = world.json("accounting", "person", "212-34-5670", who="auditor")
    assert isinstance(records, list) and len(records) == 1
    rec = records[0]
    assert rec["request_id"] == "R2" and rec["package_id"] == world.package
    assert "rev1" in rec["decided_by"] and "rev2" in rec["decided_by"]
    policy_only = world.json("accounting", "person", "123-45-6789", who="auditor")
    assert [r["request_id"] for r in policy_only] == ["R1"]
    assert "rev1" not in policy_only[0]["decided_by"] and "rev2" not in policy_only[0]["decided_by"]


def test_ledger_verifies_and_every_resolution_is_in_it(world: World) -> None:
    r = world.ok("ledger", "verify")
    assert r.stdout.startswith("OK")
    resolved = world.events("review_resolved")
    pairs = sorted((e["request_id"], e["actor"], e["decision"]) for e in resolved)
    assert pairs == sorted([("R2", "rev1", "DISCLOSE"), ("R2", "rev2", "DISCLOSE"), ("R4", "rev1", "DENY"),
                            *[(f"S{i}", "rev2", "DENY") for i in range(5)],
                            ("R6", "rev1", "DISCLOSE"), ("R7", "rev1", "DISCLOSE"),
                            ("R6", "rev3", "DISCLOSE"), ("R7", "rev3", "DISCLOSE"),
                            ("R3", "rev1", "DISCLOSE"), ("R3", "rev2", "DISCLOSE")])
    # The real entry point agrees.
    assert run_cli("ledger", "verify", home=world.home).code == 0


def test_a_replay_audit_counts_the_resolved_rows_as_disclosures(world: World) -> None:
    r = world.ok("audit", "replay", "--policy", "6103i2", who="auditor")
    audit_id = r.stdout.strip().splitlines()[-1]
    findings = world.json("audit", "findings", audit_id, who="auditor")
    assert isinstance(findings, list)
    # Under the same policy the resolved rows still need review (not unlawful): they are review findings.
    by_request = {f["request_id"]: f["finding"] for f in findings}
    assert by_request == {"R2": "review", "R3": "review", "R6": "review", "R7": "review"}
    shown = world.json("audit", "show", audit_id, who="auditor")
    assert isinstance(shown, dict)
    assert shown["review_count"] == 4 and shown["flagged"] == 0
    # The audit's own count of the disclosures it checked includes the rows resolved DISCLOSE in review.
    assert shown["disclosures"] == 5, "R1 by policy plus R2, R3, R6, R7 by two reviewers"


def test_nobody_resolves_rows_of_a_batch_they_submitted(world: World) -> None:
    data = write_review_data(world.root / "data2", shelter=4, prefix="T", core=False)
    batch = world.ok("request", "submit", data["requests.csv"], "--manifest", data["manifest.yaml"],
                     who="subrev").stdout.strip()
    world.ok("request", "process", batch)
    pending = world.json("review", "list", batch, "--cases", who="rev1")
    assert sorted(c["request_id"] for c in pending) == ["T0", "T1", "T2", "T3"]
    r = world.run("review", "resolve", batch, "T0", "--decision", "DENY", "--reason", "mine", who="subrev")
    assert r.code == 6 and "submitted this batch" in r.stderr
    world.ok("review", "resolve", batch, "T0", "--decision", "DENY", "--reason", "another reviewer", who="rev1")


def test_a_row_that_identified_no_one_can_only_be_denied() -> None:
    """Whatever a policy sends to review: a row with no identified person (match basis NONE: no match, or
    several candidates) cannot be resolved DISCLOSE, since its release would have to guess whose record."""
    from disclosure_gate.errors import StateError
    from disclosure_gate.pipeline import review

    def case(basis: str) -> review.Case:
        return review.Case("run", "B1", 1, "R1", "REVIEW", ("AMBIGUOUS_MATCH",), "REVIEW", (), basis)

    review.check_resolvable(case("NONE"), "DENY")
    for basis in ("TIN", "NAME_DOB_ADDRESS"):
        review.check_resolvable(case(basis), "DISCLOSE")
    with pytest.raises(StateError, match="identifies no one person"):
        review.check_resolvable(case("NONE"), "DISCLOSE")
