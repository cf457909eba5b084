"""Set-based US address standardization (USPS Publication 28) in DuckDB SQL.

Why the parser is hand-written SQL: the CRF parser ``usaddress`` was measured in
the issue at about 10,000 rows/s, i.e. more than two minutes for a 1.3 million row
request batch and close to an hour for a 30 million row custodian snapshot. The
parser below is a chain of projections of RE2 regular expressions, string
functions and small hash joins that DuckDB runs vectorized on all cores;
``usaddress`` is used only by the tests, as an oracle on a corpus of varied
addresses. ``benchmarks/address_throughput.py`` measures the throughput.

DuckDB cost model behind the shape of the SQL (measured on DuckDB 2.0): a
``regexp_replace`` or a multi-group ``regexp_extract`` costs the same whether or
not it matches, while ``regexp_matches`` is several times cheaper, so every rewrite
sits behind a ``CASE WHEN regexp_matches(...)`` guard in its own projection;
sub-matches are never extracted from big alternations (slow in RE2) — the last
word is extracted and tested or joined instead; a lambda inside ``CASE`` runs for
the whole vector, so word maps split words into columns and use ``CASE`` (see
:func:`_map_stages`); and an expression used twice in one projection is hoisted by
DuckDB's common-subexpression pass out of any ``CASE``, so expensive optional values
are computed once, guarded, in an earlier projection.

Public API: :func:`install_reference_tables` (once per database) and
:func:`address_sql`, a pure function that returns a ``SELECT`` over a relation.

Normalization (both input styles)
    Upper case, accents stripped (``strip_accents``), apostrophes deleted
    (``O'Neil`` -> ``ONEIL``, ``Don't`` -> ``DONT``), periods after a single letter
    deleted (``P.O.`` -> ``PO``, ``N.W.`` -> ``NW``) and other periods made spaces,
    ``N/A`` -> ``NA``, ``#`` split off as its own token, designators glued to
    numbers split (``APT4`` -> ``APT 4``), ``123-A`` -> ``123A``; hyphens and
    slashes survive only between digits (``12-34``, ``101 1/2``, ZIP+4); every other
    character becomes a space and runs of spaces collapse.

Free text: right to left (Pub 28 §231)
    1. A trailing country (USA, US, UNITED STATES) is dropped.
    2. ZIP: a trailing 5-digit group, optionally followed by 4 digits (``-1234``,
       `` 1234`` or glued ``627041234``).
    3. State: a trailing state abbreviation or full name (``ref_state``).
    4. City, first rule that applies: (a) the longest tail of the remaining text
       that is a city known for that ZIP (``ref_zip_city``: primary and acceptable
       names, each also in its abbreviated spellings ``ST``/``FT``/``N``...; the output
       is the reference's display form); (b) the last comma-separated segment, if it
       has no digit and does not start with a unit designator or PO box; (c) the
       longest tail that is a city known for that state; (d) the words after the
       first street suffix that follows a name word (plus an optional
       post-directional and unit), or after a PO box number. Otherwise no city.
       When the text has a comma, (a) and (c) look only inside the last
       comma-separated segment: a post-directional, unit or suffix written before the
       comma is never read as the first word of a longer city (``1 Main Ave E, York, PA
       17402`` is ``MAIN AVE E`` in ``YORK``, not ``MAIN AVE`` in ``EAST YORK``; also
       ``Apt E, York``, ``Upper, Montclair``, ``Harbor Point, Richmond``), and a city
       split by a comma (``Salt Lake, City``) is not rejoined.
    5. The rest is the delivery line, parsed like a structured street.

Delivery line
    * Kind: ``PO BOX n`` (also ``P O BOX``, ``POB``, ``POST OFFICE BOX``, ``BOX n``,
      ``DRAWER n``, ``CALLER n``); ``RR n BOX b`` (``RFD``, ``RURAL ROUTE``; ``RT``/``RTE``/
      ``ROUTE``/``RD`` only when a ``BOX`` follows); ``HC n BOX b`` (``HCR``, ``HIGHWAY
      CONTRACT``, ``STAR ROUTE``); ``GENERAL DELIVERY``; otherwise ``STREET`` when a
      primary number or a street name is present, else NULL.
    * Primary number: a leading ``123``, ``123A``, ``12-34`` or ``101 1/2``. Leading
      zeros are stripped from the first digit group (``0123`` -> ``123``); a
      separate letter (``123 A St``) is a street name, not part of the number.
    * Unit: the last designator of the line with its id (``APT 4``, ``APT # 4``,
      ``# 4``, ``UNIT 4B``, ``STE 100``), an id-less designator (``REAR``, ``APT``),
      a unit written before the number (``APT 4 123 MAIN ST``) or a bare id after a
      non-highway suffix (``MAIN ST 4B``; not after ``RD``/``HWY``/``RTE``... because
      ``COUNTY RD 12`` is a name). ``#`` has no type. Ids lose leading zeros, spaces
      and hyphens (``04``, ``4 B``, ``4-B`` -> ``4``, ``4B``, ``4B``). Only one unit is
      parsed: in ``BLDG 2 APT 4`` the ``BLDG 2`` stays in the street name.
    * Id-less designators (Pub 28 C2 ``requires_id`` N: BSMT, FRNT, LBBY, LOWR, OFC, PH, REAR,
      SIDE, UPPR) count only as the last word of the line, so ``123 FRONT ST``, ``7 UPPER VALLEY
      RD`` keep their names while ``3800 S LOUISE AVE FRONT`` has unit ``FRNT``; a full word
      after nothing but a directional is the name (``123 N FRONT`` -> predir ``N``, name
      ``FRONT``; but ``123 N FRNT`` -> name ``N``, unit ``FRNT``).
    * An ordinal floor (``2ND FL``, ``3RD FLOOR``, ``12TH FLR``, ``FL 2ND``) at the end of the line,
      or before the number (``2ND FL 100 GOLD ST``), is rewritten to ``FL 2`` first (one guarded
      projection). Spelled-out floors (``SECOND FLOOR``) are not read as units.
    * ``a_unit_type`` is the designator's abbreviation, ``a_unit`` the id. ``a_unit_key`` is the
      unit's identity for comparison, NULL when there is no unit: the id for a numbered unit
      (``APT 4``, ``# 4``, ``UNIT 4``, ``2ND FL`` -> ``4``, ``4``, ``4``, ``2``), else the
      designator's abbreviation (``FRONT`` -> ``FRNT``, a bare ``APT`` -> ``APT``), so a unit on one
      side only, or two different id-less units, never compare equal.
    * Street: ``[predir] name [suffix] [postdir]`` where the suffix must be the last
      word (after the postdir) and never the only name word (``123 North St`` ->
      name ``NORTH``, suffix ``ST``; ``Avenue N`` -> name ``AVE``, postdir ``N``; a
      lone suffix word as the name is written as its abbreviation). Spelled ordinals
      become numeric (``FIFTH``, ``TWENTY FIRST`` -> ``5TH``, ``21ST``) and
      ``ST``/``FT``/``MT``/``PT`` inside multi-word names become
      ``SAINT``/``FORT``/``MOUNT``/``POINT`` when another word follows (names of more
      than four words are left as written).
    * City: same normalization plus the ``address_city_abbrev.csv`` expansions
      (``ST`` -> ``SAINT``, ``FT`` -> ``FORT``, ``MT`` -> ``MOUNT``, a leading ``N`` ->
      ``NORTH`` ...), applied identically to the ZIP reference data.

Placeholder rules (``a_placeholder``; any one flags a present address)
    * W: every word of the text before the state/ZIP (free text) or of street+city
      (structured) is placeholder vocabulary (``address_placeholder_vocab.csv``), a
      run of one repeated letter (``XX``), or has no letter at all. This covers
      ``Don't Care 12345``, ``UNKNOWN``, ``N/A``, ``Failed to Provide``, ``NA NA``,
      ``00000``, ``XXXXX``, ``----``, ``?``, ``Unknown Address 90210``, ``none, none,
      XX 00000`` and any text with no letters or digits (``----``, ``?``). Digits
      alone are not a placeholder by this rule: a real ZIP alone (``62704``) is an
      insufficient address, while ``00000`` and ``12345`` are caught by rule Z.
    * S/C: the street name, or the city, consists only of vocabulary words or
      letter runs of 3+ and at least one is a *strong* word (``UNKNOWN``, ``NONE``,
      ``TEST``, ``ANY``...). Decision: ``1 Unknown Rd``, ``123 Any St`` and
      ``Anytown`` are flagged, trading a very rare real street for precision;
      ``10 Noname Ln`` and ``No Name Rd`` are not (``NONAME``, ``NAME`` are not
      vocabulary) and filler words alone (``Above``, ``Same``) never flag a name.
    * N: the primary/box number is all zeros, or a sequential run of 6+ digits.
    * Z: ZIP of one repeated digit (``00000``, ``99999``), ZIP+4 ``12345-6789``, or
      ZIP ``12345`` with no primary number.

Sufficiency (``a_sufficient``): not a placeholder, and (STREET with number and name,
PO_BOX with number, RR/HC with route and box, or GENERAL_DELIVERY), and (ZIP5 or
city and state).

``a_zip_like`` reproduces the unsafe 2025 filter on the raw text: a run of
exactly 5 or 9 digits (so ``62704-1234`` too). ``a_zip_exists`` means the ZIP is an
active ZIP in ``ref_zip``; ``a_zip_state_ok`` compares with the ZIP's state (false
for an unknown ZIP with a state). Structured ZIPs are taken from the first run of
5 (+4) digits; a 4-digit ZIP that lost its leading zero is *not* padded.

Consuming the SELECT
    Materialize it (``CREATE TABLE ... AS``, or join it to the source and materialize,
    as ``records`` and ``match`` do). Do **not** put an aggregate directly over it
    (``SELECT count(a_street_key) FROM (address_sql(...))``): with DuckDB 2.0's
    ``partial_aggregate_pushdown`` and CTE inlining, planning and execution grow
    exponentially with the depth of the projection chain (minutes for one row).
    Aggregate over the materialized table, or wrap the statement as
    ``SELECT * FROM (...) OFFSET 0``, which acts as a barrier.

Known limitations (for the matching stage)
    * Without a ZIP or comma, a trailing two-letter word that is a state code is
      read as the state (``123 Oak CT`` -> state CT, no suffix).
    * Without a comma between street and city, the longest known city still wins:
      ``1 Main Ave E York PA 17402`` is ``MAIN AVE`` in ``EAST YORK`` (the post-directional
      is lost; so is the unit of ``1 Main St Upper Montclair NJ 07043``).
    * Military (``PSC 1234 BOX 5678``, ``UNIT 2050 BOX 4190``) and Puerto Rico
      urbanization lines are not modelled: they parse as STREET or not at all.
    * A PO box written after a street address (``123 Main St PO Box 5``) is not
      recognized; the line is a STREET.
    * ``a_unit_key`` ignores the designator of a numbered unit (``FL 2`` = ``APT 2`` = ``# 2``), as
      ``a_unit`` always has; an id-less unit written as another word (``GROUND``, ``GARAGE``) is
      not a unit.
    * ``S PARK`` and ``SOUTH PARK`` differ (a predirectional is kept as written when it
      is the whole name), as do ``123 W MAIN ST`` and ``123 MAIN ST W``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from disclosure_gate.engine import Engine
from disclosure_gate.errors import DgateError
from disclosure_gate.pipeline.standardize import address_rules as R

OUTPUT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("a_present", "BOOLEAN"), ("a_placeholder", "BOOLEAN"), ("a_kind", "VARCHAR"),
    ("a_number", "VARCHAR"), ("a_box", "VARCHAR"), ("a_predir", "VARCHAR"),
    ("a_street_name", "VARCHAR"), ("a_suffix", "VARCHAR"), ("a_postdir", "VARCHAR"),
    ("a_street_key", "VARCHAR"), ("a_unit_type", "VARCHAR"), ("a_unit", "VARCHAR"),
    ("a_unit_key", "VARCHAR"), ("a_city", "VARCHAR"), ("a_state", "VARCHAR"), ("a_zip5", "VARCHAR"),
    ("a_zip4", "VARCHAR"),
    ("a_zip_exists", "BOOLEAN"), ("a_zip_state_ok", "BOOLEAN"), ("a_sufficient", "BOOLEAN"),
    ("a_zip_like", "BOOLEAN"), ("a_std", "VARCHAR"),
)

REFERENCE_TABLES = ("ref_street_suffix", "ref_unit_designator", "ref_directional", "ref_state",
                    "ref_zip", "ref_zip_city", "ref_city_match")


# -- SQL expression builders (pure) ----------------------------------------------------------
def _rx(pattern: str) -> str:
    return R.lit(pattern)


# Normalization is a list of steps shared by the expression form (used for reference data)
# and the staged form (hot path), where each step is a projection guarded by a cheap test:
# DuckDB's regexp_replace costs as much without a match as with one, regexp_matches is cheap.
_GLUE = R.glue_pattern()
_STEP_A = "['\u2019\u2018`]+" + r"|\b([A-Z])\.|\b(N) ?/ ?(A)\b|(\d)-([A-Z])\b"
_STEP_E_LINE = rf"[^A-Z0-9#,/ -]+|{_GLUE}"
_STEP_E_SIMPLE = r"[^A-Z0-9 ]+"
_STEP_F = r"(\d) *([-/]) *(\d+)|[-/]+"
_STEP_F_GUARD = r"(?:^|[^0-9])[-/]|[-/](?:[^0-9]|$)"  # a hyphen/slash not already between digits
_CLEAN_LINE = r"^[A-Z0-9]+(?: [A-Z0-9]+)*$"
_CLEAN_SIMPLE = r"^[A-Z]+(?: [A-Z]+)*$"

# (kind, pattern-or-needle, replacement, guard regex or None); kind in 're' | 'plain' | 'trim'
Step = tuple[str, str, str, str | None]


def _steps(mode: str) -> list[Step]:
    steps: list[Step] = [("re", _STEP_A, "\\1\\2\\3\\4\\5", None), ("plain", ".", " ", None)]
    if mode == "simple":
        steps.append(("re", _STEP_E_SIMPLE, " ", None))
    else:
        # '#' and ',' become words; collapsing "X #4" / "X, Y" first avoids double spaces
        steps += [("plain", " #", "#", None), ("plain", "# ", "#", None), ("plain", "#", " # ", None)]
        if mode == "free":
            steps += [("plain", " ,", ",", None), ("plain", ", ", ",", None), ("plain", ",", " , ", None)]
        else:
            steps.append(("plain", ",", " ", None))
        steps += [("re", _STEP_E_LINE, "\\1 \\2", None), ("re", _STEP_F, "\\1\\2\\3 ", _STEP_F_GUARD)]
    steps.append(("trim", "  ", " ", None))
    return steps


def _upper_sql(expr: str) -> str:
    return f"upper(strip_accents(CAST(coalesce({expr}, '') AS VARCHAR)))"


def _apply_step(step: Step, x: str) -> str:
    kind, pat, rep, _ = step
    if kind == "plain":
        return f"replace({x}, {R.lit(pat)}, {R.lit(rep)})"
    if kind == "re":
        return f"regexp_replace({x}, {_rx(pat)}, {R.lit(rep)}, 'g')"
    return f"trim(regexp_replace({x}, '  +', ' ', 'g'))"


def _step_guard(step: Step, x: str) -> str:
    kind, pat, _, guard = step
    if kind == "re":
        return f"regexp_matches({x}, {_rx(guard or pat)})"
    if kind == "plain":
        return f"contains({x}, {R.lit(pat)})"
    return f"(contains({x}, '  ') OR starts_with({x}, ' ') OR ends_with({x}, ' '))"


def normalize_sql(expr: str, *, mode: str = "line") -> str:
    """Upper-case ASCII words separated by single spaces (see the module docstring), as one
    expression. ``mode``: ``'line'`` (street lines), ``'free'`` (commas kept as `` , `` words)
    or ``'simple'`` (city/state: only letters, digits and spaces survive)."""
    x = _upper_sql(expr)
    for step in _steps(mode):
        x = _apply_step(step, x)
    return x


def _normalize_stages(select: str, source: str, cols: Sequence[tuple[str, str, str]]) -> str:
    """A subquery: ``select`` from ``source`` plus each ``(alias, expr, mode)`` normalized like
    :func:`normalize_sql`, one guarded projection per step; already-clean values skip all steps."""
    base = ", ".join(f"{_upper_sql(e)} AS {a}" for a, e, _ in cols)
    q = f"SELECT {select}, {base} FROM {source} AS _dg_src"
    def clean(a: str, m: str) -> str:
        if m == "free":  # free text nearly always has commas: skip the test
            return "false"
        test = f"regexp_matches({a}, {_rx(_CLEAN_SIMPLE if m == 'simple' else _CLEAN_LINE)})"
        return test if m == "simple" else f"{test} AND NOT regexp_matches({a}, {_rx(_GLUE)})"

    cleans = ", ".join(f"{clean(a, m)} AS _clean_{a}" for a, _, m in cols)
    q = f"SELECT *, {cleans} FROM ({q})"
    for i in range(max(len(_steps(m)) for _, _, m in cols)):
        repl = []
        for a, _, m in cols:
            steps = _steps(m)
            if i < len(steps):
                g = _step_guard(steps[i], a)
                repl.append(f"CASE WHEN NOT _clean_{a} AND {g} THEN {_apply_step(steps[i], a)} "
                            f"ELSE {a} END AS {a}")
        q = f"SELECT * REPLACE ({', '.join(repl)}) FROM ({q})"
    drop = ", ".join(f"_clean_{a}" for a, _, _ in cols)
    return f"(SELECT * EXCLUDE ({drop}) FROM ({q}))"


def _word_guard(tokens: Sequence[str]) -> str:
    return rf"(?:^| ){R.alt(tokens)}(?: |$)"


MAX_MAPPED_WORDS = 5


@dataclass(frozen=True)
class WordMap:
    """Whole-word replacements: ``mapping`` anywhere, ``first_only`` for the first of 2+ words,
    ``not_last`` for any word but the last. ``guard`` is a regex that every value needing a
    replacement matches (rows not matching skip the mapping)."""

    mapping: tuple[tuple[str, str], ...]
    guard: str
    first_only: tuple[tuple[str, str], ...] = ()
    not_last: tuple[tuple[str, str], ...] = ()
    prepare: tuple[str, str] | None = None  # (regex, replacement) applied before the mapping
    compound: tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] | None = None
    max_words: int = MAX_MAPPED_WORDS  # the staged map leaves longer values unchanged


def city_map() -> WordMap:
    anyw = R.city_abbrevs("any") + R.city_abbrevs("name")
    first = R.city_abbrevs("first")
    guard = _word_guard([k for k, _ in anyw]) + rf"|^{R.alt(k for k, _ in first)} "
    return WordMap(anyw, guard, first)


_TENS = R.alt(["TWENTY", "THIRTY", "FORTY", "FIFTY", "SIXTY", "SEVENTY", "EIGHTY", "NINETY"])
_ONES = R.alt(["FIRST", "SECOND", "THIRD", "FOURTH", "FIFTH", "SIXTH", "SEVENTH", "EIGHTH", "NINTH"])


def name_map() -> WordMap:
    """Street-name words: spelled ordinals -> 1ST..99TH (``TWENTY FIRST`` -> ``21ST``) and
    ST/STE/FT/MT/PT -> SAINT/SAINTE/FORT/MOUNT/POINT when another word follows. Compound
    ordinals are first joined as ``TWENTY~FIRST`` and mapped as tens digit + ordinal."""
    words = R.ordinal_words()
    simple = tuple((k, v) for k, v in words.items() if not k.startswith(R.TENS))
    tens = tuple((t, str(i)) for i, t in enumerate(R.TENS, start=2))
    ones = tuple((k, v) for k, v in words.items() if k in R.ONES)
    names = R.city_abbrevs("name")
    guard = (_word_guard([k for k, _ in simple]) + rf"|\b{_TENS}[ ]?{_ONES}\b|"
             + rf"(?:^| ){R.alt(k for k, _ in names)} ")
    return WordMap(simple, guard, not_last=names, prepare=(rf"\b({_TENS}) ?({_ONES})\b", "\\1~\\2"),
                   compound=(tens, ones), max_words=4)


def _prepared(expr: str, wm: WordMap) -> str:
    if wm.prepare is None:
        return expr
    return f"regexp_replace({expr}, {_rx(wm.prepare[0])}, {R.lit(wm.prepare[1])}, 'g')"


def word_map_sql(expr: str, wm: WordMap) -> str:
    """``wm`` applied to ``expr`` as one expression (a lambda; used for reference data only:
    inside ``CASE`` DuckDB evaluates a lambda for the whole vector, hence :func:`_map_stages`)."""
    x = _prepared(expr, wm)
    n = f"len(string_split({x}, ' '))"
    whens = [f"WHEN i = 1 AND {n} > 1 AND t = {R.lit(k)} THEN {R.lit(v)}" for k, v in wm.first_only]
    whens += [f"WHEN i < {n} AND t = {R.lit(k)} THEN {R.lit(v)}" for k, v in wm.not_last]
    whens += [f"WHEN t = {R.lit(k)} THEN {R.lit(v)}" for k, v in wm.mapping]
    if wm.compound is not None:
        whens.append(f"WHEN contains(t, '~') THEN {_compound_sql('t', wm)}")
    body = (f"array_to_string(list_transform(string_split({x}, ' '), "
            f"lambda t, i: CASE {' '.join(whens)} ELSE t END), ' ')")
    return f"CASE WHEN regexp_matches({expr}, {_rx(wm.guard)}) THEN {body} ELSE {expr} END"


def city_norm_sql(expr: str) -> str:
    """Display form of a (normalized) city: ST -> SAINT, FT -> FORT, a leading N -> NORTH ..."""
    return f"nullif({word_map_sql(expr, city_map())}, '')"


def _compound_sql(w: str, wm: WordMap) -> str:
    assert wm.compound is not None
    tens, ones = wm.compound
    return (f"(CASE split_part({w}, '~', 1) {_whens(tens)} END || "
            f"CASE split_part({w}, '~', 2) {_whens(ones)} END)")


def _whens(pairs: Sequence[tuple[str, str]]) -> str:
    return " ".join(f"WHEN {R.lit(k)} THEN {R.lit(v)}" for k, v in pairs)


def _map_stages(src: str, col: str, out: str, wm: WordMap) -> str:
    """Two projections over ``src`` adding ``out`` = ``wm`` applied to ``col`` (values of more
    than ``wm.max_words`` words pass unchanged): rows passing the guard get their words split
    into columns, then each word goes through a ``CASE``."""
    g, n = f"_{out}_g", wm.max_words
    spaces = f"(length({col}) - length(replace({col}, ' ', '')))"
    words = ", ".join(f"CASE WHEN {g} THEN split_part(_{out}_x, ' ', {i}) END AS _{out}_w{i}"
                      for i in range(1, n + 2))
    mapped = []
    for i in range(1, n + 1):
        w, nxt = f"_{out}_w{i}", f"_{out}_w{i + 1}"
        m = f"CASE {w} {_whens(wm.mapping)} ELSE {w} END"
        if wm.compound is not None:
            m = f"CASE WHEN contains({w}, '~') THEN {_compound_sql(w, wm)} ELSE {m} END"
        if wm.not_last:
            m = f"CASE WHEN {nxt} = '' THEN {m} ELSE CASE {w} {_whens(wm.not_last)} ELSE {m} END END"
        if i == 1 and wm.first_only:
            m = f"CASE WHEN {nxt} = '' THEN {m} ELSE CASE {w} {_whens(wm.first_only)} ELSE {m} END END"
        mapped.append(f"nullif({m}, '')")
    drop = ", ".join([g, f"_{out}_x"] + [f"_{out}_w{i}" for i in range(1, n + 2)])
    stage1 = (f"SELECT *, {words} FROM (SELECT *, CASE WHEN {g} THEN {_prepared(col, wm)} END AS _{out}_x "
              f"FROM (SELECT *, coalesce({spaces} < {n} AND regexp_matches({col}, {_rx(wm.guard)}), false) "
              f"AS {g} FROM {src}))")
    return (f"SELECT * EXCLUDE ({drop}), CASE WHEN {g} THEN concat_ws(' ', {', '.join(mapped)}) "
            f"ELSE {col} END AS {out} FROM ({stage1})")


def _strip_zeros(expr: str) -> str:
    return f"CASE WHEN starts_with({expr}, '0') THEN regexp_replace({expr}, '^0+([0-9])', '\\1') ELSE {expr} END"


def _struct(expr: str, pattern: str, names: Sequence[str]) -> str:
    return f"regexp_extract({expr}, {_rx(pattern)}, [{', '.join(R.lit(n) for n in names)}])"


def _guarded_struct(expr: str, pattern: str, names: Sequence[str]) -> str:
    return f"CASE WHEN regexp_matches({expr}, {_rx(pattern)}) THEN {_struct(expr, pattern, names)} END"


def _nz(expr: str) -> str:
    return f"nullif({expr}, '')"


def _cut(expr: str, tail: str) -> str:
    """``expr`` without its matched ``tail`` (and trailing spaces/commas)."""
    return f"rtrim(left({expr}, length({expr}) - length({tail})), ' ,')"


ZIP_ANY = r"(?:^|[^0-9])(\d{5})(?:[- ]?(\d{4}))?(?:[^0-9]|$)"
COUNTRY = r"(?: ,)? (?:USA|U S A|US|UNITED STATES OF AMERICA|UNITED STATES)(?: ,)*$"
ZIP_LIKE = r"(?:^|[^0-9])(?:[0-9]{5}|[0-9]{9})(?:[^0-9]|$)"


_LAST_WORD = _rx("[^ ]+$")


def _last_word(expr: str) -> str:
    return f"regexp_extract({expr}, {_LAST_WORD})"


def _state_tail_sql(rest: str) -> str:
    """The state written at the end of ``rest``: a multi-word name (rare; one guarded extract) or
    the last word if it is a one-word name or an abbreviation."""
    multi = [t for t, _ in R.state_pairs() if " " in t]
    single = [t for t, _ in R.state_pairs() if " " not in t]
    multi_tail = rf"(?:^| )({R.alt(multi)})$"
    return (f"CASE WHEN regexp_matches({rest}, {_rx(multi_tail)}) "
            f"THEN regexp_extract({rest}, {_rx(multi_tail)}, 1) "
            f"WHEN regexp_full_match({_last_word(rest)}, {_rx(R.alt(single))}) THEN {_last_word(rest)} END")


def _zip_tail_sql(s: str) -> str:
    """Struct (z5, z4, cut) for a trailing ZIP, ZIP+4 (``-``, space or glued), else NULL."""
    w = _last_word(s)
    spaced = r"(?:^| )([0-9]{5}) [0-9]{4}$"
    return f"""CASE
      WHEN regexp_full_match({w}, '[0-9]{{5}}') THEN {{'z5': {w}, 'z4': NULL, 'cut': length({w})}}
      WHEN regexp_full_match({w}, '[0-9]{{5}}-?[0-9]{{4}}')
        THEN {{'z5': left({w}, 5), 'z4': right({w}, 4), 'cut': length({w})}}
      WHEN regexp_full_match({w}, '[0-9]{{4}}') AND regexp_matches({s}, {_rx(spaced)})
        THEN {{'z5': regexp_extract({s}, {_rx(spaced)}, 1), 'z4': {w}, 'cut': length({w}) + 6}} END"""


# -- input stages: both produce _dg_in(keys, _raw, _line, _city_raw, _st, _z5, _z4, _resid) ----
def _free_text_ctes(source: str, keys: str, col: str) -> str:
    c = R.ident(col)
    seg_bad = _rx(rf"^(?:{R.unit_alt()}|#|{R.PO_KW})(?: |$)|[0-9]")
    heur_bad = _rx(rf"^(?:{R.unit_alt()}|#)(?: |$)|^[0-9]")
    heur = f"regexp_extract(_pre_nc, {_rx(R.city_split_pattern())}, 1)"
    # _ctx: where a city may be found, as ' ' || text: the last comma-separated segment when the text
    # has a comma, so a post-directional, unit or suffix before the comma is never read as part of
    # the city ("1 MAIN AVE E , YORK": not EAST YORK); all the text otherwise
    hit = "list_filter({0}.cities, lambda c: ends_with(_ctx, ' ' || c.m))[1]"
    norm = _normalize_stages(f"{keys}, CAST({c} AS VARCHAR) AS _raw", source, [("_s", c, "free")])
    country = (f"CASE WHEN regexp_matches(_s, {_rx(COUNTRY)}) THEN regexp_replace(_s, {_rx(COUNTRY)}, '') "
               "ELSE _s END")
    return f"""
