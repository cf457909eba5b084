"""Messy, requester-side renderings of names, TINs, dates and addresses (vectorised).

Every function takes integer codes (indices into the dictionaries of
:mod:`.data`) plus a random generator and returns pyarrow string arrays. Variation
is drawn per row; the variant strings themselves come from per-dictionary tables,
so no Python code runs per row.

What a request can look like (all of these must still match the custodian row):

* names: upper / Title / lower case, accents where the name has them (José,
  Muñoz, Núñez), apostrophes (O'Brien), middle name full, as an initial ("A" or
  "A."), or left out; suffix ``JR``/``Jr``/``Jr.``/``jr``/``SR``/``II``/``III``
  in ``name_suffix`` only (never appended to the surname), sometimes left out.
* TINs: ``123456789``, ``123-45-6789``, ``123 45 6789`` or with surrounding spaces.
* addresses: directionals ``N``/``N.``/``North``; suffixes ``St``/``St.``/
  ``Street``/``Str``; units ``Apt 4``/``Apt. 4``/``Apartment 4``/``#4``/``# 4``/
  ``Unit 4``/``Apt #4`` (designator free, number exact), optionally after a
  comma; ``PO Box``/``P.O. Box``/``Post Office Box``; ``RR``/``Rural Route``;
  state as code or full name; ZIP or ZIP+4 (``62704-1234``, rarely
  ``627041234``); doubled spaces; free text joined with ``, `` / `` `` / ``,``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from disclosure_gate.synth.data import (
    NICK_K,
    PLACEHOLDER_ALONE_NUMBERS,
    PLACEHOLDER_NUMBERS,
    PLACEHOLDER_WORDS,
    POBOX_FORMS,
    RURAL_FORMS,
    STATE_NAMES,
    SUFFIX_FORMS,
    TYPO_K,
    UNIT_PREFIXES,
    name_tables,
    street_tables,
    title_form,
    zip_table,
)
from disclosure_gate.synth.world import (
    FORM_POBOX,
    FORM_RURAL,
    KIND_POBOX,
    KIND_RURAL,
    World,
    join_skip,
    surname_strings,
)

I64 = npt.NDArray[np.int64]
BOOL = npt.NDArray[np.bool_]
Cases = npt.NDArray[np.int64]  # 0 upper, 1 title, 2 lower


def _forms3(words: list[str]) -> pa.Array:
    out: list[str] = []
    for w in words:
        title = " ".join(p.capitalize() if p.replace("'", "").isalpha() else p for p in w.split(" "))
        out.extend([w, title, w.lower()])
    return pa.array(out, pa.string())


_UNIT_FORMS = _forms3([p for group in UNIT_PREFIXES for p in group])
_UNIT_K = len(UNIT_PREFIXES[0])
_POBOX_FORMS = _forms3(list(POBOX_FORMS))
_RURAL_FORMS = _forms3(list(RURAL_FORMS))
_BOX_FORMS = _forms3(["BOX"])
_PLACEHOLDER_FORMS = _forms3(list(PLACEHOLDER_WORDS))
_SUFFIX_FLAT = pa.array([f for forms in SUFFIX_FORMS for f in (list(forms) * 5)[:5]], pa.string())


def choose_case(rng: np.random.Generator, n: int, p: tuple[float, float, float] = (0.35, 0.55, 0.10)) -> Cases:
    return rng.choice(3, size=n, p=np.asarray(p)).astype(np.int64)


def recase(arr: pa.Array, case: Cases) -> pa.Array:
    """Apply upper/title/lower per row to free strings (placeholders, nicknames)."""
    return pc.choose(pa.array(case.astype(np.int8)), pc.utf8_upper(arr), pc.utf8_title(arr), pc.utf8_lower(arr))


def nulls(n: int) -> pa.Array:
    return pa.nulls(n, pa.string())


def where(mask: BOOL, a: pa.Array, b: pa.Array) -> pa.Array:
    return pc.if_else(pa.array(mask, pa.bool_()), a, b)


def whitespace_noise(rng: np.random.Generator, arr: pa.Array, rate: float) -> pa.Array:
    """Double the first space or pad with spaces in a share of rows."""
    n = len(arr)
    r = rng.random(n)
    doubled = pc.replace_substring(arr, " ", "  ", max_replacements=1)
    padded = pc.binary_join_element_wise(" ", arr, " ", "")
    return where(r < rate / 2, doubled, where(r < rate, padded, arr))


# -- names ----------------------------------------------------------------------------------
def first_names(rng: np.random.Generator, first: I64, case: Cases, *, nickname: BOOL | None = None) -> pa.Array:
    nt = name_tables()
    n = len(first)
    accent = nt.first_has_display[first] & (rng.random(n) < 0.6)
    normal = pc.take(nt.first_forms, pa.array(first * 6 + accent * 3 + case))
    if nickname is None or not nickname.any():
        return normal
    nick = pc.take(nt.first_nick, pa.array(first * NICK_K + rng.integers(0, NICK_K, n)))
    return where(nickname, recase(nick, case), normal)


def middle_names(rng: np.random.Generator, middle: I64, case: Cases) -> pa.Array:
    nt = name_tables()
    n = len(middle)
    has = middle >= 0
    r = rng.random(n)
    full = pc.take(nt.first_forms, pa.array(np.maximum(middle, 0) * 6 + case, mask=~has))
    initial = pc.utf8_slice_codeunits(pc.utf8_upper(full), 0, 1)
    dotted = pc.binary_join_element_wise(initial, ".", "")
    out = where(r < 0.35, full, where(r < 0.50, initial, where(r < 0.62, dotted, nulls(n))))
    return pc.fill_null(out, "")


def surnames(rng: np.random.Generator, last1: I64, last2: I64, join: I64, case: Cases) -> pa.Array:
    nt = name_tables()
    accent = nt.last_has_display[last1] & (rng.random(len(last1)) < 0.6)
    return surname_strings(last1, last2, join, case + accent * 3)


def suffixes(rng: np.random.Generator, code: I64, keep: float) -> pa.Array:
    """Suffix renderings; kept with probability ``keep`` when the person has one."""
    n = len(code)
    shown = np.where(rng.random(n) < keep, code, 0)
    return pc.take(_SUFFIX_FLAT, pa.array(shown * 5 + rng.integers(0, 5, n)))


# -- TINs and dates ------------------------------------------------------------------------------
def _digits(values: I64, width: int) -> npt.NDArray[np.uint8]:
    out = np.empty((len(values), width), dtype=np.uint8)
    v = values.astype(np.int64).copy()
    for i in range(width - 1, -1, -1):
        v, d = np.divmod(v, 10)
        out[:, i] = d + 48
    return out


def _bytes_to_strings(mat: npt.NDArray[np.uint8]) -> pa.Array:
    m = np.ascontiguousarray(mat)
    return pa.array(m.view(f"S{m.shape[1]}").ravel()).cast(pa.string())


def format_tins(rng: np.random.Generator, tin: I64) -> pa.Array:
    """Valid 9-digit TINs as ``123456789``, ``123-45-6789``, ``123 45 6789`` or padded."""
    n = len(tin)
    d = _digits(tin, 9)
    dashed = np.concatenate([d[:, :3], np.full((n, 1), 45, np.uint8), d[:, 3:5],
                             np.full((n, 1), 45, np.uint8), d[:, 5:]], axis=1)
    spaced = np.where(dashed == 45, 32, dashed).astype(np.uint8)
    r = rng.random(n)
    plain = _bytes_to_strings(d)
    out = where(r < 0.35, _bytes_to_strings(dashed), where(r < 0.45, _bytes_to_strings(spaced), plain))
    return where(r > 0.96, pc.binary_join_element_wise(" ", plain, " ", ""), out)


_INVALID_MIDDLE_9XX = np.array([*range(0, 50), *range(66, 70), 89, 93], dtype=np.int64)


def invalid_tins(rng: np.random.Generator, tin: I64) -> pa.Array:
    """TINs that no rule accepts: area 000/666/9xx-not-ITIN, group 00, serial 0000,
    8 or 10 digits, or letters. Based on the person's own TIN where it makes a typo."""
    n = len(tin)
    kind = rng.integers(0, 8, n)
    area = rng.integers(1, 899, n)
    area = np.where(area == 666, 667, area)
    group = rng.integers(1, 100, n)
    serial = rng.integers(1, 10000, n)
    numeric = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3],
        [group * 10_000 + serial, 666_000_000 + group * 10_000 + serial,
         rng.integers(900, 1000, n) * 1_000_000 + rng.choice(_INVALID_MIDDLE_9XX, n) * 10_000 + serial,
         area * 1_000_000 + serial],
        area * 1_000_000 + group * 10_000)
    nine = format_tins(rng, numeric)
    d = _digits(tin, 9)
    pos = rng.integers(0, 9, n)
    rows = np.arange(n)
    keep = np.ones((n, 9), dtype=bool)
    keep[rows, pos] = False
    eight = _bytes_to_strings(d[keep].reshape(n, 8))
    extra = rng.integers(48, 58, n).astype(np.uint8)
    ten_m = np.concatenate([d[:, :1], extra[:, None], d[:, 1:]], axis=1)
    ten = _bytes_to_strings(ten_m)
    letters = d.copy()
    letters[rows, pos] = np.frombuffer(b"OIlSBXAZ", dtype=np.uint8)[rng.integers(0, 8, n)]
    masked = pc.binary_join_element_wise("XXX-XX-", _bytes_to_strings(d[:, 5:]), "")
    lettered = where(rng.random(n) < 0.5, _bytes_to_strings(letters), masked)
    return pc.choose(pa.array(np.minimum(kind, 7).astype(np.int8)),
                     nine, nine, nine, nine, nine, eight, ten, lettered)


