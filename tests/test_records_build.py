"""Building the custodian address table (pipeline/records.py).

``address_rows_sql`` standardizes each distinct (street, city, state, zip) once and joins it back, and ranks
the last known address on narrow columns. The property: for any set of address rows (repeated tuples, NULL and
blank fields, blank and dated validity), every row gets exactly what standardizing that row alone gives, and
each TIN has exactly one last known address, chosen by the documented rule (computed here in Python).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from disclosure_gate.engine import Engine
from disclosure_gate.pipeline import records
from disclosure_gate.pipeline.standardize import address

STREETS = [None, "", "12 MAIN ST", "12 Main Street", "12 MAIN ST APT 4", "PO BOX 7", "9 ELM ST", " 9 elm st "]
CITIES = [None, "", "SPRINGFIELD", "Springfield", "CHICAGO"]
STATES = [None, "", "IL", "Illinois"]
ZIPS = [None, "62704", "60601", "62704-1234"]
DATES = ["", " ", "2010-01-01", "2015-06-30", "2020-01-01"]
TINS = ["100000001", "100000002", " 100000003", "100000004"]

ROW = st.tuples(st.sampled_from(TINS), st.sampled_from(STREETS), st.sampled_from(CITIES), st.sampled_from(STATES),
                st.sampled_from(ZIPS), st.sampled_from(DATES), st.sampled_from(DATES))


@pytest.fixture(scope="module")
def eng() -> Iterator[Engine]:
    e = Engine()
    address.install_reference_tables(e)
    yield e
    e.close()


def _load(eng: Engine, rows: list[tuple[Any, ...]]) -> None:
    eng.execute("CREATE OR REPLACE TABLE raw (_row BIGINT, tin VARCHAR, street VARCHAR, city VARCHAR, "
                "state VARCHAR, zip VARCHAR, valid_from VARCHAR, valid_to VARCHAR)")
    for i, r in enumerate(rows):
        eng.execute("INSERT INTO raw VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [i + 1, *r])


def _date(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text.strip()) if text.strip() else None


def _expected_last_known(rows: list[tuple[Any, ...]]) -> set[int]:
    """The documented rule: the current address (blank valid_to), else the latest valid_from, else the last row."""
    best: dict[str, tuple[Any, ...]] = {}
    for i, (tin, *_, vfrom, vto) in enumerate(rows, start=1):
        f = _date(vfrom)
        rank = (_date(vto) is None, f is not None, f or dt.date.min, i)
        if tin.strip() not in best or rank > best[tin.strip()]:
            best[tin.strip()] = rank
    return {r[-1] for r in best.values()}


@settings(max_examples=60)
@given(st.lists(ROW, min_size=1, max_size=14))
def test_built_rows_equal_row_by_row_standardization(eng: Engine, rows: list[tuple[Any, ...]]) -> None:
    _load(eng, rows)
    built = eng.fetch_dicts(f"SELECT * FROM ({records.address_rows_sql('raw')}) ORDER BY addr_id")
    alone = eng.fetch_dicts("SELECT * FROM (" + address.address_sql(
        "raw", key_cols=["_row"], street="street", city="city", state="state", zip="zip") + ") ORDER BY _row")
    assert [b["addr_id"] for b in built] == list(range(1, len(rows) + 1)), "a row was lost or repeated"
    names = [c for c, _ in address.OUTPUT_COLUMNS]
    for b, a in zip(built, alone, strict=True):
        assert {c: b[c] for c in names} == {c: a[c] for c in names}, (b["street"], b["city"], b["state"], b["zip"])
    assert {b["addr_id"] for b in built if b["is_last_known"]} == _expected_last_known(rows)


def test_columns_keep_their_order(eng: Engine) -> None:
    """The stored table's columns, in order (readers and the state digest depend on them)."""
    _load(eng, [("100000001", "12 MAIN ST", "SPRINGFIELD", "IL", "62704", "2010-01-01", "")])
    cols = [r[0] for r in eng.fetchall(f"DESCRIBE {records.address_rows_sql('raw')}")]
    assert cols == ["addr_id", "tin", "street", "city", "state", "zip", "valid_from", "valid_to",
                    *(c for c, _ in address.OUTPUT_COLUMNS), "is_last_known"]
