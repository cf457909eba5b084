"""Look-alike letters and invisible characters through the whole pipeline (intake, folding, match, policy).

1. Thirty requests ask for one institution's address (on file for all thirty persons, each row with the
   person's TIN and name), each spelled with a different Latin letter replaced by a Cyrillic or Greek
   look-alike, a whole word in another script, fullwidth forms, or zero-width and bidi characters. With the
   agreement's ``shared_address_threshold`` at 25, no row may be DISCLOSE: every one is REVIEW, and the group
   is not split (every row carries ADDRESS_SHARED_BY_MANY).
2. A property over small lawful batches: inserting invisible characters or look-alikes into names and
   addresses never increases the number of DISCLOSE rows and never lowers the number of rows flagged
   ADDRESS_SHARED_BY_MANY.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from apphelp import People, make_people
from disclosure_gate.app import agreements, records, requests
from disclosure_gate.pipeline.standardize.fold import fold_text

MANIFEST = """agreement: AGR-1
requesting_official: Director
statutory_authority: "26 U.S.C. 6103(i)(2)"
purpose: criminal investigation
taxable_periods: ["2024"]
submitted_at: 2026-06-01
"""


def agreement(threshold: int) -> str:
    return f"""id: AGR-1
recipient: Example Agency
statutory_authority: "26 U.S.C. 6103(i)(2)"
purposes: [criminal investigation]
disclose: [last_known_address]
valid_from: 2025-01-01
valid_to: 2030-12-31
status: active
shared_address_threshold: {threshold}
"""


INSTITUTION = "1200 Peace Ocean Harbor Road, Springfield, IL 62704"
INSTITUTION_ON_FILE = "1200 PEACE OCEAN HARBOR RD,SPRINGFIELD,IL,62704"
#: Latin letter -> a Cyrillic or Greek look-alike (each folds back to the letter: checked below).
LOOKALIKES = {
    "e": "е", "o": "о", "a": "а", "p": "р", "c": "с", "i": "і", "s": "ѕ", "h": "һ", "d": "ԁ", "y": "у",
    "P": "Р", "O": "О", "H": "Н", "R": "Ꭱ", "S": "Ѕ", "I": "І", "L": "Ⅼ", "C": "С", "E": "Е", "A": "А",
}
GREEK = {"o": "ο", "P": "Ρ", "O": "Ο", "H": "Η", "I": "Ι", "E": "Ε", "A": "Α", "v": "ν"}
INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e", "\u202d", "\u2066", "\u034f")


def csv_line(*values: str) -> str:
    return ",".join('"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\n') else v for v in values)


def tin(n: int) -> str:
    return f"2345{n:05d}"


def attack_addresses() -> list[str]:
    """Thirty spellings of the institution's address, each different from every other."""
    out: list[str] = []
    letters = [(i, ch) for i, ch in enumerate(INSTITUTION) if ch in LOOKALIKES]
    for i, ch in letters[:14]:  # one Cyrillic letter in each, at a different place
        out.append(INSTITUTION[:i] + LOOKALIKES[ch] + INSTITUTION[i + 1:])
    greek = [(i, ch) for i, ch in enumerate(INSTITUTION) if ch in GREEK]
    for i, ch in greek[:6]:  # one Greek letter
        out.append(INSTITUTION[:i] + GREEK[ch] + INSTITUTION[i + 1:])
    out.append(INSTITUTION.replace("Peace", "Реасе"))  # a whole word in Cyrillic: not mixed within the word
    out.append(INSTITUTION.replace("Ocean", "Ｏｃｅａｎ"))  # fullwidth forms
    out.append(INSTITUTION.replace("Harbor", "ＨＡＲＢＯＲ"))
    for k, mark in enumerate(INVISIBLE[:7]):  # zero-width and bidi characters inside words
        word = ("Peace", "Ocean", "Harbor", "Road", "Springfield", "Peace", "Harbor")[k]
        out.append(INSTITUTION.replace(word, word[:2] + mark + word[2:] + ("\u202c" if mark in "\u202e\u202d" else "")))
    assert len(out) == 30 and len(set(out)) == 30
    return out


@pytest.mark.parametrize("spelling", attack_addresses())
def test_every_attack_spelling_folds_to_the_institution(spelling: str) -> None:
    """The attack really is a look-alike: folded, it is the address on file (so a split group is a bug)."""
    assert spelling != INSTITUTION
    folded = fold_text(spelling)
    assert folded.text.upper() == INSTITUTION.upper()


