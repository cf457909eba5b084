"""Match: identity and address corroboration facts, as set-based SQL.

Pure functions of a :class:`~disclosure_gate.engine.dialect.Dialect` build the
SQL; :func:`facts_steps` lists the named steps (each a temp table built by one
builder) and :func:`compute_facts` runs them on a
:class:`~disclosure_gate.engine.compute.ComputeEngine`, returning the facts as
an Arrow table in the facts contract's columns (:mod:`.facts`).

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
  conflicting suffix or directional. The unit (a numbered unit's id, or an
  id-less designator such as FRNT or REAR) is compared separately.
* **Batch hygiene**: an address requested for more than N people is
  ``shared_by_many``. The count is taken on the standardized (Unicode-folded)
  requested address **and** on the custodian address each request
  corroborated, so neither look-alike characters nor one-letter typos can
  split a group. Duplicate requests are decided in :mod:`.decide`.
* **Text hygiene**: rows whose names or addresses held invisible characters,
  or mixed scripts inside a word, carry ``hidden_characters`` / ``mixed_script``
  (set at intake by the Unicode folding, :mod:`.standardize.fold`).

The matcher is rules, not Splink: a rule set can state exactly why a
candidate was accepted, and blocking on the address makes it cheap (see
benchmarks/pipeline.py for figures).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from disclosure_gate.engine.compute import ComputeEngine, Step
from disclosure_gate.engine.dialect import DUCKDB, Dialect
from disclosure_gate.engine.sql import literal
from disclosure_gate.pipeline import facts as contract
from disclosure_gate.pipeline.standardize import address, names, tin

STREET_NAME_TYPO_MIN_LEN = 4
SURNAME_JW = 0.92
FIRST_JW = 0.90
FIRST_CONFLICT_JW = 0.80
CITY_JW = 0.92
#: Every street name on file (built at records load): typo tolerance never applies to these.
STREET_NAMES_SQL = ("CREATE OR REPLACE TABLE c_street_names AS SELECT DISTINCT a_street_name AS name "
                    "FROM c_address WHERE a_street_name IS NOT NULL")

# Step (temp table) names, owned here: other modules refer to them through these constants.
T_REQ, T_TIN, T_TIN_ADDR, T_CAND, T_NOTIN, T_SEED, T_FACTS = (
    "p_req", "p_tin", "p_tin_addr", "p_cand", "p_notin", "p_seed_notin", "p_facts")
STEP_TABLES = (T_REQ, T_TIN, T_TIN_ADDR, T_CAND, T_NOTIN, T_SEED, T_FACTS)


@dataclass(frozen=True)
class MatchParams:
    batch_id: str
    address_style: str  # 'free' | 'structured'
    reference_date: dt.date  # the manifest's submitted_at
    lookback_years: int
    shared_threshold: int
    source: str = "req_rows"  # the request rows' table (req_rows, or a staging table for log audits)


# -- standardized request rows --------------------------------------------------------
def dob_expr(col: str, d: Dialect = DUCKDB) -> str:
    v = f"nullif(trim({col}), '')"
    forms = ", ".join(d.try_strptime(v, f) for f in ("%Y-%m-%d", "%m/%d/%Y", "%Y%m%d"))
    return f"CAST(coalesce({forms}) AS DATE)"


def request_std_sql(p: MatchParams, d: Dialect = DUCKDB) -> str:
    """Standardized request rows. Parameter ``$batch``: the batch id."""
    src = f"(SELECT * FROM {p.source} WHERE batch_id = $batch)"
    if p.address_style == "free":
        addr = address.address_sql(src, key_cols=["_row"], free_text="address")
    else:
        addr = address.address_sql(src, key_cols=["_row"], street="street", city="city",
                                   state="state", zip="zip")
    tin_cols = tin.tin_columns("s.tin")
    named = names.names_sql(src, ["_row"], first="first_name", last="last_name", suffix="name_suffix",
                            extra=("s.request_id", "coalesce(s.hidden, true) AS r_hidden",
                                   "coalesce(s.mixed, true) AS r_mixed", *tin_cols,
                                   f"{dob_expr('s.dob', d)} AS r_dob"), d=d)
    return (
        "SELECT n.*, a.* EXCLUDE (_row), "
        "(a.a_present AND NOT a.a_placeholder AND a.a_sufficient "
        " AND coalesce(a.a_zip_exists, true) AND coalesce(a.a_zip_state_ok, true)) AS addr_usable "
        f"FROM ({named}) n JOIN ({addr}) a USING (_row)"
    )


def request_known_sql(p: MatchParams, d: Dialect = DUCKDB, *, inspect: bool = True) -> str:
    """Request rows plus ``a_street_known``: the requested street name is a street on file."""
    if not inspect:
        return f"SELECT q.*, false AS a_street_known FROM ({request_std_sql(p, d)}) q"
    return (f"SELECT q.*, k.name IS NOT NULL AS a_street_known FROM ({request_std_sql(p, d)}) q "
            "LEFT JOIN c_street_names k ON k.name = q.a_street_name")


# -- comparison expressions (r = request, ca = custodian address, p = person) ------------
def street_match(r: str = "r", ca: str = "ca", d: Dialect = DUCKDB) -> str:
    def compatible(col: str) -> str:
        return f"({r}.{col} IS NULL OR {ca}.{col} IS NULL OR {r}.{col} = {ca}.{col})"

    shortest = f"least(length({r}.a_street_name), length({ca}.a_street_name))"
    dl = d.damerau_levenshtein(f"{r}.a_street_name", f"{ca}.a_street_name")
    # Typos are tolerated in letters only: 15TH and 55TH, or COUNTY RD 12 and 13, are different streets.
    same_digits = (f"regexp_replace({r}.a_street_name, '[^0-9]', '', 'g') = "
                   f"regexp_replace({ca}.a_street_name, '[^0-9]', '', 'g')")
    # And only when the requested name is not itself a street name the custodian knows: BEACH for
    # PEACH, HILL for MILL or BRIDGE for RIDGE are other real streets, not typos.
    name_ok = (f"({r}.a_street_name = {ca}.a_street_name OR (NOT {r}.a_street_known AND {same_digits} AND ("
               f"({shortest} >= {STREET_NAME_TYPO_MIN_LEN} AND {dl} <= 1) OR ({shortest} >= 8 AND {dl} <= 2))))")
    return (f"({r}.a_street_key = {ca}.a_street_key OR ({name_ok} AND {compatible('a_suffix')} "
            f"AND {compatible('a_predir')} AND {compatible('a_postdir')}))")


def address_match(r: str = "r", ca: str = "ca", d: Dialect = DUCKDB) -> str:
    """The requested address is this address on file (unit compared separately)."""
    place = (f"(({r}.a_zip5 IS NOT NULL AND {r}.a_zip5 = {ca}.a_zip5) OR ({r}.a_zip5 IS NULL AND "
             f"{r}.a_state = {ca}.a_state AND ({r}.a_city = {ca}.a_city OR "
             f"{d.jaro_winkler(f'{r}.a_city', f'{ca}.a_city')} >= {CITY_JW})))")
    street = f"({r}.a_kind <> 'STREET' OR {street_match(r, ca, d)})"
    return (f"({r}.a_kind = {ca}.a_kind AND {r}.a_number = {ca}.a_number AND {place} "
            f"AND coalesce({r}.a_box, '') = coalesce({ca}.a_box, '') AND {street})")


def directional_match(r: str = "r", ca: str = "ca") -> str:
    """Both sides carry the same pre- and post-directionals (a directional on one side only is not equal:
    100 MAIN ST and 100 N MAIN ST may be two addresses)."""
    return (f"(coalesce({r}.a_predir, '') = coalesce({ca}.a_predir, '') AND "
            f"coalesce({r}.a_postdir, '') = coalesce({ca}.a_postdir, ''))")


def unit_match(r: str = "r", ca: str = "ca") -> str:
    """Units agree: numbered units by their id, id-less designators (FRNT, REAR...) by their kind."""
    return f"(coalesce({r}.a_unit_key, '') = coalesce({ca}.a_unit_key, ''))"


def in_lookback(p: MatchParams, ca: str = "ca") -> str:
    year = max(1, p.reference_date.year - p.lookback_years)
    cutoff = dt.date(year, p.reference_date.month, min(p.reference_date.day, 28))
    return f"({ca}.valid_to IS NULL OR {ca}.valid_to >= {literal(cutoff)})"


def surname_ok(r: str = "r", p: str = "p", d: Dialect = DUCKDB) -> str:
    return (f"({r}.n_last = {p}.n_last OR {d.list_has_any(f'{r}.n_parts', f'{p}.n_parts')} OR "
            f"{d.jaro_winkler(f'{r}.n_last', f'{p}.n_last')} >= {SURNAME_JW})")


def first_ok(r: str = "r", p: str = "p", d: Dialect = DUCKDB) -> str:
    return (f"({d.list_has_any(f'{r}.n_first_keys', f'{p}.n_first_keys')} OR "
            f"{d.jaro_winkler(f'{r}.n_first', f'{p}.n_first')} >= {FIRST_JW})")


def first_conflict(r: str = "r", p: str = "p", d: Dialect = DUCKDB) -> str:
    """First names present on both sides and not variants of each other."""
    initial = f"(length({r}.n_first) = 1 AND left({p}.n_first, 1) = {r}.n_first)"
    return (f"({r}.n_first IS NOT NULL AND {p}.n_first IS NOT NULL AND NOT {initial} AND NOT "
            f"{d.list_has_any(f'{r}.n_first_keys', f'{p}.n_first_keys')} AND "
            f"{d.jaro_winkler(f'{r}.n_first', f'{p}.n_first')} < {FIRST_CONFLICT_JW})")


def dob_class(r: str = "r", p: str = "p", d: Dialect = DUCKDB) -> str:
    """'exact' | 'absent' | 'near' (one digit typo, one day off, or day/month swapped) | 'conflict'."""
    rs, ps = d.strftime(f"{r}.r_dob", "%Y%m%d"), d.strftime(f"{p}.dob", "%Y%m%d")
    swapped = (f"(year({r}.r_dob) = year({p}.dob) AND month({r}.r_dob) = day({p}.dob) "
               f"AND day({r}.r_dob) = month({p}.dob))")
    return (f"CASE WHEN {r}.r_dob IS NULL OR {p}.dob IS NULL THEN 'absent' "
            f"WHEN {r}.r_dob = {p}.dob THEN 'exact' "
            f"WHEN {d.hamming(rs, ps)} = 1 OR {swapped} OR abs({d.date_diff_days(f'{r}.r_dob', f'{p}.dob')}) = 1 "
            "THEN 'near' ELSE 'conflict' END")


# -- fact tables ---------------------------------------------------------------------
def tin_path_sql(p: MatchParams, d: Dialect = DUCKDB) -> str:
    """One row per request row whose TIN is on file (valid or not: the seed needs both)."""
    return f"""
