"""Fuzz dgate's input commands with hostile files (Hypothesis), through the real CLI.

Request files and YAML manifests come from another agency's systems, so hostile input
is normal. This feeds ``dgate request submit``, ``dgate records load`` and
``dgate agreement add`` random bytes, random CSV structure (quoting, delimiters,
field counts, line endings, BOMs, NULs, huge fields), random Unicode, random Parquet
schemas and random YAML (scalars, nesting, impossible dates, anchors and aliases,
tags such as ``!!python/object``), and checks after every call that:

* the exit code is one of the documented ones for these commands (0, 3, 4, 5);
* nothing printed a ``Traceback``;
* a failed command changed nothing: the home's tables (and their row counts) are
  exactly what they were before;
* no confidential cell value (a canary planted in the data) is printed.

``tests/test_fuzz_inputs.py`` runs a few examples of each property in CI; run this
script for longer (it prints every finding rather than stopping at the first)::

    .venv/bin/python scripts/fuzz_inputs.py --examples 500 [--command submit] [--seed 1]

Agreements are added as an officer (``--as`` with a token) when the CLI has people.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from disclosure_gate.pipeline.intake import MAX_FIELD_BYTES

MAX_LINE_BYTES = 4 * 1024 * 1024  # DuckDB's max_line_size in intake

#: Exit codes `request submit`, `records load` and `agreement add` may end with (docs/cli.md).
ALLOWED_EXITS = frozenset({0, 3, 4, 5})
#: Tables whose row counts must not change when a command fails.
TABLES = ("batches", "req_rows", "agreements", "snapshots", "ledger_entries")
#: Planted in data cells; it must never be printed.
CANARY = "Zq7Canary"
REQUEST_FREE = ("request_id", "first_name", "middle_name", "last_name", "name_suffix", "tin", "dob",
                "case_reference", "address")
REQUEST_STRUCTURED = ("request_id", "first_name", "last_name", "tin", "dob", "street", "city", "state", "zip")
PERSONS = ("tin", "first_name", "middle_name", "last_name", "name_suffix", "dob", "protected")
ADDRESSES = ("tin", "street", "city", "state", "zip", "valid_from", "valid_to")

CONTROLS = ("\t", "\r", "\n", "\r\n", "\x00", "\x0b", "\x1b[31m", "\x7f", "\x85", "\u202e", "\u2066",
            "\u200b", "\u200e", "\ufeff", "\u2028", "\u00a0", "\ue000")
QUOTEY = ('a"b', '"', '""', '"a"', "a,b", ",", "a\nb", "a\r\nb", '" ', ' "x"', "x\"\"y", "'")


# -- CSV -------------------------------------------------------------------------------
#: How hostile one generated file is: "clean" files are valid (they exercise the success paths
#: behind the parsers), "light" ones have an odd value here and there, "heavy" ones are hostile.
LEVELS = st.sampled_from(("clean", "clean", "light", "heavy", "heavy"))

_VALID: dict[str, tuple[str, ...]] = {
    "tin": ("123456789",),
    "dob": ("1984-03-07", "", "1990-11-30"),
    "valid_from": ("2015-02-01", "", "2021-05-01"),
    "valid_to": ("", "2021-04-30"),
    "protected": ("false", "true", "t", "0", "yes"),
    "zip": ("62704", "62704-1234", "627041234"),
    "state": ("IL", "Illinois"),
    "city": ("SPRINGFIELD", "Decatur"),
    "street": ("123 N MAIN ST APT 4", "PO BOX 12", "RR 2 BOX 45"),
    "address": ("123 North Main Street Apt 4, Springfield, IL 62704", "9 Oak Avenue Decatur IL 62521",
                "Don't Care 12345", ""),
    "name_suffix": ("", "JR", "Senior", "IV"),
    "case_reference": ("", "CASE-1", "x, y"),
}
_ODD: dict[str, tuple[str, ...]] = {
    "tin": ("912561234", "123-45-6789", "123 45 6789", "000000000", "12345678", ""),
    "dob": ("03/07/1984", "19840307", "1984-02-30", "0000-00-00"),
    "valid_from": ("2021-02-29", "junk"),
    "valid_to": ("9999-12-31", "2021-13-01"),
    "protected": ("maybe", ""),
    "zip": ("1234", ""),
    "state": ("ZZ", ""),
}
_NAMES = ("MARIA", "José", "Muñoz", "O'Brien", "Ann-Marie", "Nguyễn", "李", "")
_NAMES_COLUMNS = ("first_name", "middle_name", "last_name")


def _plausible(column: str, odd: bool) -> st.SearchStrategy[str]:
    values = _VALID.get(column, _NAMES) + (_ODD.get(column, ()) if odd else ())
    return st.sampled_from(values)


hostile_cell = st.one_of(
    st.text(max_size=12),
    st.text(st.characters(codec="utf-8"), max_size=8),
    st.builds(lambda a, c, b: a + c + b, st.text(max_size=3), st.sampled_from(CONTROLS), st.text(max_size=3)),
    st.sampled_from(QUOTEY),
    st.sampled_from((MAX_FIELD_BYTES + 1, 200)).map(lambda n: "x" * n),
    st.just(CANARY),
    st.just(" "),
)


def cell(column: str, level: str = "heavy") -> st.SearchStrategy[str]:
    """One cell's text: valid for its column, odd, or hostile, as ``level`` says."""
    if level == "clean":
        return st.one_of(_plausible(column, False), st.just(CANARY)) if column in _NAMES_COLUMNS \
            else _plausible(column, False)
    if level == "light":
        return st.one_of(*[_plausible(column, False)] * 8, _plausible(column, True), hostile_cell)
    return st.one_of(_plausible(column, True), _plausible(column, True), _plausible(column, True), hostile_cell)


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    level: str = "heavy"