@pytest.fixture(scope="module")
def institution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[People, Path]]:
    root = tmp_path_factory.mktemp("fold")
    persons = ["tin,first_name,middle_name,last_name,name_suffix,dob,protected"]
    addresses = ["tin,street,city,state,zip,valid_from,valid_to"]
    for n in range(1, 51):
        persons.append(f"{tin(n)},PERSON{chr(64 + (n % 26) + 1)},,RESIDENT{n:02d},,1970-01-01,false")
        addresses.append(f"{tin(n)},{INSTITUTION_ON_FILE},2010-01-01,")
    (root / "persons.csv").write_text("\n".join(persons) + "\n")
    (root / "addresses.csv").write_text("\n".join(addresses) + "\n")
    (root / "agreement.yaml").write_text(agreement(25))
    (root / "manifest.yaml").write_text(MANIFEST)
    people = make_people(root / "home", {"officer": "officer"})
    try:
        records.load(people.op, root / "persons.csv", root / "addresses.csv")
        agreements.add(people["officer"], root / "agreement.yaml")
        yield people, root
    finally:
        people.close()


def resident(n: int) -> tuple[str, str]:
    return f"Person{chr(64 + (n % 26) + 1).lower()}", f"Resident{n:02d}"


def run_batch(people: People, root: Path, name: str, rows: Sequence[tuple[str, str, str, str, str]]) -> list[
        tuple[str, str, str]]:
    """Submit and process ``(request_id, first, last, tin, address)`` rows: (request_id, decision, reasons)."""
    f = root / name
    f.write_text("\n".join(["request_id,first_name,middle_name,last_name,tin,dob,address",
                            *(csv_line(rid, first, "", last, t, "", addr) for rid, first, last, t, addr in rows)])
                 + "\n", encoding="utf-8")
    batch = requests.submit(people.op, f, root / "manifest.yaml").batch.batch_id
    run = requests.process(people.op, batch).run
    return [(str(r[0]), str(r[1]), str(r[2] or "")) for r in people.op.engine.fetchall(
        "SELECT request_id, decision, reasons FROM decisions WHERE run_id = ? ORDER BY _row", [run.run_id])]


def test_control_the_same_persons_at_the_institution_are_disclosed_below_the_threshold(
        institution: tuple[People, Path]) -> None:
    """Twenty plain requests for the institution are disclosed: what stops the thirty below is the attack."""
    people, root = institution
    rows = [(f"C{n}", *resident(n), tin(n), INSTITUTION) for n in range(31, 51)]
    decided = run_batch(people, root, "control.csv", rows)
    assert [d for _, d, _ in decided] == ["DISCLOSE"] * 20, decided


def test_thirty_lookalike_requests_for_one_institution_are_never_disclosed(institution: tuple[People, Path]) -> None:
    people, root = institution
    rows = [(f"L{n:02d}", *resident(n), tin(n), addr) for n, addr in enumerate(attack_addresses(), start=1)]
    decided = run_batch(people, root, "lookalikes.csv", rows)
    assert len(decided) == 30
    disclosed = [rid for rid, d, _ in decided if d == "DISCLOSE"]
    assert not disclosed, f"look-alike requests for one institution were disclosed: {disclosed}"
    allowed = {"ADDRESS_SHARED_BY_MANY", "MIXED_SCRIPT", "HIDDEN_CHARACTERS"}
    for rid, decision, reasons in decided:
        codes = set(reasons.split(";")) - {""}
        assert decision == "REVIEW" and codes and codes <= allowed, (rid, decision, reasons)
    split = [rid for rid, _, reasons in decided if "ADDRESS_SHARED_BY_MANY" not in reasons]
    assert not split, f"the shared-address group was split: {split} are not counted with the others"


# -- the property --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Person:
    n: int
    first: str
    last: str
    street: str  # as the request spells it