SELECT r._row, pe.tin AS person_tin, pe.protected, r.t_valid,
       len({d.list_intersect('r.n_controls', 'pe.n_controls')}) > 0 AS nc_ok,
       (r.n_nc_simple = pe.n_nc_simple) AS seed_nc_ok,
       {first_conflict('r', 'pe', d)} AS first_conflict,
       ({dob_class('r', 'pe', d)} = 'conflict') AS dob_conflict,
       ({dob_class('r', 'pe', d)} = 'exact') AS dob_exact
FROM {T_REQ} r JOIN c_person pe ON pe.tin = r.t_digits
WHERE r.t_present
"""


def tin_address_sql(p: MatchParams, d: Dialect = DUCKDB) -> str:
    """Corroboration of the requested address against the TIN-matched person's addresses."""
    ok = f"{address_match('r', 'ca', d)} AND {in_lookback(p)}"
    return f"""
SELECT r._row,
       bool_or({ok}) AS on_file,
       bool_or({ok} AND {unit_match()}) AS unit_ok,
       bool_or({ok} AND {directional_match()}) AS dir_ok,
       min(ca.a_street_key) FILTER (WHERE {ok}) AS ca_key
FROM {T_REQ} r JOIN {T_TIN} t USING (_row) JOIN c_address ca ON ca.tin = t.person_tin
WHERE t.t_valid AND r.addr_usable
GROUP BY r._row
"""


