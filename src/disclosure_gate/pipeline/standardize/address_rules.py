"""Reference vocabularies and SQL fragments for :mod:`disclosure_gate.standardize.address`.

The CSV files under ``disclosure_gate/data/address_*.csv`` are the single source
of truth: they are installed as ``ref_*`` tables by
:func:`~disclosure_gate.standardize.address.install_reference_tables` *and* compiled
here into RE2 alternations and ``CASE`` maps that are embedded in the generated
SQL (a regex scan is far cheaper per row than a join for "is this token one of
these 549 suffixes?").

Files (``token`` is always upper-case ASCII words):

* ``address_street_suffix.csv`` (token, abbr): USPS Pub 28 Appendix C1, every
  primary name, common abbreviation and standard abbreviation.
* ``address_unit_designator.csv`` (token, abbr, requires_id Y/N): Pub 28 C2 plus a
  few common misspellings (APPT, BLDNG, FLR).
* ``address_directional.csv``, ``address_state.csv`` (token, abbr): directionals;
  states, DC, territories and military AA/AE/AP by name, USPS code and a few
  traditional abbreviations (CALIF, MASS, TEX...).
* ``address_placeholder_vocab.csv`` (token, strength): words of placeholder text;
  ``strong`` words can alone mark a street or city name as a placeholder, ``filler``
  words only count together with others.
* ``address_city_abbrev.csv`` (token, expansion, position): city-word expansions;
  ``any`` applies to cities, ``name`` to cities and (when another word follows) street
  names, ``first`` to the first of two or more city words.

Everything in this module is a pure function of the packaged data; nothing here
touches a database.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache
from importlib import resources

_TOKEN_RE = re.compile(r"^[A-Z]+( [A-Z]+)*$")


@cache
def load_csv(name: str) -> tuple[dict[str, str], ...]:
    """Rows of ``data/<name>`` (packaged), upper-cased and validated as plain tokens."""
    text = resources.files("disclosure_gate").joinpath("data", name).read_text(encoding="utf-8")
    rows = tuple(dict(r) for r in csv.DictReader(io.StringIO(text)))
    for r in rows:
        token = r["token"]
        if not _TOKEN_RE.match(token):
            raise ValueError(f"reference file {name}: malformed token row")
    return rows


def pairs(name: str, value: str = "abbr") -> tuple[tuple[str, str], ...]:
    return tuple((r["token"], r[value]) for r in load_csv(name))


def suffix_pairs() -> tuple[tuple[str, str], ...]:
    return pairs("address_street_suffix.csv")


def unit_pairs() -> tuple[tuple[str, str], ...]:
    return pairs("address_unit_designator.csv")


def directional_pairs() -> tuple[tuple[str, str], ...]:
    return pairs("address_directional.csv")


def state_pairs() -> tuple[tuple[str, str], ...]:
    return pairs("address_state.csv")


def unit_tokens(*, requires_id: bool | None = None) -> list[str]:
    rows = load_csv("address_unit_designator.csv")
    return [r["token"] for r in rows
            if requires_id is None or (r["requires_id"] == "Y") == requires_id]


def vocab(strength: str | None = None) -> list[str]:
    return [r["token"] for r in load_csv("address_placeholder_vocab.csv")
            if strength is None or r["strength"] == strength]


@cache
def city_abbrevs(position: str) -> tuple[tuple[str, str], ...]:
    return tuple((r["token"], r["expansion"]) for r in load_csv("address_city_abbrev.csv")
                 if r["position"] == position)


# Highway-like suffixes after which a bare trailing number is part of the name
# ("COUNTY RD 12", "HWY 66"), not a unit.
HIGHWAY_SUFFIXES = ("HWY", "RTE", "FWY", "EXPY", "TPKE", "RD", "PIKE", "SKWY", "BYP", "PKWY", "TRL")

# Unit designators whose identifier may be missing ("APT" with no number is kept
# as a designator so the matching stage can see the missing unit).
UNIT_ID_OPTIONAL = ("APARTMENT", "APT", "APPT", "APTS", "SUITE", "STE", "UNIT")

# Id-less designators written in full are also street-name words ("123 N FRONT", "W SIDE"): after
# nothing but a directional they are read as the name. Their abbreviations (FRNT, PH...) are not.
UNIT_STREET_WORDS = ("BASEMENT", "FRONT", "LOBBY", "LOWER", "OFFICE", "PENTHOUSE", "REAR", "SIDE", "UPPER")

ONES = ("FIRST", "SECOND", "THIRD", "FOURTH", "FIFTH", "SIXTH", "SEVENTH", "EIGHTH", "NINTH")
_TEENS = ("TENTH", "ELEVENTH", "TWELFTH", "THIRTEENTH", "FOURTEENTH", "FIFTEENTH", "SIXTEENTH",
          "SEVENTEENTH", "EIGHTEENTH", "NINETEENTH")
TENS = ("TWENTY", "THIRTY", "FORTY", "FIFTY", "SIXTY", "SEVENTY", "EIGHTY", "NINETY")
_TENTHS = ("TWENTIETH", "THIRTIETH", "FORTIETH", "FIFTIETH", "SIXTIETH", "SEVENTIETH",
           "EIGHTIETH", "NINETIETH")


def ordinal_suffix(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}TH"
    return f"{n}" + {1: "ST", 2: "ND", 3: "RD"}.get(n % 10, "TH")


@lru_cache(maxsize=1)
def ordinal_words() -> dict[str, str]:
    """Spelled-out ordinals FIRST..NINETY-NINTH -> 1ST..99TH (compounds written joined)."""
    out: dict[str, str] = {}
    for i, w in enumerate(ONES, start=1):
        out[w] = ordinal_suffix(i)
    for i, w in enumerate(_TEENS, start=10):
        out[w] = ordinal_suffix(i)
    for t, (tens, tenth) in enumerate(zip(TENS, _TENTHS, strict=True), start=2):
        out[tenth] = ordinal_suffix(t * 10)
        for i, w in enumerate(ONES, start=1):
            out[tens + w] = ordinal_suffix(t * 10 + i)
    return out


# -- SQL text helpers ------------------------------------------------------------------
def lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def alt(tokens: Iterable[str]) -> str:
    """An RE2 alternation, longest first, of plain upper-case tokens."""
    uniq = sorted(set(tokens), key=lambda t: (-len(t), t))
    return "(?:" + "|".join(re.escape(t).replace("\\ ", " ") for t in uniq) + ")"




def case_map(expr: str, mapping: Sequence[tuple[str, str]], default: str) -> str:
    whens = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in mapping)
    return f"CASE {expr} {whens} ELSE {default} END"




# -- regex pieces -----------------------------------------------------------------------
def dir_alt() -> str:
    return alt(t for t, _ in directional_pairs())


def suffix_alt(*, exclude_abbr: Sequence[str] = ()) -> str:
    return alt(t for t, a in suffix_pairs() if a not in exclude_abbr)


def unit_alt(tokens: Iterable[str] | None = None) -> str:
    return alt(unit_tokens() if tokens is None else tokens)




UNIT_ID = r"[A-Z0-9][A-Z0-9-]*"
#: A unit id at the end of a street line must hold a digit or be a single letter (4, 4B, B2, 12-A, B).
#: Otherwise designators that double as street words (FRONT, REAR, SIDE, LOBBY) would swallow the
#: suffix: "2392 SOUTH FRONT AVENUE" is S FRONT AVE, not street SOUTH, unit FRONT AVENUE.
UNIT_ID_TAIL = r"(?:[A-Z]{0,2}\d[A-Z0-9-]*|[A-Z])"
PO_KW = r"(?:P ?O ?BOX|P ?O ?BX|POB|POST OFFICE BOX|POST OFFICE|POST BOX|LOCK ?BOX)"
PO_BARE_KW = r"(?:BOX|BX|DRAWER|CALLER|FIRM CALLER)"
RR_KW = r"(?:RR|R R|RFD|R F D|RURAL ROUTE|RURAL RTE|RURAL RT|RURAL FREE DELIVERY|RURAL DELIVERY)"
RT_KW = r"(?:RT|RTE|ROUTE|RD)"
HC_KW = r"(?:HC|H C|HCR|HIGHWAY CONTRACT ROUTE|HIGHWAY CONTRACT|HWY CONTRACT|STAR ROUTE)"
GD_KW = r"(?:GENERAL DELIVERY|GEN DELIVERY|GEN DEL)"
BOX = r"(?:BOX|BX)(?: #)?"


def kind_pattern() -> str:
    """Non-street delivery lines, anchored at the start of the street line.

    Groups: po, po_num, pob_num, rr, rr_num, rr_box, rt_num, rt_box, hc, hc_num, hc_box, gd.
    """
    num = r"([A-Z0-9-]*\d[A-Z0-9-]*)"
    return (
        "^(?:"
        rf"({PO_KW})(?: #)?(?: {num})?"
        rf"|{PO_BARE_KW}(?: #)? {num}"
        rf"|({RR_KW})(?: #)?(?: ?(\d+))?(?: {BOX}(?: ({UNIT_ID}))?)?"
        rf"|{RT_KW}(?: #)? ?(\d+) {BOX} ({UNIT_ID})"
        rf"|({HC_KW})(?: #)?(?: ?(\d+))?(?: {BOX}(?: ({UNIT_ID}))?)?"
        rf"|({GD_KW})"
        ")(?: |$)"
    )


KIND_GROUPS = ["po", "po_num", "pob_num", "rr", "rr_num", "rr_box", "rt_num", "rt_box",
               "hc", "hc_num", "hc_box", "gd"]

# Tail patterns below capture the whole matched tail in group 1 ("all") so the caller can cut
# it off with left(); RE2 then only extracts sub-matches over that short span, which is what
# keeps these scans cheap.


def unit_tail_pattern() -> str:
    """`` APT 4``, `` APT # 4B``, `` # 4``, `` UNIT 4 B``, `` REAR``, `` APT`` at the end.

    Groups: all, utype, hash, uid, utype2, uid2.
    """
    optional = unit_alt(list(UNIT_ID_OPTIONAL) + unit_tokens(requires_id=False))
    return (rf"( (?:({unit_alt()})(?: #)?|(#)) ({UNIT_ID_TAIL}(?: [A-Z])?)"
            rf"| ({optional})(?: #)?(?: ({UNIT_ID_TAIL}))?)$")


UNIT_TAIL_GROUPS = ["all", "utype", "hash", "uid", "utype2", "uid2"]


def leading_unit_pattern() -> str:
    """``APT 4 123 MAIN ST``: a unit written before the primary number. Groups: all, utype, hash, uid."""
    return rf"^((?:({unit_alt()})(?: #)?|(#)) ({UNIT_ID}) )\d"


def bare_unit_pattern() -> str:
    """``MAIN ST 4B``: a bare id after a non-highway suffix (and optional postdir). Group 1: the id."""
    return rf" {suffix_alt(exclude_abbr=HIGHWAY_SUFFIXES)}(?: {dir_alt()})? (\d[A-Z0-9-]{{0,5}})$"


NUMBER_PATTERN = r"^(\d+[A-Z]?(?:-\d+[A-Z]?)*(?: \d+/\d+)?|\d+/\d+)(?: |$)"


def floor_alt() -> str:
    """The spellings of the floor designator (Pub 28 C2 ``FL``: FLOOR, FLR, FL)."""
    return unit_alt(t for t, a in unit_pairs() if a == "FL")


ORDINAL = r"[0-9]+(?:ST|ND|RD|TH)"


def ordinal_floor_guard() -> str:
    """An ordinal floor the unit patterns cannot read: ``2ND FL`` (``3RD FLOOR``, ``12TH FLR``) at
    the end of a line or before the primary number, or ``FL 2ND`` at the end. Every such line
    contains `` FL``, which is tested first (see :func:`ordinal_floor_rewrites`)."""
    fl = floor_alt()
    return rf" {ORDINAL} {fl}$|^{ORDINAL} {fl} [0-9]| {fl} {ORDINAL}$"


def ordinal_floor_rewrites() -> tuple[tuple[str, str], ...]:
    """(pattern, replacement) pairs turning the forms of :func:`ordinal_floor_guard` into the
    designator-first form the unit patterns read: `` 2ND FL`` -> `` FL 2``, ``2ND FL 100 ...`` ->
    ``FL 2 100 ...``, `` FL 2ND`` -> `` FL 2``."""
    fl = floor_alt()
    return ((rf" ([0-9]+)(?:ST|ND|RD|TH) ({fl})$", " \\2 \\1"),
            (rf"^([0-9]+)(?:ST|ND|RD|TH) ({fl}) ([0-9])", "\\2 \\1 \\3"),
            (rf" ({fl}) ([0-9]+)(?:ST|ND|RD|TH)$", " \\1 \\2"))






def glue_pattern() -> str:
    """Designators glued to their number: APT4, STE100, POBOX12, RR2."""
    toks = [t for t in unit_tokens() if len(t) >= 2] + ["BOX", "POBOX", "RR", "HC", "HCR", "RFD"]
    return rf"\b({alt(toks)})(\d)"


def city_split_pattern() -> str:
    """Street then city with no commas and no ZIP/state help: split after the first suffix
    (plus optional postdir and unit, or an ordinal floor ``2ND FL``) that follows at least one
    name word, or after a PO box number. Group 1: the city."""
    unit = rf"(?: (?:{unit_alt()}|#) {UNIT_ID}| {unit_alt(UNIT_ID_OPTIONAL)}| {ORDINAL} {floor_alt()})?"
    street = rf"(?:\d\S* )?\S+(?: \S+)*? {suffix_alt()}(?: {dir_alt()})?{unit}"
    po = rf"(?:{PO_KW}|{PO_BARE_KW})(?: #)? \S*\d\S*"
    return rf"^(?:{street}|{po}) (\S.*)$"


def _repeats(n: int) -> str:
    return "|".join(f"{c}{{{n},}}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def all_junk_pattern() -> str:
    """Full-match: every word is placeholder vocabulary, a repeated letter, or has no letter."""
    t = rf"(?:{alt(vocab())}|{_repeats(2)}|[^A-Z ]+)"
    return rf"(?:{t}(?: {t})*)?"


def vocab_only_pattern() -> str:
    """Full-match: every word is placeholder vocabulary or a run of one letter (3+)."""
    t = rf"(?:{alt(vocab())}|{_repeats(3)})"
    return rf"{t}(?: {t})*"


def strong_vocab_pattern() -> str:
    return rf"(?:^| )(?:{alt(vocab('strong'))}|{_repeats(3)})(?: |$)"


@cache
def city_variant_words() -> dict[str, tuple[str, ...]]:
    """Expanded city word -> abbreviations free text may use for it (SAINT -> ST, NORTH -> N)."""
    out: dict[str, list[str]] = {}
    for token, expansion in city_abbrevs("any") + city_abbrevs("name") + city_abbrevs("first"):
        out.setdefault(expansion, []).append(token)
    return {k: tuple(v) for k, v in out.items()}