_dg_n AS (SELECT * REPLACE (rtrim({country}, ' ,') AS _s) FROM {norm}),
_dg_z AS (
  SELECT * EXCLUDE (_s, _zm), _zm.z5 AS _z5, _zm.z4 AS _z4,
         CASE WHEN _zm IS NULL THEN _s ELSE rtrim(left(_s, length(_s) - _zm.cut), ' ,') END AS _rest
  FROM (SELECT *, {_zip_tail_sql('_s')} AS _zm FROM _dg_n)),
_dg_st AS (
  SELECT s.* EXCLUDE (_stc, _rest), rs.abbr AS _st,
         CASE WHEN _stc IS NULL THEN _rest ELSE {_cut('_rest', '_stc')} END AS _pre
  FROM (SELECT *, {_state_tail_sql('_rest')} AS _stc FROM _dg_z) s
  LEFT JOIN ref_state rs ON rs.token = s._stc),
_dg_tok AS (
  SELECT *, ' ' || CASE WHEN _comma THEN _seg ELSE _pre_nc END AS _ctx
  FROM (SELECT *, {_last_word('_pre_nc')} AS _last,
               CASE WHEN _comma THEN trim(regexp_extract(_pre, ',([^,]+)$', 1)) ELSE '' END AS _seg
        FROM (SELECT *, CASE WHEN _comma THEN trim(replace(replace(_pre, ' ,', ''), ',', ''))
                             ELSE _pre END AS _pre_nc
              FROM (SELECT *, contains(_pre, ',') AS _comma FROM _dg_st)))),