def notin_candidates_sql(p: MatchParams, d: Dialect = DUCKDB) -> str:
    """Candidates for rows without a TIN, blocked on the standardized address.

    Two equi-join branches (ZIP5 + number, or state + number when there is no
    ZIP) so each is a hash join; an OR in one join condition measured 72 s at
    1.28 M x 30 M addresses, the split version a few seconds.
    """
    def branch(block: str, zip_present: bool) -> str:
        return f"""
SELECT r._row, pe.tin AS person_tin, pe.protected, {dob_class('r', 'pe', d)} AS dob_class,
       {unit_match()} AS unit_ok, {directional_match()} AS dir_ok, ca.a_street_key AS ca_key
FROM {T_REQ} r
JOIN c_address ca ON {block}
JOIN c_person pe ON pe.tin = ca.tin
WHERE NOT r.t_present AND r.n_present AND r.addr_usable AND r.a_zip5 IS {'NOT ' if zip_present else ''}NULL
  AND {address_match('r', 'ca', d)} AND {in_lookback(p)}
  AND {surname_ok('r', 'pe', d)} AND {first_ok('r', 'pe', d)}
  AND (r.n_suffix IS NULL OR pe.n_suffix IS NULL OR r.n_suffix = pe.n_suffix)
  AND {dob_class('r', 'pe', d)} <> 'conflict'"""

    return (f"SELECT _row, person_tin, any_value(protected) AS protected, any_value(dob_class) AS dob_class, "
            f"bool_or(unit_ok) AS unit_ok, bool_or(dir_ok) AS dir_ok, min(ca_key) AS ca_key FROM ("
            f"{branch('ca.a_zip5 = r.a_zip5 AND ca.a_number = r.a_number', True)} UNION ALL "
            f"{branch('ca.a_state = r.a_state AND ca.a_number = r.a_number', False)}"
            f") GROUP BY _row, person_tin")


