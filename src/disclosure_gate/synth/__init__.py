"""Synthetic custodian records and a messy bulk request file with known answers.

:func:`generate` writes, into ``out_dir``:

``persons.{csv,parquet}``
    ``tin`` (9 digits, unique; SSNs that never use area 000/666/900-999, group 00
    or serial 0000, and ITINs 9xx-MM-xxxx with MM in 50-65, 70-88, 90-92, 94-99;
    about 30% of Hispanic-named and 4% of other persons have ITINs), ``first_name``,
    ``middle_name`` (empty for ~55%), ``last_name`` (upper-case ASCII, e.g.
    ``GARCIA LOPEZ`` or ``SMITH-JONES`` for two-part surnames), ``name_suffix``
    (``JR``/``SR``/``II``/``III`` or empty), ``dob`` (YYYY-MM-DD), ``protected``
    (true/false, ~0.5%).
``addresses.{csv,parquet}``
    ``tin``, ``street`` (USPS style: ``123 N MAIN ST APT 4``, ``PO BOX 12``,
    ``RR 3 BOX 45``), ``city``, ``state``, ``zip`` (5 digits, or 9 digits without a
    dash), ``valid_from``, ``valid_to`` (empty = current). Real standard ZIP/city/
    state triples from ``zipcodes``. ~1.5 rows per person; ~3% of people have
    no current address. See :mod:`.world` for households, buildings, Jr/Sr pairs,
    PO boxes, rural routes and institutions.
``agreement.yaml`` / ``manifest.yaml``
    The 6103(i)(2) agreement (valid as_of - 1 year to as_of + 2 years, active) and
    the batch manifest (``submitted_at`` = as_of).
``requests.{csv,parquet}``
    ``request_id`` (``R0000001``...), ``first_name``, ``middle_name``, ``last_name``,
    ``name_suffix``, ``tin``, ``dob``, ``case_reference``, and either ``address``
    (``address_style`` ``"free"`` or ``"mixed"``: one free-text line whose format
    varies from row to row; the two styles are the same) or ``street``, ``city``,
    ``state``, ``zip`` (``"structured"``). Every cell is text; absent values are
    empty strings. See :mod:`.render` for the kinds of mess.
``truth.csv``
    ``request_id``, ``category``, ``expected`` (DISCLOSE/DENY/REVIEW),
    ``expected_reason`` (empty for DISCLOSE).

Default category mix (``no_tin_share=0.30``; the no-TIN categories, marked *,
are scaled together to ``no_tin_share`` and the others to the rest):

========================  ========  ======================  =====
category                  expected  reason                  share
========================  ========  ======================  =====
tin_current               DISCLOSE                          9%
tin_recent_past           DISCLOSE                          3%
tin_nickname              DISCLOSE                          2%
tin_two_part_surname      DISCLOSE                          2%
notin_exact *             DISCLOSE                          7%
tin_other_address         DENY      ADDRESS_NOT_ON_FILE     6%
tin_stale_address         DENY      ADDRESS_NOT_ON_FILE     3%
address_placeholder       DENY      ADDRESS_PLACEHOLDER     7%
address_insufficient      DENY      ADDRESS_INSUFFICIENT    4%
address_inconsistent      DENY      ADDRESS_INCONSISTENT    2%
address_missing           DENY      ADDRESS_MISSING         3%
name_missing              DENY      NAME_MISSING            1%
tin_invalid               DENY      TIN_INVALID             3%
tin_not_on_file           DENY      NO_MATCH                16%
notin_no_match *          DENY      NO_MATCH                19%
tin_name_mismatch         DENY      TIN_NAME_MISMATCH       3%
ambiguous_jr_sr *         DENY      AMBIGUOUS_MATCH         1%
protected_record          DENY      PROTECTED_RECORD        0.5%
duplicate_request         DENY      DUPLICATE_REQUEST       1.5%
unit_mismatch             REVIEW    UNIT_MISMATCH           3%
low_confidence_dob *      REVIEW    LOW_CONFIDENCE          3%
shared_institution        REVIEW    ADDRESS_SHARED_BY_MANY  1%
========================  ========  ======================  =====

That is 23% DISCLOSE, 70% DENY, 7% REVIEW. Rules the counts follow: from 200
requests on every category gets at least one row, taken from the larger NO_MATCH
category; ``shared_institution`` gets at least 30 rows (more than the threshold of
25) when there are at least 300 requests and 240 persons, else none, and one
institution per 300 of its rows; ``duplicate_request`` never exceeds
``tin_current``. When the planned person-based rows exceed 90% of the eligible
persons (requests close to or above ``persons``), those categories are scaled
down together, each keeping at least one row; rows a category still cannot fill
(a pool runs dry, or an address would be named too often) become NO_MATCH rows
about invented people, split by ``no_tin_share``. The file always has exactly
``requests`` rows.

What the truth assumes (the pipeline must agree):

* Reference date = manifest ``submitted_at`` (= as_of). "Current" = ``valid_to``
  empty. The lookback is 6 calendar years: ``tin_recent_past`` addresses ended
  at least 30 days after ``as_of - 6 years``, ``tin_stale_address`` addresses at
  least 30 days before it, so either boundary convention gives the same answer.
* One defect per row, so the order of checks does not matter; precedence is
  still: request completeness (NAME_MISSING, ADDRESS_MISSING, TIN_INVALID,
  ADDRESS_PLACEHOLDER, ADDRESS_INSUFFICIENT, ADDRESS_INCONSISTENT) before matching
  (NO_MATCH, TIN_NAME_MISMATCH, AMBIGUOUS_MATCH), then PROTECTED_RECORD,
  DUPLICATE_REQUEST, address-on-file, then the REVIEW reasons.
* TIN path: the name control is the first four letters of the surname after
  folding accents and dropping punctuation; two-part surnames match on any part
  (SSA same-name tolerance), in either order, hyphenated or not. The first name
  is not compared (``tin_nickname`` rows are DISCLOSE).
* Addresses compare on the standardised delivery line (number, directional, name,
  USPS suffix) + ZIP5, with the unit compared by its number/letter only (``Apt
  4`` = ``#4`` = ``Unit 4``); one typo in a street name of 5+ letters is tolerated
  (``tin_current``: ~15% of rows; ``duplicate_request``: ~10%); never in the number
  or ZIP. A unit missing or different from the one on file is UNIT_MISMATCH.
* A real 5-digit ZIP alone is ADDRESS_INSUFFICIENT; placeholder words with or
  without a ZIP-like number, and null-like numbers alone (``00000``, ``0``), are
  ADDRESS_PLACEHOLDER; a ZIP that is no ZIP code of any type, or a real ZIP with
  the wrong state, is ADDRESS_INCONSISTENT.
* No-TIN path: first + last name (accent/case-insensitive), exact DOB and the
  current address identify exactly one person for ``notin_exact``; for
  ``low_confidence_dob`` the DOB differs by one digit or by a month/day swap and
  nobody else at that address has the surname. ``ambiguous_jr_sr`` gives no
  TIN, DOB or suffix for a Jr/Sr pair at one address.
* ``shared_institution``: every row naming an institution's address (30 or more
  per institution, no other category names it) is REVIEW; the threshold is
  "more than 25 requests in the batch" on the standardised line + ZIP5 (unit
  ignored). Every other address is named by at most 24 rows (12 before
  duplicates).
* ``duplicate_request``: the same person (same TIN, other rendering) as an earlier
  ``tin_current`` row; the earlier row (lower ``request_id``) is DISCLOSE.

Cost (2 cores, 1,280,000 requests): 1M persons ~14 s and 1.3 GB peak RSS; 20M
persons (29.7M addresses) ~95 s as CSV (3.4 GB of files) or ~105 s as Parquet
(0.8 GB), 3.7 GB peak RSS either way. Everything is whole-array numpy/pyarrow;
custodian files are written in chunks of 1-1.5M rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from disclosure_gate.synth.output import FORMATS, atomic_dir, chunked, write_table_chunks, write_yaml
from disclosure_gate.synth.requests import CATEGORIES, CATEGORY_MIX, RequestBuilder, finalize, plan_requests, scaled_mix
from disclosure_gate.synth.world import addresses_table, build_world, persons_table

__all__ = ["ADDRESS_STYLES", "CATEGORIES", "CATEGORY_MIX", "SynthResult", "generate"]

ADDRESS_STYLES = ("free", "structured", "mixed")
AGREEMENT_ID = "AGR-ICE-2025-01"
RECIPIENT = "U.S. Immigration and Customs Enforcement (DHS/ICE), Enforcement and Removal Operations"
AUTHORITY = "26 U.S.C. 6103(i)(2)"
PURPOSE = ("Criminal investigation under 8 U.S.C. 1253(a)(1) (willful failure to depart) of persons "
           "present 90 or more days after a final order of removal")
REQUESTING_OFFICIAL = "Director, U.S. Immigration and Customs Enforcement"
PERSON_CHUNK = 1_000_000
ADDRESS_CHUNK = 1_500_000


@dataclass(frozen=True)
class SynthResult:
    out_dir: Path
    persons: int
    addresses: int
    requests: int
    files: dict[str, Path]  # keys: persons, addresses, agreement, manifest, requests, truth


def generate(out_dir: Path, *, persons: int, requests: int, seed: int = 7, fmt: str = "csv",
             address_style: str = "mixed", as_of: dt.date | None = None,
             no_tin_share: float = 0.30) -> SynthResult:
    """Generate a world of ``persons`` and a batch of ``requests`` rows into ``out_dir``.

    Deterministic for a given (seed, persons, requests, as_of, no_tin_share);
    ``fmt`` and ``address_style`` change only how the same content is written.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}")
    if address_style not in ADDRESS_STYLES:
        raise ValueError(f"address_style must be one of {ADDRESS_STYLES}")
    if persons < 1 or requests < 1:
        raise ValueError("persons and requests must be at least 1")
    if not 0.0 <= no_tin_share <= 1.0:
        raise ValueError("no_tin_share must be between 0 and 1")
    as_of = as_of or dt.date.today()
    as_of_days = (as_of - dt.date(1970, 1, 1)).days
    plan = plan_requests(requests, persons, scaled_mix(no_tin_share))
    world = build_world(plan.world_plan(persons), as_of=as_of_days, seed=seed)
    rng = np.random.default_rng([seed, 2])
    rows = RequestBuilder(world, plan, rng, no_tin_share=no_tin_share).build()
    req, truth = finalize(rows, rng, style=address_style, as_of_year=as_of.year)
    del rows

    ext = fmt
    names = {"persons": f"persons.{ext}", "addresses": f"addresses.{ext}", "agreement": "agreement.yaml",
             "manifest": "manifest.yaml", "requests": f"requests.{ext}", "truth": "truth.csv"}
    other = "parquet" if fmt == "csv" else "csv"
    stale = (f"persons.{other}", f"addresses.{other}", f"requests.{other}")
    out_dir = Path(out_dir).absolute()
    with atomic_dir(out_dir, tuple(names.values()), stale) as tmp:
        write_table_chunks(tmp / names["persons"], fmt,
                           chunked(lambda lo, hi: persons_table(world, lo, hi), world.n_persons, PERSON_CHUNK))
        write_table_chunks(tmp / names["addresses"], fmt,
                           chunked(lambda lo, hi: addresses_table(world, lo, hi), world.n_addresses,
                                   ADDRESS_CHUNK))
        write_table_chunks(tmp / names["requests"], fmt, iter([req]))
        write_table_chunks(tmp / names["truth"], "csv", iter([truth]))
        write_yaml(tmp / names["agreement"], {
            "id": AGREEMENT_ID, "recipient": RECIPIENT, "statutory_authority": AUTHORITY,
            "purposes": [PURPOSE], "disclose": ["last_known_address"],
            "valid_from": _shift_years(as_of, -1), "valid_to": _shift_years(as_of, 2), "status": "active",
        })
        write_yaml(tmp / names["manifest"], {
            "agreement": AGREEMENT_ID, "requesting_official": REQUESTING_OFFICIAL,
            "statutory_authority": AUTHORITY, "purpose": PURPOSE,
            "taxable_periods": [str(as_of.year - 3), str(as_of.year - 2)], "submitted_at": as_of,
        })
    return SynthResult(out_dir=out_dir, persons=world.n_persons, addresses=world.n_addresses,
                       requests=req.num_rows, files={k: out_dir / v for k, v in names.items()})


def _shift_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)