def _header(kind: str, level: str) -> st.SearchStrategy[list[str]]:
    bases = {"request": st.sampled_from((REQUEST_FREE, REQUEST_STRUCTURED)), "persons": st.just(PERSONS),
             "addresses": st.just(ADDRESSES)}[kind]
    unknown = st.one_of(st.text(st.characters(codec="utf-8"), min_size=0, max_size=8),
                        st.sampled_from(("[/]", "[bold red]x", "\x1b[31m", "\u202eevil")))
    if level == "clean":
        unknown = st.sampled_from(("notes", "Extra Column", "Ünknown", "x,y", 'say "hi"', "[/]", "[b]x[/b]"))

    @st.composite
    def build(draw: Any) -> list[str]:
        cols = list(draw(bases))
        if draw(st.booleans()):
            cols = draw(st.permutations(cols))
        for _ in range(draw(st.integers(0, 2))):
            name = draw(unknown)
            if name not in cols:
                cols.insert(draw(st.integers(0, len(cols))), name)
        mutations = ("none",) * 8 + ("drop", "duplicate", "both_address", "empty")
        mutation = "none" if level == "clean" else draw(st.sampled_from(mutations))
        if mutation == "drop":
            cols.pop(draw(st.integers(0, len(cols) - 1)))
        elif mutation == "duplicate":
            cols.append(draw(st.sampled_from(cols)))
        elif mutation == "both_address":
            cols += ["address", "street", "city", "state", "zip"]
        elif mutation == "empty":
            cols.append("")
        return cols

    return build()


def table(kind: str) -> st.SearchStrategy[Table]:
    @st.composite
    def build(draw: Any) -> Table:
        level = draw(LEVELS)
        header = draw(_header(kind, level))
        rows = []
        tins = draw(st.lists(st.integers(10**8, 10**9 - 1).map(str), min_size=6, max_size=6, unique=True))
        for i in range(draw(st.integers(0 if level == "heavy" else 1, 6))):
            row = [draw(cell(c, level)) for c in header]
            if level != "heavy":  # unique keys; persons' first tin is the one the good addresses use
                for j, c in enumerate(header):
                    if c == "request_id":
                        row[j] = f"R{i}-{draw(st.integers(0, 999))}"
                    elif c == "tin" and kind == "persons":
                        row[j] = "123456789" if i == 0 else tins[i]
            rows.append(row)
        return Table(header, rows, level)

    return build()