NOTIN_IDENTITY_SQL = f"""
SELECT _row,
       count(DISTINCT person_tin) FILTER (WHERE dob_class = 'exact') AS n_exact,
       count(DISTINCT person_tin) AS n_all,
       -- the exact-DOB candidate when there is one; ties (an ambiguous row) break on the TIN, never on
       -- scan order, so a replay computes the same facts (arg_max over a boolean picked any of them)
       coalesce(max(person_tin) FILTER (WHERE dob_class = 'exact'), max(person_tin)) AS best_tin
FROM {T_CAND} GROUP BY _row
"""


def seed_notin_sql() -> str:
    """The 2025 address-matching path: surname control + ZIP + house number, nothing else."""
    return f"""
SELECT DISTINCT r._row
FROM {T_REQ} r
JOIN c_address ca ON ca.a_zip5 = r.a_zip5 AND ca.a_number = r.a_number
JOIN c_person pe ON pe.tin = ca.tin AND pe.n_nc_simple = r.n_nc_simple
WHERE NOT r.t_present AND r.a_zip5 IS NOT NULL AND r.a_number IS NOT NULL
"""


NO_PERSONS = "(SELECT NULL::VARCHAR AS tin, NULL::BOOLEAN AS protected WHERE false)"
#: The standardized request fields the reviewer's side-by-side compares, kept as JSON with the facts.
STD_FIELDS = ("n_first", "n_last", "n_suffix", "n_first_keys", "n_parts", "t_digits", "r_dob", "a_kind", "a_number",
              "a_predir", "a_street_name", "a_suffix", "a_postdir", "a_street_key", "a_unit_key", "a_zip5", "a_city",
              "a_state")
