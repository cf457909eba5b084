"""SQL dialects: what differs between compute engines, as data (after splink's dialects).

The pipeline's SQL builders are pure functions of a :class:`Dialect`. DuckDB is
the only engine today; a second one (Spark SQL) needs a Dialect whose names and
templates produce its spelling, plus an :class:`~disclosure_gate.engine.compute.ComputeEngine`
that runs the statements. Builders call these methods for every function whose
name or form differs between engines; standard SQL they write directly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    jaro_winkler_fn: str
    damerau_levenshtein_fn: str
    hamming_fn: str
    strip_accents_fn: str
    regexp_matches_fn: str
    regexp_full_match_fn: str
    list_has_any_fn: str
    list_intersect_fn: str
    date_diff_days_tpl: str  # {a}, {b}
    strftime_tpl: str  # {x}, {fmt}
    try_strptime_tpl: str  # {x}, {fmt}
    temp_table_tpl: str  # {name}, {body}

    def jaro_winkler(self, a: str, b: str) -> str:
        return f"{self.jaro_winkler_fn}({a}, {b})"

    def damerau_levenshtein(self, a: str, b: str) -> str:
        return f"{self.damerau_levenshtein_fn}({a}, {b})"

    def hamming(self, a: str, b: str) -> str:
        return f"{self.hamming_fn}({a}, {b})"

    def strip_accents(self, x: str) -> str:
        return f"{self.strip_accents_fn}({x})"

    def regexp_matches(self, x: str, pattern_sql: str) -> str:
        return f"{self.regexp_matches_fn}({x}, {pattern_sql})"

    def regexp_full_match(self, x: str, pattern_sql: str) -> str:
        return f"{self.regexp_full_match_fn}({x}, {pattern_sql})"

    def list_has_any(self, a: str, b: str) -> str:
        return f"{self.list_has_any_fn}({a}, {b})"

    def list_intersect(self, a: str, b: str) -> str:
        return f"{self.list_intersect_fn}({a}, {b})"

    def date_diff_days(self, a: str, b: str) -> str:
        return self.date_diff_days_tpl.format(a=a, b=b)

    def strftime(self, x: str, fmt: str) -> str:
        return self.strftime_tpl.format(x=x, fmt=fmt)

    def try_strptime(self, x: str, fmt: str) -> str:
        return self.try_strptime_tpl.format(x=x, fmt=fmt)

    def create_temp(self, name: str, body: str) -> str:
        return self.temp_table_tpl.format(name=name, body=body)


DUCKDB = Dialect(
    name="duckdb",
    jaro_winkler_fn="jaro_winkler_similarity",
    damerau_levenshtein_fn="damerau_levenshtein",
    hamming_fn="hamming",
    strip_accents_fn="strip_accents",
    regexp_matches_fn="regexp_matches",
    regexp_full_match_fn="regexp_full_match",
    list_has_any_fn="list_has_any",
    list_intersect_fn="list_intersect",
    date_diff_days_tpl="date_diff('day', {a}, {b})",
    strftime_tpl="strftime({x}, '{fmt}')",
    try_strptime_tpl="try_strptime({x}, '{fmt}')",
    temp_table_tpl="CREATE OR REPLACE TEMP TABLE {name} AS {body}",
)