_dg_hz AS (
  SELECT t.*, {hit.format('zc')} AS _zhit
  FROM _dg_tok t
  LEFT JOIN ref_city_match zc ON zc.scope = 'Z' AND zc.code = t._z5 AND zc.last = t._last),
_dg_hs AS (
  SELECT t.*, {hit.format('sc')} AS _shit
  FROM (SELECT *, CASE WHEN _zhit IS NULL AND _seg <> '' AND NOT regexp_matches(_seg, {seg_bad})
                       THEN _seg END AS _cseg FROM _dg_hz) t
  LEFT JOIN ref_city_match sc ON sc.scope = 'S' AND sc.last = t._last
        AND sc.code = CASE WHEN t._zhit IS NULL AND t._cseg IS NULL THEN t._st END),
_dg_k AS (
  SELECT *, CASE WHEN _zhit IS NOT NULL THEN _zhit.m WHEN _cseg IS NOT NULL THEN _cseg
                 WHEN _shit IS NOT NULL THEN _shit.m
                 WHEN _heur <> '' AND NOT regexp_matches(_heur, {heur_bad}) THEN _heur END AS _ctail
  FROM (SELECT *, CASE WHEN _zhit IS NULL AND _cseg IS NULL AND _shit IS NULL AND contains(_pre_nc, ' ')
                       THEN {heur} END AS _heur FROM _dg_hs)),