_STD = "to_json(struct_pack(" + ", ".join(f"{c} := r.{c}" for c in STD_FIELDS) + "))::VARCHAR"
_IDENTITY = """
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


def facts_sql(p: MatchParams, persons: str = "c_person") -> str:
    """Row facts in the facts contract's columns (``_row, request_id`` + :data:`facts.FACT_COLUMNS`)."""
    threshold = int(p.shared_threshold)
    req_key = "b.a_kind, b.a_zip5, b.a_number, b.a_street_key"
    out = {
        "name_present": "b.n_present", "address_present": "b.a_present",
        "address_placeholder": "b.a_placeholder", "address_sufficient": "b.a_sufficient",
        "address_consistent": "b.a_consistent", "tin_given": "b.t_present", "tin_valid": "b.t_valid",
        "identity": "b.identity", "address_on_file": "b.address_on_file", "unit_match": "b.unit_match",
        "directional_match": "b.directional_match",
        "protected": "coalesce(pe.protected, false)",
        "shared_by_many": (f"(b.addr_usable AND (count(*) OVER (PARTITION BY {req_key}) > {threshold} OR "
                           f"(b.ca_key IS NOT NULL AND count(*) OVER (PARTITION BY b.a_kind, b.a_zip5, "
                           f"b.a_number, b.ca_key) > {threshold})))"),
        "hidden_characters": "b.r_hidden", "mixed_script": "b.r_mixed",
        "seed_zip_like": "b.a_zip_like", "seed_identity": "b.seed_identity", "path": "b.path",
        "matched_tin": "CASE WHEN b.identity IN ('confirmed', 'low_confidence') THEN b.matched_tin END",
        "addr_usable": "b.addr_usable",
        "address_key": ("CASE WHEN b.a_kind IS NOT NULL THEN concat_ws('|', b.a_kind, coalesce(b.a_zip5, ''), "
                        "coalesce(b.a_number, ''), coalesce(b.a_street_key, '')) END"),
        "std": "b.std",
    }
    assert tuple(out) == contract.FACT_COLUMNS, "facts_sql must produce the facts contract's columns"
    select = ", ".join(f"{expr} AS {col}" for col, expr in out.items())
    return f"""
WITH base AS (
  SELECT r._row, r.request_id, r.n_present, r.a_present, r.a_placeholder, r.a_sufficient,
         (coalesce(r.a_zip_exists, true) AND coalesce(r.a_zip_state_ok, true)) AS a_consistent,
         r.t_present, r.t_valid, r.a_zip_like, r.addr_usable, r.a_zip5, r.a_number, r.a_kind,
         r.a_street_key, r.r_hidden, r.r_mixed, {_STD} AS std,
         {_IDENTITY} AS identity,
         CASE WHEN r.t_present THEN 'TIN' ELSE 'NAME_DOB_ADDRESS' END AS path,
         CASE WHEN r.t_present THEN t.person_tin ELSE ni.best_tin END AS matched_tin,
         CASE WHEN r.t_present THEN coalesce(ta.on_file, false) ELSE ni._row IS NOT NULL END
           AS address_on_file,
         CASE WHEN r.t_present THEN coalesce(ta.unit_ok, false)
              ELSE coalesce(nu.unit_ok, false) END AS unit_match,
         CASE WHEN r.t_present THEN coalesce(ta.dir_ok, false)
              ELSE coalesce(nu.dir_ok, false) END AS directional_match,
         CASE WHEN r.t_present THEN ta.ca_key ELSE nu.ca_key END AS ca_key,
         CASE WHEN r.t_present AND t._row IS NOT NULL THEN
                CASE WHEN t.seed_nc_ok THEN 'confirmed' ELSE 'name_mismatch' END
              WHEN r.t_present THEN 'none'
              WHEN sn._row IS NOT NULL THEN 'confirmed' ELSE 'none' END AS seed_identity
  FROM {T_REQ} r
  LEFT JOIN {T_TIN} t USING (_row)
  LEFT JOIN {T_TIN_ADDR} ta USING (_row)
  LEFT JOIN {T_NOTIN} ni USING (_row)
  LEFT JOIN (SELECT c._row, bool_or(c.unit_ok) AS unit_ok, bool_or(c.dir_ok) AS dir_ok, min(c.ca_key) AS ca_key
             FROM {T_CAND} c
             JOIN {T_NOTIN} n ON c._row = n._row AND c.person_tin = n.best_tin GROUP BY c._row) nu USING (_row)
  LEFT JOIN {T_SEED} sn USING (_row)
)
SELECT b._row, b.request_id, {select}
FROM base b
LEFT JOIN {persons} pe ON pe.tin = CASE WHEN b.identity IN ('confirmed', 'low_confidence')
                                      THEN b.matched_tin END
"""


