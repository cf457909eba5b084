"""Duplicate requests are decided once, on their best row (docs/policy.md, "Duplicate requests").

For any batch that asks for one person several times, with rows of mixed quality: if some row would be
disclosed on its own, exactly one row is disclosed, the earliest such row, and every other row of that
person carries DUPLICATE_REQUEST; if none would be, every row keeps its own reasons (no DUPLICATE_REQUEST).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apphelp import load_world, make_people
from disclosure_gate.app import requests

MINI = Path(__file__).parent / "fixtures" / "mini"
AS_OF = dt.date(2026, 6, 2)
# Rows asking for Jose Munoz (912561234, 55 ELM ST SPRINGFIELD IL 62704): lawful or not on their own.
VARIANTS = {
    "good": ("Jose", "Munoz", "912561234", "55 Elm St, Springfield IL 62704"),
    "good_no_tin": ("Jose", "Munoz", "", "55 Elm Street, Springfield, IL 62704"),
    "zip_only": ("Jose", "Munoz", "912561234", "62704"),
    "placeholder": ("Jose", "Munoz", "912561234", "Don't Care 12345"),
    "other_street": ("Jose", "Munoz", "912561234", "56 Elm St, Springfield IL 62704"),
    "wrong_state": ("Jose", "Munoz", "912561234", "55 Elm St, Springfield TX 62704"),
}
LAWFUL = {"good", "good_no_tin"}


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    root = tmp_path_factory.mktemp("dups")
    p = make_people(root / "home", {"officer": "officer"})
    load_world(p, MINI / "persons.csv", MINI / "addresses.csv", MINI / "agreement.yaml")
    p.root = root  # type: ignore[attr-defined]
    yield p
    p.close()


_counter = iter(range(10**6))


def decide(people, kinds: list[str]) -> list[tuple[str, str]]:
    n = next(_counter)
    path = people.root / f"batch{n}.csv"
    lines = ["request_id,first_name,last_name,tin,dob,address"]
    for i, k in enumerate(kinds):
        first, last, tin, addr = VARIANTS[k]
        dob = "1990-11-30" if not tin else ""
        lines.append(f'Q{n}-{i},{first},{last},{tin},{dob},"{addr}"')
    path.write_text("\n".join(lines) + "\n")
    bid = requests.submit(people.op, path, MINI / "manifest.yaml").batch.batch_id
    run = requests.process(people.op, bid, None, AS_OF).run
    return [(str(d), str(r)) for d, r in people.op.engine.fetchall(
        "SELECT decision, reasons FROM decisions WHERE run_id = ? ORDER BY _row", [run.run_id])]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(sorted(VARIANTS)), min_size=2, max_size=5))
def test_each_person_is_decided_once_on_the_earliest_lawful_row(people, kinds):
    got = decide(people, kinds)
    lawful = [i for i, k in enumerate(kinds) if k in LAWFUL]
    disclosed = [i for i, (d, _) in enumerate(got) if d == "DISCLOSE"]
    if lawful:
        assert disclosed == [lawful[0]], (kinds, got)
        # Every variant names the same person (by TIN and name, or by name, DOB and address), so every
        # other row is a duplicate, with its own reasons kept beside it.
        for i, (_, reasons) in enumerate(got):
            if i != lawful[0]:
                assert "DUPLICATE_REQUEST" in reasons, (kinds, got)
    else:
        assert not disclosed, (kinds, got)
        assert all("DUPLICATE_REQUEST" not in r for _, r in got), (kinds, got)


def test_a_complete_row_after_a_zip_only_row_is_the_one_disclosed(people):
    got = decide(people, ["zip_only", "good"])
    assert got[1] == ("DISCLOSE", "")
    assert got[0][0] == "DENY" and "DUPLICATE_REQUEST" in got[0][1] and "ADDRESS_INSUFFICIENT" in got[0][1]


def test_two_lawful_rows_disclose_the_first_only(people):
    got = decide(people, ["good", "good_no_tin"])
    assert got[0] == ("DISCLOSE", "") and got[1] == ("DENY", "DUPLICATE_REQUEST")