_dg_in AS (
  SELECT {keys}, _raw,
         CASE WHEN _ctail IS NULL THEN _pre_nc
              ELSE rtrim(left(_pre_nc, length(_pre_nc) - length(_ctail))) END AS _line,
         CASE WHEN _zhit IS NOT NULL THEN _zhit.d WHEN _cseg IS NULL AND _shit IS NOT NULL THEN _shit.d
              ELSE _ctail END AS _city_raw,
         _st, _z5, _z4, _pre_nc AS _resid
  FROM _dg_k)"""


def _structured_ctes(source: str, keys: str, street: str | None, city: str | None,
                     state: str | None, zip_: str | None) -> str:
    def col(name: str | None) -> str:
        return "CAST(NULL AS VARCHAR)" if name is None else f"CAST({R.ident(name)} AS VARCHAR)"

    raw = f"concat_ws(' ', {col(street)}, {col(city)}, {col(state)}, {col(zip_)})"
    zr = f"coalesce(trim({col(zip_)}), '')"
    norm = _normalize_stages(f"{keys}, {raw} AS _raw, {zr} AS _zr", source,
                             [("_line", col(street), "line"), ("_cn", col(city), "simple"),
                              ("_stn", col(state), "simple")])
    return f"""
_dg_n AS (
  SELECT *, CASE WHEN regexp_matches(_zr, '^[0-9]{{5}}$') THEN {{'z5': _zr, 'z4': ''}}
                 ELSE {_struct('_zr', ZIP_ANY, ['z5', 'z4'])} END AS _zm
  FROM {norm}),
