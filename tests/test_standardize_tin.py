from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from disclosure_gate.engine import Engine
from disclosure_gate.pipeline.standardize import tin

ITIN_GROUPS = set(range(50, 66)) | set(range(70, 89)) | set(range(90, 93)) | set(range(94, 100))


def reference_valid(digits: str) -> bool:
    """IRS/SSA rules written plainly (not python-stdnum, which rejects ITIN groups 50-65)."""
    if len(digits) != 9 or not digits.isdigit():
        return False
    area, group, serial = int(digits[:3]), int(digits[3:5]), digits[5:]
    if serial == "0000" or "987654320" <= digits <= "987654329":
        return False
    if area >= 900:
        return group in ITIN_GROUPS
    return area not in (0, 666) and group != 0


def _check(engine, values):
    engine.execute("CREATE OR REPLACE TABLE t AS SELECT unnest(?) AS x", [values])
    rows = engine.fetchall(f"SELECT x, {', '.join(tin.tin_columns('x'))} FROM t")
    return {r[0]: r for r in rows}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="0123456789", min_size=9, max_size=9), min_size=1, max_size=200))
def test_validity_matches_reference(values):
    e = Engine()
    got = _check(e, values)
    e.close()
    for v in values:
        assert got[v][3] is reference_valid(v), v


def test_known_answers(engine):
    cases = {
        "123-45-6789": True, "123 45 6789": True, " 123456789 ": True,
        "000-12-3456": False, "666-12-3456": False, "123-00-4567": False, "123-45-0000": False,
        "900-70-1234": True, "912-50-1234": True, "912-65-1234": True,  # ITIN 50-65 (stdnum trap)
        "912-66-1234": False, "912-69-1234": False, "912-89-1234": False, "912-93-1234": False,
        "912-94-1234": True, "912-49-1234": False, "987-65-4320": False,
        "12345678": False, "1234567890": False, "12345678A": False, "": False,
    }
    got = _check(engine, list(cases))
    for value, valid in cases.items():
        assert got[value][3] is valid, value
    assert got[""][1] is False and got["123-45-6789"][2] == "123456789"