@dataclass(frozen=True)
class Layout:
    delim: str = ","
    eol: str = "\n"  # or "\r\n", "\r", "mixed"
    bom: bool = False
    final_eol: bool = True
    quoting: tuple[str, ...] = ("minimal",)  # cycled over the fields: minimal, always, never, broken
    field_delta: tuple[int, ...] = (0,)  # cycled over the rows: fields dropped (<0) or added (>0)
    blank_lines: tuple[int, ...] = ()  # row indexes before which a blank line goes
    encoding: str = "utf-8"


layouts = st.builds(
    Layout,
    delim=st.sampled_from((",",) * 12 + (";", "\t", "|")),
    eol=st.sampled_from(("\n",) * 6 + ("\r\n",) * 3 + ("\r", "mixed")),
    bom=st.booleans(),
    final_eol=st.booleans(),
    quoting=st.lists(st.sampled_from(("minimal",) * 12 + ("always", "always", "never", "broken")), min_size=1,
                     max_size=7).map(tuple),
    field_delta=st.lists(st.sampled_from((0,) * 12 + (-1, 1, 2)), min_size=1, max_size=4).map(tuple),
    blank_lines=st.lists(st.integers(0, 6), max_size=2).map(tuple),
    encoding=st.sampled_from(("utf-8",) * 14 + ("latin-1", "utf-16")),
)


def _field(value: str, mode: str, delim: str, k: int) -> str:
    if mode == "never":
        return value
    if mode == "broken":
        return ('"' + value, value[: k % (len(value) + 1)] + '"' + value[k % (len(value) + 1):],
                '"' + value + '"x')[k % 3]
    if mode == "always" or any(ch in value for ch in (delim, '"', "\r", "\n")):
        return '"' + value.replace('"', '""') + '"'
    return value


def render_csv(t: Table, lay: Layout) -> bytes:
    lines = []
    k = 0
    for r, row in enumerate([t.header, *t.rows]):
        if r > 0 and (r - 1) in lay.blank_lines:
            lines.append("")
        delta = lay.field_delta[r % len(lay.field_delta)] if r > 0 else 0
        fields = list(row) + ["extra"] * max(delta, 0)
        if delta < 0:
            fields = fields[:delta] or [""]
        out = []
        for value in fields:
            out.append(_field(value, lay.quoting[k % len(lay.quoting)], lay.delim, k))
            k += 1
        lines.append(lay.delim.join(out))
    ends = [("\n", "\r\n", "\r")[i % 3] if lay.eol == "mixed" else lay.eol for i in range(len(lines))]
    text = "".join(line + end for line, end in zip(lines, ends, strict=True))
    if not lay.final_eol:
        text = text[: -len(ends[-1])]
    data = text.encode(lay.encoding, errors="replace") if lay.encoding != "utf-8" else text.encode("utf-8",
                                                                                                   "surrogatepass")
    return (b"\xef\xbb\xbf" if lay.bom else b"") + data


def _mutate(data: bytes, edits: list[tuple[int, bytes]]) -> bytes:
    for pos, blob in edits:
        i = pos % (len(data) + 1)
        data = data[:i] + blob + data[i:]
    return data


byte_edits = st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(
    (b"\xff", b"\x00", b"\xc3", b"\xe2\x80\xae", b'"', b"\r", b"\n\n", b",", b"\xef\xbb\xbf"))), max_size=2)


clean_layouts = st.builds(
    Layout,
    eol=st.sampled_from(("\n", "\r\n")),
    bom=st.booleans(),
    final_eol=st.booleans(),
    quoting=st.lists(st.sampled_from(("minimal", "minimal", "always")), min_size=1, max_size=5).map(tuple),
)


@st.composite
def csv_file(draw: Any, kind: str) -> tuple[str, bytes]:
    t = draw(table(kind))
    data = render_csv(t, draw(clean_layouts if t.level != "heavy" else layouts))
    if t.level == "heavy" and draw(st.integers(0, 4)) == 0:
        data = _mutate(data, draw(byte_edits))
    if t.level == "heavy" and draw(st.integers(0, 19)) == 0:  # one huge line (over DuckDB's max_line_size)
        data += b"x" * (MAX_LINE_BYTES + 1) + b"\n"
    return ".csv", data