_dg_in AS (
  SELECT {keys}, _raw, _line, nullif(_cn, '') AS _city_raw, rs.abbr AS _st,
         {_nz('_zm.z5')} AS _z5, {_nz('_zm.z4')} AS _z4,
         CASE WHEN _cn = '' THEN _line ELSE _line || ' ' || _cn END AS _resid
  FROM _dg_n n LEFT JOIN ref_state rs ON rs.token = nullif(n._stn, ''))"""


# -- delivery-line parse (shared) -------------------------------------------------------------
def _parse_ctes() -> str:
    not_digit = "(_line <> '' AND NOT regexp_matches(_line, '^[0-9]'))"
    kind = _struct("_line", R.kind_pattern(), R.KIND_GROUPS)
    lead = _guarded_struct("_line", R.leading_unit_pattern(), ["all", "ut", "hash", "uid"])
    unit = _guarded_struct("_after", R.unit_tail_pattern(), R.UNIT_TAIL_GROUPS)
    bare_rx = _rx(R.bare_unit_pattern())
    bare = (f"CASE WHEN _um IS NULL AND regexp_matches(_b0, ' [0-9][A-Z0-9-]*$') "
            f"AND regexp_matches(_b0, {bare_rx}) THEN regexp_extract(_b0, {bare_rx}, 1) ELSE '' END")
    def dirmap(x: str) -> str:
        return R.case_map(x, R.directional_pairs(), "NULL")
    num = (f"CASE WHEN regexp_matches(_line2, '^[0-9]') THEN regexp_extract(_line2, {_rx(R.NUMBER_PATTERN)}, 1) "
           "ELSE '' END")
    floor = "_line"
    for pat, rep in R.ordinal_floor_rewrites():
        floor = f"regexp_replace({floor}, {_rx(pat)}, {R.lit(rep)})"
    floor = (f"CASE WHEN contains(_line, ' FL') AND regexp_matches(_line, {_rx(R.ordinal_floor_guard())}) "
             f"THEN {floor} ELSE _line END")
    # an id-less designator word after nothing but a directional is the street name ("123 N FRONT")
    dirs = ", ".join(R.lit(t) for t, _ in R.directional_pairs())
    words = ", ".join(R.lit(t) for t in R.UNIT_STREET_WORDS)
    idless_name = (f"CASE WHEN _um.uid2 = '' AND _um.utype2 IN ({words}) "
                   f"THEN left(_after, length(_after) - length(_um.all)) IN ({dirs}) END")
    return f"""