_EMPTY = {
    T_TIN: "SELECT NULL::BIGINT AS _row, NULL::VARCHAR AS person_tin, NULL::BOOLEAN AS protected, "
           "NULL::BOOLEAN AS t_valid, NULL::BOOLEAN AS nc_ok, NULL::BOOLEAN AS seed_nc_ok, "
           "NULL::BOOLEAN AS first_conflict, NULL::BOOLEAN AS dob_conflict, NULL::BOOLEAN AS dob_exact",
    T_TIN_ADDR: "SELECT NULL::BIGINT AS _row, NULL::BOOLEAN AS on_file, NULL::BOOLEAN AS unit_ok, "
                "NULL::BOOLEAN AS dir_ok, NULL::VARCHAR AS ca_key",
    T_CAND: "SELECT NULL::BIGINT AS _row, NULL::VARCHAR AS person_tin, NULL::BOOLEAN AS protected, "
            "NULL::VARCHAR AS dob_class, NULL::BOOLEAN AS unit_ok, NULL::BOOLEAN AS dir_ok, NULL::VARCHAR AS ca_key",
    T_NOTIN: "SELECT NULL::BIGINT AS _row, NULL::BIGINT AS n_exact, NULL::BIGINT AS n_all, "
             "NULL::VARCHAR AS best_tin",
    T_SEED: "SELECT NULL::BIGINT AS _row",
}


def facts_steps(p: MatchParams, d: Dialect = DUCKDB, *, inspect: bool = True, seed: bool = True) -> list[Step]:
    """The named steps that build the facts table :data:`T_FACTS`, in order.

    With ``inspect=False`` no custodian record is read (the request failed at
    request level): identity stays ``none``/``not_evaluated`` and only the
    request's own sufficiency facts are computed. With ``seed=False`` the 2025
    baseline's no-TIN address match is skipped (only unsafe policies use it).
    """
    params = {"batch": p.batch_id}

    def step(name: str, sql: str, label: str, wanted: bool = True) -> Step:
        body = sql if inspect and wanted else f"SELECT * FROM ({_EMPTY[name]}) WHERE false"
        return Step(name, body, label)

    return [
        Step(T_REQ, request_known_sql(p, d, inspect=inspect), "standardize", params),
        step(T_TIN, tin_path_sql(p, d), "tin"),
        step(T_TIN_ADDR, tin_address_sql(p, d), "corroborate"),
        step(T_CAND, notin_candidates_sql(p, d), "notin"),
        step(T_NOTIN, NOTIN_IDENTITY_SQL, "notin"),
        step(T_SEED, seed_notin_sql(), "notin", wanted=seed),
        Step(T_FACTS, facts_sql(p, "c_person" if inspect else NO_PERSONS), "facts"),
    ]


def compute_facts(compute: ComputeEngine, p: MatchParams, progress: Callable[[str], None] | None = None,
                  *, inspect: bool = True, seed: bool = True) -> Any:
    """Run :func:`facts_steps` on ``compute`` and return the facts as an Arrow table (contract schema)."""
    if inspect and not compute.table_exists("c_street_names"):
        raise ValueError("c_street_names is built by records load")
    try:
        for s in facts_steps(p, compute.dialect, inspect=inspect, seed=seed):
            compute.run(s)
            if progress is not None:
                progress(s.label)
        cols = ", ".join(["_row", "request_id", *contract.FACT_COLUMNS])
        table = compute.arrow(f"SELECT {cols} FROM {T_FACTS} ORDER BY _row", label="facts")
        return table.cast(contract.arrow_schema())
    finally:
        compute.drop(STEP_TABLES)
