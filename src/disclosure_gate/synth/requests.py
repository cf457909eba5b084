"""Request rows drawn from the world, one category each, with the expected decision.

Each category's rows are built for whole arrays of persons at once. A row has at
most one defect, so its expected reason does not depend on the order in which a
pipeline runs its checks. Categories that need a real person draw persons
without replacement: a person appears in at most one row, except that the
``duplicate_request`` rows repeat a ``tin_current`` person later in the file.

Protected persons appear only in ``protected_record``; institution residents only
in ``shared_institution``; Jr/Sr pair members never in the no-TIN categories
other than ``ambiguous_jr_sr``. When a pool runs dry (small worlds), the missing
rows become ``tin_not_on_file`` rows, so the file always has ``requests`` rows.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from disclosure_gate.synth import render as r
from disclosure_gate.synth.data import name_tables, sample, street_tables, zip_table
from disclosure_gate.synth.world import (
    FORM_STREET,
    KIND_BUILDING,
    KIND_HOUSE,
    NO_END,
    YEAR,
    World,
    WorldPlan,
    form_of,
    random_sites,
    sample_first,
    site_key,
    unit_number,
)

I64 = npt.NDArray[np.int64]
BOOL = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Category:
    name: str
    expected: str  # DISCLOSE | DENY | REVIEW
    reason: str  # empty for DISCLOSE
    share: float  # default share of all rows (no_tin_share = 0.30)
    tin: bool  # the row carries a TIN (the no-TIN group sums to 0.30 by default)


#: The default mix (shares of the request rows), loosely shaped like the 2025 IRS->ICE batch:
#: most rows must not be disclosed (23% DISCLOSE, 70% DENY, 7% REVIEW); 30% of rows carry no TIN.
CATEGORIES: tuple[Category, ...] = (
    Category("tin_current", "DISCLOSE", "", 0.09, True),
    Category("tin_recent_past", "DISCLOSE", "", 0.03, True),
    Category("tin_nickname", "DISCLOSE", "", 0.02, True),
    Category("tin_two_part_surname", "DISCLOSE", "", 0.02, True),
    Category("notin_exact", "DISCLOSE", "", 0.07, False),
    Category("tin_other_address", "DENY", "ADDRESS_NOT_ON_FILE", 0.06, True),
    Category("tin_stale_address", "DENY", "ADDRESS_NOT_ON_FILE", 0.03, True),
    Category("address_placeholder", "DENY", "ADDRESS_PLACEHOLDER", 0.07, True),
    Category("address_insufficient", "DENY", "ADDRESS_INSUFFICIENT", 0.04, True),
    Category("address_inconsistent", "DENY", "ADDRESS_INCONSISTENT", 0.02, True),
    Category("address_missing", "DENY", "ADDRESS_MISSING", 0.03, True),
    Category("name_missing", "DENY", "NAME_MISSING", 0.01, True),
    Category("tin_invalid", "DENY", "TIN_INVALID", 0.03, True),
    Category("tin_not_on_file", "DENY", "NO_MATCH", 0.16, True),
    Category("notin_no_match", "DENY", "NO_MATCH", 0.19, False),
    Category("tin_name_mismatch", "DENY", "TIN_NAME_MISMATCH", 0.03, True),
    Category("ambiguous_jr_sr", "DENY", "AMBIGUOUS_MATCH", 0.01, False),
    Category("protected_record", "DENY", "PROTECTED_RECORD", 0.005, True),
    Category("duplicate_request", "DENY", "DUPLICATE_REQUEST", 0.015, True),
    Category("unit_mismatch", "REVIEW", "UNIT_MISMATCH", 0.03, True),
    Category("low_confidence_dob", "REVIEW", "LOW_CONFIDENCE", 0.03, False),
    Category("shared_institution", "REVIEW", "ADDRESS_SHARED_BY_MANY", 0.01, True),
)
CATEGORY_MIX: dict[str, float] = {c.name: c.share for c in CATEGORIES}
CAT_INDEX: dict[str, int] = {c.name: i for i, c in enumerate(CATEGORIES)}
#: Categories whose rows each use up a distinct real person (drawn without replacement).
PERSON_CATEGORIES: tuple[str, ...] = tuple(
    c.name for c in CATEGORIES
    if c.name not in ("tin_not_on_file", "notin_no_match", "duplicate_request", "shared_institution"))

LOOKBACK_YEARS = 6
LOOKBACK_MARGIN_DAYS = 30  # recent/stale addresses end at least this far from the cutoff
SHARED_THRESHOLD = 25  # "more than 25 requests name the same address"
SHARED_MIN_ROWS = 30
SHARED_ROWS_PER_INSTITUTION = 300
SITE_CAP = 12  # other addresses: at most 12 rows before duplicates, so at most 24 after
HOME_RANK_CAP = 10  # at most 10 residents of one home site are candidates
MIN_REQUESTS_ALL = 200  # from here on every category gets at least one row (if the world allows)


@dataclass(frozen=True)
class RequestPlan:
    counts: dict[str, int]
    inst_rows: tuple[int, ...]

    def world_plan(self, persons: int) -> WorldPlan:
        res = tuple(math.ceil(1.4 * k) + 2 for k in self.inst_rows)
        return WorldPlan(
            persons=persons, inst_residents=res,
            min_jrsr_pairs=2 * self.counts["ambiguous_jr_sr"] + 2,
            min_protected=3 * self.counts["protected_record"],
            min_two_part=2 * self.counts["tin_two_part_surname"],
        )


def scaled_mix(no_tin_share: float) -> dict[str, float]:
    """The default mix with the no-TIN categories scaled to ``no_tin_share`` of all rows."""
    no_tin = sum(c.share for c in CATEGORIES if not c.tin)
    return {c.name: c.share * (no_tin_share / no_tin if not c.tin else (1 - no_tin_share) / (1 - no_tin))
            for c in CATEGORIES}


def plan_requests(requests: int, persons: int, mix: dict[str, float] | None = None) -> RequestPlan:
    """Row counts per category (largest remainder), with the minimums described in the package doc."""
    mix = dict(CATEGORY_MIX if mix is None else mix)
    names = [c.name for c in CATEGORIES]
    raw = np.array([mix.get(n, 0.0) for n in names]) * requests / max(1e-12, sum(mix.values()))
    counts = np.floor(raw).astype(np.int64)
    rest = requests - int(counts.sum())
    counts[np.argsort(-(raw - counts), kind="stable")[:rest]] += 1
    c = dict(zip(names, (int(x) for x in counts), strict=True))
    filler = max(("tin_not_on_file", "notin_no_match"), key=lambda k: c[k])

    def move(name: str, want: int) -> None:
        give = min(max(0, want - c[name]), c[filler])
        c[name] += give
        c[filler] -= give

    shared_cap = persons // 8
    if requests >= 300 and shared_cap >= SHARED_MIN_ROWS and mix.get("shared_institution", 0) > 0:
        move("shared_institution", SHARED_MIN_ROWS)
        excess = max(0, c["shared_institution"] - shared_cap)
        c["shared_institution"] -= excess
        c[filler] += excess
    else:
        c[filler] += c["shared_institution"]
        c["shared_institution"] = 0
    if requests >= MIN_REQUESTS_ALL:
        for n in names:
            if n != "shared_institution" and mix.get(n, 0) > 0:
                move(n, 1)
    if c["duplicate_request"] > c["tin_current"]:
        c[filler] += c["duplicate_request"] - c["tin_current"]
        c["duplicate_request"] = c["tin_current"]
    k = c["shared_institution"]
    n_inst = max(1, k // SHARED_ROWS_PER_INSTITUTION) if k else 0
    inst_rows = tuple(k // n_inst + (1 if i < k % n_inst else 0) for i in range(n_inst))
    return RequestPlan(counts=c, inst_rows=inst_rows)


def lookback_cutoff(as_of: int) -> int:
    """as_of minus LOOKBACK_YEARS calendar years (29 February -> 28 February), in days."""
    day = dt.date(1970, 1, 1) + dt.timedelta(days=int(as_of))
    try:
        cut = day.replace(year=day.year - LOOKBACK_YEARS)
    except ValueError:
        cut = day.replace(year=day.year - LOOKBACK_YEARS, day=28)
    return (cut - dt.date(1970, 1, 1)).days


class RequestBuilder:
    """Builds the request rows. Internal columns: ``_cat``, ``_person``, ``_key``, ``_fake``."""

    def __init__(self, w: World, plan: RequestPlan, rng: np.random.Generator, *, no_tin_share: float) -> None:
        self.w = w
        self.plan = plan
        self.rng = rng
        self.used = np.zeros(w.n_persons, dtype=bool)
        self.tables: list[pa.Table] = []
        self.shortfall = 0
        self.fake_ssn = 0
        self.fake_itin = 0
        self.no_tin_share = no_tin_share
        self.cutoff = lookback_cutoff(w.as_of)
        self._sorted_site_keys = np.sort(w.s_key)
        order = np.argsort(w.home_site, kind="stable")
        hs = w.home_site[order]
        start = np.r_[0, np.flatnonzero(hs[1:] != hs[:-1]) + 1]
        lengths = np.diff(np.r_[start, len(hs)])
        rank = np.empty(w.n_persons, dtype=np.int64)
        rank[order] = np.arange(len(hs)) - np.repeat(start, lengths)
        self.home_ok = w.current & ~w.inst & ~w.protected & (rank < HOME_RANK_CAP)

    # -- helpers ------------------------------------------------------------------------------
    def take(self, mask: BOOL, n: int) -> I64:
        cand = np.flatnonzero(mask & ~self.used)
        k = min(n, len(cand))
        chosen = np.sort(self.rng.choice(cand, size=k, replace=False)) if k else cand[:0]
        self.used[chosen] = True
        self.shortfall += n - k
        return chosen.astype(np.int64)

    def release(self, persons: I64) -> None:
        self.used[persons] = False
        self.shortfall += len(persons)

    def emit(self, cat: str, persons: I64, cols: dict[str, pa.Array], addr: r.AddrCols, key: I64,
             fake: bool = False) -> None:
        n = len(persons)
        if n == 0:
            return
        data = {k: pc.fill_null(v, "") if v.type == pa.string() else v for k, v in cols.items()}
        data.update({"street": addr.street, "city": addr.city, "state": addr.state, "zip": addr.zip})
        data["_cat"] = pa.array(np.full(n, CAT_INDEX[cat], dtype=np.int8))
        data["_person"] = pa.array(persons.astype(np.int64))
        data["_key"] = pa.array(key.astype(np.int64))
        data["_fake"] = pa.array(np.full(n, fake))
        self.tables.append(pa.table(data))

    def name_cols(self, p: I64, *, nickname: BOOL | None = None, last: pa.Array | None = None,
                  suffix_keep: float = 0.8) -> dict[str, pa.Array]:
        w, rng = self.w, self.rng
        case = r.choose_case(rng, len(p))
        cols = {
            "first_name": r.first_names(rng, w.first[p].astype(np.int64), case, nickname=nickname),
            "middle_name": r.middle_names(rng, w.middle[p].astype(np.int64), case),
            "last_name": last if last is not None else r.surnames(
                rng, w.last1[p].astype(np.int64), w.last2[p].astype(np.int64), w.join[p].astype(np.int64), case),
            "name_suffix": r.suffixes(rng, w.suffix[p].astype(np.int64), suffix_keep),
        }
        return {k: r.whitespace_noise(rng, v, 0.03) if k != "name_suffix" else v for k, v in cols.items()}

    def tin_row(self, cat: str, p: I64, addr: r.AddrCols, key: I64, *, tin: pa.Array | None = None,
                nickname: BOOL | None = None, last: pa.Array | None = None) -> None:
        w, rng = self.w, self.rng
        cols = self.name_cols(p, nickname=nickname, last=last)
        cols["tin"] = tin if tin is not None else r.format_tins(rng, w.tin[p])
        cols["dob"] = r.dates(w.dob[p], rng.random(len(p)) < 0.6)
        self.emit(cat, p, cols, addr, key)

    def home(self, p: I64) -> tuple[r.AddrSpec, I64]:
        w = self.w
        return r.spec_from_sites(w, w.home_site[p], w.home_unit[p]), w.s_key[w.home_site[p]].astype(np.int64)

    def home_row(self, cat: str, p: I64, *, typo_rate: float = 0.0, tin: pa.Array | None = None,
                 nickname: BOOL | None = None, last: pa.Array | None = None) -> None:
        spec, key = self.home(p)
        spec.typo = self.rng.random(len(p)) < typo_rate
        self.tin_row(cat, p, r.render_address(self.rng, spec), key, tin=tin, nickname=nickname, last=last)

    def person_has_key(self, p: I64, key: I64, skip_row: I64 | None = None) -> BOOL:
        """Whether any address row of person ``p`` (other than ``skip_row``) has site key ``key``."""
        w = self.w
        hit = np.zeros(len(p), dtype=bool)
        for j in range(3):
            row = w.a_offset[p] + j
            ok = j < w.a_count[p]
            if skip_row is not None:
                ok &= row != skip_row
            row = np.where(ok, row, 0)
            hit |= ok & (w.s_key[w.a_site[row]] == key)
        return hit

    def name_keys_at(self, sites: I64) -> tuple[I64, I64]:
        """Sorted keys (site, first, surname part) and (site, surname part) of every address row
        (any person, any unit, any period) at the given sites; both parts of two-part surnames."""
        w = self.w
        flag = np.zeros(len(w.s_key), dtype=bool)
        flag[sites] = True
        rows = np.flatnonzero(flag[w.a_site])
        site = w.a_site[rows].astype(np.int64)
        per = w.a_person[rows]
        first = w.first[per].astype(np.int64)
        l2 = w.last2[per]
        two = l2 >= 0
        site2 = np.concatenate([site, site[two]])
        first2 = np.concatenate([first, first[two]])
        last = np.concatenate([w.last1[per].astype(np.int64), l2[two].astype(np.int64)])
        k1 = np.sort((site2 << 26) | (first2 << 13) | last)
        k2 = np.sort((site2 << 13) | last)
        return k1, k2

    # -- categories ----------------------------------------------------------------------------
    def shared_institution(self) -> None:
        w = self.w
        for i, rows in enumerate(self.plan.inst_rows):
            site = w.inst_sites[i]
            p = self.take(w.inst & ~w.protected & (w.home_site == site), rows)
            if len(p) <= SHARED_THRESHOLD:
                self.release(p)
                continue
            self.home_row("shared_institution", p)

    def ambiguous_jr_sr(self, n: int) -> None:
        w, rng = self.w, self.rng
        partner = np.maximum(w.partner, 0)
        mask = (w.jrsr == 1) & self.home_ok & ~w.protected[partner] & ~self.used[partner]
        sr = self.take(mask, n)
        self.used[w.partner[sr]] = True
        case = r.choose_case(rng, len(sr))
        k = len(sr)
        cols = {
            "first_name": r.first_names(rng, w.first[sr].astype(np.int64), case),
            "middle_name": pa.array([""] * k),
            "last_name": r.surnames(rng, w.last1[sr].astype(np.int64), w.last2[sr].astype(np.int64),
                                    w.join[sr].astype(np.int64), case),
            "name_suffix": pa.array([""] * k), "tin": pa.array([""] * k), "dob": pa.array([""] * k),
        }
        spec, key = self.home(sr)
        self.emit("ambiguous_jr_sr", sr, cols, r.render_address(rng, spec), key)

    def protected_record(self, n: int) -> None:
        w = self.w
        p = self.take(w.protected & w.current & ~w.inst, n)
        self.home_row("protected_record", p)

    def tin_two_part_surname(self, n: int) -> None:
        w, rng = self.w, self.rng
        p = self.take(self.home_ok & (w.last2 >= 0), n)
        mode = rng.integers(0, 4, len(p))  # part 1 only, part 2 only, reversed, other joiner
        l1, l2, j = w.last1[p].astype(np.int64), w.last2[p].astype(np.int64), w.join[p].astype(np.int64)
        a = np.where((mode == 1) | (mode == 2), l2, l1)
        b = np.select([mode == 2, mode == 3], [l1, l2], -1)
        jn = np.select([mode == 2, mode == 3], [j, 3 - j], 0)
        last = r.surnames(rng, a, b, jn, r.choose_case(rng, len(p)))
        self.home_row("tin_two_part_surname", p, last=last)

    def _notin(self, cat: str, p: I64, *, perturb: bool) -> None:
        w, rng = self.w, self.rng
        cols = self.name_cols(p, suffix_keep=0.8)
        cols["tin"] = pa.array([""] * len(p))
        dob = r.perturb_dob(rng, w.dob[p], w.as_of) if perturb else w.dob[p]
        cols["dob"] = r.dates(dob, np.ones(len(p), bool))
        spec, key = self.home(p)
        self.emit(cat, p, cols, r.render_address(rng, spec), key)

    def notin(self, n_exact: int, n_low: int) -> None:
        """No-TIN rows: candidates are checked for uniqueness at their home site (a random
        sample of four times the need, so the cost does not grow with the world)."""
        w, rng = self.w, self.rng
        base = np.flatnonzero(self.home_ok & (w.jrsr == 0) & (w.last2 < 0) & ~self.used)
        sub = rng.choice(base, size=min(len(base), 4 * (n_exact + n_low) + 64), replace=False)
        hs = w.home_site[sub].astype(np.int64)
        k1, k2 = self.name_keys_at(hs)
        q1 = (hs << 26) | (w.first[sub].astype(np.int64) << 13) | w.last1[sub].astype(np.int64)
        q2 = (hs << 13) | w.last1[sub].astype(np.int64)
        uniq1 = (np.searchsorted(k1, q1, "right") - np.searchsorted(k1, q1, "left")) == 1
        uniq2 = (np.searchsorted(k2, q2, "right") - np.searchsorted(k2, q2, "left")) == 1
        low = sub[uniq2][:n_low]
        self.used[low] = True
        exact = sub[uniq1 & ~self.used[sub]][:n_exact]
        self.used[exact] = True
        self.shortfall += n_low - len(low) + n_exact - len(exact)
        self._notin("low_confidence_dob", np.sort(low), perturb=True)
        self._notin("notin_exact", np.sort(exact), perturb=False)

    def unit_mismatch(self, n: int) -> None:
        w, rng = self.w, self.rng
        single = ~np.zeros(w.n_persons, dtype=bool)
        for j in (1, 2):
            row = np.where(j < w.a_count, w.a_offset + j, 0)
            single &= ~((j < w.a_count) & (w.a_site[row] == w.home_site))
        mask = self.home_ok & (w.s_kind[w.home_site] == KIND_BUILDING) & (w.home_unit > 0) & single
        p = self.take(mask, n)
        spec, key = self.home(p)
        site = w.home_site[p]
        units = w.s_units[site].astype(np.int64)
        slot = (rng.random(len(p)) * units).astype(np.int64)
        other = unit_number(w.s_per_floor[site], slot).astype(np.int64)
        other2 = unit_number(w.s_per_floor[site], (slot + 1) % units).astype(np.int64)
        other = np.where(other == spec.unit, other2, other)
        spec.unit = np.where(rng.random(len(p)) < 0.5, 0, other)
        self.tin_row("unit_mismatch", p, r.render_address(rng, spec), key)

    def _past(self, cat: str, rows_mask: BOOL, n: int) -> None:
        w = self.w
        rows = np.flatnonzero(rows_mask)
        per, first = np.unique(w.a_person[rows], return_index=True)
        row_of = np.full(w.n_persons, -1, dtype=np.int64)
        row_of[per] = rows[first]
        p = self.take((row_of >= 0) & ~w.inst & ~w.protected, n)
        row = row_of[p]
        spec = r.spec_from_sites(w, w.a_site[row], w.a_unit[row])
        self.home_row_spec(cat, p, spec, w.s_key[w.a_site[row]].astype(np.int64))

    def home_row_spec(self, cat: str, p: I64, spec: r.AddrSpec, key: I64) -> None:
        self.tin_row(cat, p, r.render_address(self.rng, spec), key)

    def past_addresses(self, n_recent: int, n_stale: int) -> None:
        w = self.w
        ended = (w.a_to != NO_END) & (w.a_to < w.as_of)
        stale = ended & (w.a_to <= self.cutoff - LOOKBACK_MARGIN_DAYS)
        rows = np.flatnonzero(stale)
        clash = self.person_has_key(w.a_person[rows].astype(np.int64),
                                    w.s_key[w.a_site[rows]].astype(np.int64), skip_row=rows)
        stale[rows[clash]] = False
        self._past("tin_stale_address", stale, n_stale)
        recent = ended & (w.a_to >= self.cutoff + LOOKBACK_MARGIN_DAYS)
        self._past("tin_recent_past", recent, n_recent)

    def tin_other_address(self, n: int) -> None:
        w, rng = self.w, self.rng
        p = self.take(self.home_ok, n)
        spec, _ = self.home(p)
        k = len(p)
        v = rng.choice(3, size=k, p=[0.45, 0.35, 0.20])  # house number, street, ZIP
        v = np.where((spec.form != FORM_STREET) & (v == 1), 0, v)
        delta = rng.integers(2, 200, k) * np.where(rng.random(k) < 0.5, -1, 1)
        house = spec.house + delta
        house = np.where(house < 1, spec.house + np.abs(delta), house)
        spec.house = np.where(v == 0, house, spec.house)
        n_streets = len(street_tables().names)
        spec.street = np.where(v == 1, (spec.street + rng.integers(1, n_streets, k)) % n_streets, spec.street)
        n_zip = len(zip_table().zip5)
        spec.zip = np.where(v == 2, (spec.zip + rng.integers(1, n_zip, k)) % n_zip, spec.zip)
        spec.zip4 = np.where(v == 2, 0, spec.zip4)
        key = site_key(spec.zip, spec.street, spec.suffix, spec.predir, spec.house, spec.form)
        bad = self.person_has_key(p, key) | np.isin(key, w.s_key[w.inst_sites])
        if bad.any():
            self.release(p[bad])
            keep = ~bad
            p, key = p[keep], key[keep]
            spec = r.AddrSpec(**{f: getattr(spec, f)[keep] for f in spec.__dataclass_fields__})
        self.tin_row("tin_other_address", p, r.render_address(rng, spec), key)

    def address_defects(self, counts: dict[str, int]) -> None:
        w, rng = self.w, self.rng
        p = self.take(self.home_ok, counts["address_placeholder"])
        self.tin_row("address_placeholder", p, r.render_placeholder(rng, len(p)), np.full(len(p), -1))
        street_form = form_of(w.s_kind[w.home_site]) == FORM_STREET
        p = self.take(self.home_ok & street_form, counts["address_insufficient"])
        spec, _ = self.home(p)
        self.tin_row("address_insufficient", p, r.render_insufficient(rng, spec), np.full(len(p), -1))
        p = self.take(self.home_ok, counts["address_inconsistent"])
        spec, _ = self.home(p)
        zt = zip_table()
        k = len(p)
        bad_zip = rng.random(k) < 0.5
        own_state = zt.state_idx[spec.zip].astype(np.int64)
        spec.state_override = np.where(bad_zip, -1, (own_state + rng.integers(1, len(zt.states), k)) % len(zt.states))
        spec.zip_override = np.where(bad_zip, rng.choice(zt.nonexistent, k), -1)
        self.tin_row("address_inconsistent", p, r.render_address(rng, spec), np.full(k, -1))
        p = self.take(self.home_ok, counts["address_missing"])
        self.tin_row("address_missing", p, r.render_missing(rng, len(p)), np.full(len(p), -1))

    def name_and_tin_defects(self, counts: dict[str, int]) -> None:
        w, rng = self.w, self.rng
        p = self.take(self.home_ok, counts["name_missing"])
        blank = pc.take(pa.array(["", " ", "  "]), pa.array(rng.integers(0, 3, len(p))))
        self.home_row("name_missing", p, last=blank)
        p = self.take(self.home_ok, counts["tin_invalid"])
        self.home_row("tin_invalid", p, tin=r.invalid_tins(rng, w.tin[p]))
        p = self.take(self.home_ok, counts["tin_name_mismatch"])
        nt = name_tables()
        own1 = nt.last_prefix4[w.last1[p]]
        own2 = np.where(w.last2[p] >= 0, nt.last_prefix4[np.maximum(w.last2[p], 0)], -1)
        other = sample(nt.last_dist, rng, len(p))
        for _ in range(20):
            pre = nt.last_prefix4[other]
            clash = (pre == own1) | (pre == own2)
            if not clash.any():
                break
            other = np.where(clash, sample(nt.last_dist, rng, len(p)), other)
        last = r.surnames(rng, other, np.full(len(p), -1), np.zeros(len(p), np.int64), r.choose_case(rng, len(p)))
        self.home_row("tin_name_mismatch", p, last=last)

    def tin_current(self, n: int) -> None:
        p = self.take(self.home_ok, n)
        self.home_row("tin_current", p, typo_rate=0.15)

    def tin_nickname(self, n: int) -> None:
        p = self.take(self.home_ok, n)
        self.home_row("tin_nickname", p, nickname=np.ones(len(p), dtype=bool))

    # -- rows about nobody ------------------------------------------------------------------------
    def fakes(self, cat: str, n: int, *, real_site_share: float) -> None:
        """Invented people: a TIN never issued (or none), a random name and DOB, and either a
        fabricated address that no site has or a real address where nobody has that surname."""
        w, rng = self.w, self.rng
        if n <= 0:
            return
        nt = name_tables()
        hisp = rng.random(n) < 0.35
        last = np.where(hisp, sample(nt.last_hisp_dist, rng, n), sample(nt.last_dist, rng, n))
        male = rng.random(n) < 0.5
        first = sample_first(rng, male, hisp)
        dob = (w.as_of - np.round((18 + 60 * rng.random(n)) * YEAR)).astype(np.int64)
        site = rng.integers(0, w.n_regular_sites, n)
        real = rng.random(n) < real_site_share
        if real.any():
            k2 = self.name_keys_at(site[real])[1]
            q = (site << 13) | last
            present = np.searchsorted(k2, q, "right") > np.searchsorted(k2, q, "left")
            real &= ~present
        units = w.s_units[site].astype(np.int64)
        unit = np.where(units > 0, unit_number(w.s_per_floor[site], (rng.random(n) * np.maximum(units, 1))
                                               .astype(np.int64)), 0)
        spec = r.spec_from_sites(w, site, unit)
        fab = self.fabricated(int((~real).sum()))
        for f in ("form", "house", "predir", "street", "suffix", "zip", "zip4", "unit", "unit_style"):
            getattr(spec, f)[~real] = fab[f]
        key = np.where(real, w.s_key[site], -1)
        case = r.choose_case(rng, n)
        cols = {
            "first_name": r.whitespace_noise(rng, r.first_names(rng, first, case), 0.03),
            "middle_name": r.middle_names(rng, np.where(rng.random(n) < 0.4, sample(nt.first_dist["M"], rng, n), -1),
                                          case),
            "last_name": r.surnames(rng, last, np.full(n, -1), np.zeros(n, np.int64), case),
            "name_suffix": pa.array([""] * n),
        }
        if cat == "tin_not_on_file":
            itin = rng.random(n) < 0.2
            ssn_i = self.fake_ssn + np.cumsum(~itin) - 1
            itin_i = self.fake_itin + np.cumsum(itin) - 1
            self.fake_ssn += int((~itin).sum())
            self.fake_itin += int(itin.sum())
            tins = np.where(itin, w.tins.itin(w.n_itin + itin_i), w.tins.ssn(w.n_ssn + ssn_i))
            cols["tin"] = r.format_tins(rng, tins)
            cols["dob"] = r.dates(dob, rng.random(n) < 0.6)
        else:
            cols["tin"] = pa.array([""] * n)
            cols["dob"] = r.dates(dob, np.ones(n, bool))
        self.emit(cat, np.full(n, -1, np.int64), cols, r.render_address(rng, spec), key, fake=True)

    def fabricated(self, n: int) -> dict[str, I64]:
        """Street addresses whose (line, ZIP) key matches no site."""
        rng = self.rng
        skeys = self._sorted_site_keys
        out = random_sites(rng, np.full(n, KIND_HOUSE, np.int8))
        for _ in range(50):
            key = site_key(out["zip"], out["street"], out["suffix"], out["predir"], out["house"],
                           np.zeros(n, np.int64))
            pos = np.minimum(np.searchsorted(skeys, key), len(skeys) - 1)
            hit = skeys[pos] == key
            if not hit.any():
                break
            out["house"] = np.where(hit, rng.integers(1, 30000, n), out["house"])
        zero = np.zeros(n, np.int64)
        return {"form": zero, "house": out["house"], "predir": out["predir"], "street": out["street"],
                "suffix": out["suffix"], "zip": out["zip"], "zip4": zero, "unit": zero, "unit_style": zero}

    # -- assembly ------------------------------------------------------------------------------------
    def feasible_counts(self) -> dict[str, int]:
        """The planned counts, scaled down when the world has too few eligible persons.

        Every category that needs a person keeps at least one row; the rows taken away
        become NO_MATCH rows about invented people (see :meth:`build`).
        """
        c = dict(self.plan.counts)
        need = sum(c[k] for k in PERSON_CATEGORIES) + c["ambiguous_jr_sr"]
        avail = int(self.home_ok.sum())
        if need > 0.9 * avail:
            f = 0.9 * avail / max(1, need)
            for k in PERSON_CATEGORIES:
                new = max(min(1, c[k]), int(c[k] * f))
                self.shortfall += c[k] - new
                c[k] = new
        extra = max(0, c["duplicate_request"] - c["tin_current"])
        c["duplicate_request"] -= extra
        self.shortfall += extra
        return c

    def build(self) -> pa.Table:
        c = self.feasible_counts()
        self.shared_institution()
        self.ambiguous_jr_sr(c["ambiguous_jr_sr"])
        self.protected_record(c["protected_record"])
        self.tin_two_part_surname(c["tin_two_part_surname"])
        self.notin(c["notin_exact"], c["low_confidence_dob"])
        self.unit_mismatch(c["unit_mismatch"])
        self.past_addresses(c["tin_recent_past"], c["tin_stale_address"])
        self.tin_current(c["tin_current"])
        self.tin_nickname(c["tin_nickname"])
        self.tin_other_address(c["tin_other_address"])
        self.address_defects(c)
        self.name_and_tin_defects(c)
        self.fakes("notin_no_match", c["notin_no_match"], real_site_share=0.5)
        self.fakes("tin_not_on_file", c["tin_not_on_file"], real_site_share=0.5)
        table = self.cap_sites(pa.concat_tables(self.tables))
        self.tables = [table]
        self.duplicates(table, c["duplicate_request"])
        fill = self.shortfall
        no_tin = round(fill * self.no_tin_share)
        self.fakes("notin_no_match", no_tin, real_site_share=0.0)
        self.fakes("tin_not_on_file", fill - no_tin, real_site_share=0.0)
        self.shortfall = 0
        return pa.concat_tables(self.tables)

    def cap_sites(self, t: pa.Table) -> pa.Table:
        """Keep at most SITE_CAP rows per non-institution address (real people first)."""
        key = t["_key"].to_numpy()
        cat = t["_cat"].to_numpy()
        fake = t["_fake"].to_numpy()
        idx = np.flatnonzero((key >= 0) & (cat != CAT_INDEX["shared_institution"]))
        prio = fake[idx].astype(np.float64) + self.rng.random(len(idx))
        order = idx[np.lexsort((prio, key[idx]))]
        ks = key[order]
        start = np.r_[0, np.flatnonzero(ks[1:] != ks[:-1]) + 1]
        rank = np.arange(len(ks)) - np.repeat(start, np.diff(np.r_[start, len(ks)]))
        drop = order[rank >= SITE_CAP]
        if len(drop) == 0:
            return t
        keep = np.ones(t.num_rows, dtype=bool)
        keep[drop] = False
        self.shortfall += len(drop)
        return t.filter(pa.array(keep))

    def duplicates(self, t: pa.Table, n: int) -> None:
        cur = t.filter(pc.equal(t["_cat"], CAT_INDEX["tin_current"]))["_person"].to_numpy()
        k = min(n, len(cur))
        self.shortfall += n - k
        if k == 0:
            return
        p = np.sort(self.rng.choice(cur, size=k, replace=False)).astype(np.int64)
        self.home_row("duplicate_request", p, typo_rate=0.1)


def finalize(t: pa.Table, rng: np.random.Generator, *, style: str, as_of_year: int) -> tuple[pa.Table, pa.Table]:
    """Shuffle, put each duplicate after its first occurrence, number the rows, split off the truth."""
    n = t.num_rows
    pos = rng.permutation(n)
    cat = t["_cat"].to_numpy()
    person = t["_person"].to_numpy()
    dup = np.flatnonzero(cat == CAT_INDEX["duplicate_request"])
    if len(dup):
        cur = np.flatnonzero(cat == CAT_INDEX["tin_current"])
        order = np.argsort(person[cur])
        orig = cur[order[np.searchsorted(person[cur][order], person[dup])]]
        swap = pos[dup] < pos[orig]
        pd, po = pos[dup].copy(), pos[orig].copy()
        pos[dup] = np.where(swap, po, pd)
        pos[orig] = np.where(swap, pd, po)
    t = t.take(pa.array(np.argsort(pos)))
    width = max(7, len(str(n)))
    numbers = pc.utf8_lpad(pa.array(np.arange(1, n + 1)).cast(pa.string()), width, "0")
    ids = pc.binary_join_element_wise("R", numbers, "")
    cats = pa.array([c.name for c in CATEGORIES])
    ci = pa.array(t["_cat"].to_numpy().astype(np.int64))
    truth = pa.table({
        "request_id": ids,
        "category": pc.take(cats, ci),
        "expected": pc.take(pa.array([c.expected for c in CATEGORIES]), ci),
        "expected_reason": pc.take(pa.array([c.reason for c in CATEGORIES]), ci),
    })
    case_ref = pc.binary_join_element_wise(
        f"ICE-ERO-{as_of_year}-", pc.utf8_lpad(pa.array(rng.integers(0, 10_000_000, n)).cast(pa.string()), 7, "0"), "")
    cols: dict[str, pa.Array | pa.ChunkedArray] = {"request_id": ids}
    for name in ("first_name", "middle_name", "last_name", "name_suffix", "tin", "dob"):
        cols[name] = t[name]
    cols["case_reference"] = case_ref
    if style == "structured":
        for name in ("street", "city", "state", "zip"):
            cols[name] = pc.fill_null(t[name], "")
    else:
        addr = r.AddrCols(*(t[name].combine_chunks() for name in ("street", "city", "state", "zip")))
        cols["address"] = r.free_text(rng, addr)
    return pa.table(cols), truth