_dg_p1 AS (
  SELECT *, CASE WHEN _lu.all IS NOT NULL THEN substr(_line, length(_lu.all) + 1) ELSE _line END AS _line2
  FROM (SELECT *, CASE WHEN {not_digit} THEN {kind} END AS _km,
               CASE WHEN {not_digit} THEN {lead} END AS _lu
        FROM (SELECT * REPLACE ({floor} AS _line) FROM _dg_in))),
_dg_p2 AS (
  SELECT *, CASE
      WHEN _km.po <> '' OR _km.pob_num <> '' THEN 'PO_BOX'
      WHEN _km.rr <> '' OR _km.rt_num <> '' THEN 'RURAL_ROUTE'
      WHEN _km.hc <> '' THEN 'HIGHWAY_CONTRACT'
      WHEN _km.gd <> '' THEN 'GENERAL_DELIVERY' END AS _kind0,
    {unit} AS _um
  FROM (SELECT *, CASE WHEN _num = '' THEN _line2 ELSE ltrim(substr(_line2, length(_num) + 1)) END AS _after
        FROM (SELECT *, {num} AS _num FROM _dg_p1))),
_dg_p3 AS (
  SELECT *, CASE WHEN _bare = '' THEN _b0 ELSE left(_b0, length(_b0) - length(_bare) - 1) END AS _body
  FROM (SELECT *, {bare} AS _bare
        FROM (SELECT *, CASE WHEN _um IS NULL THEN _after ELSE left(_after, length(_after) - length(_um.all))
                        END AS _b0
              FROM (SELECT * REPLACE (CASE WHEN {idless_name} THEN NULL ELSE _um END AS _um) FROM _dg_p2)))),
_dg_p4 AS (
  SELECT *, CASE WHEN _pd IS NULL THEN _np ELSE substr(_np, length(_f1) + 2) END AS _name
  FROM (SELECT *, {dirmap('_f1')} AS _pd
        FROM (SELECT *, CASE WHEN contains(_np, ' ') THEN split_part(_np, ' ', 1) END AS _f1
              FROM (SELECT t.*, sx.abbr AS _suf,
                           CASE WHEN sx.abbr IS NOT NULL THEN left(_b2, length(_b2) - length(_scand) - 1)
                                ELSE _b2 END AS _np
                    FROM (SELECT *, CASE WHEN contains(_b2, ' ') THEN {_last_word('_b2')} END AS _scand
                          FROM (SELECT *, CASE WHEN _post IS NULL THEN _body
                                               ELSE left(_body, length(_body) - length(_w1) - 1) END AS _b2
                                FROM (SELECT *, CASE WHEN contains(_body, ' ') THEN {dirmap('_w1')} END AS _post
                                      FROM (SELECT *, {_last_word('_body')} AS _w1 FROM _dg_p3)))) t
                    LEFT JOIN ref_street_suffix sx ON sx.token = t._scand))))"""


def _final_select(keys: str) -> str:
    street_kind = "(_kind0 IS NULL)"
    num_raw = ("CASE _kind0 WHEN 'PO_BOX' THEN nullif(coalesce(nullif(_km.po_num, ''), _km.pob_num), '') "
               "WHEN 'RURAL_ROUTE' THEN nullif(coalesce(nullif(_km.rr_num, ''), _km.rt_num), '') "
               "WHEN 'HIGHWAY_CONTRACT' THEN nullif(_km.hc_num, '') "
               "WHEN 'GENERAL_DELIVERY' THEN NULL ELSE nullif(_num, '') END")
    box = ("CASE _kind0 WHEN 'RURAL_ROUTE' THEN nullif(coalesce(nullif(_km.rr_box, ''), _km.rt_box), '') "
           "WHEN 'HIGHWAY_CONTRACT' THEN nullif(_km.hc_box, '') END")
    uid = "coalesce(nullif(_um.uid, ''), nullif(_um.uid2, ''), nullif(_bare, ''), nullif(_lu.uid, ''))"
    utok = "coalesce(nullif(_um.utype, ''), nullif(_um.utype2, ''), nullif(_lu.ut, ''))"
    unit = f"CASE WHEN {uid} IS NULL THEN NULL ELSE replace({_strip_zeros(uid)}, ' ', '') END"
    return f"""