@st.composite
def parquet_file(draw: Any, kind: str) -> tuple[str, bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = draw(table(kind))
    n = len(t.rows)
    names = [c for c in dict.fromkeys(t.header)]  # Arrow allows duplicates; keep it simple
    arrays = []
    for i, name in enumerate(names):
        kinds = ("string",) * 8 + ("binary", "int", "date", "list", "struct", "null")
        kind_of = "string" if t.level == "clean" else draw(st.sampled_from(kinds))
        values = [row[t.header.index(name)] if len(row) > i else "" for row in t.rows]
        values = [v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for v in values]
        if kind_of == "string":
            arrays.append(pa.array(values, pa.string()))
        elif kind_of == "binary":
            arrays.append(pa.array([v.encode() + b"\xff" for v in values], pa.binary()))
        elif kind_of == "int":
            arrays.append(pa.array(list(range(n)), pa.int64()))
        elif kind_of == "date":
            arrays.append(pa.array(list(range(n)), pa.date32()))
        elif kind_of == "list":
            arrays.append(pa.array([[v] for v in values], pa.list_(pa.string())))
        elif kind_of == "struct":
            arrays.append(pa.array([{"v": v} for v in values], pa.struct([("v", pa.string())])))
        else:
            arrays.append(pa.nulls(n))
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, names=names), buf)
    data = buf.getvalue()
    if t.level == "heavy" and draw(st.integers(0, 4)) == 0:
        data = _mutate(data, draw(byte_edits))
    return ".parquet", data


def table_file(kind: str) -> st.SearchStrategy[tuple[str, bytes]]:
    raw = st.tuples(st.sampled_from((".csv", ".parquet", ".txt")), st.binary(max_size=300))
    text = st.tuples(st.just(".csv"), st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")))
    return st.one_of(csv_file(kind), csv_file(kind), csv_file(kind), csv_file(kind), parquet_file(kind), raw, text)


# -- YAML ------------------------------------------------------------------------------
def _flow(depth: int) -> st.SearchStrategy[str]:
    leaf = st.sampled_from(("x", "1", "2025-02-30", "''", "~", "[]", "{}"))
    return st.recursive(leaf, lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(st.tuples(st.sampled_from(("a", "b", "<<")), inner), max_size=2).map(
            lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}")), max_leaves=depth)


def _date_text() -> st.SearchStrategy[str]:
    return st.builds(lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}", st.integers(0, 9999), st.integers(0, 19),
                     st.integers(0, 39))


def _quoted(s: str) -> str:
    out = []
    for ch in s:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif code < 0x20 or code == 0x7F or 0xD800 <= code <= 0xDFFF or code in (0x85, 0x2028, 0x2029, 0xFEFF):
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


hostile_scalar = st.one_of(
    st.integers(-(10**25), 10**25).map(str),
    st.sampled_from(("99999999999999999999", "9" * 5000, "0x" + "f" * 40, "-1", "0", "101", "1000001",
                     ".inf", "-.inf", ".nan", "1e999", "6.0", "1_000", "0o17", "190:20:30")),
    st.sampled_from(("yes", "no", "true", "~", "null", "", "''", '""')),
    _date_text(),
    st.builds(lambda d, h, m, tz: f"{d}T{h:02d}:{m:02d}:00{tz}", _date_text(), st.integers(0, 29),
              st.integers(0, 69), st.sampled_from(("", "Z", "+05:00", "+99:00", "-23:59", ".123456789"))),
    st.text(max_size=30).map(_quoted),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12).map(_quoted),
    st.builds(lambda a, c, b: _quoted(a + c + b), st.text(max_size=3), st.sampled_from(CONTROLS),
              st.text(max_size=3)),
    st.sampled_from(("x" * 1001, "'" + "y" * 1001 + "'")),
)
hostile_value = st.one_of(
    hostile_scalar,
    _flow(12),
    st.sampled_from(("[" * 5000 + "]" * 5000, "{a: " * 3000 + "x" + "}" * 3000, "[" * 25 + "]" * 25)),
    st.sampled_from(("&a x", "*a", "*undefined", "&r [*r]", "&a [x, y]")),
    st.sampled_from(("!!python/object:os.system x", "!!python/object/apply:os.system [ls]",
                     "!!python/name:os.system", "!!binary aGVsbG8=", "!!int abc", "!!timestamp abc",
                     "!!set {a}", "!foo x", "!!str 2025-01-01", "!!float 1e400", "!!bool maybe", "! x",
                     "!!omap [1]", "!!map {a: 1}")),
    st.sampled_from(("|\n  line one\n  line two", ">\n  folded\n  text", "|-\n  x")),
    st.integers(1001, 1100).map(lambda n: "[" + ", ".join(["p"] * n) + "]"),
)

