"""Address standardization (disclosure_gate.standardize.address).

The SQL parser is checked three ways: named cases from the brief and USPS Pub 28,
a hypothesis property (every spelling of one generated address yields the same
number/street/unit/ZIP key), and ``usaddress`` as an oracle on a varied corpus.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pytest
import usaddress
import zipcodes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disclosure_gate.engine import Engine
from disclosure_gate.errors import DgateError
from disclosure_gate.pipeline.standardize import address
from disclosure_gate.pipeline.standardize import address_rules as rules

Row = dict[str, Any]
ZIP_LIST: Callable[[], list[dict[str, Any]]] = zipcodes.list_all  # untyped package
_SEQ = iter(range(10**9))


_FREE_CACHE: dict[str | None, Row] = {}
_STRUCT_CACHE: dict[tuple[str | None, ...], Row] = {}


def _run(eng: Engine, table: pa.Table, **kw: Any) -> list[Row]:
    name = f"addr_in_{next(_SEQ)}"
    eng.register(name, table)
    try:
        rows = eng.fetch_dicts(address.address_sql(name, key_cols=["id"], **kw) + " ORDER BY id")
    finally:
        eng.unregister(name)
    return rows


def _free_batch(eng: Engine, texts: Sequence[str | None]) -> list[Row]:
    return _run(eng, pa.table({"id": list(range(len(texts))), "address": pa.array(texts, pa.string())}),
                free_text="address")


def _struct_batch(eng: Engine, rows: Sequence[tuple[str | None, ...]]) -> list[Row]:
    cols = list(zip(*rows, strict=True))
    t = pa.table({"id": list(range(len(rows))), "street": pa.array(cols[0], pa.string()),
                  "city": pa.array(cols[1], pa.string()), "state": pa.array(cols[2], pa.string()),
                  "zip": pa.array(cols[3], pa.string())})
    return _run(eng, t, street="street", city="city", state="state", zip="zip")


def free(eng: Engine, texts: Sequence[str | None]) -> list[Row]:
    """Standardize free text; values seen before come from one batched query (planning the
    ~60 KB statement costs far more than running it on a few rows)."""
    missing = list(dict.fromkeys(t for t in texts if t not in _FREE_CACHE))
    if missing:
        _FREE_CACHE.update(zip(missing, _free_batch(eng, missing), strict=True))
    return [_FREE_CACHE[t] for t in texts]


def structured(eng: Engine, rows: Sequence[tuple[str | None, ...]]) -> list[Row]:
    missing = list(dict.fromkeys(r for r in rows if r not in _STRUCT_CACHE))
    if missing:
        _STRUCT_CACHE.update(zip(missing, _struct_batch(eng, missing), strict=True))
    return [_STRUCT_CACHE[r] for r in rows]


@pytest.fixture(scope="module")
def eng() -> Iterator[Engine]:
    e = Engine()
    address.install_reference_tables(e)
    free(e, [t for group in FREE_GROUPS for t in group])
    structured(e, [r for group in STRUCT_GROUPS for r in group])
    yield e
    e.close()


def one(eng: Engine, text: str) -> Row:
    return free(eng, [text])[0]


def key(r: Row) -> tuple[Any, ...]:
    return (r["a_number"], r["a_street_key"], r["a_unit"], r["a_zip5"])


# -- schema and API ----------------------------------------------------------------------------
def test_output_columns_and_types(eng: Engine) -> None:
    eng.execute("CREATE OR REPLACE TABLE schema_in (id INTEGER, address VARCHAR)")
    described = eng.fetchall(
        f"DESCRIBE {address.address_sql('schema_in', key_cols=['id'], free_text='address')}")
    got = [(r[0], r[1]) for r in described]
    assert got == [("id", "INTEGER"), *address.OUTPUT_COLUMNS]
    sql = address.address_sql("schema_in", key_cols=["id"], street="address")
    assert [r[0] for r in eng.fetchall(f"DESCRIBE {sql}")] == [c for c, _ in got]


def test_install_is_idempotent_and_builds_reference(eng: Engine) -> None:
    address.install_reference_tables(eng)
    for t in address.REFERENCE_TABLES:
        assert eng.table_exists(t)
    assert eng.scalar("SELECT abbr FROM ref_street_suffix WHERE token = 'AVNUE'") == "AVE"
    assert eng.scalar("SELECT abbr FROM ref_unit_designator WHERE token = 'APARTMENT'") == "APT"
    assert eng.scalar("SELECT abbr FROM ref_state WHERE token = 'TEXAS'") == "TX"
    assert eng.scalar("SELECT state FROM ref_zip WHERE zip5 = '62704'") == "IL"
    assert eng.scalar("SELECT count(*) FROM ref_zip_city WHERE zip5 = '63101' AND city = 'SAINT LOUIS'") == 1
    assert eng.scalar("SELECT count(*) FROM ref_zip") == len(ZIP_LIST())


def test_api_errors_carry_no_values() -> None:
    with pytest.raises(DgateError):
        address.address_sql("t", key_cols=[], free_text="a")
    with pytest.raises(DgateError):
        address.address_sql("t", key_cols=["id"], free_text="a", street="s")
    with pytest.raises(DgateError):
        address.address_sql("t", key_cols=["id"])


def test_module_docstring_explains_hand_written_parser() -> None:
    doc = address.__doc__ or ""
    assert "usaddress" in doc and "10,000 rows/s" in doc


# -- the brief's free-text examples --------------------------------------------------------------
FULL = "123 North Main Street Apt 4, Springfield, IL 62704-1234"


def test_full_free_text_address(eng: Engine) -> None:
    r = one(eng, FULL)
    assert r["a_present"] and not r["a_placeholder"] and r["a_sufficient"]
    assert (r["a_kind"], r["a_number"], r["a_predir"], r["a_street_name"], r["a_suffix"]) == (
        "STREET", "123", "N", "MAIN", "ST")
    assert (r["a_street_key"], r["a_unit_type"], r["a_unit"]) == ("N MAIN ST", "APT", "4")
    assert (r["a_city"], r["a_state"], r["a_zip5"], r["a_zip4"]) == ("SPRINGFIELD", "IL", "62704", "1234")
    assert r["a_zip_exists"] and r["a_zip_state_ok"] and r["a_zip_like"]
    assert r["a_std"] == "123 N MAIN ST APT 4, SPRINGFIELD IL 62704-1234"


MESSY = [FULL, "123 n. main st. #4 springfield il 62704-1234"]


def test_messy_spelling_same_key(eng: Engine) -> None:
    a, b = free(eng, MESSY)
    assert key(a) == key(b) == ("123", "N MAIN ST", "4", "62704")
    assert b["a_unit_type"] is None and b["a_city"] == "SPRINGFIELD"


BOXES = ["PO Box 12, Austin, Texas 78701", "RR 2 Box 45, Lubbock TX 79401", "HC 3 Box 7, Alpine TX 79830",
         "General Delivery, Austin TX 78701", "P.O. Box 0012 Austin TX 78701"]


def test_po_box_rural_route_highway_contract_general_delivery(eng: Engine) -> None:
    po, rr, hc, gd, pob = free(eng, BOXES)
    assert (po["a_kind"], po["a_number"], po["a_state"], po["a_city"]) == ("PO_BOX", "12", "TX", "AUSTIN")
    assert po["a_sufficient"] and po["a_street_key"] is None
    assert po["a_std"] == "PO BOX 12, AUSTIN TX 78701"
    assert (rr["a_kind"], rr["a_number"], rr["a_box"], rr["a_city"]) == ("RURAL_ROUTE", "2", "45", "LUBBOCK")
    assert rr["a_sufficient"] and rr["a_std"] == "RR 2 BOX 45, LUBBOCK TX 79401"
    assert (hc["a_kind"], hc["a_number"], hc["a_box"]) == ("HIGHWAY_CONTRACT", "3", "7")
    assert gd["a_kind"] == "GENERAL_DELIVERY" and gd["a_sufficient"]
    assert (pob["a_kind"], pob["a_number"]) == ("PO_BOX", "12")


INSUFFICIENT = [
    ("Springfield, IL 62704", "no delivery line"),
    ("62704", "a ZIP alone"),
    ("Main Street, Springfield IL 62704", "no primary number"),
    ("123 Main St", "no ZIP and no city/state"),
    ("RR 2, Lubbock TX 79401", "rural route without a box"),
    ("PO Box, Austin TX 78701", "PO box without a number"),
]


@pytest.mark.parametrize("text, why", INSUFFICIENT)
def test_insufficient(eng: Engine, text: str, why: str) -> None:
    r = one(eng, text)
    assert r["a_present"] and not r["a_sufficient"], why
    assert not r["a_placeholder"], "insufficient, not a placeholder: the issue's ADDRESS_INSUFFICIENT cases"


@pytest.mark.parametrize("text", ["2392 SOUTH FRONT AVENUE, Springfield IL 62704",
                                  "12 N Front St, Springfield IL 62704", "7 Rear Rd, Springfield IL 62704"])
def test_unit_words_that_are_street_names(eng: Engine, text: str) -> None:
    r = one(eng, text)
    assert r["a_unit"] is None and r["a_unit_type"] is None
    assert r["a_street_name"] in ("FRONT", "REAR") and r["a_suffix"] in ("AVE", "ST", "RD")


NO_ZIP = "123 Main St Springfield IL"


def test_no_zip_city_state_is_sufficient(eng: Engine) -> None:
    r = one(eng, NO_ZIP)
    assert (r["a_street_key"], r["a_city"], r["a_state"], r["a_zip5"]) == ("MAIN ST", "SPRINGFIELD", "IL", None)
    assert r["a_sufficient"] and r["a_zip_exists"] is None and r["a_zip_state_ok"] is None


# -- placeholders ----------------------------------------------------------------------------------
PLACEHOLDERS = [
    "Don't Care 12345", "UNKNOWN", "N/A", "Failed to Provide", "00000", "NA NA", "Unknown Address 90210",
    "XXXXX", "none, none, XX 00000", "?", "----", "No Fixed Abode", "Homeless", "TBD, Austin TX 78701",
    "Refused", "Not Provided", "Same as above", "123456789", "0 Main St, Springfield IL 62704",
    "1 Unknown Rd, Springfield IL 62704", "123 Any St, Anytown, IL 62704", "99999",
    "NO DATA", "X", "BLANK X",
    "123 Main St, Springfield IL 00000", "unknown unknown 11111", "NULL", "test test",
    "123456 Main St, Springfield IL 62704", "Main St, Springfield IL 12345",
]


def test_placeholders_are_flagged(eng: Engine) -> None:
    rows = free(eng, PLACEHOLDERS)
    missed = [t for t, r in zip(PLACEHOLDERS, rows, strict=True) if not r["a_placeholder"]]
    assert missed == []
    assert not any(r["a_sufficient"] for r in rows)


def test_the_2025_filter_accepted_a_placeholder(eng: Engine) -> None:
    r = one(eng, "Don't Care 12345")
    assert r["a_zip_like"] and r["a_placeholder"] and not r["a_sufficient"]


REAL = [
    "123 Main St, Springfield IL 62704", "10 Noname Ln, Springfield IL 62704",
    "1 Above Rd, Springfield IL 62704", "55 No Name Rd, Springfield IL 62704",
    "12345 Katy Fwy, Houston TX 77079", "1 General Electric Rd, Schenectady NY 12345",
    "111 Main St, Springfield IL 62704", "7 Test Ave Apt 3, Springfield IL 62704",
]


def test_real_addresses_are_not_flagged_for_containing_a_word(eng: Engine) -> None:
    rows = free(eng, REAL)
    flagged = [t for t, r in zip(REAL, rows, strict=True) if r["a_placeholder"]]
    # "Test Ave" is a street named only by a strong placeholder word: flagged by rule S.
    assert flagged == ["7 Test Ave Apt 3, Springfield IL 62704"]
    assert all(r["a_sufficient"] for t, r in zip(REAL, rows, strict=True) if t not in flagged)


BLANKS: list[str | None] = [None, "", "   ", ",,"]


def test_blank_and_null(eng: Engine) -> None:
    rows = free(eng, BLANKS)
    assert [r["a_present"] for r in rows] == [False, False, False, True]
    assert [r["a_placeholder"] for r in rows] == [False, False, False, True]
    assert not any(r["a_sufficient"] or r["a_zip_like"] for r in rows)
    assert rows[0]["a_kind"] is None and rows[0]["a_std"] is None
    s = structured(eng, [NULL_ROW])[0]
    assert not s["a_present"] and not s["a_sufficient"]


# -- ZIP / state consistency --------------------------------------------------------------------------
ZIP_STATE = ["123 Main St, Springfield, TX 62704", "123 Main St, Springfield IL 00000",
             "123 Main St, Springfield IL 00001", "123 Main St, Springfield, Illinois 62704"]


def test_zip_state_mismatch_and_unknown_zip(eng: Engine) -> None:
    tx, zero, bogus, full = free(eng, ZIP_STATE)
    assert tx["a_state"] == "TX" and tx["a_zip_exists"] is True and tx["a_zip_state_ok"] is False
    assert zero["a_zip_exists"] is False and zero["a_zip_state_ok"] is False and zero["a_placeholder"]
    assert bogus["a_zip_exists"] is False and not bogus["a_placeholder"]
    assert full["a_state"] == "IL" and full["a_zip_state_ok"] is True


ZIP_LIKE = ["abc 12345", "123456789", "x 62704-1234 y", "1234", "123456", "1234567890", "12345678"]
ZIP_LIKE_ROWS = [("1 Main St", "Springfield", "IL", "62704"), ("1 Main St", "Springfield", "IL", "627")]


def test_zip_like_is_the_raw_seed_check(eng: Engine) -> None:
    assert [r["a_zip_like"] for r in free(eng, ZIP_LIKE)] == [True, True, True, False, False, False, False]
    s = structured(eng, ZIP_LIKE_ROWS)
    assert [r["a_zip_like"] for r in s] == [True, False]


# -- units, numbers, names ----------------------------------------------------------------------------
UNIT_SPELLINGS = ["Apt. #4", "# 4", "#4", "Apartment 4", "Unit 4", "APT4", "Apt 04", "apt #4", "Suite 4",
                  "STE 4", "Apt-4"]


def _unit_texts(unit: str) -> list[str]:
    return [f"77 Oak Ave {unit}, Austin TX 78701", f"77 Oak Ave, {unit}, Austin TX 78701"]


@pytest.mark.parametrize("unit", UNIT_SPELLINGS)
def test_unit_spellings(eng: Engine, unit: str) -> None:
    a, b = free(eng, _unit_texts(unit))
    assert a["a_unit"] == b["a_unit"] == "4"
    assert a["a_street_key"] == b["a_street_key"] == "OAK AVE"


UNIT_FORMS_MIXED = ["5 Elm St Apt 4B, Austin TX 78701", "5 Elm St Apt 4-B, Austin TX 78701",
                    "5 Elm St Apt 4 B, Austin TX 78701", "5 Elm St Unit B, Austin TX 78701",
                    "5 Elm St Rear, Austin TX 78701", "5 Elm St Apt, Austin TX 78701",
                    "Apt 4 5 Elm St, Austin TX 78701", "5 Elm St 4B, Austin TX 78701",
                    "5 County Rd 12, Austin TX 78701"]


def test_unit_letters_and_designators(eng: Engine) -> None:
    rows = free(eng, UNIT_FORMS_MIXED)
    assert [r["a_unit"] for r in rows] == ["4B", "4B", "4B", "B", None, None, "4", "4B", None]
    assert [r["a_unit_type"] for r in rows] == ["APT", "APT", "APT", "UNIT", "REAR", "APT", "APT", None, None]
    assert rows[8]["a_street_name"] == "COUNTY RD 12" and rows[8]["a_suffix"] is None


NUMBERS = [("123", "123"), ("0123", "123"), ("123A", "123A"), ("123-A", "123A"), ("12-34", "12-34"),
           ("101 1/2", "101 1/2"), ("12 - 34", "12-34")]


def _number_text(number: str) -> str:
    return f"{number} Main St, Springfield IL 62704"


@pytest.mark.parametrize("number, expected", NUMBERS)
def test_primary_numbers(eng: Engine, number: str, expected: str) -> None:
    r = one(eng, _number_text(number))
    assert r["a_number"] == expected and r["a_street_key"] == "MAIN ST"


LETTER_STREET = "123 A St, Springfield IL 62704"


def test_letter_after_number_is_a_street_name(eng: Engine) -> None:
    r = one(eng, LETTER_STREET)
    assert (r["a_number"], r["a_street_name"], r["a_suffix"]) == ("123", "A", "ST")


STREET_PARTS = [
    ("123 North St", "NORTH", "ST", None, None),
    ("123 N St", "N", "ST", None, None),
    ("123 Avenue N", "AVE", None, None, "N"),
    ("123 Park Ave", "PARK", "AVE", None, None),
    ("123 Avenue of the Americas", "AVENUE OF THE AMERICAS", None, None, None),
    ("123 Main St Ext", "MAIN ST", "EXT", None, None),
    ("123 S Main", "MAIN", None, "S", None),
    ("123 Main St N.W.", "MAIN", "ST", None, "NW"),
    ("123 Southwest Main Street", "MAIN", "ST", "SW", None),
    ("123 Fifth Ave", "5TH", "AVE", None, None),
    ("123 Twenty-First St", "21ST", "ST", None, None),
    ("123 twenty first st", "21ST", "ST", None, None),
    ("123 Forty Second Street", "42ND", "ST", None, None),
    ("123 Martin Luther King Jr. Blvd", "MARTIN LUTHER KING JR", "BLVD", None, None),
    ("123 O'Neil Rd", "ONEIL", "RD", None, None),
    ("123 Calle Peña", "CALLE PENA", None, None, None),
    ("123 St. Charles Ave", "SAINT CHARLES", "AVE", None, None),
    ("123 Mt Vernon Pkwy", "MOUNT VERNON", "PKWY", None, None),
    ("123 Lake Shore Dr", "LAKE SHORE", "DR", None, None),
]


def _street_row(street: str) -> tuple[str | None, ...]:
    return (street, "Springfield", "IL", "62704")


@pytest.mark.parametrize("street, name, suffix, predir, postdir", STREET_PARTS)
def test_street_parts(eng: Engine, street: str, name: str, suffix: str | None, predir: str | None,
                      postdir: str | None) -> None:
    r = structured(eng, [_street_row(street)])[0]
    assert (r["a_street_name"], r["a_suffix"], r["a_predir"], r["a_postdir"]) == (name, suffix, predir, postdir)
    assert r["a_street_key"] == " ".join(x for x in (predir, name, suffix, postdir) if x)


CITIES = ["1 Main St, St. Louis, MO 63101", "1 Main St Saint Louis MO 63101", "1 Main St, Ft Worth, TX 76102",
          "1 Main St N Las Vegas NV 89030", "1 Main St, Mt. Vernon, NY 10550", "1 Main St Wilkes-Barre PA 18701",
          "1 Main St, Coeur d'Alene, ID 83814", "1 Main St Springfield IL"]
CITY_ROWS = [("1 Main St", "St. Louis", "Missouri", "63101"), ("1 Main St", "N Las Vegas", "nv", "89030")]


def test_city_forms(eng: Engine) -> None:
    rows = free(eng, CITIES)
    assert [r["a_city"] for r in rows] == ["SAINT LOUIS", "SAINT LOUIS", "FORT WORTH", "NORTH LAS VEGAS",
                                           "MOUNT VERNON", "WILKES BARRE", "COEUR DALENE", "SPRINGFIELD"]
    assert all(r["a_street_key"] == "MAIN ST" for r in rows)
    s = structured(eng, CITY_ROWS)
    assert [r["a_city"] for r in s] == ["SAINT LOUIS", "NORTH LAS VEGAS"]
    assert [r["a_state"] for r in s] == ["MO", "NV"]


# -- the city never starts before the last comma ------------------------------------------------
# The ZIP (and state) city lookup takes the longest known city at the end of the text. When the text
# before the state/ZIP has a comma, only the last comma-separated segment may hold the city: the
# lookup used to read the street's post-directional (or a unit, or a suffix) written before the comma
# as the first word of a longer city, so "1 Main Ave E, York, PA 17402" became MAIN AVE in EAST YORK,
# and, a missing directional being compatible, could match a person at 1 MAIN AVE W.
# (text, a_street_name, a_postdir, a_unit_key, a_city, a_zip5)
CityCase = tuple[str, str, str | None, str | None, str, str | None]
CROSS_COMMA_CASES: list[CityCase] = [
    # the defect: a post-directional before the comma (EAST YORK is an acceptable city for 17402)
    ("1 Main Ave E, York, PA 17402", "MAIN", "E", None, "YORK", "17402"),
    ("1 Main Ave East, York, PA 17402", "MAIN", "E", None, "YORK", "17402"),
    ("1 Main Ave E, Apt 4, York, PA 17402", "MAIN", "E", "4", "YORK", "17402"),
    ("1 Main Ave E, York, PA", "MAIN", "E", None, "YORK", None),
    # LAS VEGAS is not a city of 89030: the last segment is the city (rule b), N stays in the street
    ("1 Main St N, Las Vegas, NV 89030", "MAIN", "N", None, "LAS VEGAS", "89030"),
    # a unit before the comma: its letter id (E YORK) or an id-less designator (UPPER MONTCLAIR)
    ("1 Main St Apt E, York, PA 17402", "MAIN", None, "E", "YORK", "17402"),
    ("1 Main St # E, York, PA 17402", "MAIN", None, "E", "YORK", "17402"),
    ("1 Main St Upper, Montclair, NJ 07043", "MAIN", None, "UPPR", "MONTCLAIR", "07043"),
    # a suffix before the comma (POINT RICHMOND, LAKE ORION are cities of those ZIPs)
    ("10 Harbor Point, Richmond, CA 94801", "HARBOR", None, None, "RICHMOND", "94801"),
    ("5 Shore Lake, Orion, MI 48360", "SHORE", None, None, "ORION", "48360"),
    # a city split over two segments is not rejoined: the words before the last comma stay in the
    # street line, so the request cannot match 1 MAIN ST (a review, never a wrong match)
    ("1 Main St, North, Las Vegas, NV 89030", "MAIN", "N", None, "LAS VEGAS", "89030"),
    ("1 Main St, Salt Lake, City, UT 84101", "MAIN SAINT SALT", None, None, "CITY", "84101"),
    # a directional that belongs to the city, inside the last segment, is still the city's
    ("1 Main Ave, East York, PA 17402", "MAIN", None, None, "EAST YORK", "17402"),
    ("1 Main Ave, E York, PA 17402", "MAIN", None, None, "EAST YORK", "17402"),
    ("1 Main St, Upper Montclair, NJ 07043", "MAIN", None, None, "UPPER MONTCLAIR", "07043"),
    ("1 Main St E, Upper Montclair, NJ", "MAIN", "E", None, "UPPER MONTCLAIR", None),  # state lookup
    # without a comma between street and city the longest known city still wins (documented
    # limitation: the post-directional or unit is read into the city, as before)
    ("1 Main Ave E York PA 17402", "MAIN", None, None, "EAST YORK", "17402"),
    ("1 Main Ave East York PA 17402", "MAIN", None, None, "EAST YORK", "17402"),
    ("1 Main Ave E York, PA 17402", "MAIN", None, None, "EAST YORK", "17402"),  # comma only before PA
    ("1 Main St Upper Montclair NJ 07043", "MAIN", None, None, "UPPER MONTCLAIR", "07043"),
    ("123 Main St Springfield IL 62704", "MAIN", None, None, "SPRINGFIELD", "62704"),
    # cities of several words, with and without commas
    ("1 Main St, St Louis, MO 63101", "MAIN", None, None, "SAINT LOUIS", "63101"),
    ("1 Main St E, St. Louis, MO 63101", "MAIN", "E", None, "SAINT LOUIS", "63101"),
    ("1 Main St St Louis MO 63101", "MAIN", None, None, "SAINT LOUIS", "63101"),
    ("1 Main St W, Salt Lake City, UT 84101", "MAIN", "W", None, "SALT LAKE CITY", "84101"),
    ("1 Main St Apt 4, Salt Lake City, UT 84101", "MAIN", None, "4", "SALT LAKE CITY", "84101"),
    ("1 Main St W Salt Lake City UT 84101", "MAIN", "W", None, "SALT LAKE CITY", "84101"),
    ("1 Main St, North Las Vegas, NV 89030", "MAIN", None, None, "NORTH LAS VEGAS", "89030"),
    ("1 Main St E, N Las Vegas, NV 89030", "MAIN", "E", None, "NORTH LAS VEGAS", "89030"),
    ("1 Main St N North Las Vegas NV 89030", "MAIN", "N", None, "NORTH LAS VEGAS", "89030"),
    ("1 Main St, Winston-Salem, NC 27101", "MAIN", None, None, "WINSTON SALEM", "27101"),
    ("1 Main St S Winston Salem NC 27101", "MAIN", "S", None, "WINSTON SALEM", "27101"),
    ("1 Main St S, Fort Worth, TX 76102", "MAIN", "S", None, "FORT WORTH", "76102"),
    ("1 Main St Ft. Worth TX 76102", "MAIN", None, None, "FORT WORTH", "76102"),
]


@pytest.mark.parametrize("case", CROSS_COMMA_CASES, ids=[c[0] for c in CROSS_COMMA_CASES])
def test_city_lookup_stays_in_the_last_comma_segment(eng: Engine, case: CityCase) -> None:
    text, *expected = case
    r = one(eng, text)
    assert [r["a_street_name"], r["a_postdir"], r["a_unit_key"], r["a_city"], r["a_zip5"]] == expected
    assert r["a_number"] in ("1", "5", "10", "123") and r["a_predir"] is None


NO_ZIP_SPLITS = ["123 Main St Apt 4 Springfield IL", "123 Park Ave Springfield IL",
                 "123 Main St, Apt 4, Springfield, IL", "123 Elm Rd Qwzxville IL", "PO Box 5 Qwzxville IL"]


def test_city_without_zip_split_heuristics(eng: Engine) -> None:
    rows = free(eng, NO_ZIP_SPLITS)
    assert [(r["a_street_key"], r["a_unit"], r["a_city"]) for r in rows] == [
        ("MAIN ST", "4", "SPRINGFIELD"), ("PARK AVE", None, "SPRINGFIELD"), ("MAIN ST", "4", "SPRINGFIELD"),
        ("ELM RD", None, "QWZXVILLE"), (None, None, "QWZXVILLE")]
    assert rows[4]["a_kind"] == "PO_BOX" and rows[4]["a_number"] == "5"


ACCENTS = ["12 Peña Blvd, Española, NM 87532", "12  PENA   BLVD ,ESPANOLA,NM 87532",
           "12 peña blvd. española nm 87532", "12 Pena Boulevard; Espanola (NM) 87532"]


def test_accents_case_spaces_punctuation_do_not_matter(eng: Engine) -> None:
    rows = free(eng, ACCENTS)
    assert len({(key(r), r["a_city"], r["a_state"]) for r in rows}) == 1
    assert rows[0]["a_city"] == "ESPANOLA" and rows[0]["a_street_key"] == "PENA BLVD"


AGREE_ROWS = [("123 N. Main Street, Apt 4", "Springfield", "Illinois", "62704-1234"),
              ("PO Box 12", "Austin", "TX", "78701"), ("RR 2 Box 45", "Lubbock", "TX", "79401")]
AGREE_TEXTS = ["123 N Main St #4, Springfield IL 62704", "PO BOX 12 AUSTIN TX 78701",
               "Rural Route 2 Box 45, Lubbock, Texas 79401"]


def test_structured_and_free_text_agree(eng: Engine) -> None:
    s = structured(eng, AGREE_ROWS)
    f = free(eng, AGREE_TEXTS)
    assert [key(r) for r in s] == [key(r) for r in f]
    assert [r["a_kind"] for r in s] == ["STREET", "PO_BOX", "RURAL_ROUTE"]
    assert s[0]["a_zip4"] == "1234" and s[0]["a_zip_state_ok"]


ZIP_ROWS = [("1 Main St", "Springfield", "IL", z) for z in
            ["62704", "62704-1234", "627041234", " 62704 ", "62704 1234", "2704", None]]


def test_structured_zip_forms(eng: Engine) -> None:
    rows = structured(eng, ZIP_ROWS)
    assert [(r["a_zip5"], r["a_zip4"]) for r in rows] == [
        ("62704", None), ("62704", "1234"), ("62704", "1234"), ("62704", None), ("62704", "1234"),
        (None, None), (None, None)]
    assert [r["a_sufficient"] for r in rows] == [True] * 7  # city and state are enough


# -- units without numbers and ordinal floors (Pub 28 C2): a_unit_key ---------------------------
# (street line, a_unit_type, a_unit, a_unit_key, a_street_name, a_suffix)
UnitCase = tuple[str, str | None, str | None, str | None, str, str | None]
UNIT_KEY_CASES: list[UnitCase] = [
    ("3800 S Louise Ave", None, None, None, "LOUISE", "AVE"),
    ("3800 S LOUISE AVE FRNT", "FRNT", None, "FRNT", "LOUISE", "AVE"),
    ("3800 S Louise Ave Front", "FRNT", None, "FRNT", "LOUISE", "AVE"),
    ("3800 S Louise Ave Rear", "REAR", None, "REAR", "LOUISE", "AVE"),
    ("3800 S Louise Ave, Rear", "REAR", None, "REAR", "LOUISE", "AVE"),
    ("3800 S Louise Ave Basement", "BSMT", None, "BSMT", "LOUISE", "AVE"),
    ("3800 S Louise Ave Bsmt", "BSMT", None, "BSMT", "LOUISE", "AVE"),
    ("3800 S Louise Ave Lobby", "LBBY", None, "LBBY", "LOUISE", "AVE"),
    ("3800 S Louise Ave Lower", "LOWR", None, "LOWR", "LOUISE", "AVE"),
    ("3800 S Louise Ave Office", "OFC", None, "OFC", "LOUISE", "AVE"),
    ("3800 S Louise Ave Penthouse", "PH", None, "PH", "LOUISE", "AVE"),
    ("3800 S Louise Ave PH", "PH", None, "PH", "LOUISE", "AVE"),
    ("3800 S Louise Ave Side", "SIDE", None, "SIDE", "LOUISE", "AVE"),
    ("3800 S Louise Ave Upper", "UPPR", None, "UPPR", "LOUISE", "AVE"),
    ("3800 S Louise Ave N Rear", "REAR", None, "REAR", "LOUISE", "AVE"),
    ("3800 S Louise Ave PH 2", "PH", "2", "2", "LOUISE", "AVE"),
    # a designator that needs a number but has none: a_unit stays NULL, the key is the designator
    ("5 Elm St Apt", "APT", None, "APT", "ELM", "ST"),
    ("5 Elm St Suite", "STE", None, "STE", "ELM", "ST"),
    # numbered units: the key is the id, whatever the designator
    ("5 Elm St Apt 4", "APT", "4", "4", "ELM", "ST"),
    ("5 Elm St # 4", None, "4", "4", "ELM", "ST"),
    ("5 Elm St Unit 4", "UNIT", "4", "4", "ELM", "ST"),
    ("5 Elm St Apt 04B", "APT", "4B", "4B", "ELM", "ST"),
    # streets named by an id-less designator word keep their names
    ("123 Front St", None, None, None, "FRONT", "ST"),
    ("45 Rear Rd", None, None, None, "REAR", "RD"),
    ("9 Side Ave", None, None, None, "SIDE", "AVE"),
    ("10 Lobby Ln", None, None, None, "LOBBY", "LN"),
    ("7 Upper Valley Rd", None, None, None, "UPPER VALLEY", "RD"),
    ("12 Penthouse Way", None, None, None, "PENTHOUSE", "WAY"),
    ("2392 South Front Avenue", None, None, None, "FRONT", "AVE"),
    ("123 Front St Rear", "REAR", None, "REAR", "FRONT", "ST"),
    ("45 Rear Rd Front", "FRNT", None, "FRNT", "REAR", "RD"),
    ("123 N Front", None, None, None, "FRONT", None),
    ("12 West Side", None, None, None, "SIDE", None),
    ("123 N Frnt", "FRNT", None, "FRNT", "N", None),  # an abbreviation is never a name word
    # ordinal floors and the other floor/suite forms
    ("100 Gold Street, 2nd Fl.", "FL", "2", "2", "GOLD", "ST"),
    ("100 Gold Street 2nd Fl", "FL", "2", "2", "GOLD", "ST"),
    ("100 Gold Street 3rd Floor", "FL", "3", "3", "GOLD", "ST"),
    ("100 Gold Street, 1st Flr", "FL", "1", "1", "GOLD", "ST"),
    ("100 Gold St 12th Fl", "FL", "12", "12", "GOLD", "ST"),
    ("100 Gold St FL 2", "FL", "2", "2", "GOLD", "ST"),
    ("100 Gold St Floor 12", "FL", "12", "12", "GOLD", "ST"),
    ("100 Gold St Fl 2nd", "FL", "2", "2", "GOLD", "ST"),
    ("2nd Floor 100 Gold St", "FL", "2", "2", "GOLD", "ST"),
    ("100 Gold St Ste 200", "STE", "200", "200", "GOLD", "ST"),
    ("100 Gold Street, Suite 200", "STE", "200", "200", "GOLD", "ST"),
    ("100 W 2nd St", None, None, None, "2ND", "ST"),
]
UNIT_KEY_PLACE = ("New York", "NY", "10038")


def test_idless_designators_are_pub28_c2() -> None:
    """Pub 28 C2 marks these designators as not requiring a secondary range (number)."""
    idless = {a for t, a in rules.unit_pairs() if t in rules.unit_tokens(requires_id=False)}
    assert idless == {"BSMT", "FRNT", "LBBY", "LOWR", "OFC", "PH", "REAR", "SIDE", "UPPR"}
    assert set(rules.UNIT_STREET_WORDS) <= set(rules.unit_tokens(requires_id=False))


def _unit_key_texts(line: str) -> list[str]:
    """The line as free text with commas, and without any comma."""
    return [f"{line}, New York, NY 10038", f"{line.replace(',', '')} New York NY 10038"]


def _unit_key_row(line: str) -> tuple[str | None, ...]:
    return (line, *UNIT_KEY_PLACE)


def _unit_fields(r: Row) -> tuple[Any, ...]:
    return (r["a_unit_type"], r["a_unit"], r["a_unit_key"], r["a_street_name"], r["a_suffix"])


@pytest.mark.parametrize("case", UNIT_KEY_CASES, ids=[c[0] for c in UNIT_KEY_CASES])
def test_unit_key_free_text_and_structured(eng: Engine, case: UnitCase) -> None:
    line, *expected = case
    rows = [*free(eng, _unit_key_texts(line)), *structured(eng, [_unit_key_row(line)])]
    for r in rows:
        assert _unit_fields(r) == tuple(expected), r["a_std"]
        assert r["a_number"] == ("100" if line.startswith("2nd") else line.split(" ")[0])
        assert r["a_zip5"] == "10038" and r["a_city"] == "NEW YORK" and r["a_sufficient"]


def test_unit_key_std_rendering(eng: Engine) -> None:
    frnt, floor, apt = free(eng, [_unit_key_texts(line)[0] for line in
                                  ("3800 S LOUISE AVE FRNT", "100 Gold Street, 2nd Fl.", "5 Elm St Apt")])
    assert frnt["a_std"] == "3800 S LOUISE AVE FRNT, NEW YORK NY 10038"
    assert floor["a_std"] == "100 GOLD ST FL 2, NEW YORK NY 10038"
    assert apt["a_std"] == "5 ELM ST APT, NEW YORK NY 10038"


ORDINAL_FLOOR_NO_ZIP = ["123 Elm Rd 2nd Fl Qwzxville IL", "123 Elm Rd Fl 2 Qwzxville IL"]


def test_ordinal_floor_before_an_unknown_city(eng: Engine) -> None:
    rows = free(eng, ORDINAL_FLOOR_NO_ZIP)
    assert [(r["a_street_key"], r["a_unit_type"], r["a_unit_key"], r["a_city"]) for r in rows] == [
        ("ELM RD", "FL", "2", "QWZXVILLE")] * 2


# (request free text, custodian street line, same unit?) -- all at the same street address
UNIT_PAIRS: list[tuple[str, str, bool]] = [
    ("3800 S Louise Ave", "3800 S LOUISE AVE FRNT", False),
    ("3800 S Louise Ave Rear", "3800 S LOUISE AVE FRNT", False),
    ("3800 S Louise Ave Front", "3800 S LOUISE AVE FRNT", True),
    ("3800 S Louise Ave, Rear", "3800 S Louise Ave Rear", True),
    ("3800 S Louise Ave Bsmt", "3800 S Louise Ave Basement", True),
    ("3800 S Louise Ave Upper", "3800 S Louise Ave Lower", False),
    ("3800 S Louise Ave Apt 4", "3800 S Louise Ave # 4", True),
    ("3800 S Louise Ave Unit 4", "3800 S Louise Ave Apt 04", True),
    ("3800 S Louise Ave Apt 4", "3800 S Louise Ave Apt 5", False),
    ("3800 S Louise Ave Apt", "3800 S Louise Ave", False),
    ("3800 S Louise Ave Apt", "3800 S Louise Ave Apt 4", False),
    ("3800 S Louise Ave, 2nd Fl.", "3800 S Louise Ave Fl 2", True),
    ("3800 S Louise Ave 3rd Floor", "3800 S Louise Ave Floor 2", False),
    ("3800 S Louise Ave 2nd Fl", "3800 S Louise Ave", False),
    ("3800 S Louise Ave", "3800 S Louise Ave", True),
]


def test_unit_key_comparison_of_request_and_custodian(eng: Engine) -> None:
    """The matcher's unit rule, written on a_unit_key: a unit on one side only, or two different
    id-less units, is a mismatch (REVIEW); spellings of one numbered unit agree."""
    req = pa.table({"id": list(range(len(UNIT_PAIRS))),
                    "address": [f"{r}, Sioux Falls, SD 57106" for r, _, _ in UNIT_PAIRS]})
    cus = pa.table({"id": list(range(len(UNIT_PAIRS))), "street": [c for _, c, _ in UNIT_PAIRS],
                    "city": ["Sioux Falls"] * len(UNIT_PAIRS), "state": ["SD"] * len(UNIT_PAIRS),
                    "zip": ["57106"] * len(UNIT_PAIRS)})
    eng.register("unit_pair_req", req)
    eng.register("unit_pair_cus", cus)
    try:
        eng.execute("CREATE OR REPLACE TEMP TABLE unit_pair_r AS "
                    + address.address_sql("unit_pair_req", key_cols=["id"], free_text="address"))
        eng.execute("CREATE OR REPLACE TEMP TABLE unit_pair_c AS " + address.address_sql(
            "unit_pair_cus", key_cols=["id"], street="street", city="city", state="state", zip="zip"))
        rows = eng.fetchall(
            "SELECT coalesce(r.a_unit_key, '') = coalesce(c.a_unit_key, ''), "
            "coalesce(r.a_unit, '') = coalesce(c.a_unit, ''), "
            "r.a_number = c.a_number AND r.a_street_key = c.a_street_key AND r.a_zip5 = c.a_zip5 "
            "FROM unit_pair_r r JOIN unit_pair_c c USING (id) ORDER BY id")
    finally:
        eng.unregister("unit_pair_req")
        eng.unregister("unit_pair_cus")
        eng.execute("DROP TABLE IF EXISTS unit_pair_r")
        eng.execute("DROP TABLE IF EXISTS unit_pair_c")
    assert all(same_address for _, _, same_address in rows)
    assert [same_unit for same_unit, _, _ in rows] == [same for _, _, same in UNIT_PAIRS]
    # the defect: the a_unit rule saw no unit on either side of the first two pairs
    assert rows[0][1] and rows[1][1]


# -- property: every spelling of one address gives one key ---------------------------------------
def _zip_triples() -> list[tuple[str, str, str]]:
    out = [(z["zip_code"], z["city"], z["state"]) for z in ZIP_LIST()
           if z["active"] and z["zip_code_type"] == "STANDARD" and z["state"] not in ("AA", "AE", "AP")]
    return sorted(out)[::37]


ZIPS = _zip_triples()
STATE_NAMES = {abbr: token.title() for token, abbr in rules.state_pairs()
               if " " in token or len(token) > 4}
NAMES = [("MAIN", ["Main", "MAIN", "main"]), ("OAK", ["Oak"]), ("MAPLE", ["Maple"]),
         ("ONEIL", ["O'Neil", "ONeil", "O’NEIL"]),
         ("MARTIN LUTHER KING JR", ["Martin Luther King Jr.", "MARTIN LUTHER KING JR"]),
         ("5TH", ["Fifth", "5th", "FIFTH"]), ("21ST", ["Twenty-First", "21st", "twenty first"]),
         ("PENA", ["Peña", "Pena"]), ("LAKE VIEW", ["Lake View"]), ("CEDAR HILL", ["Cedar Hill"])]
SUFFIXES = [("AVE", ["Avenue", "Ave", "Ave.", "AV", "avenue"]), ("ST", ["Street", "St", "St.", "STR"]),
            ("BLVD", ["Boulevard", "Blvd", "BLVD."]), ("DR", ["Drive", "Dr", "DRV"]), ("LN", ["Lane", "Ln"]),
            ("RD", ["Road", "Rd."]), ("CT", ["Court", "Ct"]), ("CIR", ["Circle", "Cir", "Circ"]),
            ("TER", ["Terrace", "Ter", "Terr"]), ("PKWY", ["Parkway", "Pkwy", "Pky"])]
DIRS = [("N", ["North", "N", "N.", "north"]), ("SW", ["Southwest", "SW", "S.W.", "sw"]),
        ("E", ["East", "E", "E."]), ("NE", ["Northeast", "NE", "N.E."])]
UNIT_FORMS = ["#{u}", "# {u}", "Apt {u}", "Apartment {u}", "APT. {u}", "Unit {u}", "Apt #{u}", "apt{u}"]


@st.composite
def addresses(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(NAMES))
    suffix = draw(st.sampled_from(SUFFIXES))
    d = draw(st.one_of(st.none(), st.sampled_from(DIRS)))
    post = d is not None and draw(st.booleans())
    unit = draw(st.one_of(st.none(), st.integers(1, 999).map(str),
                          st.tuples(st.integers(1, 99), st.sampled_from("ABC")).map(lambda t: f"{t[0]}{t[1]}")))
    return {"number": draw(st.integers(1, 99999)), "name": name, "suffix": suffix, "dir": d, "post": post,
            "unit": unit, "zip": draw(st.sampled_from(ZIPS)), "plus4": draw(st.one_of(st.none(), st.integers(0, 9999)))}


def _expected(a: dict[str, Any]) -> tuple[Any, ...]:
    d = a["dir"][0] if a["dir"] else None
    parts = [None if a["post"] else d, a["name"][0], a["suffix"][0], d if a["post"] else None]
    return (str(a["number"]), " ".join(p for p in parts if p), a["unit"], a["zip"][0])


def _render(a: dict[str, Any], rnd: random.Random) -> tuple[str, tuple[str, str, str, str]]:
    def case(s: str) -> str:
        return rnd.choice([s, s.upper(), s.lower(), s.title()])

    d = case(rnd.choice(a["dir"][1])) if a["dir"] else None
    words = [str(a["number"]), None if a["post"] else d, case(rnd.choice(a["name"][1])),
             case(rnd.choice(a["suffix"][1])), d if a["post"] else None]
    street = " ".join(w for w in words if w)
    if a["unit"]:
        street += rnd.choice([" ", ", "]) + case(rnd.choice(UNIT_FORMS).format(u=a["unit"]))
    zip5, city, state = a["zip"]
    z = zip5 if a["plus4"] is None else f"{zip5}{rnd.choice(['-', ''])}{a['plus4']:04d}"
    st_text = rnd.choice([state, STATE_NAMES.get(state, state)])
    city_text = case(city)
    sep = rnd.choice([(", ", ", ", " "), (" ", " ", " "), (", ", " ", " "), (",  ", ",", ", ")])
    text = f"{street}{sep[0]}{city_text}{sep[1]}{st_text}{sep[2]}{z}"
    if rnd.random() < 0.2:
        text = text.replace(" ", "  ")
    return text, (street, city_text, st_text, z)


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(st.lists(addresses(), min_size=40, max_size=40), st.randoms(use_true_random=False))
def test_every_spelling_of_an_address_has_one_key(eng: Engine, batch: list[dict[str, Any]],
                                                  rnd: random.Random) -> None:
    texts, parts, owners = [], [], []
    for i, a in enumerate(batch):
        for _ in range(6):
            t, p = _render(a, rnd)
            texts.append(t)
            parts.append(p)
            owners.append(i)
    f_rows, s_rows = free(eng, texts), structured(eng, parts)
    for i, fr, sr in zip(owners, f_rows, s_rows, strict=True):
        assert key(fr) == key(sr) == _expected(batch[i])
        assert fr["a_sufficient"] and sr["a_sufficient"] and not fr["a_placeholder"]
        assert fr["a_zip_state_ok"] and sr["a_zip_state_ok"]
        assert fr["a_city"] == sr["a_city"]
    # different house numbers or ZIPs never share a key
    by_key: dict[tuple[Any, ...], set[tuple[Any, ...]]] = {}
    for i, fr in zip(owners, f_rows, strict=True):
        by_key.setdefault(key(fr), set()).add(_expected(batch[i]))
    assert all(len(v) == 1 for v in by_key.values())


# Property: "street, city, state zip" parses like the structured (street, city, state, zip) whenever
# the city is a known city of the ZIP. Half the cases are built to tempt the lookup across the
# comma: the ZIP has a city "W REST" and also "REST", the city is written REST and the street ends
# with W (a directional, suffix, unit designator or unit letter: E YORK, PT RICHMOND, UPPER MONTCLAIR).
def _city_words(name: str) -> str:
    return " ".join(re.sub(r"[^A-Z0-9]+", " ", name.upper().replace("'", "")).split())


def _city_spellings() -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str]]]:
    """(zip5, state, REST, W) tempting pairs and (zip5, state, spelling) for every known city of a
    sample of ZIPs, spellings as in :func:`address.city_variants`."""
    tempting, plain = [], []
    for i, z in enumerate(ZIP_LIST()):
        if not z["active"] or z["state"] in ("AA", "AE", "AP"):
            continue
        names = {_city_words(n) for n in [z["city"], *z["acceptable_cities"]]}
        spellings = {v for n in names for v in address.city_variants(n)}
        if i % 29 == 0:
            plain += [(z["zip_code"], z["state"], s) for s in sorted(spellings)]
        for s in sorted(spellings):
            first, _, rest = s.partition(" ")
            if rest in spellings:
                tempting.append((z["zip_code"], z["state"], rest, first))
    return sorted(tempting), plain


TEMPTING, PLAIN_CITIES = _city_spellings()
TAILS = ["", " Apt 4", ", Apt 4", " # 12B", " Rear", " Upper"] + [f" {d}" for _, ds in DIRS for d in ds[:2]]


@st.composite
def street_city(draw: st.DrawFn) -> tuple[str, str, str, str]:
    name = draw(st.sampled_from(NAMES))[1][0]
    suffix = draw(st.one_of(st.just(""), st.sampled_from(SUFFIXES).map(lambda s: " " + s[1][0])))
    pre = draw(st.one_of(st.just(""), st.sampled_from(DIRS).map(lambda d: d[1][1] + " ")))
    street = f"{draw(st.integers(1, 9999))} {pre}{name}{suffix}"
    if draw(st.booleans()):
        zip5, state, city, word = draw(st.sampled_from(TEMPTING))
        if len(word) == 1 and draw(st.booleans()):
            word = draw(st.sampled_from(["Apt ", "# ", "Unit "])) + word
        street += " " + draw(st.sampled_from([word, word.title(), word.lower()]))
    else:
        zip5, state, city = draw(st.sampled_from(PLAIN_CITIES))
        street += draw(st.sampled_from(TAILS))
    return street, draw(st.sampled_from([city, city.title()])), state, zip5


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(st.lists(street_city(), min_size=50, max_size=50))
def test_free_text_with_commas_parses_like_structured(
        eng: Engine, batch: list[tuple[str, str, str, str]]) -> None:
    texts = [f"{street}, {city}, {state} {zip5}" for street, city, state, zip5 in batch]
    f_rows, s_rows = free(eng, texts), structured(eng, batch)
    known = {(z, c) for z, c in eng.fetchall(
        "SELECT zip5, city FROM ref_zip_city WHERE zip5 IN (SELECT unnest(?))",
        [sorted({b[3] for b in batch})])}
    cols = ("a_street_name", "a_predir", "a_suffix", "a_postdir", "a_unit_key", "a_city", "a_zip5")
    compared = 0
    for text, fr, sr in zip(texts, f_rows, s_rows, strict=True):
        if (sr["a_zip5"], sr["a_city"]) not in known:
            continue
        compared += 1
        assert {c: fr[c] for c in cols} == {c: sr[c] for c in cols}, text
    assert compared >= 45  # every city is drawn from the ZIP's own names


DIFFERENT = ["12 Oak Ave, Austin TX 78701", "13 Oak Ave, Austin TX 78701", "12 Oak Ave, Austin TX 78702",
             "12 Oak Ave Apt 2, Austin TX 78701", "12 W Oak Ave, Austin TX 78701"]


def test_different_numbers_and_zips_give_different_keys(eng: Engine) -> None:
    rows = free(eng, DIFFERENT)
    assert len({key(r) for r in rows}) == 5


IDLESS = sorted((t, a) for t, a in rules.unit_pairs() if t in rules.unit_tokens(requires_id=False))


@settings(max_examples=5, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(st.lists(st.tuples(addresses(), st.sampled_from(IDLESS), st.booleans()), min_size=30, max_size=30),
       st.randoms(use_true_random=False))
def test_appending_an_idless_designator_only_adds_the_unit(
        eng: Engine, batch: list[tuple[dict[str, Any], tuple[str, str], bool]], rnd: random.Random) -> None:
    """Appending an id-less designator (as written or abbreviated) to a street line, with or
    without a suffix, never changes the street and always sets a_unit_key to its abbreviation.
    The free text with the designator is compared with the structured line without it (the
    structured parse has no city to confuse with the street)."""
    bases, appended, texts = [], [], []
    for a, (token, _), keep_suffix in batch:
        a = {**a, "unit": None, "suffix": a["suffix"] if keep_suffix else ("", [""])}
        street, city, state, z = _render(a, rnd)[1]
        street = " ".join(street.split())
        word = rnd.choice([token, token.title(), token.lower()])
        sep = rnd.choice([" ", ", "])
        bases.append((street, city, state, z))
        appended.append((f"{street}{sep}{word}", city, state, z))
        texts.append(f"{street}{sep}{word}{rnd.choice([' ', ', '])}{city}, {state} {z}")
    s_base, s_app, f_app = structured(eng, bases), structured(eng, appended), free(eng, texts)
    for i, (_, (_, abbr), _) in enumerate(batch):
        base = s_base[i]
        assert base["a_unit_key"] is None and base["a_street_name"] is not None
        for app in (s_app[i], f_app[i]):
            assert (app["a_number"], app["a_street_key"], app["a_street_name"]) == (
                base["a_number"], base["a_street_key"], base["a_street_name"])
            assert (app["a_unit_type"], app["a_unit"], app["a_unit_key"]) == (abbr, None, abbr)
            assert app["a_city"] == base["a_city"] and app["a_zip5"] == base["a_zip5"]


# -- usaddress as an oracle ----------------------------------------------------------------------------
CORPUS = [
    "123 North Main Street Apt 4, Springfield, IL 62704-1234", "1600 Pennsylvania Ave NW, Washington, DC 20500",
    "101 1/2 Martin Luther King Jr. Blvd, Austin TX 78701", "12 Oak Ct Unit 4B, Hartford CT 06101",
    "55 W 5th Ave Ste 100, New York NY 10011", "123 Park Ave, Springfield IL 62704",
    "12 O'Neil Rd Apt. #4B, Saint Louis MO 63101", "PO Box 12, Austin, Texas 78701",
    "RR 2 Box 45, Lubbock TX 79401", "742 Evergreen Terrace, Springfield OR 97477",
    "350 Fifth Avenue, New York, NY 10118", "1 Infinite Loop, Cupertino, CA 95014",
    "4059 Mt Lee Dr, Los Angeles CA 90068", "221 Baker St Apt 2, Chicago IL 60601",
    "10 Downing Street, Alexandria VA 22314", "2 E 55th St, New York NY 10022",
    "500 S Buena Vista St, Burbank CA 91521", "1 Microsoft Way, Redmond WA 98052",
    "233 S Wacker Dr Ste 3300, Chicago IL 60606", "1000 5th Ave, New York NY 10028",
    "8 Cedar Hill Rd, Concord MA 01742", "77 Massachusetts Ave, Cambridge MA 02139",
    "1313 Disneyland Dr, Anaheim CA 92802", "400 Broad St, Seattle WA 98109",
    "3900 Bethel Dr, Saint Paul MN 55112", "600 Montgomery St Fl 12, San Francisco CA 94111",
    "2800 E Observatory Rd, Los Angeles CA 90027", "151 W 34th St, New York NY 10001",
    "11 Wall St, New York NY 10005", "4 Yawkey Way, Boston MA 02215",
    "1060 W Addison St, Chicago IL 60613", "24 Willie Mays Plz, San Francisco CA 94107",
    "700 Clark Ave, Saint Louis MO 63102", "1 Lincoln Memorial Cir NW, Washington DC 20037",
    "98 San Jacinto Blvd Ste 400, Austin TX 78701", "12 Elm St # 3, Burlington VT 05401",
    "45 Maple Avenue Apartment 7, Montclair NJ 07042", "9 Pine Ln, Bozeman MT 59715",
    "300 Alamo Plz, San Antonio TX 78205", "1 Rocket Rd, Hawthorne CA 90250",
]


def _norm(s: str) -> str:
    s = re.sub(r"['’.]", "", s.upper())
    return re.sub(r"\s+", " ", re.sub(r"[^A-Z0-9/ -]", " ", s)).strip()


def _generated_corpus(n: int) -> list[str]:
    rnd = random.Random(2025)
    out = []
    for i in range(n):
        zip5, city, state = ZIPS[(i * 7919) % len(ZIPS)]
        name = rnd.choice(["Main", "Oak", "Maple", "Cedar", "Walnut", "Highland", "Sunset", "River", "Church"])
        suffix = rnd.choice(["St", "Ave", "Rd", "Dr", "Ln", "Blvd", "Ct", "Way", "Pl", "Street", "Avenue"])
        d = rnd.choice(["", "", "N ", "S ", "E ", "W "])
        unit = rnd.choice(["", "", f" Apt {rnd.randint(1, 40)}", f" Ste {rnd.randint(100, 900)}",
                           f" Unit {rnd.randint(1, 9)}"])
        out.append(f"{rnd.randint(1, 9999)} {d}{name} {suffix}{unit}, {city.title()}, {state} {zip5}")
    return out


_ALLOWED = {"AddressNumber", "StreetNamePreDirectional", "StreetName", "StreetNamePostType",
            "StreetNamePostDirectional", "OccupancyType", "OccupancyIdentifier", "PlaceName", "StateName",
            "ZipCode", "AddressNumberSuffix", "USPSBoxType", "USPSBoxID", "USPSBoxGroupType", "USPSBoxGroupID"}


def _oracle(text: str) -> dict[str, str] | None:
    """usaddress's reading of ``text`` when it is unambiguous (one label each, known labels only)."""
    try:
        tags, kind = usaddress.tag(text)
    except usaddress.RepeatedLabelError:
        return None
    if kind not in ("Street Address", "PO Box") or not set(tags) <= _ALLOWED:
        return None
    return dict(tags)


