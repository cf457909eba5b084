"""The custodian's world: address sites, households, persons and address histories.

Everything is built with whole-array numpy operations; the only Python loops run
over small fixed counts (address slots 0-2, de-duplication rounds), never over
persons. The world is kept as compact integer arrays (about 60 bytes per person
including addresses) and turned into strings only chunk by chunk when written.

Model
-----
* **Sites** are textually unique delivery addresses: a street address (house
  number, optional pre-directional, street name, USPS suffix, real ZIP with its
  city and state, optional ZIP+4), a multi-unit building (same, plus numbered
  units ``APT 12`` / ``UNIT 305``), a ``PO BOX``, a rural route ``RR 3 BOX 45``,
  or an institution (a shelter / detention-centre street address shared by many
  residents). Uniqueness is enforced on a packed key of the rendered parts.
* **Households** (mean size ~2.1) share a surname (12% of extra members are
  room-mates with another surname) and a home site; building households get their
  own unit. About 3% of households have no current address (home ended).
* **Jr/Sr pairs**: some multi-person households hold a father and son with the
  same first, middle and last name, suffixes SR/JR (or none/JR, none/II) and
  DOBs 20-35 years apart.
* **Address history**: address 0 is the home (current unless the household's home
  ended); 0-2 older addresses at other sites follow back in time, contiguous,
  each 0.5-8 years long; an older address is dropped if it would start before the
  person's 16th birthday. Average ~1.5 addresses per person.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from disclosure_gate.synth.data import ITIN_MIDDLE, SUFFIX_CODES, name_tables, sample, street_tables, zip_table

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
BOOL = npt.NDArray[np.bool_]

KIND_HOUSE, KIND_BUILDING, KIND_POBOX, KIND_RURAL, KIND_INST = 0, 1, 2, 3, 4
FORM_STREET, FORM_POBOX, FORM_RURAL = 0, 1, 2
NO_END = int(np.iinfo(np.int32).max)
YEAR = 365.25

SSN_SPACE = 898 * 99 * 9999
ITIN_SPACE = 99 * len(ITIN_MIDDLE) * 9999

_HOUSEHOLD_SIZES = np.array([0.45, 0.25, 0.13, 0.10, 0.05, 0.02])
_HOME_KINDS = np.array([0.57, 0.33, 0.05, 0.05])  # house, building, PO box, rural route
_N_ADDR = np.array([0.55, 0.33, 0.12])


@dataclass(frozen=True)
class WorldPlan:
    """What the request plan needs the world to contain."""

    persons: int
    inst_residents: tuple[int, ...] = ()  # residents per institution
    min_jrsr_pairs: int = 0
    min_protected: int = 0
    min_two_part: int = 0


@dataclass(frozen=True)
class TinSpace:
    """A bijection from a dense index to SSNs / ITINs (affine permutation)."""

    ssn_a: int
    ssn_b: int
    itin_a: int
    itin_b: int

    def ssn(self, idx: I64) -> I64:
        k = (self.ssn_a * idx.astype(np.int64) + self.ssn_b) % SSN_SPACE
        area_idx, rem = np.divmod(k, 99 * 9999)
        group, serial = np.divmod(rem, 9999)
        area = area_idx + 1 + (area_idx >= 665)  # skips 666
        out: I64 = area * 1_000_000 + (group + 1) * 10_000 + serial + 1
        return out

    def itin(self, idx: I64) -> I64:
        k = (self.itin_a * idx.astype(np.int64) + self.itin_b) % ITIN_SPACE
        xx_idx, rem = np.divmod(k, len(ITIN_MIDDLE) * 9999)
        mid_idx, serial = np.divmod(rem, 9999)
        xx = xx_idx + (xx_idx >= 87)  # skips 987-xx (advertising block 987-65-432x)
        mid = np.asarray(ITIN_MIDDLE, dtype=np.int64)[mid_idx]
        out: I64 = 900_000_000 + xx * 1_000_000 + mid * 10_000 + serial + 1
        return out


def _affine(rng: np.random.Generator, m: int) -> tuple[int, int]:
    while True:
        a = int(rng.integers(m // 3, m - 1))
        if math.gcd(a, m) == 1:
            return a, int(rng.integers(0, m))


def site_key(zip_idx: npt.NDArray[np.integer], street: npt.NDArray[np.integer],
             suffix: npt.NDArray[np.integer], predir: npt.NDArray[np.integer],
             house: npt.NDArray[np.integer], form: npt.NDArray[np.integer]) -> I64:
    """Packed identity of a rendered address line + ZIP (unit and ZIP+4 excluded)."""
    k = zip_idx.astype(np.int64)
    k = k * 256 + street
    k = k * 32 + suffix
    k = k * 16 + predir
    k = k * 131072 + house
    out: I64 = k * 4 + form
    return out


@dataclass
class World:
    as_of: int  # days since 1970-01-01
    tins: TinSpace
    n_ssn: int
    n_itin: int
    # sites
    s_kind: npt.NDArray[np.int8]
    s_house: I32
    s_predir: npt.NDArray[np.int8]
    s_street: npt.NDArray[np.int16]
    s_suffix: npt.NDArray[np.int8]  # route number for rural routes
    s_zip: I32
    s_zip4: npt.NDArray[np.int16]  # 0 = none
    s_units: npt.NDArray[np.int16]
    s_per_floor: npt.NDArray[np.int8]  # 0 = sequential unit numbers
    s_unit_style: npt.NDArray[np.int8]
    s_key: I64
    n_regular_sites: int
    inst_sites: I64
    # persons
    tin: I64
    first: npt.NDArray[np.int16]
    middle: npt.NDArray[np.int16]  # -1 = none
    last1: npt.NDArray[np.int16]
    last2: npt.NDArray[np.int16]  # -1 = single surname
    join: npt.NDArray[np.int8]  # 0 single, 1 "A B", 2 "A-B"
    suffix: npt.NDArray[np.int8]  # index into SUFFIX_CODES
    dob: I32
    protected: BOOL
    hisp: BOOL
    household: I32
    jrsr: npt.NDArray[np.int8]  # 0 none, 1 senior, 2 junior
    partner: I32  # the other member of a Jr/Sr pair, else -1
    home_site: I32
    home_unit: I32  # 0 = none
    current: BOOL
    inst: BOOL
    # addresses, grouped by person in person order
    a_person: I32
    a_site: I32
    a_unit: I32
    a_from: I32
    a_to: I32  # NO_END = current
    a_offset: I64
    a_count: npt.NDArray[np.int8]

    @property
    def n_persons(self) -> int:
        return len(self.tin)

    @property
    def n_addresses(self) -> int:
        return len(self.a_person)


def form_of(kind: npt.NDArray[np.integer]) -> npt.NDArray[np.int8]:
    out = np.zeros(len(kind), dtype=np.int8)
    out[kind == KIND_POBOX] = FORM_POBOX
    out[kind == KIND_RURAL] = FORM_RURAL
    return out


def unit_number(site_per_floor: npt.NDArray[np.integer], slot: npt.NDArray[np.integer]) -> I32:
    """Unit number for a 0-based slot: sequential (1, 2, ...) or floor style (101, 102, 201)."""
    pf = site_per_floor.astype(np.int32)
    s = slot.astype(np.int32)
    floor_style = (s // np.maximum(pf, 1) + 1) * 100 + s % np.maximum(pf, 1) + 1
    out: I32 = np.where(pf > 0, floor_style, s + 1).astype(np.int32)
    return out


def _draw(rng: np.random.Generator, probs: npt.NDArray[np.float64], n: int) -> npt.NDArray[np.int8]:
    """Category index per row for a short probability vector."""
    cum = np.cumsum(probs)
    out: npt.NDArray[np.int8] = np.minimum(np.searchsorted(cum / cum[-1], rng.random(n, dtype=np.float32)),
                                           len(probs) - 1).astype(np.int8)
    return out


def _u(rng: np.random.Generator, lo: float, hi: float, n: int) -> npt.NDArray[np.float32]:
    out: npt.NDArray[np.float32] = rng.random(n, dtype=np.float32) * np.float32(hi - lo) + np.float32(lo)
    return out


def random_sites(rng: np.random.Generator, kind: npt.NDArray[np.int8]) -> dict[str, npt.NDArray[np.int64]]:
    n = len(kind)
    st = street_tables()
    zt = zip_table()
    street = rng.integers(0, len(st.names), n)
    suffix = sample(st.suffix_dist, rng, n)
    predir = sample(st.dir_dist, rng, n)
    house = np.where(rng.random(n, dtype=np.float32) < 0.8, rng.integers(1, 10000, n), rng.integers(10000, 30000, n))
    is_box = kind == KIND_POBOX
    is_rr = kind == KIND_RURAL
    plain = is_box | is_rr
    street[plain] = 0
    predir[plain] = 0
    suffix[is_box] = 0
    suffix[is_rr] = rng.integers(1, 13, int(is_rr.sum()))
    house[is_box] = rng.integers(1, 10000, int(is_box.sum()))
    house[is_rr] = rng.integers(1, 1000, int(is_rr.sum()))
    inst = kind == KIND_INST
    house[inst] = rng.integers(1, 100, int(inst.sum())) * 10
    return {"street": street, "suffix": suffix, "predir": predir, "house": house,
            "zip": rng.integers(0, len(zt.zip5), n)}


def build_sites(rng: np.random.Generator, kind: npt.NDArray[np.int8]) -> dict[str, npt.NDArray[np.int64]]:
    """Random, textually unique sites of the given kinds (duplicates get new house numbers)."""
    cols = random_sites(rng, kind)
    form = form_of(kind)
    for _ in range(50):
        key = site_key(cols["zip"], cols["street"], cols["suffix"], cols["predir"], cols["house"], form)
        order = np.argsort(key, kind="stable")
        ks = key[order]
        dup = order[1:][ks[1:] == ks[:-1]]
        del order, ks
        if len(dup) == 0:
            cols["key"] = key
            return cols
        cols["house"][dup] = rng.integers(1, 30000, len(dup))
        cols["zip"][dup] = rng.integers(0, len(zip_table().zip5), len(dup))
    raise RuntimeError("could not make unique synthetic addresses")  # pragma: no cover


@dataclass
class _Households:
    sizes: I32
    inst: BOOL
    kind: npt.NDArray[np.int8]
    current: BOOL
    hisp: BOOL
    site: I64
    unit: I32


def _households(rng: np.random.Generator, plan: WorldPlan) -> tuple[_Households, dict[str, np.ndarray]]:
    inst_res = np.asarray(plan.inst_residents, dtype=np.int64)
    n_inst_p = int(inst_res.sum())
    n_reg = plan.persons - n_inst_p
    if n_reg < 1:
        raise ValueError("too few persons for the planned institutions")
    sizes = (_draw(rng, _HOUSEHOLD_SIZES, n_reg // 2 + 16) + 1).astype(np.int32)
    csum = np.cumsum(sizes, dtype=np.int64)
    n_h = int(np.searchsorted(csum, n_reg)) + 1
    sizes = sizes[:n_h]
    sizes[-1] -= int(csum[n_h - 1]) - n_reg
    sizes = np.concatenate([sizes, np.ones(n_inst_p, dtype=np.int32)])
    n_hh = len(sizes)
    h_inst = np.zeros(n_hh, dtype=bool)
    h_inst[n_h:] = True
    h_kind = _draw(rng, _HOME_KINDS, n_hh)
    h_kind[h_inst] = KIND_INST
    h_current = (rng.random(n_hh, dtype=np.float32) >= 0.03) | h_inst
    h_hisp = rng.random(n_hh, dtype=np.float32) < np.where(h_inst, 0.6, 0.35)

    # Sites: single homes, buildings, extra sites for older addresses, institutions.
    is_bld = h_kind == KIND_BUILDING
    n_bld_h = int(is_bld.sum())
    units = np.minimum(4 + rng.geometric(0.1, size=n_bld_h // 9 + 4), 60)
    n_b = int(np.searchsorted(np.cumsum(units), math.ceil(n_bld_h / 0.85))) + 1
    units = units[:n_b]
    single = ~is_bld & ~h_inst
    single_kind = h_kind[single]
    n_single = len(single_kind)
    n_extra = plan.persons // 4 + 50
    extra_kind = np.where(rng.random(n_extra, dtype=np.float32) < 0.8, KIND_HOUSE, KIND_BUILDING).astype(np.int8)
    extra_units = np.minimum(4 + rng.geometric(0.1, size=n_extra), 60)
    kinds = np.concatenate([single_kind, np.full(n_b, KIND_BUILDING, np.int8), extra_kind,
                            np.full(len(inst_res), KIND_INST, np.int8)])
    n_sites = len(kinds)
    cols: dict[str, np.ndarray] = {k: v for k, v in build_sites(rng, kinds).items()}
    s_units = np.zeros(n_sites, dtype=np.int16)
    s_units[n_single:n_single + n_b] = units
    s_units[n_single + n_b:n_single + n_b + n_extra] = np.where(extra_kind == KIND_BUILDING, extra_units, 0)
    s_per_floor = np.where(rng.random(n_sites, dtype=np.float32) < 0.5, 0,
                           rng.integers(4, 11, n_sites, dtype=np.int8)).astype(np.int8)
    s_per_floor[s_units == 0] = 0
    cols.update(kind=kinds, units=s_units, per_floor=s_per_floor,
                unit_style=(rng.random(n_sites, dtype=np.float32) < 0.2).astype(np.int8),
                zip4=np.where(rng.random(n_sites, dtype=np.float32) < 0.3,
                              rng.integers(1, 10000, n_sites, dtype=np.int16), 0).astype(np.int16))

    h_site = np.empty(n_hh, dtype=np.int64)
    h_site[single] = np.arange(n_single)
    slot_bld = np.repeat(np.arange(n_b), units)
    slot_idx = np.arange(len(slot_bld)) - np.repeat(np.cumsum(units) - units, units)
    pick = rng.permutation(len(slot_bld))[:n_bld_h]
    h_site[is_bld] = n_single + slot_bld[pick]
    n_regular = n_sites - len(inst_res)
    h_site[h_inst] = np.repeat(np.arange(n_regular, n_sites, dtype=np.int64), inst_res)
    h_unit = np.zeros(n_hh, dtype=np.int32)
    h_unit[is_bld] = unit_number(s_per_floor[h_site[is_bld]], slot_idx[pick])
    hh = _Households(sizes=sizes, inst=h_inst, kind=h_kind, current=h_current, hisp=h_hisp, site=h_site,
                     unit=h_unit)
    return hh, cols


def _fill_tins(tins: TinSpace, is_itin: BOOL) -> I64:
    """Dense SSN / ITIN indices through the affine permutations, in chunks to bound memory."""
    n = len(is_itin)
    out = np.empty(n, dtype=np.int64)
    step = 2_000_000
    n_ssn = n_itin = 0
    for lo in range(0, n, step):
        m = is_itin[lo:lo + step]
        k_itin = int(m.sum())
        k_ssn = len(m) - k_itin
        block = np.empty(len(m), dtype=np.int64)
        block[~m] = tins.ssn(np.arange(n_ssn, n_ssn + k_ssn, dtype=np.int64))
        block[m] = tins.itin(np.arange(n_itin, n_itin + k_itin, dtype=np.int64))
        out[lo:lo + step] = block
        n_ssn += k_ssn
        n_itin += k_itin
    return out


def build_world(plan: WorldPlan, *, as_of: int, seed: int) -> World:
    rng = np.random.default_rng([seed, 1])
    nt = name_tables()
    p_total = plan.persons
    hh, sc = _households(rng, plan)
    n_hh = len(hh.sizes)
    n_regular_sites = len(sc["kind"]) - len(plan.inst_residents)

    # -- persons ---------------------------------------------------------------------
    household = np.repeat(np.arange(n_hh, dtype=np.int32), hh.sizes)
    starts = (np.cumsum(hh.sizes, dtype=np.int64) - hh.sizes).astype(np.int32)
    hisp = hh.hisp[household]
    inst = hh.inst[household]

    h_last1 = np.where(hh.hisp, sample(nt.last_hisp_dist, rng, n_hh), sample(nt.last_dist, rng, n_hh))
    two_rate_h = min(0.9, max(0.20, 1.5 * plan.min_two_part / max(1.0, 0.35 * p_total)))
    u = rng.random(n_hh, dtype=np.float32)
    two = ~hh.inst & np.where(hh.hisp, u < two_rate_h, u < 0.015)
    second = np.where(hh.hisp, sample(nt.last_hisp_dist, rng, n_hh), sample(nt.last_dist, rng, n_hh))
    ok = two & nt.last_compound_ok[h_last1] & nt.last_compound_ok[second] & (second != h_last1)
    h_last2 = np.where(ok, second, -1).astype(np.int16)
    h_join = np.where(ok, np.where(hh.hisp, 1, 2), 0).astype(np.int8)
    del u, two, second, ok
    last1 = h_last1.astype(np.int16)[household]
    last2 = h_last2[household]
    join = h_join[household]
    del h_last1, h_last2, h_join
    member = np.arange(p_total, dtype=np.int32) - np.repeat(starts, hh.sizes)
    roommate = (member > 0) & (rng.random(p_total, dtype=np.float32) < 0.12)
    del member

    sex = rng.random(p_total, dtype=np.float32) < 0.5  # True = male
    first = sample_first(rng, sex, hisp).astype(np.int16)
    middle = np.where(rng.random(p_total, dtype=np.float32) < 0.45,
                      sample_first(rng, sex, np.zeros(p_total, bool)), -1).astype(np.int16)
    age = np.float32(18) + np.float32(72) * rng.beta(1.7, 2.8, p_total).astype(np.float32)
    sfx_draw = rng.random(p_total, dtype=np.float32)
    suffix = np.select([sfx_draw < 0.012, sfx_draw < 0.014, sfx_draw < 0.017, sfx_draw < 0.019],
                       [1, 2, 3, 4], 0).astype(np.int8)
    del sfx_draw

    # Jr/Sr pairs in multi-person households with a current, non-institution home.
    elig = np.flatnonzero((hh.sizes >= 2) & hh.current & ~hh.inst)
    n_pairs = min(len(elig), max(plan.min_jrsr_pairs, round(0.03 * len(elig))))
    pair_h = np.sort(rng.choice(elig, size=n_pairs, replace=False)) if n_pairs else elig[:0]
    sr = starts[pair_h].astype(np.int64)
    jr = sr + 1
    jrsr = np.zeros(p_total, dtype=np.int8)
    partner = np.full(p_total, -1, dtype=np.int32)
    jrsr[sr], jrsr[jr] = 1, 2
    partner[sr], partner[jr] = jr, sr
    sex[sr] = sex[jr] = True
    first[sr] = sample_first(rng, np.ones(n_pairs, bool), hisp[sr])
    first[jr] = first[sr]
    middle[jr] = middle[sr]
    roommate[jr] = False
    style = rng.random(n_pairs)
    suffix[sr] = np.where(style < 0.7, 2, 0)
    suffix[jr] = np.where(style < 0.9, 1, 3)
    age[sr] = rng.uniform(45, 85, n_pairs)
    gap = rng.uniform(20, 35, n_pairs)
    age[jr] = np.where(age[sr] - gap >= 18, age[sr] - gap, 18 + rng.uniform(0, 5, n_pairs))

    rm = np.flatnonzero(roommate)
    del roommate
    last1[rm] = np.where(hisp[rm], sample(nt.last_hisp_dist, rng, len(rm)), sample(nt.last_dist, rng, len(rm)))
    last2[rm] = -1
    join[rm] = 0
    del rm
    dob = (as_of - np.round(age * np.float32(YEAR))).astype(np.int32)
    del age

    protected_rate = min(0.2, max(0.005, plan.min_protected / max(1, p_total)))
    protected = rng.random(p_total, dtype=np.float32) < protected_rate
    is_itin = rng.random(p_total, dtype=np.float32) < np.where(hisp, np.float32(0.30), np.float32(0.04))
    tins = TinSpace(*_affine(rng, SSN_SPACE), *_affine(rng, ITIN_SPACE))
    tin = _fill_tins(tins, is_itin)
    n_itin = int(is_itin.sum())
    del is_itin

    # -- address histories ----------------------------------------------------------------
    h_from = np.where(hh.inst, as_of - _u(rng, 0.05, 2, n_hh) * YEAR, as_of - _u(rng, 0.1, 15, n_hh) * YEAR)
    ended = (as_of - _u(rng, 30, 10 * YEAR, n_hh)).astype(np.int64)
    h_to = np.where(hh.current, NO_END, ended)  # int64: float32 cannot hold NO_END exactly
    h_from = np.where(hh.current, h_from, ended - _u(rng, 0.5, 12, n_hh) * YEAR).astype(np.int64)
    del ended
    home_site = hh.site[household].astype(np.int32)
    home_unit = hh.unit[household]
    current = hh.current[household]
    to0 = h_to[household].astype(np.int32)
    hi0 = np.where(current, as_of - 30, to0.astype(np.int64) - 30)
    adult = dob.astype(np.int64) + int(18 * YEAR)
    from0 = np.minimum(np.maximum(h_from[household], adult), hi0).astype(np.int32)
    del h_from, h_to, hi0, adult

    n_addr = _draw(rng, _N_ADDR, p_total) + 1
    froms = [from0]
    valid = [np.ones(p_total, dtype=bool)]
    min_start = dob.astype(np.int64) + int(16 * YEAR)
    for k in (1, 2):
        length = np.round(_u(rng, 0.5, 8, p_total) * np.float32(YEAR)).astype(np.int32)
        f = froms[-1] - 1 - length
        froms.append(f)
        valid.append(valid[-1] & (n_addr > k) & (f >= min_start))
    del min_start, n_addr
    count = (valid[0].astype(np.int8) + valid[1] + valid[2]).astype(np.int8)
    offset = np.cumsum(count, dtype=np.int64) - count
    n_a = int(count.sum())
    a_person = np.empty(n_a, dtype=np.int32)
    a_site = np.empty(n_a, dtype=np.int32)
    a_unit = np.empty(n_a, dtype=np.int32)
    a_from = np.empty(n_a, dtype=np.int32)
    a_to = np.empty(n_a, dtype=np.int32)
    s_units = sc["units"]
    for k in range(3):
        m = np.flatnonzero(valid[k])
        pos = offset[m] + k
        a_person[pos] = m
        a_from[pos] = froms[k][m]
        if k == 0:
            a_to[pos] = to0[m]
            a_site[pos] = home_site[m]
            a_unit[pos] = home_unit[m]
            continue
        a_to[pos] = froms[k - 1][m] - 1
        s = rng.integers(0, n_regular_sites, len(m), dtype=np.int32)
        s = np.where(s == home_site[m], (s + 1) % n_regular_sites, s).astype(np.int32)
        nu = s_units[s].astype(np.int32)
        slot = (rng.random(len(m), dtype=np.float32) * np.maximum(nu, 1)).astype(np.int32)
        a_site[pos] = s
        a_unit[pos] = np.where(nu > 0, unit_number(sc["per_floor"][s], np.minimum(slot, np.maximum(nu - 1, 0))), 0)
        del m, pos, s, nu, slot
    del froms, valid

    return World(
        as_of=as_of, tins=tins, n_ssn=p_total - n_itin, n_itin=n_itin,
        s_kind=sc["kind"], s_house=sc["house"].astype(np.int32), s_predir=sc["predir"].astype(np.int8),
        s_street=sc["street"].astype(np.int16), s_suffix=sc["suffix"].astype(np.int8),
        s_zip=sc["zip"].astype(np.int32), s_zip4=sc["zip4"], s_units=s_units, s_per_floor=sc["per_floor"],
        s_unit_style=sc["unit_style"], s_key=sc["key"], n_regular_sites=n_regular_sites,
        inst_sites=np.arange(n_regular_sites, len(sc["kind"]), dtype=np.int64),
        tin=tin, first=first, middle=middle, last1=last1, last2=last2, join=join, suffix=suffix, dob=dob,
        protected=protected, hisp=hisp, household=household, jrsr=jrsr, partner=partner,
        home_site=home_site, home_unit=home_unit, current=current, inst=inst,
        a_person=a_person, a_site=a_site, a_unit=a_unit, a_from=a_from, a_to=a_to,
        a_offset=offset, a_count=count,
    )


def sample_first(rng: np.random.Generator, male: BOOL, hisp: BOOL) -> I64:
    nt = name_tables()
    n = len(male)
    use_h = hisp & (rng.random(n, dtype=np.float32) < 0.75)
    out = np.empty(n, dtype=np.int64)
    for is_m in (True, False):
        for h in (True, False):
            m = (male == is_m) & (use_h == h)
            key = ("H" if h else "") + ("M" if is_m else "F")
            out[m] = sample(nt.first_dist[key], rng, int(m.sum()))
    return out


def join_skip(sep: str | pa.Array, *parts: pa.Array) -> pa.Array:
    """Join string arrays with ``sep``, skipping nulls; null only where every part is null.

    (pyarrow's ``binary_join_element_wise(null_handling="skip")`` drops rows whose
    parts are all null, so it is not used.)
    """
    out = parts[0]
    for part in parts[1:]:
        both = pc.binary_join_element_wise(out, part, sep)
        out = pc.coalesce(both, out, part)
    return out


def surname_strings(last1: npt.NDArray[np.integer], last2: npt.NDArray[np.integer],
                    join: npt.NDArray[np.integer], form: npt.NDArray[np.integer] | int = 0) -> pa.Array:
    """Surnames in one of the NAME_FORMS case/accent forms; two-part ones joined by space or hyphen."""
    nt = name_tables()
    f = np.asarray(form, dtype=np.int64)
    a = pc.take(nt.last_forms, pa.array(last1.astype(np.int64) * 6 + f))
    has2 = last2 >= 0
    b = pc.take(nt.last_forms, pa.array(np.maximum(last2, 0).astype(np.int64) * 6 + f, mask=~has2))
    sep = pa.array(np.where(join == 2, "-", " "))
    return join_skip(sep, a, b)


def _days_to_str(days: npt.NDArray[np.integer], null: BOOL | None = None) -> pa.Array:
    arr = pa.array(days.astype(np.int32), type=pa.int32(), mask=null).cast(pa.date32())
    return arr.cast(pa.string())


def tin_strings(tin: I64) -> pa.Array:
    return pc.utf8_lpad(pa.array(tin).cast(pa.string()), 9, "0")


def persons_table(w: World, lo: int, hi: int) -> pa.Table:
    nt = name_tables()
    sl = slice(lo, hi)
    mid = w.middle[sl].astype(np.int64)
    sfx = w.suffix[sl].astype(np.int64)
    return pa.table({
        "tin": tin_strings(w.tin[sl]),
        "first_name": pc.take(nt.first_forms, pa.array(w.first[sl].astype(np.int64) * 6)),
        "middle_name": pc.take(nt.first_forms, pa.array(np.maximum(mid, 0) * 6, mask=mid < 0)),
        "last_name": surname_strings(w.last1[sl], w.last2[sl], w.join[sl]),
        "name_suffix": pc.take(pa.array(SUFFIX_CODES), pa.array(sfx, mask=sfx == 0)),
        "dob": _days_to_str(w.dob[sl]),
        "protected": pa.array(w.protected[sl]),
    })


def street_lines(w: World, site: npt.NDArray[np.integer], unit: npt.NDArray[np.integer]) -> pa.Array:
    """USPS-standard delivery lines: '123 N MAIN ST APT 4', 'PO BOX 12', 'RR 3 BOX 45'."""
    st = street_tables()
    site = site.astype(np.int64)
    kind = w.s_kind[site]
    house = pa.array(w.s_house[site]).cast(pa.string())
    predir = w.s_predir[site].astype(np.int64)
    pre = pc.take(st.dir_forms, pa.array(predir * 9, mask=predir == 0))
    name = pc.take(st.name_forms, pa.array(w.s_street[site].astype(np.int64) * 3))
    sfx = pc.take(st.suffix_forms, pa.array(w.s_suffix[site].astype(np.int64) * 12))
    has_unit = unit > 0
    designator = pc.take(pa.array(["APT ", "UNIT "]), pa.array(w.s_unit_style[site].astype(np.int64)))
    unit_s = pc.binary_join_element_wise(designator, pa.array(unit).cast(pa.string()), "")
    unit_s = pc.if_else(pa.array(has_unit), unit_s, pa.nulls(len(site), pa.string()))
    street = join_skip(" ", house, pre, name, sfx, unit_s)
    box = pc.binary_join_element_wise("PO BOX", house, " ")
    route = pa.array(w.s_suffix[site]).cast(pa.string())
    rural = pc.binary_join_element_wise("RR", route, "BOX", house, " ")
    form = np.select([kind == KIND_POBOX, kind == KIND_RURAL], [1, 2], 0).astype(np.int8)
    return pc.choose(pa.array(form), street, box, rural)


def addresses_table(w: World, lo: int, hi: int) -> pa.Table:
    zt = zip_table()
    sl = slice(lo, hi)
    site = w.a_site[sl].astype(np.int64)
    z = w.s_zip[site].astype(np.int64)
    zip5 = pc.take(pa.array(zt.zip5), pa.array(z))
    z4 = w.s_zip4[site]
    plus4 = pc.utf8_lpad(pa.array(z4).cast(pa.string()), 4, "0")
    zips = pc.if_else(pa.array(z4 > 0), pc.binary_join_element_wise(zip5, plus4, ""), zip5)
    to = w.a_to[sl]
    return pa.table({
        "tin": tin_strings(w.tin[w.a_person[sl]]),
        "street": street_lines(w, site, w.a_unit[sl]),
        "city": pc.take(pa.array(zt.city), pa.array(z)),
        "state": pc.take(pa.array(zt.state), pa.array(z)),
        "zip": zips,
        "valid_from": _days_to_str(w.a_from[sl]),
        "valid_to": _days_to_str(np.where(to == NO_END, 0, to), null=to == NO_END),
    })