def dates(days: npt.NDArray[np.integer], give: BOOL) -> pa.Array:
    arr = pa.array(days.astype(np.int32), type=pa.int32()).cast(pa.date32()).cast(pa.string())
    return where(give, arr, pa.array([""] * len(days), pa.string()))


def perturb_dob(rng: np.random.Generator, dob: npt.NDArray[np.integer], as_of: int) -> I64:
    """Month/day swap (when day <= 12 and differs from the month) or a one-digit typo in the
    last digit of the year or of the day; always a valid date other than ``dob``."""
    n = len(dob)
    d = dob.astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    swap = (day <= 12) & (day != m) & (rng.random(n) < 0.45)
    m2, d2 = np.where(swap, day, m), np.where(swap, m, day)
    y_cand = y - y % 10 + (y % 10 + rng.integers(1, 10, n)) % 10
    year_ok = (~swap & (rng.random(n) < 0.5) & _valid_ymd(y_cand, m, day)
               & (_to_days(y_cand, m, day) <= as_of - 16 * 365))
    y2 = np.where(year_ok, y_cand, y)
    todo = ~swap & ~year_ok
    for _ in range(64):  # change the ones or the tens digit of the day; a few rounds settle all rows
        ones = d2 - d2 % 10 + (d2 % 10 + rng.integers(1, 10, n)) % 10
        tens = d2 % 10 + 10 * ((d2 // 10 + rng.integers(1, 4, n)) % 4)
        cand = np.where(rng.random(n) < 0.7, ones, tens)
        ok = todo & _valid_ymd(y2, m2, cand)
        d2 = np.where(ok, cand, d2)
        todo &= ~ok
        if not todo.any():
            break
    out = _to_days(y2, m2, d2)
    out = np.where(out == dob, dob.astype(np.int64) + 1, out)  # unreachable safety net
    return out.astype(np.int64)


def _valid_ymd(y: I64, m: I64, d: I64) -> BOOL:
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    dim = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(m, 0, 12)]
    dim = dim + ((m == 2) & leap)
    out: BOOL = (m >= 1) & (m <= 12) & (d >= 1) & (d <= dim)
    return out


def _to_days(y: I64, m: I64, d: I64) -> I64:
    months = (y - 1970) * 12 + (np.clip(m, 1, 12) - 1)
    first = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    out: I64 = first + np.clip(d, 1, 31) - 1
    return out


# -- addresses ---------------------------------------------------------------------------------
@dataclass
class AddrSpec:
    """Address components to render; ``form`` 0 street, 1 PO box, 2 rural route."""

    form: I64
    house: I64
    predir: I64
    street: I64
    suffix: I64
    zip: I64
    zip4: I64
    unit: I64
    unit_style: I64
    typo: BOOL = field(default_factory=lambda: np.zeros(0, bool))
    state_override: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    zip_override: I64 = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        n = len(self.form)
        if len(self.typo) != n:
            self.typo = np.zeros(n, bool)
        if len(self.state_override) != n:
            self.state_override = np.full(n, -1, np.int64)
        if len(self.zip_override) != n:
            self.zip_override = np.full(n, -1, np.int64)


def spec_from_sites(w: World, site: npt.NDArray[np.integer], unit: npt.NDArray[np.integer]) -> AddrSpec:
    s = site.astype(np.int64)
    kind = w.s_kind[s]
    form = np.select([kind == KIND_POBOX, kind == KIND_RURAL], [FORM_POBOX, FORM_RURAL], 0).astype(np.int64)
    return AddrSpec(form=form, house=w.s_house[s].astype(np.int64), predir=w.s_predir[s].astype(np.int64),
                    street=w.s_street[s].astype(np.int64), suffix=w.s_suffix[s].astype(np.int64),
                    zip=w.s_zip[s].astype(np.int64), zip4=w.s_zip4[s].astype(np.int64),
                    unit=unit.astype(np.int64), unit_style=w.s_unit_style[s].astype(np.int64))


@dataclass
class AddrCols:
    street: pa.Array
    city: pa.Array
    state: pa.Array
    zip: pa.Array

    @staticmethod
    def empty(n: int) -> AddrCols:
        return AddrCols(nulls(n), nulls(n), nulls(n), nulls(n))


def street_line(rng: np.random.Generator, a: AddrSpec, case: Cases, *, with_number: bool = True,
                with_unit: bool = True) -> pa.Array:
    st = street_tables()
    n = len(a.form)
    house = pa.array(a.house).cast(pa.string()) if with_number else nulls(n)
    dvar = rng.choice(3, size=n, p=[0.5, 0.15, 0.35])
    pre = pc.take(st.dir_forms, pa.array((a.predir * 3 + dvar) * 3 + case, mask=a.predir == 0))
    normal = pc.take(st.name_forms, pa.array(a.street * 3 + case))
    typo = pc.take(st.typo_forms, pa.array((a.street * TYPO_K + rng.integers(0, TYPO_K, n)) * 3 + case))
    name = where(a.typo & st.has_typo[a.street], typo, normal)
    svar = rng.choice(4, size=n, p=[0.45, 0.10, 0.35, 0.10])
    sfx = pc.take(st.suffix_forms, pa.array((a.suffix * 4 + svar) * 3 + case))
    line = join_skip(" ", house, pre, name, sfx)
    box_word = pc.take(_POBOX_FORMS, pa.array(rng.integers(0, len(POBOX_FORMS), n) * 3 + case))
    box = join_skip(" ", box_word, house)
    rr_word = pc.take(_RURAL_FORMS, pa.array(rng.integers(0, len(RURAL_FORMS), n) * 3 + case))
    route = pa.array(a.suffix).cast(pa.string())
    box_kw = pc.take(_BOX_FORMS, pa.array(case))
    rural = join_skip(" ", rr_word, route, box_kw, house)
    line = pc.choose(pa.array(a.form.astype(np.int8)), line, box, rural)
    if with_unit:
        has = a.unit > 0
        prefix = pc.take(_UNIT_FORMS, pa.array((a.unit_style * _UNIT_K + rng.integers(0, _UNIT_K, n)) * 3 + case))
        unit = pc.binary_join_element_wise(prefix, pa.array(a.unit).cast(pa.string()), "")
        sep = pa.array(np.where(rng.random(n) < 0.25, ", ", " "))
        joined = pc.binary_join_element_wise(line, unit, sep)
        line = where(has, joined, line)
    return whitespace_noise(rng, line, 0.06)


def city_state_zip(rng: np.random.Generator, a: AddrSpec, case: Cases) -> tuple[pa.Array, pa.Array, pa.Array]:
    zt = zip_table()
    n = len(a.zip)
    same = rng.random(n) < 0.8
    ccase = np.where(same, case, choose_case(rng, n))
    city = pc.take(zt.city_forms, pa.array(a.zip * 3 + ccase))
    sidx = np.where(a.state_override >= 0, a.state_override, zt.state_idx[a.zip].astype(np.int64))
    codes = pa.array(zt.states)
    full = _forms3([STATE_NAMES[s] for s in zt.states])
    code = pc.take(codes, pa.array(sidx))
    r = rng.random(n)
    state = where(r < 0.80, code, where(r < 0.85, pc.utf8_title(code), where(r < 0.90, pc.utf8_lower(code),
                  pc.take(full, pa.array(sidx * 3 + ccase)))))
    zip5 = pc.take(pa.array(zt.zip5), pa.array(a.zip))
    over = a.zip_override >= 0
    zip5 = where(over, pc.utf8_lpad(pa.array(np.maximum(a.zip_override, 0)).cast(pa.string()), 5, "0"), zip5)
    plus4 = pc.utf8_lpad(pa.array(a.zip4).cast(pa.string()), 4, "0")
    rz = rng.random(n)
    sep = pa.array(np.where(rz < 0.1, "", "-"))
    with4 = pc.binary_join_element_wise(zip5, plus4, sep)
    zips = where((a.zip4 > 0) & ~over & (rz < 0.55), with4, zip5)
    return city, state, zips


def render_address(rng: np.random.Generator, a: AddrSpec, *, with_unit: bool = True) -> AddrCols:
    case = choose_case(rng, len(a.form), (0.40, 0.45, 0.15))
    city, state, zips = city_state_zip(rng, a, case)
    return AddrCols(street_line(rng, a, case, with_unit=with_unit), city, state, zips)


def render_insufficient(rng: np.random.Generator, a: AddrSpec) -> AddrCols:
    """ZIP only; city/state/ZIP only; street without a number; or city and state only."""
    n = len(a.form)
    case = choose_case(rng, n, (0.40, 0.45, 0.15))
    city, state, zips = city_state_zip(rng, a, case)
    no_number = street_line(rng, a, case, with_number=False, with_unit=False)
    v = rng.choice(4, size=n, p=[0.3, 0.3, 0.3, 0.1])
    return AddrCols(
        street=where(v == 2, no_number, nulls(n)),
        city=where(v == 0, nulls(n), city),
        state=where(v == 0, nulls(n), state),
        zip=where(v == 3, nulls(n), zips),
    )


def render_placeholder(rng: np.random.Generator, n: int) -> AddrCols:
    """Placeholder words (1-2, possibly repeated: 'NA NA'), cased, with an optional ZIP-like number."""
    nw = len(PLACEHOLDER_WORDS)
    case = choose_case(rng, n, (0.45, 0.30, 0.25))
    w1 = rng.integers(0, nw, n)
    w2 = np.where(rng.random(n) < 0.3, w1, rng.integers(0, nw, n))
    t1 = pc.take(_PLACEHOLDER_FORMS, pa.array(w1 * 3 + case))
    t2 = pc.take(_PLACEHOLDER_FORMS, pa.array(w2 * 3 + case, mask=rng.random(n) >= 0.35))
    zt = zip_table()
    numbers = pa.array(list(PLACEHOLDER_NUMBERS) + zt.zip5[: len(zt.zip5): max(1, len(zt.zip5) // 200)])
    num = pc.take(numbers, pa.array(rng.integers(0, len(numbers), n), mask=rng.random(n) >= 0.5))
    alone = pc.take(pa.array(PLACEHOLDER_ALONE_NUMBERS), pa.array(rng.integers(0, len(PLACEHOLDER_ALONE_NUMBERS), n)))
    is_alone = rng.random(n) < 0.08
    structured_city = rng.random(n) < 0.4
    street = join_skip(" ", t1, t2)
    city = where(structured_city, pc.take(_PLACEHOLDER_FORMS, pa.array(rng.integers(0, nw, n) * 3 + case)), nulls(n))
    state = where(rng.random(n) < 0.1, pa.array(["XX"] * n), nulls(n))
    return AddrCols(
        street=where(is_alone, nulls(n), street),
        city=where(is_alone, nulls(n), city),
        state=where(is_alone, nulls(n), state),
        zip=where(is_alone, alone, num),
    )


def render_missing(rng: np.random.Generator, n: int) -> AddrCols:
    blank = pc.take(pa.array(["", " ", "   "]), pa.array(rng.choice(3, size=n, p=[0.8, 0.15, 0.05])))
    return AddrCols(blank, nulls(n), nulls(n), nulls(n))


def free_text(rng: np.random.Generator, cols: AddrCols) -> pa.Array:
    """One-line address: street, city, state and ZIP with varied separators, empty parts skipped."""
    n = len(cols.street)
    r1 = rng.choice(3, size=n, p=[0.7, 0.2, 0.1])
    sep1 = pc.take(pa.array([", ", " ", ","]), pa.array(r1))
    sep2 = pc.take(pa.array([", ", " "]), pa.array((rng.random(n) < 0.25).astype(np.int64)))
    sc = join_skip(sep1, cols.street, cols.city)
    scs = join_skip(sep2, sc, cols.state)
    full = join_skip(" ", scs, cols.zip)
    return pc.fill_null(full, "")


__all__ = ["AddrCols", "AddrSpec", "title_form"]
