"""Name standardization and IRS name controls, as SQL expressions (DuckDB).

Pure functions return SQL select-list fragments; nothing here executes.

* Normalised names: upper case, accents stripped (``strip_accents``), apostrophes
  and periods removed, other punctuation to spaces, hyphens kept tight.
* A generational suffix (JR, SR, II, III, IV) is taken from the suffix column or,
  failing that, from the end of the surname.
* Name controls (IRS): the first four letters of the surname, ignoring
  punctuation, suffixes and accents. SSA's same-name tolerance for hyphenated and
  two-part (Hispanic) surnames is honoured by also keeping the first four
  letters of every surname part of three or more letters, less particles (DE,
  LA, DEL, LOS, ...). Two names agree when their control sets intersect.
* ``n_nc_simple`` is the unsafe 2025 control: the first four A-Z characters of
  the raw upper-cased surname, with no accent folding and no part tolerance.
* First names carry a key set: the name itself plus the canonical names it is a
  nickname of (``ref_first_name``), so BOB ~ ROBERT ~ BOBBY.
"""

from __future__ import annotations

from importlib import resources

import nicknames
import pyarrow as pa

from ..engine import Engine

PARTICLES = ("DE", "DEL", "LA", "LAS", "LOS", "Y", "E", "VAN", "VON", "DER", "DEN", "DI", "DA", "DOS",
             "DAS", "DU", "LE", "ST", "SAN", "SANTA", "BIN", "BEN", "AL", "EL", "MAC")
SUFFIXES = ("JR", "SR", "II", "III", "IV")
_SUFFIX_WORDS = {"JUNIOR": "JR", "SENIOR": "SR", "2ND": "II", "3RD": "III", "4TH": "IV",
                 "JNR": "JR", "SNR": "SR"}


def install_name_tables(engine: Engine) -> None:
    """CREATE OR REPLACE ``ref_first_name(nickname, canonical)``. Idempotent.

    The pairs come from the ``nicknames`` package (Carlton Northern's curated
    English names and nicknames, Apache-2.0), plus ``data/first_name_variants.csv``
    for Spanish hypocorisms it lacks (PEPE -> JOSE, CHUY -> JESUS, LUPE -> GUADALUPE).
    """
    pairs = [(t.name2.upper(), t.name1.upper()) for t in nicknames.name_triplets()
             if t.relationship == "has_nickname"]
    path = resources.files("disclosure_gate") / "data" / "first_name_variants.csv"
    with resources.as_file(path) as p, p.open(encoding="utf-8") as fh:
        next(fh)
        pairs += [tuple(line.strip().upper().split(",", 1)) for line in fh if line.strip()]  # type: ignore[misc]
    table = pa.table({"nickname": [a for a, _ in pairs], "canonical": [b for _, b in pairs]})
    engine.register("ref_first_name_view", table)
    try:
        engine.execute("CREATE OR REPLACE TABLE ref_first_name AS SELECT DISTINCT nickname, canonical "
                       "FROM ref_first_name_view", label="name reference")
    finally:
        engine.unregister("ref_first_name_view")


def norm_name(expr: str) -> str:
    """Upper-case, fold accents, drop apostrophes/periods, keep letters, spaces, hyphens."""
    x = f"upper(strip_accents(coalesce({expr}, '')))"
    x = f"regexp_replace({x}, '[''’`.]', '', 'g')"
    x = f"regexp_replace({x}, '[^A-Z0-9-]+', ' ', 'g')"
    x = f"regexp_replace({x}, ' *- *', '-', 'g')"
    x = f"regexp_replace({x}, '^-+|-+$', '', 'g')"
    return f"trim(regexp_replace({x}, ' +', ' ', 'g'))"


def _sql_list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{i}'" for i in items) + "]"


def suffix_expr(suffix_col: str | None, norm_last: str) -> str:
    """Standard suffix from the suffix column, else trailing suffix token of the surname."""
    cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _SUFFIX_WORDS.items())
    col = norm_name(suffix_col) if suffix_col else "''"
    from_col = f"CASE {col} {cases} ELSE nullif({col}, '') END"
    from_last = f"nullif(regexp_extract({norm_last}, ' ({'|'.join(SUFFIXES)})$', 1), '')"
    return f"coalesce(CASE WHEN {from_col} IN {tuple(SUFFIXES)} THEN {from_col} END, {from_last})"


def name_columns(*, first: str, middle: str | None, last: str, suffix: str | None,
                 prefix: str = "n_") -> list[str]:
    """Select-list fragments for the standardized name of one row.

    Output: ``n_first``, ``n_middle``, ``n_last`` (suffix removed), ``n_suffix``,
    ``n_present`` (first and last non-blank), ``n_control`` (the IRS control), ``n_parts`` (surname parts >= 3
    letters, particles removed), ``n_controls``, ``n_nc_simple``.
    ``n_first_keys`` needs a join: see :func:`first_keys_sql`.
    """
    p = prefix
    nl_raw = norm_name(last)
    sfx = suffix_expr(suffix, nl_raw)
    nl = f"trim(regexp_replace({nl_raw}, ' ({'|'.join(SUFFIXES)})$', ''))"
    letters = f"regexp_replace({nl}, '[^A-Z]', '', 'g')"
    parts = (f"list_filter(string_split_regex({nl}, '[ -]+'), "
             f"lambda x: length(x) >= 3 AND NOT list_contains({_sql_list(PARTICLES)}, x))")
    controls = (f"list_distinct(list_filter(list_concat([left({letters}, 4)], "
                f"list_transform({parts}, lambda x: left(regexp_replace(x, '[^A-Z]', '', 'g'), 4))), "
                f"lambda x: length(x) > 0))")
    nf = f"regexp_replace({norm_name(first)}, '-', ' ', 'g')"
    return [
        f"nullif({nf}, '') AS {p}first",
        f"nullif({norm_name(middle) if middle else chr(39) * 2}, '') AS {p}middle",
        f"nullif({nl}, '') AS {p}last",
        f"{sfx} AS {p}suffix",
        f"(length({nf}) > 0 AND length({letters}) > 0) AS {p}present",
        f"{parts} AS {p}parts",
        f"left({letters}, 4) AS {p}control",
        f"{controls} AS {p}controls",
        f"left(regexp_replace(upper(coalesce({last}, '')), '[^A-Z]', '', 'g'), 4) AS {p}nc_simple",
    ]


def first_keys_sql(source: str, key_cols: list[str], first_col: str = "n_first") -> str:
    """SELECT key_cols + ``n_first_keys``: the first name plus every canonical form of it.

    Only the first token of the first name is looked up (``MARIA JOSE`` -> MARIA).
    """
    keys = ", ".join(f"s.{k}" for k in key_cols)
    first = f"split_part(any_value(s.{first_col}), ' ', 1)"
    return (
        f"SELECT {keys}, list_filter(list_distinct(list_concat([{first}], "
        f"coalesce(list(r.canonical) FILTER (WHERE r.canonical IS NOT NULL), []))), "
        f"lambda x: x IS NOT NULL AND x <> '') AS n_first_keys "
        f"FROM {source} s LEFT JOIN ref_first_name r "
        f"ON r.nickname = split_part(s.{first_col}, ' ', 1) GROUP BY {keys}"
    )