def _as_our_name(name: str) -> str:
    """usaddress's street name with our documented word normalizations (ordinals, SAINT...)."""
    ords = rules.ordinal_words()
    expand = dict(rules.city_abbrevs("name"))
    words = _norm(name).split()
    return " ".join(expand.get(w, w) if i < len(words) - 1 else ords.get(w, w) for i, w in enumerate(words))


def test_usaddress_oracle_agrees(eng: Engine) -> None:
    corpus = CORPUS + GENERATED
    rows = free(eng, corpus)
    compared = 0
    for text, r in zip(corpus, rows, strict=True):
        tags = _oracle(text)
        if tags is None:
            continue
        compared += 1
        if "ZipCode" in tags:
            assert r["a_zip5"] == tags["ZipCode"][:5], text
        if "USPSBoxGroupID" in tags:
            assert (r["a_number"], r["a_box"]) == (tags["USPSBoxGroupID"], tags["USPSBoxID"]), text
            continue
        if "USPSBoxID" in tags:
            assert r["a_kind"] == "PO_BOX" and r["a_number"] == tags["USPSBoxID"], text
            continue
        number = tags["AddressNumber"] + (" " + tags["AddressNumberSuffix"] if "AddressNumberSuffix" in tags else "")
        assert r["a_number"] == _norm(number), text
        assert r["a_street_name"] == _as_our_name(tags["StreetName"]), text
        if "OccupancyIdentifier" in tags:
            assert r["a_unit"] == _norm(tags["OccupancyIdentifier"]).replace("#", "").replace(" ", ""), text
        else:
            assert r["a_unit"] is None, text
    assert compared >= 150