_dg_p5 AS (
  SELECT p.*, {num_raw} AS _num_raw, {box} AS _box_raw,
    CASE WHEN {street_kind} THEN _pd END AS a_predir,
    CASE WHEN {street_kind} THEN CASE WHEN _suf IS NULL AND ns.abbr IS NOT NULL THEN ns.abbr
                                      ELSE nullif(_name, '') END END AS _name0,
    CASE WHEN {street_kind} THEN _suf END AS a_suffix,
    CASE WHEN {street_kind} THEN _post END AS a_postdir,
    CASE WHEN {street_kind} THEN ud.abbr END AS a_unit_type,
    CASE WHEN {street_kind} THEN {unit} END AS a_unit,
    z.zip5 IS NOT NULL AND z.active AS _zip_found, z.state AS _zip_state
  FROM _dg_p4 p
  LEFT JOIN ref_street_suffix ns ON ns.token = nullif(p._name, '')
  LEFT JOIN ref_unit_designator ud ON ud.token = {utok}
  LEFT JOIN ref_zip z ON z.zip5 = p._z5),
_dg_p6 AS (
  SELECT *, {_strip_zeros('_num_raw')} AS a_number, {_strip_zeros('_box_raw')} AS a_box,
    coalesce(a_unit, a_unit_type) AS a_unit_key,
    coalesce(regexp_matches(_raw, '[^[:space:]]'), false) AS a_present
  FROM _dg_p5),
_dg_p6n AS ({_map_stages('_dg_p6', '_name0', 'a_street_name', name_map())}),
_dg_p6c AS ({_map_stages('_dg_p6n', '_city_raw', '_city', city_map())}),
_dg_p7 AS (
  SELECT *, CASE WHEN _kind0 IS NOT NULL THEN _kind0
                 WHEN a_number IS NOT NULL OR a_street_name IS NOT NULL THEN 'STREET' END AS a_kind,
    nullif(concat_ws(' ', a_predir, a_street_name, a_suffix, a_postdir), '') AS a_street_key,
    {_placeholder_sql()} AS a_placeholder
  FROM _dg_p6c)
SELECT {keys}, a_present, a_placeholder, a_kind, a_number, a_box, a_predir, a_street_name, a_suffix,
  a_postdir, a_street_key, a_unit_type, a_unit, a_unit_key, _city AS a_city, _st AS a_state, _z5 AS a_zip5,
  _z4 AS a_zip4,
  CASE WHEN _z5 IS NOT NULL THEN _zip_found END AS a_zip_exists,
  CASE WHEN _z5 IS NOT NULL AND _st IS NOT NULL THEN coalesce(_zip_state = _st, false) END
    AS a_zip_state_ok,
  {_sufficient_sql()} AS a_sufficient,
  coalesce(regexp_matches(_raw, {_rx(ZIP_LIKE)}), false) AS a_zip_like,
  {_std_sql()} AS a_std
