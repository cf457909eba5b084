"""Match: identity and address corroboration facts, as set-based SQL.

Pure functions build the SQL; :func:`compute_facts` runs it through the engine.

* **TIN path** (a valid TIN was given): the TIN must be on file and the name
  controls must intersect (IRS name control with SSA's two-part tolerance).
  A date of birth that conflicts, or a first name that is not a variant
  (nickname, typo, initial) of the one on file while no exact DOB confirms
  the person, lowers the match to ``low_confidence`` (REVIEW); a first-name
  variant never denies on its own.
* **No-TIN path**: blocked on the standardized address (ZIP5 + primary
  number, or state + number when there is no ZIP) against the custodian's
  addresses within the lookback; candidates must agree on surname, first
  name, suffix and date of birth. One candidate with the exact DOB is
  ``confirmed``; two or more are ``ambiguous`` and never resolved by
  guessing; a single candidate without an exact DOB (absent, or one typo
  away) is ``low_confidence``.
* **Corroboration**: the requested address must equal an address on file for
  the matched person (current, or ended within the lookback) after
  standardization: same kind, same primary number, same ZIP (or city and
  state), street name equal or one edit apart in its letters (two for long
  names; digits must match exactly; and never when the requested name is
  itself a street name on file, since BEACH for PEACH is another street), no
  conflicting suffix or directional. The unit is compared separately.
* **Batch hygiene**: a person matched twice in a batch is decided once (later
  rows are ``duplicate``); an address requested for more than N people is
  ``shared_by_many``.

The matcher is rules, not Splink: a rule set can state exactly why a
candidate was accepted, and blocking on the address makes it cheap (see
benchmarks/pipeline.py for figures).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from disclosure_gate.engine import Engine
from disclosure_gate.pipeline.standardize import address, names, tin

STREET_NAME_TYPO_MIN_LEN = 4
#: Every street name on file (built at records load): typo tolerance never applies to these.
STREET_NAMES_SQL = ("CREATE OR REPLACE TABLE c_street_names AS SELECT DISTINCT a_street_name AS name "
                    "FROM c_address WHERE a_street_name IS NOT NULL")
SURNAME_JW = 0.92
FIRST_JW = 0.90
FIRST_CONFLICT_JW = 0.80
CITY_JW = 0.92


@dataclass(frozen=True)
class MatchParams:
    batch_id: str
    address_style: str  # 'free' | 'structured'
    reference_date: dt.date  # the manifest's submitted_at
    lookback_years: int
    shared_threshold: int


# -- standardized request rows --------------------------------------------------------
def dob_expr(col: str) -> str:
    v = f"nullif(trim({col}), '')"
    return (f"CAST(coalesce(try_strptime({v}, '%Y-%m-%d'), try_strptime({v}, '%m/%d/%Y'), "
            f"try_strptime({v}, '%Y%m%d')) AS DATE)")


def request_std_sql(p: MatchParams) -> str:
    src = f"(SELECT * FROM req_rows WHERE batch_id = '{p.batch_id}')"
    if p.address_style == "free":
        addr = address.address_sql(src, key_cols=["_row"], free_text="address")
    else:
        addr = address.address_sql(src, key_cols=["_row"], street="street", city="city",
                                   state="state", zip="zip")
    tin_cols = tin.tin_columns("s.tin")
    named = names.names_sql(src, ["_row"], first="first_name", last="last_name", suffix="name_suffix",
                            extra=("s.request_id", *tin_cols, f"{dob_expr('s.dob')} AS r_dob"))
    return (
        "SELECT n.*, a.* EXCLUDE (_row), "
        "(a.a_present AND NOT a.a_placeholder AND a.a_sufficient "
        " AND coalesce(a.a_zip_exists, true) AND coalesce(a.a_zip_state_ok, true)) AS addr_usable "
        f"FROM ({named}) n JOIN ({addr}) a USING (_row)"
    )


# -- comparison expressions (r = request, ca = custodian address, p = person) ------------
def street_match(r: str = "r", ca: str = "ca") -> str:
    def compatible(col: str) -> str:
        return f"({r}.{col} IS NULL OR {ca}.{col} IS NULL OR {r}.{col} = {ca}.{col})"

    shortest = f"least(length({r}.a_street_name), length({ca}.a_street_name))"
    dl = f"damerau_levenshtein({r}.a_street_name, {ca}.a_street_name)"
    # Typos are tolerated in letters only: 15TH and 55TH, or COUNTY RD 12 and 13, are different streets.
    same_digits = (f"regexp_replace({r}.a_street_name, '[^0-9]', '', 'g') = "
                   f"regexp_replace({ca}.a_street_name, '[^0-9]', '', 'g')")
    # And only when the requested name is not itself a street name the custodian knows: BEACH for
    # PEACH, HILL for MILL or BRIDGE for RIDGE are other real streets, not typos.
    name_ok = (f"({r}.a_street_name = {ca}.a_street_name OR (NOT {r}.a_street_known AND {same_digits} AND ("
               f"({shortest} >= {STREET_NAME_TYPO_MIN_LEN} AND {dl} <= 1) OR ({shortest} >= 8 AND {dl} <= 2))))")
    return (f"({r}.a_street_key = {ca}.a_street_key OR ({name_ok} AND {compatible('a_suffix')} "
            f"AND {compatible('a_predir')} AND {compatible('a_postdir')}))")


def address_match(r: str = "r", ca: str = "ca") -> str:
    """The requested address is this address on file (unit compared separately)."""
    place = (f"(({r}.a_zip5 IS NOT NULL AND {r}.a_zip5 = {ca}.a_zip5) OR ({r}.a_zip5 IS NULL AND "
             f"{r}.a_state = {ca}.a_state AND ({r}.a_city = {ca}.a_city OR "
             f"jaro_winkler_similarity({r}.a_city, {ca}.a_city) >= {CITY_JW})))")
    street = f"({r}.a_kind <> 'STREET' OR {street_match(r, ca)})"
    return (f"({r}.a_kind = {ca}.a_kind AND {r}.a_number = {ca}.a_number AND {place} "
            f"AND coalesce({r}.a_box, '') = coalesce({ca}.a_box, '') AND {street})")


def unit_match(r: str = "r", ca: str = "ca") -> str:
    return f"(coalesce({r}.a_unit, '') = coalesce({ca}.a_unit, ''))"


def in_lookback(p: MatchParams, ca: str = "ca") -> str:
    cutoff = dt.date(p.reference_date.year - p.lookback_years, p.reference_date.month,
                     min(p.reference_date.day, 28))
    return f"({ca}.valid_to IS NULL OR {ca}.valid_to >= DATE '{cutoff.isoformat()}')"


def surname_ok(r: str = "r", p: str = "p") -> str:
    return (f"({r}.n_last = {p}.n_last OR list_has_any({r}.n_parts, {p}.n_parts) OR "
            f"jaro_winkler_similarity({r}.n_last, {p}.n_last) >= {SURNAME_JW})")


def first_ok(r: str = "r", p: str = "p") -> str:
    return (f"(list_has_any({r}.n_first_keys, {p}.n_first_keys) OR "
            f"jaro_winkler_similarity({r}.n_first, {p}.n_first) >= {FIRST_JW})")


def first_conflict(r: str = "r", p: str = "p") -> str:
    """First names present on both sides and not variants of each other."""
    initial = f"(length({r}.n_first) = 1 AND left({p}.n_first, 1) = {r}.n_first)"
    return (f"({r}.n_first IS NOT NULL AND {p}.n_first IS NOT NULL AND NOT {initial} AND NOT "
            f"list_has_any({r}.n_first_keys, {p}.n_first_keys) AND "
            f"jaro_winkler_similarity({r}.n_first, {p}.n_first) < {FIRST_CONFLICT_JW})")


def dob_class(r: str = "r", p: str = "p") -> str:
    """'exact' | 'absent' | 'near' (one digit typo, one day off, or day/month swapped) | 'conflict'."""
    rs, ps = f"strftime({r}.r_dob, '%Y%m%d')", f"strftime({p}.dob, '%Y%m%d')"
    swapped = (f"(year({r}.r_dob) = year({p}.dob) AND month({r}.r_dob) = day({p}.dob) "
               f"AND day({r}.r_dob) = month({p}.dob))")
    return (f"CASE WHEN {r}.r_dob IS NULL OR {p}.dob IS NULL THEN 'absent' "
            f"WHEN {r}.r_dob = {p}.dob THEN 'exact' "
            f"WHEN hamming({rs}, {ps}) = 1 OR {swapped} OR abs(date_diff('day', {r}.r_dob, {p}.dob)) = 1 "
            "THEN 'near' ELSE 'conflict' END")


# -- fact tables ---------------------------------------------------------------------
def tin_path_sql(p: MatchParams) -> str:
    """One row per request row whose TIN is on file (valid or not: the seed needs both)."""
    return f"""
