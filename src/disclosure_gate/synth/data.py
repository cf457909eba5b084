"""Reference data for the synthetic generator, loaded once and turned into arrays.

Sources (see ``data/synth_sources.json``):

* ``synth_surnames.csv`` / ``synth_first_names.csv``: the public-domain US Census
  1990 name frequency lists (top 5,000 surnames, 1,219 male and 2,000 female first
  names; ``weight`` is the percentage of the population), with a curated flag for
  common Hispanic names and a ``display`` form carrying accents or apostrophes
  (MUÑOZ, JOSÉ, O'BRIEN). Custodian records use the plain upper-case ASCII form.
* ``synth_nicknames.csv``: formal name -> nickname pairs from the Apache-2.0
  ``nicknames`` dataset (Carlton Northern), restricted to names above, plus a few
  Spanish hypocoristics (JOSE -> PEPE, FRANCISCO -> PACO, GUADALUPE -> LUPE).
* ZIP/city/state triples: the ``zipcodes`` package (STANDARD, active ZIPs in the
  50 states and DC).

Everything that varies by *value* (case forms, accents, typos, nicknames, USPS
abbreviation variants) is precomputed here per dictionary entry, so the
generator only ever indexes into these tables with numpy/pyarrow ``take``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import zipcodes

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
BOOL = npt.NDArray[np.bool_]

#: Case/accent forms kept per name: plain upper, plain title, plain lower,
#: display upper, display title, display lower (display = accented form).
NAME_FORMS = 6
#: Nickname/typo variants kept per first name.
NICK_K = 4
#: Typo variants kept per street name.
TYPO_K = 3

STREET_NAMES: tuple[str, ...] = (
    "MAIN", "OAK", "MAPLE", "PINE", "CEDAR", "ELM", "WALNUT", "CHESTNUT", "SPRUCE", "WILLOW", "BIRCH",
    "ASH", "HICKORY", "SYCAMORE", "MAGNOLIA", "DOGWOOD", "CYPRESS", "POPLAR", "LAUREL", "HOLLY",
    "PARK", "LAKE", "HILL", "RIVER", "SPRING", "MEADOW", "VALLEY", "RIDGE", "FOREST", "SUNSET",
    "HIGHLAND", "FAIRVIEW", "LAKEVIEW", "RIVERSIDE", "HILLSIDE", "WOODLAND", "GREENWOOD", "BROOKSIDE",
    "WASHINGTON", "LINCOLN", "JEFFERSON", "MADISON", "JACKSON", "FRANKLIN", "ADAMS", "MONROE",
    "WILSON", "GRANT", "HARRISON", "CLEVELAND", "KENNEDY", "ROOSEVELT", "TAYLOR", "POLK", "TYLER",
    "CHURCH", "SCHOOL", "MILL", "MARKET", "BROAD", "HIGH", "CENTER", "COLLEGE", "UNION", "WATER",
    "BRIDGE", "STATION", "RAILROAD", "FRONT", "WALL", "COMMERCE", "INDUSTRIAL", "ACADEMY", "TEMPLE",
    "CHERRY", "PEACH", "ORANGE", "LEMON", "APPLE", "VINE", "ROSE", "LILAC", "IVY", "JASMINE",
    "SUNRISE", "HORIZON", "VISTA", "MESA", "CANYON", "DESERT", "PRAIRIE", "SUMMIT", "PLEASANT",
    "JUNIPER", "ASPEN", "REDWOOD", "SEQUOIA", "PALM", "COTTONWOOD", "MESQUITE", "ALAMO", "SIERRA",
    "MOUNTAIN", "OCEAN", "BAY", "HARBOR", "SHORE", "BEACH", "ISLAND", "COVE", "GROVE", "ORCHARD",
    "COUNTRY CLUB", "MARTIN LUTHER KING JR", "CESAR CHAVEZ", "EL CAMINO REAL", "SAN PEDRO",
    "SANTA FE", "LOS ALTOS", "DEL MAR", "LA PALOMA", "BUENA VISTA", "ALAMEDA", "GUADALUPE",
    "CAMINO", "PRESIDIO", "MISSION", "DOLORES", "VALENCIA", "CORDOVA", "MONTEREY", "SONORA",
    "KING", "QUEEN", "PRINCE", "DUKE", "BARON", "CASTLE", "MANOR", "ESTATE", "COLONIAL", "HERITAGE",
    "HAMPTON", "PRESTON", "WELLINGTON", "ASHLAND", "BELMONT", "CAMBRIDGE", "OXFORD", "WINDSOR",
    "KENSINGTON", "STRATFORD", "CHARLES", "GEORGE", "JAMES", "WILLIAM", "HENRY", "EDWARD", "ELIZABETH",
    "VICTORIA", "CAROLINE", "ANNE", "MARY", "LOUISE", "EMERSON", "THOREAU", "WHITMAN", "HAWTHORNE",
    "1ST", "2ND", "3RD", "4TH", "5TH", "6TH", "7TH", "8TH", "9TH", "10TH", "11TH", "12TH", "13TH",
    "14TH", "15TH", "16TH", "17TH", "18TH", "19TH", "20TH", "21ST", "22ND", "23RD", "24TH", "25TH",
    "30TH", "32ND", "40TH", "45TH", "50TH", "55TH", "60TH", "72ND", "88TH", "100TH", "116TH",
)

#: (USPS abbreviation, full word, other USPS-accepted abbreviations, weight).
SUFFIXES: tuple[tuple[str, str, str, float], ...] = (
    ("ST", "STREET", "STR", 30.0), ("AVE", "AVENUE", "AV", 20.0), ("RD", "ROAD", "RD", 12.0),
    ("DR", "DRIVE", "DRV", 12.0), ("LN", "LANE", "LN", 6.0), ("CT", "COURT", "CT", 5.0),
    ("BLVD", "BOULEVARD", "BOUL", 4.0), ("PL", "PLACE", "PL", 3.0), ("WAY", "WAY", "WY", 3.0),
    ("CIR", "CIRCLE", "CIRC", 2.0), ("TER", "TERRACE", "TERR", 1.0), ("PKWY", "PARKWAY", "PKY", 1.0),
    ("HWY", "HIGHWAY", "HWY", 1.0), ("TRL", "TRAIL", "TRL", 1.0),
)

#: Index 0 is "no directional".
DIRECTIONS: tuple[tuple[str, str], ...] = (
    ("", ""), ("N", "NORTH"), ("S", "SOUTH"), ("E", "EAST"), ("W", "WEST"),
    ("NE", "NORTHEAST"), ("NW", "NORTHWEST"), ("SE", "SOUTHEAST"), ("SW", "SOUTHWEST"),
)
DIRECTION_WEIGHTS: tuple[float, ...] = (0.74, 0.06, 0.06, 0.05, 0.05, 0.01, 0.01, 0.01, 0.01)

#: Stored secondary-unit designators (custodian side).
UNIT_DESIGNATORS: tuple[str, ...] = ("APT", "UNIT")
#: Request-side renderings of a unit, per stored designator: prefix put before the number.
UNIT_PREFIXES: tuple[tuple[str, ...], ...] = (
    ("APT ", "APT. ", "APARTMENT ", "#", "# ", "UNIT ", "APT #"),
    ("UNIT ", "UNIT ", "#", "# ", "APT ", "UNIT #", "UNIT "),
)
POBOX_FORMS: tuple[str, ...] = ("PO BOX", "P.O. BOX", "P O BOX", "POST OFFICE BOX", "PO BOX")
RURAL_FORMS: tuple[str, ...] = ("RR", "R.R.", "RURAL ROUTE", "RR")

STATE_NAMES: dict[str, str] = {
    "AL": "ALABAMA", "AK": "ALASKA", "AZ": "ARIZONA", "AR": "ARKANSAS", "CA": "CALIFORNIA",
    "CO": "COLORADO", "CT": "CONNECTICUT", "DE": "DELAWARE", "DC": "DISTRICT OF COLUMBIA",
    "FL": "FLORIDA", "GA": "GEORGIA", "HI": "HAWAII", "ID": "IDAHO", "IL": "ILLINOIS", "IN": "INDIANA",
    "IA": "IOWA", "KS": "KANSAS", "KY": "KENTUCKY", "LA": "LOUISIANA", "ME": "MAINE", "MD": "MARYLAND",
    "MA": "MASSACHUSETTS", "MI": "MICHIGAN", "MN": "MINNESOTA", "MS": "MISSISSIPPI", "MO": "MISSOURI",
    "MT": "MONTANA", "NE": "NEBRASKA", "NV": "NEVADA", "NH": "NEW HAMPSHIRE", "NJ": "NEW JERSEY",
    "NM": "NEW MEXICO", "NY": "NEW YORK", "NC": "NORTH CAROLINA", "ND": "NORTH DAKOTA", "OH": "OHIO",
    "OK": "OKLAHOMA", "OR": "OREGON", "PA": "PENNSYLVANIA", "RI": "RHODE ISLAND", "SC": "SOUTH CAROLINA",
    "SD": "SOUTH DAKOTA", "TN": "TENNESSEE", "TX": "TEXAS", "UT": "UTAH", "VT": "VERMONT",
    "VA": "VIRGINIA", "WA": "WASHINGTON", "WV": "WEST VIRGINIA", "WI": "WISCONSIN", "WY": "WYOMING",
}

#: Words that make up placeholder addresses; combined with each other, with case
#: changes and with an optional ZIP-like number, so only a rule can catch them.
PLACEHOLDER_WORDS: tuple[str, ...] = (
    "UNKNOWN", "UNK", "N/A", "NA", "NONE", "NULL", "TBD", "REFUSED", "FAILED TO PROVIDE", "NOT PROVIDED",
    "DON'T CARE", "DONT CARE", "NO ADDRESS", "UNKNOWN ADDRESS", "ADDRESS UNKNOWN", "XXXXX", "XXX", "?",
    "??", "NOT AVAILABLE", "DECLINED", "UNAVAILABLE", "NOT GIVEN", "NO DATA", "PENDING", "-", "--",
    "NIL", "BLANK", "X",
)
#: ZIP-like numbers that may follow placeholder words.
PLACEHOLDER_NUMBERS: tuple[str, ...] = ("00000", "12345", "99999", "11111", "00000-0000", "000000000",
                                        "0", "55555", "90210", "10001")
#: A placeholder may also be only a null-looking number (never a real ZIP alone).
PLACEHOLDER_ALONE_NUMBERS: tuple[str, ...] = ("00000", "0", "000000000", "00000-0000", "0000")

SUFFIX_CODES: tuple[str, ...] = ("", "JR", "SR", "II", "III")
#: Request-side renderings of each suffix code (index 0 = none).
SUFFIX_FORMS: tuple[tuple[str, ...], ...] = (
    ("",), ("JR", "Jr", "Jr.", "jr", "JR."), ("SR", "Sr", "Sr.", "sr", "SR."), ("II", "II", "ii"),
    ("III", "III", "iii"),
)

ITIN_MIDDLE: tuple[int, ...] = tuple([*range(50, 66), *range(70, 89), *range(90, 93), *range(94, 100)])

_KEYBOARD_NEIGHBOURS: dict[str, str] = {
    "A": "SQ", "B": "VN", "C": "XV", "D": "SF", "E": "WR", "F": "DG", "G": "FH", "H": "GJ", "I": "UO",
    "J": "HK", "K": "JL", "L": "K", "M": "N", "N": "BM", "O": "IP", "P": "O", "Q": "W", "R": "ET",
    "S": "AD", "T": "RY", "U": "YI", "V": "CB", "W": "QE", "X": "ZC", "Y": "TU", "Z": "X",
}


def title_form(name: str) -> str:
    """Title case that keeps ordinals lower (5th) and Mc/Mac prefixes readable."""
    parts = []
    for word in name.split(" "):
        if word[:1].isdigit():
            parts.append(word.lower())
        elif word.startswith("MC") and len(word) > 3:
            parts.append("Mc" + word[2:].capitalize())
        else:
            parts.append("-".join("'".join(s.capitalize() for s in w.split("'")) for w in word.split("-")))
    return " ".join(parts)


def typo_variants(name: str, rng: np.random.Generator, k: int, forbidden: frozenset[str]) -> list[str]:
    """Up to ``k`` one-edit typos of an alphabetic name, never touching its first letter.

    Returns ``[]`` when the name is too short or not purely alphabetic.
    """
    if len(name) < 5 or not name.isalpha():
        return []
    out: list[str] = []
    for _ in range(12 * k):
        i = int(rng.integers(1, len(name) - 1))
        op = int(rng.integers(0, 4))
        if op == 0:
            repl = _KEYBOARD_NEIGHBOURS.get(name[i], "E")
            cand = name[:i] + repl[int(rng.integers(0, len(repl)))] + name[i + 1:]
        elif op == 1:
            cand = name[:i] + name[i + 1:]
        elif op == 2:
            cand = name[:i] + name[i + 1] + name[i] + name[i + 2:]
        else:
            cand = name[:i] + name[i] + name[i:]
        if cand != name and cand not in forbidden and cand not in out:
            out.append(cand)
        if len(out) == k:
            break
    return out


def _read_csv(name: str) -> list[dict[str, str]]:
    text = (resources.files("disclosure_gate") / "data" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


_SAMPLER_BITS = 20


@dataclass(frozen=True)
class Dist:
    """A discrete distribution sampled through a 2**20-entry inverse-CDF table.

    Each table entry carries 1/1,048,576 of the probability mass, far below the
    smallest weight used here (0.001%), so the quantisation is negligible, and a
    draw is one random integer plus one gather instead of a binary search.
    """

    table: I64

    @staticmethod
    def of(weights: list[float]) -> Dist:
        cum = np.cumsum(np.asarray(weights, dtype=np.float64))
        grid = (np.arange(1 << _SAMPLER_BITS, dtype=np.float64) + 0.5) / (1 << _SAMPLER_BITS) * cum[-1]
        table = np.minimum(np.searchsorted(cum, grid, side="right"), len(cum) - 1).astype(np.int64)
        return Dist(table=table)


def _cum(weights: list[float]) -> Dist:
    return Dist.of(weights)


def _forms(plain: str, display: str) -> list[str]:
    return [plain, title_form(plain), plain.lower(), display, title_form(display), display.lower()]


@dataclass(frozen=True)
class NameTables:
    """First names and surnames as dictionaries with sampling weights and variant tables."""

    first: list[str]
    first_forms: pa.Array  # len(first) * NAME_FORMS
    first_nick: pa.Array  # len(first) * NICK_K (nicknames, else typos), plain upper
    first_dist: dict[str, Dist]  # keys M, F, HM, HF (general/Hispanic by sex)
    first_has_display: BOOL
    last: list[str]
    last_forms: pa.Array  # len(last) * NAME_FORMS
    last_dist: Dist
    last_hisp_dist: Dist
    last_has_display: BOOL
    last_compound_ok: BOOL  # usable as one part of a two-part surname
    last_prefix4: I64  # first four letters packed as an int, for name-control checks

    def first_index(self, name: str) -> int:
        return self.first.index(name)


@dataclass(frozen=True)
class ZipTable:
    zip5: list[str]
    city: list[str]
    state: list[str]
    state_idx: npt.NDArray[np.int16]
    states: list[str]
    city_forms: pa.Array  # len(zip5) * 3 (upper, title, lower)
    nonexistent: I64  # 5-digit values that are not ZIP codes of any type (never 00000)


@dataclass(frozen=True)
class StreetTables:
    names: list[str]
    name_forms: pa.Array  # len(names) * 3 (upper, title, lower)
    typo_forms: pa.Array  # len(names) * TYPO_K * 3; equals the correct form when no typo is possible
    has_typo: BOOL
    suffix_dist: Dist
    suffix_forms: pa.Array  # len(SUFFIXES) * 4 * 3: (abbr, abbr., full, alt) x (upper, title, lower)
    dir_dist: Dist
    dir_forms: pa.Array  # len(DIRECTIONS) * 3 * 3: (abbr, abbr., full) x case


def _pack4(name: str) -> int:
    letters = "".join(ch for ch in name if ch.isalpha())[:4].ljust(4)
    return int.from_bytes(letters.encode("ascii", "replace"), "big")


@lru_cache(maxsize=1)
def name_tables() -> NameTables:
    rng = np.random.default_rng(20250807)
    rows = _read_csv("synth_first_names.csv")
    first: list[str] = []
    display: dict[str, str] = {}
    weights: dict[str, dict[str, float]] = {"M": {}, "F": {}, "HM": {}, "HF": {}}
    for r in rows:
        n = r["name"]
        if n not in display:
            first.append(n)
            display[n] = r["display"]
        w = float(r["weight"])
        weights[r["sex"]][n] = weights[r["sex"]].get(n, 0.0) + w
        if r["hispanic"] == "1":
            weights["H" + r["sex"]][n] = max(w, 0.05)
    first_dist = {k: _cum([v.get(n, 0.0) for n in first]) for k, v in weights.items()}
    forms: list[str] = []
    for n in first:
        forms.extend(_forms(n, display[n]))
    nick_pairs: dict[str, list[str]] = {}
    for r in _read_csv("synth_nicknames.csv"):
        nick_pairs.setdefault(r["name"], []).append(r["nickname"])
    nick: list[str] = []
    popularity = {n: max(weights["M"].get(n, 0.0), weights["F"].get(n, 0.0)) for n in first}
    for n in first:
        # Common nicknames first (those that are census first names themselves), archaic ones last.
        cands = sorted(nick_pairs.get(n, []), key=lambda c: (-popularity.get(c, 0.0), c))
        cands += typo_variants(n, rng, NICK_K, frozenset([n]))
        if not cands:  # short names without nicknames: drop or double a letter
            cands = [n[:-1] + n[-1] * 2, n + "E"] if len(n) > 1 else [n + n]
        cands = [c for c in cands if c != n]
        nick.extend((cands * NICK_K)[:NICK_K])
    srows = _read_csv("synth_surnames.csv")
    last = [r["name"] for r in srows]
    lforms: list[str] = []
    for r in srows:
        lforms.extend(_forms(r["name"], r["display"]))
    lw = [float(r["weight"]) for r in srows]
    hw = [float(r["weight"]) if r["hispanic"] == "1" else 0.0 for r in srows]
    return NameTables(
        first=first,
        first_forms=pa.array(forms, pa.string()),
        first_nick=pa.array(nick, pa.string()),
        first_dist=first_dist,
        first_has_display=np.array([display[n] != n for n in first]),
        last=last,
        last_forms=pa.array(lforms, pa.string()),
        last_dist=_cum(lw),
        last_hisp_dist=_cum(hw),
        last_has_display=np.array([r["display"] != r["name"] for r in srows]),
        last_compound_ok=np.array([len(n) >= 4 and n.isalpha() for n in last]),
        last_prefix4=np.array([_pack4(n) for n in last], dtype=np.int64),
    )


@lru_cache(maxsize=1)
def zip_table() -> ZipTable:
    list_all = cast(Callable[[], list[dict[str, Any]]], zipcodes.list_all)
    everything = list_all()
    std = sorted(
        (z for z in everything
         if z["zip_code_type"] == "STANDARD" and z["active"] and z["state"] in STATE_NAMES),
        key=lambda z: str(z["zip_code"]))
    states = sorted(STATE_NAMES)
    sidx = {s: i for i, s in enumerate(states)}
    zip5 = [str(z["zip_code"]) for z in std]
    city = [str(z["city"]).upper() for z in std]
    state = [str(z["state"]) for z in std]
    cforms: list[str] = []
    for c in city:
        cforms.extend([c, title_form(c), c.lower()])
    used = np.zeros(100000, dtype=bool)
    used[np.array([int(z["zip_code"]) for z in everything], dtype=np.int64)] = True
    used[0] = True  # 00000 is a placeholder, not an inconsistent ZIP
    for rep in range(1, 9):  # 11111 ... 88888 read as placeholders; 99999 stays (the usual example)
        used[rep * 11111] = True
    return ZipTable(
        zip5=zip5, city=city, state=state,
        state_idx=np.array([sidx[s] for s in state], dtype=np.int16),
        states=states, city_forms=pa.array(cforms, pa.string()),
        nonexistent=np.flatnonzero(~used).astype(np.int64),
    )


@lru_cache(maxsize=1)
def street_tables() -> StreetTables:
    rng = np.random.default_rng(6103)
    names = list(STREET_NAMES)
    forbidden = frozenset(names)
    nforms: list[str] = []
    tforms: list[str] = []
    has_typo = []
    for n in names:
        nforms.extend([n, title_form(n), n.lower()])
        typos = typo_variants(n, rng, TYPO_K, forbidden)
        has_typo.append(bool(typos))
        typos = (typos * TYPO_K)[:TYPO_K] if typos else [n] * TYPO_K
        for t in typos:
            tforms.extend([t, title_form(t), t.lower()])
    sforms: list[str] = []
    for abbr, full, alt, _w in SUFFIXES:
        for word in (abbr, abbr + ".", full, alt):
            sforms.extend([word, title_form(word), word.lower()])
    dforms: list[str] = []
    for abbr, full in DIRECTIONS:
        for word in (abbr, abbr + "." if abbr else "", full):
            dforms.extend([word, title_form(word), word.lower()])
    return StreetTables(
        names=names, name_forms=pa.array(nforms, pa.string()), typo_forms=pa.array(tforms, pa.string()),
        has_typo=np.array(has_typo), suffix_dist=_cum([s[3] for s in SUFFIXES]),
        suffix_forms=pa.array(sforms, pa.string()), dir_dist=_cum(list(DIRECTION_WEIGHTS)),
        dir_forms=pa.array(dforms, pa.string()),
    )


def sample(dist: Dist, rng: np.random.Generator, n: int) -> I64:
    """Indices drawn with probability proportional to the weights behind ``dist``."""
    out: I64 = dist.table[rng.integers(0, 1 << _SAMPLER_BITS, n, dtype=np.int32)]
    return out