FROM _dg_p7"""


def _placeholder_sql() -> str:
    vocab_only = _rx(f"^(?:{R.vocab_only_pattern()})$")
    strong = _rx(R.strong_vocab_pattern())

    def vocab_name(col: str) -> str:
        return (f"CASE WHEN {col} IS NOT NULL AND regexp_matches({col}, {vocab_only}) "
                f"THEN regexp_matches({col}, {strong}) ELSE false END")

    seq = ("CASE WHEN length(_num_raw) >= 6 THEN contains('01234567890', _num_raw) "
           "OR contains('9876543210', _num_raw) ELSE false END")
    return f"""a_present AND (
      coalesce(regexp_matches(_resid, {_rx(f"^(?:{R.all_junk_pattern()})$")})
               AND NOT (_z5 IS NOT NULL AND regexp_full_match(coalesce(_resid, ''), '[0-9 ]*')), false)
      OR {vocab_name('a_street_name')} OR {vocab_name('_city')}
      OR coalesce(regexp_matches(_num_raw, '^0+$'), false)
      OR coalesce(regexp_matches(_box_raw, '^0+$'), false)
      OR coalesce({seq}, false)
      OR coalesce(_z5 = repeat(left(_z5, 1), 5), false)
      OR coalesce(_z5 || coalesce(_z4, '') = '123456789', false)
      OR coalesce(_z5 = '12345' AND a_number IS NULL, false))"""


def _sufficient_sql() -> str:
    return """(a_present AND NOT a_placeholder
    AND (_z5 IS NOT NULL OR (_city IS NOT NULL AND _st IS NOT NULL))
    AND CASE a_kind WHEN 'STREET' THEN a_number IS NOT NULL AND a_street_name IS NOT NULL
                    WHEN 'PO_BOX' THEN a_number IS NOT NULL
                    WHEN 'RURAL_ROUTE' THEN a_number IS NOT NULL AND a_box IS NOT NULL
                    WHEN 'HIGHWAY_CONTRACT' THEN a_number IS NOT NULL AND a_box IS NOT NULL
                    WHEN 'GENERAL_DELIVERY' THEN true ELSE false END)"""


def _std_sql() -> str:
    unit = "CASE WHEN a_unit_type IS NOT NULL THEN a_unit_type WHEN a_unit IS NOT NULL THEN '#' END"
    box = "CASE WHEN a_box IS NOT NULL THEN 'BOX' END"
    line1 = f"""CASE a_kind
      WHEN 'STREET' THEN concat_ws(' ', a_number, a_street_key, {unit}, a_unit)
      WHEN 'PO_BOX' THEN concat_ws(' ', 'PO BOX', a_number)
      WHEN 'RURAL_ROUTE' THEN concat_ws(' ', 'RR', a_number, {box}, a_box)
      WHEN 'HIGHWAY_CONTRACT' THEN concat_ws(' ', 'HC', a_number, {box}, a_box)
      WHEN 'GENERAL_DELIVERY' THEN 'GENERAL DELIVERY' END"""
    line2 = "concat_ws(' ', _city, _st, _z5 || coalesce('-' || _z4, ''))"
    return f"nullif(concat_ws(', ', nullif({line1}, ''), nullif({line2}, '')), '')"


# -- public -----------------------------------------------------------------------------------
def address_sql(source: str, *, key_cols: Sequence[str], free_text: str | None = None,
                street: str | None = None, city: str | None = None,
                state: str | None = None, zip: str | None = None) -> str:
    """Return a SELECT over relation `source` yielding key_cols plus the standardized columns
    (:data:`OUTPUT_COLUMNS`). Either ``free_text`` (one column holding the whole address) or
    the structured columns (``street``, ``city``, ``state``, ``zip``; any may be omitted).
    Input values are cast to VARCHAR and may be NULL. Needs :func:`install_reference_tables`."""
    structured = any(c is not None for c in (street, city, state, zip))
    if not key_cols:
        raise DgateError("address_sql needs at least one key column")
    if (free_text is None) != structured:
        raise DgateError("address_sql takes either free_text or structured columns")
    keys = ", ".join(R.ident(k) for k in key_cols)
    if free_text is not None:
        inputs = _free_text_ctes(source, keys, free_text)
    else:
        inputs = _structured_ctes(source, keys, street, city, state, zip)
    return f"WITH {inputs},{_parse_ctes()},{_final_select(keys)}"


# -- reference tables -------------------------------------------------------------------------
def install_reference_tables(engine: Engine) -> None:
    """CREATE OR REPLACE the reference tables. Idempotent.

    * ``ref_street_suffix``, ``ref_unit_designator``, ``ref_directional``, ``ref_state``
      ``(token, abbr)`` from the packaged ``data/address_*.csv`` (USPS Pub 28 C1, C2, ...).
    * ``ref_zip(zip5, state, city, zip_type, active)`` and ``ref_zip_city(zip5, city)`` (primary
      and acceptable city names, in :func:`city_norm_sql` form) from the ``zipcodes`` package.
    * ``ref_city_match(scope, code, last, cities)``: for scope ``'Z'`` (code = ZIP5) and ``'S'``
      (code = state), the cities whose last word is ``last``, in every spelling free text may
      use (:func:`city_variants`), as ``{m: spelling, d: display form}``, longest first.
    """
    import pyarrow as pa
    import zipcodes

    def load(name: str, rows: Sequence[tuple[str, str]]) -> None:
        table = pa.table({"token": [r[0] for r in rows], "abbr": [r[1] for r in rows]})
        engine.register("_dg_ref_src", table)
        try:
            engine.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT DISTINCT token, abbr "
                           "FROM _dg_ref_src ORDER BY token", label=f"create {name}")
        finally:
            engine.unregister("_dg_ref_src")

    load("ref_street_suffix", R.suffix_pairs())
    load("ref_unit_designator", R.unit_pairs())
    load("ref_directional", R.directional_pairs())
    load("ref_state", R.state_pairs())

    list_all: Callable[[], list[dict[str, Any]]] = zipcodes.list_all
    data = list_all()
    zips = pa.table({
        "zip5": [z["zip_code"] for z in data], "state": [z["state"] for z in data],
        "city": [z["city"] for z in data], "zip_type": [z["zip_code_type"] for z in data],
        "active": [bool(z["active"]) for z in data]})
    names = [(z["zip_code"], c) for z in data for c in [z["city"], *z["acceptable_cities"]]]
    cities = pa.table({"zip5": [n[0] for n in names], "city": [n[1] for n in names]})
    city = city_norm_sql(normalize_sql("city", mode="simple"))
    engine.register("_dg_zip_src", zips)
    engine.register("_dg_zip_city_src", cities)
    try:
        engine.execute(
            f"CREATE OR REPLACE TABLE ref_zip AS SELECT zip5, state, {city} AS city, zip_type, active "
            "FROM _dg_zip_src ORDER BY zip5", label="create ref_zip")
        engine.execute(
            f"CREATE OR REPLACE TABLE ref_zip_city AS SELECT DISTINCT zip5, {city} AS city "
            "FROM _dg_zip_city_src WHERE city IS NOT NULL ORDER BY ALL", label="create ref_zip_city")
    finally:
        engine.unregister("_dg_zip_src")
        engine.unregister("_dg_zip_city_src")
    _install_city_match(engine)


def city_variants(city: str) -> list[str]:
    """Spellings of a (display-form) city that free text may use: each expanded word may also be
    written abbreviated (SAINT/ST, FORT/FT, NORTH/N ...). At most 16 variants."""
    alts = R.city_variant_words()
    out = [""]
    for word in city.split(" "):
        out = [f"{o} {w}".strip() for o in out for w in [word, *alts.get(word, ())]][:16]
    return out


def _install_city_match(engine: Engine) -> None:
    import pyarrow as pa

    rows = engine.fetchall("SELECT DISTINCT c.zip5, z.state, c.city FROM ref_zip_city c "
                           "JOIN ref_zip z USING (zip5) ORDER BY ALL", label="city variants")
    keys: list[tuple[str, str, str]] = []
    ms: list[str] = []
    ds: list[str] = []
    for zip5, state, city in rows:
        for m in city_variants(city):
            last = m.rsplit(" ", 1)[-1]
            for scope, code in (("Z", zip5), ("S", state)):
                keys.append((scope, code, last))
                ms.append(m)
                ds.append(city)
    engine.register("_dg_city_src", pa.table({
        "scope": [k[0] for k in keys], "code": [k[1] for k in keys], "last": [k[2] for k in keys],
        "m": ms, "d": ds}))
    try:
        engine.execute("""
CREATE OR REPLACE TABLE ref_city_match AS
SELECT scope, code, last, list({'m': m, 'd': d} ORDER BY len(string_split(m, ' ')) DESC, m, d) AS cities
FROM (SELECT DISTINCT scope, code, last, m, d FROM _dg_city_src)
GROUP BY ALL ORDER BY ALL""", label="create ref_city_match")
    finally:
        engine.unregister("_dg_city_src")