SELECT r._row, pe.tin AS person_tin, pe.protected, r.t_valid,
       len(list_intersect(r.n_controls, pe.n_controls)) > 0 AS nc_ok,
       (r.n_nc_simple = pe.n_nc_simple) AS seed_nc_ok,
       {first_conflict('r', 'pe')} AS first_conflict,
       ({dob_class('r', 'pe')} = 'conflict') AS dob_conflict,
       ({dob_class('r', 'pe')} = 'exact') AS dob_exact
FROM p_req r JOIN c_person pe ON pe.tin = r.t_digits
WHERE r.t_present
"""


def tin_address_sql(p: MatchParams) -> str:
    """Corroboration of the requested address against the TIN-matched person's addresses."""
    return f"""
SELECT r._row,
       bool_or({address_match()} AND {in_lookback(p)}) AS on_file,
       bool_or({address_match()} AND {in_lookback(p)} AND {unit_match()}) AS unit_ok
FROM p_req r JOIN p_tin t USING (_row) JOIN c_address ca ON ca.tin = t.person_tin
WHERE t.t_valid AND r.addr_usable
GROUP BY r._row
"""


def notin_candidates_sql(p: MatchParams) -> str:
    """Candidates for rows without a TIN, blocked on the standardized address.

    Two equi-join branches (ZIP5 + number, or state + number when there is no
    ZIP) so each is a hash join; an OR in one join condition measured 72 s at
    1.28 M x 30 M addresses, the split version a few seconds.
    """
    def branch(block: str, zip_present: bool) -> str:
        return f"""
SELECT r._row, pe.tin AS person_tin, pe.protected, {dob_class('r', 'pe')} AS dob_class, {unit_match()} AS unit_ok
FROM p_req r
JOIN c_address ca ON {block}
JOIN c_person pe ON pe.tin = ca.tin
WHERE NOT r.t_present AND r.n_present AND r.addr_usable AND r.a_zip5 IS {'NOT ' if zip_present else ''}NULL
  AND {address_match()} AND {in_lookback(p)}
  AND {surname_ok('r', 'pe')} AND {first_ok('r', 'pe')}
  AND (r.n_suffix IS NULL OR pe.n_suffix IS NULL OR r.n_suffix = pe.n_suffix)
  AND {dob_class('r', 'pe')} <> 'conflict'"""

    return (f"SELECT _row, person_tin, any_value(protected) AS protected, any_value(dob_class) AS dob_class, "
            f"bool_or(unit_ok) AS unit_ok FROM ("
            f"{branch('ca.a_zip5 = r.a_zip5 AND ca.a_number = r.a_number', True)} UNION ALL "
            f"{branch('ca.a_state = r.a_state AND ca.a_number = r.a_number', False)}"
            f") GROUP BY _row, person_tin")