AGREEMENT_FIELDS: dict[str, st.SearchStrategy[str]] = {
    "id": st.one_of(st.integers(0, 10**9).map(lambda i: f"AGR-F{i}"), st.just("AGR-FUZZ")),
    "recipient": st.sampled_from(("Example Agency", "'Agency, Inc.'", "U.S. Immigration and Customs Enforcement")),
    "statutory_authority": st.just('"26 U.S.C. 6103(i)(2)"'),
    "purposes": st.sampled_from(("[criminal investigation]", "\n  - a\n  - b", "[]")),
    "disclose": st.sampled_from(("[last_known_address]", "[tax_return]", "last_known_address")),
    "valid_from": st.sampled_from(("2025-01-01", "2025-04-07", "'2025-01-01'")),
    "valid_to": st.sampled_from(("2027-12-31", "", "2024-01-01")),
    "status": st.sampled_from(("active", "suspended", "terminated", "paused")),
    "suspended_on": st.sampled_from(("2026-01-01", "")),
    "suspension_reason": st.sampled_from(("court order", "")),
    "policy": st.sampled_from(("6103i2", "6103i2", "seed-2025", "nosuch", "x.cedar", "/etc/passwd")),
    "lookback_years": st.sampled_from(("6", "0", "100")),
    "shared_address_threshold": st.sampled_from(("25", "1", "1000000")),
}
MANIFEST_FIELDS: dict[str, st.SearchStrategy[str]] = {
    "agreement": st.sampled_from(("AGR-1", "AGR-FUZZ", "")),
    "requesting_official": st.sampled_from(("Director", "''")),
    "statutory_authority": st.just('"26 U.S.C. § 6103(i)(2)"'),
    "purpose": st.just("criminal investigation"),
    "taxable_periods": st.sampled_from(('["2023", "2024"]', "[2023]", "2024", "[]")),
    "submitted_at": st.sampled_from(("2026-06-01", "2025-06-27T10:00:00Z", "'2026-01-05'")),
}
#: Values that are always valid, for "clean" documents (the others' may be odd).
_VALID_FIELDS: dict[str, st.SearchStrategy[str]] = {
    "id": st.integers(0, 10**9).map(lambda i: f"AGR-F{i}"),
    "policy": st.sampled_from(("6103i2", "seed-2025")),
    "purposes": st.sampled_from(("[criminal investigation]", "\n  - a\n  - b")),
    "disclose": st.just("[last_known_address]"),
    "valid_to": st.sampled_from(("2027-12-31", "")),
    "status": st.sampled_from(("active", "suspended", "terminated")),
    "agreement": st.sampled_from(("AGR-1", "AGR-FUZZ")),
    "taxable_periods": st.sampled_from(('["2023", "2024"]', "[2023]", "2024")),
}
_REQUIRED = {"agreement": ("id", "recipient", "statutory_authority", "purposes", "disclose", "valid_from",
                           "valid_to", "status"), "manifest": ("submitted_at",)}