GENERATED = _generated_corpus(160)
NULL_ROW: tuple[str | None, ...] = (None, None, None, None)
FREE_GROUPS: list[Sequence[str | None]] = [
    MESSY, BOXES, [t for t, _ in INSUFFICIENT], [NO_ZIP, LETTER_STREET], PLACEHOLDERS, REAL, BLANKS, ZIP_STATE,
    ZIP_LIKE, [t for u in UNIT_SPELLINGS for t in _unit_texts(u)], UNIT_FORMS_MIXED,
    [_number_text(n) for n, _ in NUMBERS], CITIES, NO_ZIP_SPLITS, ACCENTS, AGREE_TEXTS, DIFFERENT, CORPUS, GENERATED,
    [t for c in UNIT_KEY_CASES for t in _unit_key_texts(c[0])], ORDINAL_FLOOR_NO_ZIP,
    [c[0] for c in CROSS_COMMA_CASES]]
STRUCT_GROUPS: list[Sequence[tuple[str | None, ...]]] = [
    [NULL_ROW], ZIP_LIKE_ROWS, [_street_row(p[0]) for p in STREET_PARTS], CITY_ROWS, AGREE_ROWS, ZIP_ROWS,
    [_unit_key_row(c[0]) for c in UNIT_KEY_CASES]]