NOTIN_IDENTITY_SQL = """
SELECT _row,
       count(DISTINCT person_tin) FILTER (WHERE dob_class = 'exact') AS n_exact,
       count(DISTINCT person_tin) AS n_all,
       arg_max(person_tin, dob_class = 'exact') AS best_tin
FROM p_cand GROUP BY _row
"""


def seed_notin_sql() -> str:
    """The 2025 address-matching path: surname control + ZIP + house number, nothing else."""
    return """
SELECT DISTINCT r._row
FROM p_req r
JOIN c_address ca ON ca.a_zip5 = r.a_zip5 AND ca.a_number = r.a_number
JOIN c_person pe ON pe.tin = ca.tin AND pe.n_nc_simple = r.n_nc_simple
WHERE NOT r.t_present AND r.a_zip5 IS NOT NULL AND r.a_number IS NOT NULL
"""


NO_PERSONS = "(SELECT NULL::VARCHAR AS tin, NULL::BOOLEAN AS protected WHERE false)"


def facts_sql(p: MatchParams, persons: str = "c_person") -> str:
    """Row facts (identity, corroboration, hygiene). Request-level facts are added by decide."""
    identity = """
CASE
  WHEN NOT r.n_present THEN 'not_evaluated'
  WHEN r.t_present AND NOT r.t_valid THEN 'not_evaluated'
  WHEN r.t_present AND t._row IS NULL THEN 'none'
  WHEN r.t_present AND NOT t.nc_ok THEN 'name_mismatch'
  WHEN r.t_present AND ((t.first_conflict AND NOT t.dob_exact) OR t.dob_conflict) THEN 'low_confidence'
  WHEN r.t_present THEN 'confirmed'
  WHEN NOT r.addr_usable THEN 'not_evaluated'
  WHEN ni._row IS NULL THEN 'none'
  WHEN ni.n_exact = 1 THEN 'confirmed'
  WHEN ni.n_exact > 1 THEN 'ambiguous'
  WHEN ni.n_all = 1 THEN 'low_confidence'
  ELSE 'ambiguous'
END"""
    return f"""
WITH base AS (
  SELECT r._row, r.request_id, r.n_present, r.a_present, r.a_placeholder, r.a_sufficient,
         (coalesce(r.a_zip_exists, true) AND coalesce(r.a_zip_state_ok, true)) AS a_consistent,
         r.t_present, r.t_valid, r.a_zip_like, r.addr_usable, r.a_zip5, r.a_number, r.a_kind,
         r.a_street_key,
         {identity} AS identity,
         CASE WHEN r.t_present THEN 'TIN' ELSE 'NAME_DOB_ADDRESS' END AS path,
         CASE WHEN r.t_present THEN t.person_tin ELSE ni.best_tin END AS matched_tin,
         CASE WHEN r.t_present THEN coalesce(ta.on_file, false) ELSE ni._row IS NOT NULL END
           AS address_on_file,
         CASE WHEN r.t_present THEN coalesce(ta.unit_ok, false)
              ELSE coalesce(nu.unit_ok, false) END AS unit_match,
         CASE WHEN r.t_present AND t._row IS NOT NULL THEN
                CASE WHEN t.seed_nc_ok THEN 'confirmed' ELSE 'name_mismatch' END
              WHEN r.t_present THEN 'none'
              WHEN sn._row IS NOT NULL THEN 'confirmed' ELSE 'none' END AS seed_identity
  FROM p_req r
  LEFT JOIN p_tin t USING (_row)
  LEFT JOIN p_tin_addr ta USING (_row)
  LEFT JOIN p_notin ni USING (_row)
  LEFT JOIN (SELECT c._row, bool_or(c.unit_ok) AS unit_ok FROM p_cand c JOIN p_notin n
             ON c._row = n._row AND c.person_tin = n.best_tin GROUP BY c._row) nu USING (_row)
  LEFT JOIN p_seed_notin sn USING (_row)
)
SELECT b.* EXCLUDE (matched_tin, identity),
       CASE WHEN b.identity IN ('confirmed', 'low_confidence') THEN b.matched_tin END AS matched_tin,
       b.identity,
       coalesce(pe.protected, false) AS protected,
       (b.addr_usable AND count(*) OVER (PARTITION BY b.a_kind, b.a_zip5, b.a_number, b.a_street_key)
          > {int(p.shared_threshold)}) AS shared_by_many,
       (b.identity IN ('confirmed', 'low_confidence') AND row_number() OVER (
          PARTITION BY CASE WHEN b.identity IN ('confirmed', 'low_confidence') THEN b.matched_tin END
          ORDER BY b._row) > 1) AS duplicate
FROM base b
LEFT JOIN {persons} pe ON pe.tin = CASE WHEN b.identity IN ('confirmed', 'low_confidence')
                                      THEN b.matched_tin END
"""