@st.composite
def yaml_doc(draw: Any, kind: str, hostile_fields: tuple[str, ...] | None = None) -> bytes:
    """A YAML document for an agreement or a manifest; ``hostile_fields`` may take hostile values."""
    fields = AGREEMENT_FIELDS if kind == "agreement" else MANIFEST_FIELDS
    level = draw(LEVELS)
    hostile_ok = tuple(fields) if hostile_fields is None else hostile_fields
    names = list(_REQUIRED[kind]) + draw(st.lists(st.sampled_from(sorted(fields)), max_size=4, unique=True))
    names = list(dict.fromkeys(names))
    if level == "heavy" and draw(st.integers(0, 5)) == 0:
        names.pop(draw(st.integers(0, len(names) - 1)))
    hostile_one = draw(st.sampled_from(names)) if level == "light" else None
    lines = []
    for name in names:
        hostile = name in hostile_ok and (name == hostile_one or (level == "heavy" and draw(st.integers(0, 2)) == 0))
        value = draw(hostile_value if hostile else (_VALID_FIELDS.get(name, fields[name]) if level == "clean"
                                                    else fields[name]))
        lines.append(f"{name}: {value}")
    extras = ("",) * 10 + ("colour: blue", "5: x", "<<: {id: X}", "? [a]\n: b", "id: AGR-2", "---\nid: x", "...",
                           "%YAML 1.1", "\t: x")
    extra = draw(st.sampled_from(extras)) if level == "heavy" else ""
    if extra:
        lines.insert(draw(st.integers(0, len(lines))), extra)
    text = "\n".join(lines) + "\n"
    data = text.encode("utf-8", "surrogatepass")
    if level == "heavy" and draw(st.integers(0, 5)) == 0:
        data = _mutate(data, draw(byte_edits))
    if draw(st.booleans()) and draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return data