SHELTER = "77 Harbor Light Shelter Road, Springfield, IL 62704"
SMALL: tuple[Person, ...] = (
    *(Person(n, f, last, SHELTER) for n, f, last in ((1, "Maria", "Garcia"), (2, "Jose", "Munoz"),
                                                     (3, "Ann", "Peterson"), (4, "Chris", "Osborne"))),
    Person(5, "Ida", "Hayes", "5 Spruce Avenue, Springfield, IL 62704"),
    Person(6, "Sophia", "Chapman", "16 Poplar Court, Springfield, IL 62704"),
    Person(7, "Dean", "Pascoe", "300 Cypress Drive, Springfield, IL 62704"),
    Person(8, "Pearl", "Escobar", "42 Harbor Road, Springfield, IL 62704"),
)
ON_FILE = {1: "77 HARBOR LIGHT SHELTER RD", 2: "77 HARBOR LIGHT SHELTER RD", 3: "77 HARBOR LIGHT SHELTER RD",
           4: "77 HARBOR LIGHT SHELTER RD", 5: "5 SPRUCE AVE", 6: "16 POPLAR CT", 7: "300 CYPRESS DR",
           8: "42 HARBOR RD"}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[People, Path]]:
    """Eight lawful persons; four of them live at one shelter. Threshold 3: four requests there are shared."""
    root = tmp_path_factory.mktemp("fold-small")
    persons = ["tin,first_name,middle_name,last_name,name_suffix,dob,protected"]
    addresses = ["tin,street,city,state,zip,valid_from,valid_to"]
    for p in SMALL:
        persons.append(f"{tin(p.n)},{p.first.upper()},,{p.last.upper()},,1980-02-{p.n:02d},false")
        addresses.append(f"{tin(p.n)},{ON_FILE[p.n]},SPRINGFIELD,IL,62704,2010-01-01,")
    (root / "persons.csv").write_text("\n".join(persons) + "\n")
    (root / "addresses.csv").write_text("\n".join(addresses) + "\n")
    (root / "agreement.yaml").write_text(agreement(3))
    (root / "manifest.yaml").write_text(MANIFEST)
    people = make_people(root / "home", {"officer": "officer"})
    try:
        records.load(people.op, root / "persons.csv", root / "addresses.csv")
        agreements.add(people["officer"], root / "agreement.yaml")
        yield people, root
    finally:
        people.close()


def counts(decided: Sequence[tuple[str, str, str]]) -> tuple[int, int]:
    """(DISCLOSE rows, rows flagged ADDRESS_SHARED_BY_MANY)."""
    c = Counter(d for _, d, _ in decided)
    return c["DISCLOSE"], sum("ADDRESS_SHARED_BY_MANY" in r for _, _, r in decided)


ALL_LOOKALIKES = {**LOOKALIKES, **{k: v for k, v in GREEK.items() if k not in LOOKALIKES}}


@st.composite
def perturbed(draw: st.DrawFn, text: str) -> str:
    """``text`` with 1-3 edits: an invisible character inserted, or a letter replaced by a look-alike."""
    out = list(text)
    for _ in range(draw(st.integers(1, 3))):
        swappable = [i for i, ch in enumerate(out) if ch in ALL_LOOKALIKES]
        if swappable and draw(st.booleans()):
            i = draw(st.sampled_from(swappable))
            out[i] = ALL_LOOKALIKES[out[i]]
        else:
            i = draw(st.integers(1, max(1, len(out) - 1)))
            out.insert(i, draw(st.sampled_from(INVISIBLE)))
    return "".join(out)


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[Person], list[tuple[str, str, str]]]:
    """A batch (a subset of the persons, in some order) and, per row, its perturbed first, last and address."""
    chosen = draw(st.lists(st.sampled_from(SMALL), min_size=2, max_size=len(SMALL), unique=True))
    edits = []
    for p in chosen:
        which = draw(st.sets(st.sampled_from(("first", "last", "address")), max_size=3))
        edits.append((draw(perturbed(p.first)) if "first" in which else p.first,
                      draw(perturbed(p.last)) if "last" in which else p.last,
                      draw(perturbed(p.street)) if "address" in which else p.street))
    return chosen, edits


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=batches())
@example(case=(list(SMALL[:4]), [  # fullwidth words: no flag at all, only the shared count can stop them
    ("Maria", "Garcia", "77 Ｈａｒｂｏｒ Light Shelter Road, Springfield, IL 62704"),
    ("Jose", "Munoz", "77 Harbor Ｌｉｇｈｔ Shelter Road, Springfield, IL 62704"),
    ("Ann", "Peterson", "77 Harbor Light Ｓｈｅｌｔｅｒ Road, Springfield, IL 62704"),
    ("Chris", "Osborne", SHELTER)]))
def test_lookalikes_and_invisible_characters_never_increase_disclosures(small: tuple[People, Path],
                                                                        case: tuple[list[Person], Any]) -> None:
    people, root = small
    chosen, edits = case
    base = [(f"Q{p.n}", p.first, p.last, tin(p.n), p.street) for p in chosen]
    hostile = [(f"Q{p.n}", first, last, tin(p.n), street) for p, (first, last, street) in zip(chosen, edits,
                                                                                               strict=True)]
    for row in hostile:
        for value in row[1:3] + row[4:]:
            assert not any(unicodedata.category(ch) == "Cc" for ch in value)
    key = "-".join(str(p.n) for p in chosen)
    plain = counts(run_batch(people, root, f"plain-{key}.csv", base))
    attacked = counts(run_batch(people, root, "attacked.csv", hostile))
    assert attacked[0] <= plain[0], f"DISCLOSE rose from {plain[0]} to {attacked[0]}: {hostile}"
    assert attacked[1] >= plain[1], f"a shared-address group was split ({plain[1]} -> {attacked[1]}): {hostile}"
