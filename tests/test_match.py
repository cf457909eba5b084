"""The matcher's rules, one by one, on a tiny custodian snapshot (precision first)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from apphelp import load_world, make_people, submit_and_process
from disclosure_gate.pipeline import match

PERSONS = """tin,first_name,middle_name,last_name,name_suffix,dob,protected
100100001,ROBERT,,GARCIA LOPEZ,,1980-02-03,false
100100002,ANN,,SMITH-JONES,,1975-07-08,false
100100003,JOHN,,DOE,JR,1990-01-01,false
100100004,JOHN,,DOE,SR,1960-05-05,false
100100005,MARIA,,PEREZ,,1970-01-01,false
100100006,MARIA,,PEREZ,,1988-03-03,false
100100007,ZED,,QUIGLEY,,1985-09-09,true
100100008,PAT,,OTHER,,1970-01-01,false
100100009,PEDRO,,IBARRA,,1952-03-31,false
"""
ADDRESSES = """tin,street,city,state,zip,valid_from,valid_to
100100001,7252 N 15TH PKWY APT 102,BLAIRSTOWN,NJ,07825,2020-01-01,
100100001,5657 BARON RD,HUMBOLDT,KS,66748,2010-01-01,2021-12-31
100100001,12 OLD MILL RD,HUMBOLDT,KS,66748,2001-01-01,2009-12-31
100100002,400 WASHINGTON AVE,CHICAGO,IL,60601,2015-01-01,
100100003,77 PINE RD,SPRINGFIELD,IL,62704,2010-01-01,
100100004,77 PINE RD,SPRINGFIELD,IL,62704,2010-01-01,
100100005,9 ELM ST APT 1,SPRINGFIELD,IL,62704,2012-01-01,
100100006,9 ELM ST APT 2,SPRINGFIELD,IL,62704,2012-01-01,
100100007,1 LAKE DR,SPRINGFIELD,IL,62704,2010-01-01,
100100008,5 BEACH ST REAR,POWDER SPRINGS,GA,30127,2010-01-01,
100100009,24838 PEACH ST,POWDER SPRINGS,GA,30127,2010-01-01,
"""
MANIFEST = """agreement: AGR-T
requesting_official: Director
statutory_authority: 26 U.S.C. 6103(i)(2)
purpose: criminal investigation
taxable_periods: ["2024"]
submitted_at: 2026-06-01
"""
AGREEMENT = """id: AGR-T
recipient: Example
statutory_authority: 26 U.S.C. 6103(i)(2)
purposes: [criminal investigation]
disclose: [last_known_address]
valid_from: 2025-01-01
valid_to: 2030-01-01
status: active
"""

# (request_id, first, last, tin, dob, address) -> expected (decision, reasons)
CASES = [
    ("corroborated", "Roberto", "Garcia", "100-10-0001", "", "7252 North 15th Parkway #102, Blairstown NJ 07825",
     "DISCLOSE", ""),
    ("other_numbered_street", "Robert", "Lopez", "100100001", "", "7252 N 55th Pkwy Apt 102, Blairstown NJ 07825",
     "DENY", "ADDRESS_NOT_ON_FILE"),
    ("letter_typo_ok", "Ann", "Jones", "100100002", "", "400 Washingtn Ave, Chicago IL 60601", "DISCLOSE", ""),
    ("other_house_number", "Ann", "Smith", "100100002", "", "401 Washington Ave, Chicago IL 60601",
     "DENY", "ADDRESS_NOT_ON_FILE"),
    ("other_zip", "Ann", "Smith", "100100002", "", "400 Washington Ave, Chicago IL 60602",
     "DENY", "ADDRESS_NOT_ON_FILE"),
    ("past_within_lookback", "Robert", "Garcia", "100100001", "", "5657 Baron Road, Humboldt, Kansas 66748",
     "DISCLOSE", ""),
    ("past_beyond_lookback", "Robert", "Garcia", "100100001", "", "12 Old Mill Rd, Humboldt KS 66748",
     "DENY", "ADDRESS_NOT_ON_FILE"),
    ("unit_missing", "Maria", "Perez", "100100005", "", "9 Elm St, Springfield IL 62704", "REVIEW", "UNIT_MISMATCH"),
    ("name_control_mismatch", "Ann", "Brown", "100100002", "", "400 Washington Ave, Chicago IL 60601",
     "DENY", "TIN_NAME_MISMATCH"),
    ("jr_sr_no_dob", "John", "Doe", "", "", "77 Pine Rd, Springfield IL 62704", "DENY", "AMBIGUOUS_MATCH"),
    ("jr_with_dob", "John", "Doe", "", "1990-01-01", "77 Pine Rd, Springfield IL 62704", "DISCLOSE", ""),
    ("notin_dob_typo", "Maria", "Perez", "", "1988-03-04", "9 Elm St Apt 2, Springfield IL 62704",
     "REVIEW", "LOW_CONFIDENCE"),
    ("notin_dob_conflict", "Maria", "Perez", "", "1999-12-12", "9 Elm St Apt 2, Springfield IL 62704",
     "DENY", "NO_MATCH"),
    ("protected", "Zed", "Quigley", "100100007", "", "1 Lake Dr, Springfield IL 62704", "DENY", "PROTECTED_RECORD"),
    ("one_letter_other_real_street", "Pedro", "Ibarra", "100100009", "", "24838 Beach St, Powder Springs GA 30127",
     "DENY", "ADDRESS_NOT_ON_FILE"),
    ("one_letter_typo", "Pedro", "Ibarra", "100100009", "", "24838 Peahc St, Powder Springs GA 30127",
     "DISCLOSE", ""),
    ("tin_not_on_file", "Ann", "Smith", "123-45-6789", "", "400 Washington Ave, Chicago IL 60601", "DENY", "NO_MATCH"),
    ("directional_on_one_side", "Ann", "Smith", "100100002", "", "400 N Washington Ave, Chicago IL 60601",
     "REVIEW", "DIRECTIONAL_MISMATCH"),
    ("unit_designator_on_file_only", "Pat", "Other", "100100008", "", "5 Beach St, Powder Springs GA 30127",
     "REVIEW", "UNIT_MISMATCH"),
    ("cyrillic_lookalike_street", "Ann", "Smith", "100100002", "", "400 Wаshington Ave, Chicago IL 60601",
     "REVIEW", "MIXED_SCRIPT"),
    ("zero_width_in_name", "An​n", "Smith", "100100002", "", "400 Washington Ave, Chicago IL 60601",
     "REVIEW", "HIDDEN_CHARACTERS"),
]


@pytest.fixture(scope="module")
def decided(tmp_path_factory):
    root: Path = tmp_path_factory.mktemp("match")
    (root / "p.csv").write_text(PERSONS)
    (root / "a.csv").write_text(ADDRESSES)
    (root / "m.yaml").write_text(MANIFEST)
    (root / "g.yaml").write_text(AGREEMENT)
    people = make_people(root / "home")
    load_world(people, root / "p.csv", root / "a.csv", root / "g.yaml")
    rows = {}
    for c in CASES:  # one batch per case: the same person twice in a batch is a duplicate request
        req = root / f"{c[0]}.csv"
        req.write_text("request_id,first_name,last_name,tin,dob,address\n"
                       + ",".join([c[0], c[1], c[2], c[3], c[4], '"' + c[5] + '"']) + "\n")
        res = submit_and_process(people, req, root / "m.yaml", as_of=dt.date(2026, 6, 2))
        rows.update({r[0]: (r[1], r[2]) for r in people.op.engine.fetchall(
            "SELECT request_id, decision, reasons FROM decisions WHERE run_id = ?", [res.run.run_id])})
    people.close()
    return rows


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rule(decided, case):
    assert decided[case[0]] == (case[6], case[7])


def test_street_match_sql_is_pure():
    sql = match.street_match("x", "y")
    assert "x.a_street_name" in sql and "y.a_street_name" in sql and "[^0-9]" in sql


def test_ambiguous_candidates_break_ties_on_the_tin_not_on_scan_order() -> None:
    """A row without a TIN and several candidates: the candidate recorded is the exact-DOB one when there is
    exactly one, else the highest TIN, whatever order the candidates arrive in (replays compute the same facts;
    ``arg_max`` over a boolean returned whichever tied candidate it met first)."""
    from disclosure_gate.engine import Engine

    e = Engine()
    try:
        e.execute(f"CREATE TEMP TABLE {match.T_CAND} (_row BIGINT, person_tin VARCHAR, dob_class VARCHAR)")
        rows = [(1, f"{900000000 - i}", "none") for i in range(2000)]  # highest TIN first, lowest last
        rows += [(2, f"{100000000 + i}", "exact" if i == 700 else "year") for i in range(2000)]
        rows += [(3, f"{500000000 + i}", "exact") for i in range(50)] + [(3, "999999999", "none")]
        for r in rows:
            e.execute(f"INSERT INTO {match.T_CAND} VALUES (?, ?, ?)", list(r))
        got = {r[0]: r[1:] for r in e.fetchall(match.NOTIN_IDENTITY_SQL + " ORDER BY _row")}
    finally:
        e.close()
    assert got[1] == (0, 2000, "900000000")
    assert got[2] == (1, 2000, "100000700")
    assert got[3] == (50, 51, "500000049")