def yaml_file(kind: str) -> st.SearchStrategy[bytes]:
    return st.one_of(yaml_doc(kind), yaml_doc(kind), yaml_doc(kind), yaml_doc(kind), st.binary(max_size=300),
                     st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")))


# -- running and checking ----------------------------------------------------------------
@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str | os.PathLike[str], home: Path | None = None, timeout: float = 300,
            token: str | None = None) -> CliResult:
    """The real ``dgate`` entry point in a subprocess (as tests/conftest.py's ``run_cli``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DGATE_HOME", "DGATE_TOKEN")}
    env["COLUMNS"] = "200"
    if token:
        env["DGATE_TOKEN"] = token
    argv = [sys.executable, "-c", "from disclosure_gate.surfaces.cli.main import main; main()"]
    if home is not None:
        argv += ["--home", str(home)]
    argv += [str(a) for a in args]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, errors="replace")
    except subprocess.TimeoutExpired:
        return CliResult(-1, "", f"timed out after {timeout:.0f} s")
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


State = tuple[tuple[str, ...], tuple[int, ...]]


class Harness:
    """A home and a scratch folder; runs commands and checks each outcome."""

    def __init__(self, home: Path, work: Path) -> None:
        self.home, self.work = home, work
        #: The officer who adds agreements (``--as NAME`` with a token), when the CLI has people.
        self.officer: tuple[str, str] | None = None
        self.findings: list[str] = []
        self.calls = 0
        self.exits: dict[int, int] = {}
        self.last: CliResult | None = None

    def __repr__(self) -> str:
        return f"Harness(home={str(self.home)!r})"

    @classmethod
    def create(cls, root: Path) -> Harness:
        home, work = root / "home", root / "work"
        work.mkdir(parents=True, exist_ok=True)
        r = run_cli("init", home=home)
        if r.code != 0:
            raise RuntimeError(f"dgate init failed ({r.code}): {r.stderr[-2000:]}")
        fixtures = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "mini"
        h = cls(home, work)
        r = run_cli("user", "add", "fuzzadmin", "--role", "admin", home=home)
        if r.code == 0:  # a CLI with people: agreements are an officer's act
            admin = r.stdout.strip().splitlines()[-1]
            r = run_cli("user", "add", "fuzzofficer", "--role", "officer", "--as", "fuzzadmin", home=home,
                        token=admin)
            if r.code != 0:
                raise RuntimeError(f"dgate user add failed ({r.code}): {r.stderr[-2000:]}")
            h.officer = ("fuzzofficer", r.stdout.strip().splitlines()[-1])
        h.write("agr_fuzz.yaml", (fixtures / "agreement.yaml").read_bytes().replace(b"AGR-1", b"AGR-FUZZ"))
        for args in (h.agreement_add(fixtures / "agreement.yaml"),
                     # AGR-FUZZ is taken, so that re-adding it with other content is a conflict (exit 4)
                     h.agreement_add(work / "agr_fuzz.yaml"),
                     ("records", "load", "--persons", fixtures / "persons.csv", "--addresses",
                      fixtures / "addresses.csv")):
            r = h.run(*args)
            if r.code != 0:
                raise RuntimeError(f"dgate {' '.join(map(str, args))} failed ({r.code}): {r.stderr[-2000:]}")
        return h

    def agreement_add(self, path: Path) -> tuple[str | os.PathLike[str], ...]:
        return ("agreement", "add", path, *(("--as", self.officer[0]) if self.officer else ()))

    def run(self, *args: str | os.PathLike[str]) -> CliResult:
        token = self.officer[1] if self.officer and "--as" in args else None
        return run_cli(*args, home=self.home, token=token)

    def state(self) -> State:
        con = duckdb.connect(str(self.home / "dgate.duckdb"), read_only=True)
        try:
            names = tuple(sorted(str(r[0]) for r in con.execute(
                "SELECT table_name FROM information_schema.tables").fetchall()))
            counts = tuple(int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # type: ignore[index]
                           for t in TABLES if t in names)
        finally:
            con.close()
        return names, counts

    def write(self, name: str, data: bytes) -> Path:
        p = self.work / name
        p.write_bytes(data)
        return p

    def check(self, label: str, args: tuple[str | os.PathLike[str], ...],
              secret_files: tuple[bytes, ...] = ()) -> list[str]:
        """Run one command; return what is wrong with its outcome (nothing, ideally)."""
        before = self.state()
        r = self.last = self.run(*args)
        self.calls += 1
        self.exits[r.code] = self.exits.get(r.code, 0) + 1
        problems = []
        if r.code not in ALLOWED_EXITS:
            problems.append(f"exit {r.code} (allowed: {sorted(ALLOWED_EXITS)})")
        output = r.stdout + r.stderr
        if "Traceback" in output:
            problems.append("a traceback was printed")
        if r.code != 0:
            after = self.state()
            if after != before:
                problems.append(f"state changed by a failed command: {before} -> {after}")
        # A canary in a data cell (not in a header line) must never be printed.
        if CANARY in output and any(CANARY.encode() in d.split(b"\n", 1)[-1] for d in secret_files) and not any(
                CANARY.encode() in d.split(b"\n", 1)[0] for d in secret_files):
            problems.append("a cell value was printed")
        if problems:
            finding = (f"[{label}] {'; '.join(problems)}\n  command: dgate {' '.join(map(str, args))}\n"
                       f"  stderr: {r.stderr.strip()[-1500:]}")
            self.findings.append(finding)
            return [finding]
        return []


# -- the three properties -----------------------------------------------------------------
def _inputs(h: Harness, tag: str, files: dict[str, tuple[str, bytes]]) -> dict[str, Path]:
    stamp = f"{tag}_{time.monotonic_ns()}"
    return {name: h.write(f"{stamp}_{name}{suffix}", data) for name, (suffix, data) in files.items()}


GOOD_MANIFEST = (b"agreement: AGR-1\nrequesting_official: Director\nstatutory_authority: \"26 U.S.C. 6103(i)(2)\"\n"
                 b"purpose: criminal investigation\ntaxable_periods: [\"2024\"]\nsubmitted_at: 2026-06-01\n")
GOOD_REQUESTS = (b"request_id,first_name,last_name,tin,address\n"
                 b"R1,Ann,Smith,123-45-6789,\"1 Main St, Springfield, IL 62704\"\n")


def submit_inputs() -> st.SearchStrategy[tuple[tuple[str, bytes], bytes]]:
    request = table_file("request")
    manifest = yaml_file("manifest")
    return st.one_of(
        st.tuples(request, st.just(GOOD_MANIFEST)),
        st.tuples(request, st.just(GOOD_MANIFEST)),
        st.tuples(st.just((".csv", GOOD_REQUESTS)), manifest),
        st.tuples(request, manifest),
    )


def check_submit(h: Harness, case: tuple[tuple[str, bytes], bytes]) -> list[str]:
    (suffix, data), manifest = case
    p = _inputs(h, "submit", {"requests": (suffix, data), "manifest": (".yaml", manifest)})
    return h.check("request submit", ("request", "submit", p["requests"], "--manifest", p["manifest"]),
                   secret_files=(data,))


GOOD_PERSONS = (b"tin,first_name,middle_name,last_name,name_suffix,dob,protected\n"
                b"123456789,ANN,,SMITH,,1984-03-07,false\n")
GOOD_ADDRESSES = (b"tin,street,city,state,zip,valid_from,valid_to\n"
                  b"123456789,1 MAIN ST,SPRINGFIELD,IL,62704,2021-05-01,\n")


def records_inputs() -> st.SearchStrategy[tuple[tuple[str, bytes], tuple[str, bytes]]]:
    persons, addresses = table_file("persons"), table_file("addresses")
    return st.one_of(st.tuples(persons, st.just((".csv", GOOD_ADDRESSES))),
                     st.tuples(st.just((".csv", GOOD_PERSONS)), addresses),
                     st.tuples(persons, addresses))


def check_records(h: Harness, case: tuple[tuple[str, bytes], tuple[str, bytes]]) -> list[str]:
    persons, addresses = case
    p = _inputs(h, "records", {"persons": persons, "addresses": addresses})
    return h.check("records load", ("records", "load", "--persons", p["persons"], "--addresses", p["addresses"]),
                   secret_files=(persons[1], addresses[1]))


def agreement_inputs() -> st.SearchStrategy[bytes]:
    return yaml_file("agreement")


def check_agreement(h: Harness, data: bytes) -> list[str]:
    p = _inputs(h, "agreement", {"agreement": (".yaml", data)})
    return h.check("agreement add", h.agreement_add(p["agreement"]))


PROPERTIES: dict[str, tuple[Callable[[], st.SearchStrategy[Any]], Callable[[Harness, Any], list[str]]]] = {
    "submit": (submit_inputs, check_submit),
    "records": (records_inputs, check_records),
    "agreement": (agreement_inputs, check_agreement),
}


def fuzz_settings(examples: int, **kw: Any) -> settings:
    return settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), **kw)


# -- the longer run ----------------------------------------------------------------------
def _property(h: Harness, strategy: st.SearchStrategy[Any], check: Callable[[Harness, Any], list[str]],
              examples: int, seed: int | None) -> Callable[[], None]:
    """A Hypothesis run that prints every finding and goes on (no shrinking, no database)."""

    @fuzz_settings(examples, database=None, phases=[Phase.generate])
    @given(strategy)
    def run(case: Any) -> None:
        for finding in check(h, case):
            print(finding, flush=True)

    if seed is not None:
        from hypothesis import seed as with_seed

        return with_seed(seed)(run)  # type: ignore[no-any-return]
    return run  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=200, help="examples per command (default 200)")
    ap.add_argument("--command", choices=[*PROPERTIES, "all"], default="all")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the home and inputs here")
    args = ap.parse_args(argv)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="dgate-fuzz-"))
    h = Harness.create(root)
    started = time.monotonic()
    names = list(PROPERTIES) if args.command == "all" else [args.command]
    for name in names:
        make, check = PROPERTIES[name]
        n0, t0 = len(h.findings), time.monotonic()
        _property(h, make(), check, args.examples, args.seed)()
        print(f"{name}: {len(h.findings) - n0} finding(s) in {time.monotonic() - t0:.0f} s", flush=True)
    print(f"\n{h.calls} CLI calls in {time.monotonic() - started:.0f} s; exit codes {dict(sorted(h.exits.items()))}; "
          f"{len(h.findings)} finding(s). Home and inputs: {root}")
    return 1 if h.findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