STEPS = ("standardize", "tin", "corroborate", "notin", "facts")


_EMPTY = {
    "p_tin": "SELECT NULL::BIGINT AS _row, NULL::VARCHAR AS person_tin, NULL::BOOLEAN AS protected, "
             "NULL::BOOLEAN AS t_valid, NULL::BOOLEAN AS nc_ok, NULL::BOOLEAN AS seed_nc_ok, "
             "NULL::BOOLEAN AS first_conflict, NULL::BOOLEAN AS dob_conflict, NULL::BOOLEAN AS dob_exact",
    "p_tin_addr": "SELECT NULL::BIGINT AS _row, NULL::BOOLEAN AS on_file, NULL::BOOLEAN AS unit_ok",
    "p_cand": "SELECT NULL::BIGINT AS _row, NULL::VARCHAR AS person_tin, NULL::BOOLEAN AS protected, "
              "NULL::VARCHAR AS dob_class, NULL::BOOLEAN AS unit_ok",
    "p_notin": "SELECT NULL::BIGINT AS _row, NULL::BIGINT AS n_exact, NULL::BIGINT AS n_all, "
               "NULL::VARCHAR AS best_tin",
    "p_seed_notin": "SELECT NULL::BIGINT AS _row",
}


def compute_facts(engine: Engine, p: MatchParams, progress: Callable[[str], None] | None = None,
                  *, inspect: bool = True, seed: bool = True) -> str:
    """Build temp table ``p_facts`` for the batch; returns its name.

    With ``inspect=False`` no custodian record is read (the request failed at
    request level): identity stays ``none``/``not_evaluated`` and only the
    request's own sufficiency facts are computed. With ``seed=False`` the
    2025 baseline's no-TIN address match is skipped (only unsafe policies use
    it; ``decide`` records which facts a batch has and recomputes on demand).
    """
    def step(name: str) -> None:
        if progress is not None:
            progress(name)

    def make(table: str, sql: str, label: str, wanted: bool = True) -> None:
        body = sql if inspect and wanted else f"SELECT * FROM ({_EMPTY[table]}) WHERE false"
        engine.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {body}", label=label)

    if inspect and not engine.table_exists("c_street_names"):
        engine.execute(STREET_NAMES_SQL, label="street names")
    known = ("k.name IS NOT NULL", "LEFT JOIN c_street_names k ON k.name = q.a_street_name") if inspect \
        else ("false", "")
    engine.execute(f"CREATE OR REPLACE TEMP TABLE p_req AS SELECT q.*, {known[0]} AS a_street_known "
                   f"FROM ({request_std_sql(p)}) q {known[1]}", label="standardize")
    step("standardize")
    make("p_tin", tin_path_sql(p), "tin path")
    step("tin")
    make("p_tin_addr", tin_address_sql(p), "corroborate")
    step("corroborate")
    make("p_cand", notin_candidates_sql(p), "no-tin candidates")
    make("p_notin", NOTIN_IDENTITY_SQL, "no-tin identity")
    make("p_seed_notin", seed_notin_sql(), "seed path", wanted=seed)
    step("notin")
    facts = facts_sql(p, "c_person" if inspect else NO_PERSONS)
    engine.execute(f"CREATE OR REPLACE TEMP TABLE p_facts AS {facts}", label="facts")
    step("facts")
    return "p_facts"


def drop_temp(engine: Engine) -> None:
    for t in ("p_req", "p_tin", "p_tin_addr", "p_cand", "p_notin", "p_seed_notin", "p_facts"):
        engine.execute(f"DROP TABLE IF EXISTS {t}", label="cleanup")
