"""Intake: read a user's CSV or Parquet table into the engine, or refuse it clearly.

Every table input is CSV (UTF-8, with or without BOM, header row) or Parquet,
chosen by extension. Reading is set-based (DuckDB's parallel CSV reader with a
rejects table); validation is SQL over the loaded rows. Errors name the file,
the line (CSV) or row (Parquet) and the column, never the cell's value.

Line numbers are *physical* lines: 1 is the header, and every LF counts,
including those inside quoted fields. An error about a record (a field count,
a value) names the line where the record starts; an error about one character
(a misplaced quote, a CR) names the line of that character.

Checks, in order: extension; non-empty file; header (one line, UTF-8, strict
quoting, LF or CRLF, no blank, repeated or unprintable names, at most
:data:`MAX_COLUMNS`); required columns present; CSV structure, checked by a
strict scan of the raw bytes (every record has exactly the header's number of
fields; a quote only opens a field, is doubled inside it, or closes it; every
line ends like the header's; no blank line before the last record); DuckDB's
rejects (invalid UTF-8, lines over 4 MiB); Parquet column types; at least one
data row; no NUL byte and no field over :data:`MAX_FIELD_BYTES`; ids
(``request_id``) printable and at most :data:`MAX_ID_CHARS` characters; the
key column non-blank and unique.
"""

from __future__ import annotations

import functools
import hashlib
import mmap
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from disclosure_gate.engine import Engine
from disclosure_gate.errors import (
    DuplicateKeyError,
    EmptyInputError,
    EncodingError,
    EngineError,
    FieldError,
    InputError,
    TableFormatError,
)

MAX_FIELD_BYTES = 10 * 1024
#: The longest CSV record DuckDB reads (its ``max_line_size``).
MAX_LINE_BYTES = 4 * 1024 * 1024
#: The longest header line.
MAX_HEADER_BYTES = MAX_FIELD_BYTES * 8
#: The most columns a table may have.
MAX_COLUMNS = 1000
#: Id columns: printable, 1 to :data:`MAX_ID_CHARS` characters after trimming spaces.
ID_COLUMNS = ("request_id",)
MAX_ID_CHARS = 128
_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 20
#: Characters an id may not hold (RE2): controls, format (zero-width, bidi), private use,
#: line and paragraph separators, and every space but U+0020.
_UNPRINTABLE_RE2 = r"[\p{Cc}\p{Cf}\p{Co}\p{Cs}\p{Zl}\p{Zp}]|[^\P{Zs} ]"
#: Parquet column types read as text (cast); BLOB and nested types are refused.
_PARQUET_SCALARS = re.compile(
    r"(VARCHAR|BOOLEAN|U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|DECIMAL\(\d+,\s*\d+\)"
    r"|DATE|TIME|TIME WITH TIME ZONE|TIMESTAMP(_S|_MS|_NS)?|TIMESTAMP WITH TIME ZONE|INTERVAL|UUID|\"?NULL\"?)")


@dataclass(frozen=True)
class TableSpec:
    """What a table input must hold.

    ``groups`` lists alternative column groups of which exactly one must be
    present in full (the request file's ``address`` versus ``street, city,
    state, zip``).
    """

    label: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    key: str | None = None
    groups: tuple[tuple[str, ...], ...] = ()

    @property
    def known(self) -> tuple[str, ...]:
        cols = list(self.required) + list(self.optional)
        for g in self.groups:
            cols.extend(c for c in g if c not in cols)
        return tuple(cols)


@dataclass(frozen=True)
class TableIntake:
    path: Path
    table: str
    rows: int
    columns: tuple[str, ...]
    sha256: str
    fmt: str
    ignored_columns: tuple[str, ...] = field(default=())
    group: tuple[str, ...] = field(default=())


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def table_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".parquet":
        return "parquet"
    raise TableFormatError(
        f"unknown extension '{path.suffix or '(none)'}': use .csv or .parquet", file=path)


def load_table(engine: Engine, path: Path, spec: TableSpec, target: str) -> TableIntake:
    """Create table ``target`` (all VARCHAR, spec columns in order, plus ``_row``).

    ``_row`` is the 0-based record ordinal in the file. On any error nothing is
    left behind: the target table is dropped.
    """
    path = Path(path)
    fmt = table_format(path)
    if not path.is_file():
        raise InputError("file not found", file=path)
    if path.stat().st_size == 0:
        raise EmptyInputError("the file is empty", file=path)
    try:
        if fmt == "csv":
            layout = _csv_header(path)
            present, ignored, group = _check_columns(path, layout.names, spec, line=1)
            _load_csv(engine, path, layout, present, target)
        else:
            columns = _parquet_columns(engine, path)
            present, ignored, group = _check_columns(path, [c.name for c in columns], spec, line=None)
            _load_parquet(engine, path, columns, present, target)
        _add_missing(engine, target, spec, present)
        rows = int(engine.scalar(f"SELECT count(*) FROM {target}"))
        if rows == 0:
            raise EmptyInputError(f"{spec.label} has a header but no data rows", file=path)
        _check_values(engine, path, fmt, target, present)
        _check_ids(engine, path, fmt, target, present, spec.key)
        if spec.key is not None:
            _check_key(engine, path, fmt, target, spec.key)
    except BaseException:
        engine.execute(f"DROP TABLE IF EXISTS {target}", label="intake cleanup")
        raise
    return TableIntake(path=path, table=target, rows=rows, columns=spec.known,
                       sha256=file_sha256(path), fmt=fmt, ignored_columns=tuple(ignored),
                       group=group)


# -- raw bytes -----------------------------------------------------------------------
@contextmanager
def _mapped(path: Path) -> Iterator[mmap.mmap]:
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        yield mm


def _line_at(mm: mmap.mmap, pos: int) -> int:
    """The physical (LF-counted) line of byte ``pos``."""
    n = 0
    for off in range(0, pos, _CHUNK):
        n += mm[off:min(off + _CHUNK, pos)].count(b"\n")
    return n + 1


def _content_end(mm: mmap.mmap, start: int) -> int:
    """The offset just after the last byte that is not a CR or LF (trailing line ends excluded)."""
    end = len(mm)
    while end > start:
        lo = max(start, end - _CHUNK)
        kept = mm[lo:end].rstrip(b"\r\n")
        if kept:
            return lo + len(kept)
        end = lo
    return start


def _unprintable(text: str) -> bool:
    """Control, format (zero-width, bidi), private-use or separator characters (but the space)."""
    return not text.isprintable()


# -- header ------------------------------------------------------------------------
@dataclass(frozen=True)
class _CsvLayout:
    names: list[str]
    start: int  # byte offset of the first data record (after the header's line end)
    eol: bytes  # b"\n" or b"\r\n", as the header ends


def _csv_header(path: Path) -> _CsvLayout:
    with path.open("rb") as fh:
        first = fh.readline(MAX_HEADER_BYTES + 1)
    start = len(first)
    if first.startswith(_BOM):
        first = first[len(_BOM):]
    if first.endswith(b"\r\n"):
        eol, content = b"\r\n", first[:-2]
    elif first.endswith(b"\n"):
        eol, content = b"\n", first[:-1]
    else:
        eol, content = b"\n", first
    if b"\r" in content:
        raise TableFormatError("CR line endings are not supported; use LF or CRLF", file=path, line=1)
    if not first.endswith(b"\n") and start > MAX_HEADER_BYTES:
        raise FieldError(f"the header line is longer than {MAX_HEADER_BYTES // 1024} kB", file=path, line=1)
    if b"\x00" in content:
        raise EncodingError("header contains a NUL byte", file=path, line=1)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise EncodingError("header is not valid UTF-8", file=path, line=1) from None
    if not text.strip():
        raise EmptyInputError("the first line (header) is blank", file=path, line=1)
    return _CsvLayout([c.strip() for c in _split_header(path, text)], start, eol)


def _split_header(path: Path, text: str) -> list[str]:
    """The header's fields, with strict quoting (the header is one physical line)."""
    fields: list[str] = []
    i, n = 0, len(text)
    while True:
        column = len(fields) + 1
        if i < n and text[i] == '"':
            parts, j = [], i + 1
            while True:
                k = text.find('"', j)
                if k < 0:
                    raise TableFormatError(f"header column {column}: a quote is not closed (the header must "
                                           "be one line)", file=path, line=1)
                parts.append(text[j:k])
                if text.startswith('""', k):
                    parts.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            if i < n and text[i] != ",":
                raise TableFormatError(f"header column {column}: text after a closing quote", file=path, line=1)
            fields.append("".join(parts))
        else:
            k = text.find(",", i)
            end = n if k < 0 else k
            if '"' in text[i:end]:
                raise TableFormatError(f"header column {column}: a quote inside an unquoted name", file=path,
                                       line=1)
            fields.append(text[i:end])
            i = end
        if i >= n:
            return fields
        i += 1


def _parquet_schema_names(engine: Engine, path: Path) -> list[str]:
    """Top-level column names as stored (before DuckDB de-duplicates them)."""
    rows = engine.fetchall("SELECT name, num_children FROM parquet_schema(?)", [str(path)],
                           label="parquet schema")
    names: list[str] = []
    if not rows:
        return names
    # parquet_schema lists the schema tree depth-first; the first row is the root.
    pending = [int(rows[0][1] or 0)]
    for name, children in rows[1:]:
        while pending and pending[-1] == 0:
            pending.pop()
        if not pending:
            break
        if len(pending) == 1:
            names.append(str(name))
        pending[-1] -= 1
        if children:
            pending.append(int(children))
    return names


@dataclass(frozen=True)
class _ParquetColumn:
    name: str  # as stored in the file
    ref: str  # DuckDB's (de-duplicated) name
    type: str


def _parquet_columns(engine: Engine, path: Path) -> list[_ParquetColumn]:
    try:
        names = _parquet_schema_names(engine, path)
        described = engine.fetchall(
            "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))", [str(path)],
            label="parquet schema")
    except EngineError:
        raise TableFormatError("not a readable Parquet file", file=path) from None
    if len(names) != len(described):
        raise TableFormatError("not a readable Parquet file (inconsistent schema)", file=path)
    return [_ParquetColumn(n, str(d[0]), str(d[1])) for n, d in zip(names, described, strict=True)]


def _check_columns(path: Path, header: Sequence[str], spec: TableSpec,
                   line: int | None) -> tuple[list[str], list[str], tuple[str, ...]]:
    if len(header) > MAX_COLUMNS:
        raise FieldError(f"the header has more than {MAX_COLUMNS:,} columns", file=path, line=line)
    seen: set[str] = set()
    for i, name in enumerate(header, start=1):
        if not name:
            raise FieldError(f"header column {i} has no name", file=path, line=line)
        if _unprintable(name):
            raise FieldError(f"header column {i} has a control, format or bidi character in its name",
                             file=path, line=line)
        if name in seen:
            raise FieldError("column name appears twice in the header", file=path, line=line,
                             column=name)
        seen.add(name)
    for col in spec.required:
        if col not in seen:
            raise FieldError(f"required column missing from {spec.label}", file=path, line=line,
                             column=col)
    group: tuple[str, ...] = ()
    if spec.groups:
        complete = [g for g in spec.groups if all(c in seen for c in g)]
        touched = [g for g in spec.groups if any(c in seen for c in g)]
        alternatives = " or ".join("(" + ", ".join(g) + ")" for g in spec.groups)
        if len(complete) > 1 or len(touched) > 1:
            raise FieldError(f"give exactly one of {alternatives}, not both", file=path, line=line)
        if not complete:
            if touched:
                missing = next(c for c in touched[0] if c not in seen)
                raise FieldError(f"required column missing from {spec.label}", file=path,
                                 line=line, column=missing)
            raise FieldError(f"{spec.label} needs the columns {alternatives}", file=path, line=line)
        group = complete[0]
    known = set(spec.known)
    present = [c for c in header if c in known]
    ignored = [c for c in header if c not in known]
    return present, ignored, group


# -- CSV structure -------------------------------------------------------------------
#: One field: quoted (quotes doubled inside) or unquoted (no quote, comma, CR or LF).
_FIELD = rb'(?>"(?:[^"]++|"")*+"|[^",\r\n]*+)'
_FIELD_RE = re.compile(_FIELD)
_RECORD_RE = re.compile(_FIELD + rb"(?:," + _FIELD + rb")*+")


@functools.lru_cache(maxsize=16)
def _file_re(ncols: int, eol: bytes) -> re.Pattern[bytes]:
    """Whole records of exactly ``ncols`` fields, each ended by ``eol`` (or the end of the file)."""
    record = _FIELD + (rb"(?:," + _FIELD + rb"){%d}" % (ncols - 1) if ncols > 1 else b"")
    return re.compile(rb"(?:(?>" + record + rb")(?:" + re.escape(eol) + rb"|\Z))*+")


@functools.lru_cache(maxsize=4)
def _trailer_re(eol: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"(?:" + re.escape(eol) + rb")++\Z")


@dataclass(frozen=True)
class _Problem:
    pos: int
    error: InputError


def _scan_csv(path: Path, mm: mmap.mmap, layout: _CsvLayout) -> _Problem | None:
    """The first structural problem after the header, or None (one regex, at C speed)."""
    ncols, eol = len(layout.names), layout.eol
    end = _file_re(ncols, eol).match(mm, layout.start)
    assert end is not None
    pos = end.end()
    if pos == len(mm) or _trailer_re(eol).match(mm, pos):
        return None
    return _diagnose(path, mm, layout, pos)


def _plain_lf(mm: mmap.mmap, layout: _CsvLayout) -> int | None:
    """For an LF file with no quote, no CR and no blank line before its last record, the
    number of commas after the header (a cheap stand-in for the full scan); else None."""
    start = layout.start
    if layout.eol != b"\n" or mm.find(b'"', start) >= 0 or mm.find(b"\r", start) >= 0:
        return None
    end = _content_end(mm, start)
    if (mm[start:start + 1] == b"\n" and start < end) or mm.find(b"\n\n", start, end) >= 0:
        return None
    return sum(mm[off:min(off + _CHUNK, len(mm))].count(b",") for off in range(start, len(mm), _CHUNK))


def _diagnose(path: Path, mm: mmap.mmap, layout: _CsvLayout, start: int) -> _Problem:
    """Why the record starting at byte ``start`` is malformed (field by field)."""
    names, eol = layout.names, layout.eol
    record_line = _line_at(mm, start)

    def err(cls: type[InputError], text: str, at: int, column: str | None) -> _Problem:
        line = record_line if at == start else record_line + mm[start:at].count(b"\n")
        return _Problem(at, cls(text, file=path, line=line, column=column))

    pos, idx = start, 0
    while True:
        field_start = pos
        m = _FIELD_RE.match(mm, pos)
        assert m is not None
        pos = m.end()
        column = names[idx] if idx < len(names) else None
        c = mm[pos:pos + 1]
        if c == b",":
            idx += 1
            if idx >= len(names):
                return err(TableFormatError, "more fields than the header has columns", start, None)
            pos += 1
            continue
        if c == b"" or mm[pos:pos + len(eol)] == eol:
            if pos == start:
                return err(TableFormatError, "blank line (only the end of the file may have blank lines)",
                           start, None)
            if idx + 1 < len(names):
                return err(TableFormatError, "fewer fields than the header has columns", start,
                           names[idx + 1])
            # A complete record: the problem is its line ending (handled below) or none at all.
            return err(TableFormatError, "malformed CSV", start, None)  # pragma: no cover - defensive
        if c == b'"':
            if pos == field_start:
                return err(TableFormatError, "malformed quoting: a quote is not closed", pos, column)
            return err(TableFormatError, "malformed quoting: a quote inside an unquoted field (quote the "
                       "whole field and double the quote)", pos, column)
        if c == b"\r":
            if mm[pos:pos + 2] == b"\r\n":
                return err(TableFormatError, "mixed line endings: this line ends with CRLF, the header "
                           "with LF", pos, column)
            return err(TableFormatError, "CR line endings are not supported; use LF or CRLF", pos, column)
        if c == b"\n":
            return err(TableFormatError, "mixed line endings: this line ends with LF, the header with CRLF",
                       pos, column)
        return err(TableFormatError, "malformed quoting: text after a closing quote", pos, column)


def _bad_utf8_at(mm: mmap.mmap, start: int) -> int | None:
    """The byte offset of the first invalid UTF-8 sequence in the record starting at ``start``."""
    data = mm[start:start + MAX_LINE_BYTES + 8]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        truncated = exc.reason == "unexpected end of data" and start + len(data) < len(mm)
        return None if truncated else start + exc.start
    return None


# -- loading -----------------------------------------------------------------------
def _qi(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _load_csv(engine: Engine, path: Path, layout: _CsvLayout, present: Sequence[str],
              target: str) -> None:
    names = layout.names
    with _mapped(path) as mm:
        # A file without quotes, CRs or blank lines is checked by counting its commas after
        # the load (DuckDB counts fields but lets an extra empty last field pass); any other
        # file by the full scan.
        commas = _plain_lf(mm, layout)
        problem = _scan_csv(path, mm, layout) if commas is None else None
        # Positional column names: header names never reach SQL.
        columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(names))) + "}"
        tag = uuid.uuid4().hex[:12]
        rej, scan = f"_rej_{tag}", f"_scan_{tag}"
        select = ", ".join(f"c{names.index(c)} AS {_qi(c)}" for c in present)
        rejected: _Problem | None = None
        try:
            engine.execute(
                f"CREATE OR REPLACE TEMP TABLE {target} AS SELECT {select} FROM read_csv($path, "
                "delim=',', quote='\"', escape='\"', header=true, auto_detect=false, skip=0, "
                f"columns={columns}, strict_mode=true, null_padding=false, max_line_size={MAX_LINE_BYTES}, "
                f"store_rejects=true, rejects_table='{rej}', rejects_scan='{scan}')",
                {"path": str(path)}, label="read csv")
            bad = engine.fetchone(
                f"SELECT line_byte_position, column_name, error_type FROM {rej} "
                "ORDER BY line_byte_position, column_idx LIMIT 1", label="csv rejects")
            if bad is not None:
                rejected = _reject_problem(path, mm, names, int(bad[0] or 0), bad[1], str(bad[2]))
            elif commas is not None:
                rows = int(engine.scalar(f"SELECT count(*) FROM {target}", label="csv rows"))
                if commas != rows * (len(names) - 1):
                    problem = _scan_csv(path, mm, layout)
        except EngineError as exc:
            if "InvalidInput" not in str(exc):
                raise
            if problem is None:
                raise TableFormatError("malformed CSV: the reader could not parse the file", file=path) from None
        finally:
            engine.execute(f"DROP TABLE IF EXISTS {rej}", label="drop rejects")
            engine.execute(f"DROP TABLE IF EXISTS {scan}", label="drop rejects")
    if problem is not None and (rejected is None or (problem.error.line or 0) <= (rejected.error.line or 0)):
        raise problem.error  # the raw scan's message is the more precise one
    if rejected is not None:
        raise rejected.error
    engine.execute(f"ALTER TABLE {target} ADD COLUMN _row BIGINT", label="row ordinal")
    engine.execute(f"UPDATE {target} SET _row = rowid", label="row ordinal")


def _reject_problem(path: Path, mm: mmap.mmap, names: Sequence[str], pos: int, column: str | None,
                    kind: str) -> _Problem:
    """A DuckDB reject, located at the physical line where its record starts."""
    messages = {
        "INVALID ENCODING": (EncodingError, "bytes that are not valid UTF-8"),
        "UNQUOTED VALUE": (TableFormatError, "malformed quoting (a quote is not closed or is misplaced)"),
        "INVALID STATE": (TableFormatError, "malformed quoting or escaping"),
        "TOO MANY COLUMNS": (TableFormatError, "more fields than the header has columns"),
        "MISSING COLUMNS": (TableFormatError, "fewer fields than the header has columns"),
        "LINE SIZE OVER MAXIMUM": (FieldError, f"the line is longer than the {MAX_LINE_BYTES >> 20} MiB limit"),
    }
    cls, text = messages.get(kind, (TableFormatError, f"malformed CSV ({kind.lower()})"))
    name = None
    if column is not None and str(column).startswith("c") and str(column)[1:].isdigit():
        i = int(str(column)[1:])
        name = names[i] if i < len(names) else None
    at = pos
    if kind == "INVALID ENCODING":
        at = _bad_utf8_at(mm, pos) or pos
    return _Problem(at, cls(text, file=path, line=_line_at(mm, at), column=name))


def _load_parquet(engine: Engine, path: Path, columns: Sequence[_ParquetColumn], present: Sequence[str],
                  target: str) -> None:
    by_name = {c.name: c for c in columns}
    for name in present:
        col = by_name[name]
        kind = col.type.upper()
        if kind == "BLOB":
            raise TableFormatError("binary column (BLOB): Parquet text must be stored as UTF-8 strings",
                                   file=path, column=name)
        if kind.endswith("]") or kind.startswith(("STRUCT", "MAP", "UNION", "LIST")):
            raise TableFormatError("nested column (list, struct or map) is not supported", file=path,
                                   column=name)
        if not _PARQUET_SCALARS.fullmatch(kind):
            raise TableFormatError(f"column type {kind} is not supported (use text, numbers or dates)",
                                   file=path, column=name)
    casts = ", ".join(f"CAST({_qi(by_name[c].ref)} AS VARCHAR) AS {_qi(c)}" for c in present)
    source = "read_parquet($path)"
    params = {"path": str(path)}
    try:
        # Rows keep the file's order (preserve_insertion_order), so rowid is the row ordinal, as for
        # CSV; read_parquet's file_row_number would clash with a column of that name.
        engine.execute(f"CREATE OR REPLACE TEMP TABLE {target} AS SELECT {casts} FROM {source}", params,
                       label="read parquet")
        engine.execute(f"ALTER TABLE {target} ADD COLUMN _row BIGINT", label="row ordinal")
        engine.execute(f"UPDATE {target} SET _row = rowid", label="row ordinal")
    except EngineError:
        for c in present:
            try:
                engine.execute(f"SELECT max(length(CAST({_qi(by_name[c].ref)} AS VARCHAR))) FROM {source}",
                               params, label="read parquet column")
            except EngineError as col_exc:
                if "InvalidInput" in str(col_exc) and by_name[c].type.upper() == "VARCHAR":
                    raise EncodingError("text that is not valid UTF-8", file=path, column=c) from None
                raise TableFormatError("column cannot be read (corrupt data)", file=path, column=c) from None
        raise TableFormatError("not a readable Parquet file", file=path) from None


def _add_missing(engine: Engine, target: str, spec: TableSpec, present: Sequence[str]) -> None:
    for col in spec.known:
        if col not in present:
            engine.execute(f'ALTER TABLE {target} ADD COLUMN "{col}" VARCHAR', label="add column")


# -- line numbers ----------------------------------------------------------------------
def _lines_of(engine: Engine, path: Path, fmt: str, target: str, rows: Sequence[int],
              present: Sequence[str]) -> dict[int, int]:
    """Physical line where each record in ``rows`` starts (CSV), or the 1-based row (Parquet).

    Every record takes one line plus the line feeds inside its quoted fields. Those of
    the loaded columns are counted in SQL; when the file holds more (an ignored column
    with a line break), the records are walked in the raw file instead.
    """
    if fmt != "csv":
        return {r: r + 1 for r in rows}
    nl = " + ".join(
        f"coalesce(length({_qi(c)}) - length(replace({_qi(c)}, chr(10), '')), 0)" for c in present) or "0"
    out: dict[int, int] = {}
    for row in rows:
        before = engine.scalar(f"SELECT coalesce(sum({nl}), 0) FROM {target} WHERE _row < ?", [row],
                               label="line number")
        out[row] = row + 2 + int(before or 0)
    total, count = engine.fetchone(f"SELECT coalesce(sum({nl}), 0), count(*) FROM {target}",
                                   label="line number") or (0, 0)
    with _mapped(path) as mm:
        end = _content_end(mm, 0)
        if _line_at(mm, end) - 1 == int(count) + int(total or 0):
            return out
        return _walk_lines(path, mm, rows)


def _walk_lines(path: Path, mm: mmap.mmap, rows: Sequence[int]) -> dict[int, int]:
    layout = _csv_header(path)
    wanted, last = set(rows), max(rows)
    pos, line, out = layout.start, 2, {}
    for k in range(last + 1):
        m = _RECORD_RE.match(mm, pos)
        assert m is not None
        if k in wanted:
            out[k] = line
        line += mm[pos:m.end()].count(b"\n") + 1
        pos = m.end() + len(layout.eol)
    return out


def _line_of(engine: Engine, path: Path, fmt: str, target: str, row: int, present: Sequence[str]) -> int:
    """Physical line where record ``row`` starts (CSV), or the 1-based row (Parquet)."""
    return _lines_of(engine, path, fmt, target, [row], present)[row]


# -- value checks ------------------------------------------------------------------
def _check_values(engine: Engine, path: Path, fmt: str, target: str,
                  present: Sequence[str]) -> None:
    if not present:
        return
    probes = []
    for i, c in enumerate(present):
        q = _qi(c)
        probes.append(
            f"SELECT _row, {i} AS col, CASE WHEN strpos({q}, chr(0)) > 0 THEN 'nul' ELSE 'long' END "
            f"AS problem FROM {target} WHERE strpos({q}, chr(0)) > 0 OR strlen({q}) > {MAX_FIELD_BYTES}")
    bad = engine.fetchone(" UNION ALL ".join(probes) + " ORDER BY _row, col LIMIT 1",
                          label="field checks")
    if bad is None:
        return
    row, col, problem = int(bad[0]), present[int(bad[1])], str(bad[2])
    line = _line_of(engine, path, fmt, target, row, present)
    if problem == "nul":
        raise EncodingError("field contains a NUL byte", file=path, line=line, column=col)
    raise FieldError(f"field is longer than {MAX_FIELD_BYTES // 1024} kB", file=path, line=line,
                     column=col)


def _check_ids(engine: Engine, path: Path, fmt: str, target: str, present: Sequence[str],
               key: str | None) -> None:
    """Id columns: printable, 1 to MAX_ID_CHARS characters after trimming (blank keys are _check_key's)."""
    for c in present:
        if c not in ID_COLUMNS:
            continue
        q = _qi(c)
        bad = engine.scalar(
            f"SELECT min(_row) FROM {target} WHERE {q} IS NOT NULL AND trim({q}) <> '' AND "
            f"(length(trim({q})) > {MAX_ID_CHARS} OR regexp_matches({q}, $unprintable))",
            {"unprintable": _UNPRINTABLE_RE2}, label="id checks")
        if bad is None and c != key:
            bad = engine.scalar(f"SELECT min(_row) FROM {target} WHERE {q} IS NULL OR trim({q}) = ''",
                                label="id checks")
        if bad is not None:
            line = _line_of(engine, path, fmt, target, int(bad), present)
            raise FieldError(f"{c} must be 1 to {MAX_ID_CHARS} printable characters (no control, "
                             "zero-width or bidi characters)", file=path, line=line, column=c)


def _check_key(engine: Engine, path: Path, fmt: str, target: str, key: str) -> None:
    present = engine.columns(target)
    present = [c for c in present if c != "_row"]
    q = _qi(key)
    blank = engine.scalar(
        f"SELECT min(_row) FROM {target} WHERE {q} IS NULL OR trim({q}) = ''",
        label="key blank")
    if blank is not None:
        line = _line_of(engine, path, fmt, target, int(blank), present)
        raise FieldError("key is blank", file=path, line=line, column=key)
    dup = engine.fetchone(
        f"SELECT _row, first_row FROM ("
        f"  SELECT _row, row_number() OVER w AS rn, first_value(_row) OVER w AS first_row"
        f"  FROM {target} WINDOW w AS (PARTITION BY trim({q}) ORDER BY _row)"
        f") WHERE rn = 2 ORDER BY _row LIMIT 1", label="key duplicates")
    if dup is not None and dup[0] is not None:
        lines = _lines_of(engine, path, fmt, target, [int(dup[0]), int(dup[1])], present)
        second, first = lines[int(dup[0])], lines[int(dup[1])]
        raise DuplicateKeyError(f"duplicate {key}: the same value is on line {first}",
                                file=path, line=second, column=key)


def require_rows(engine: Engine, intake: TableIntake, condition: str, *, column: str,
                 message: str) -> None:
    """Raise :class:`FieldError` at the first row where SQL ``condition`` is true."""
    require_all(engine, intake, [(condition, column, message)])


def require_all(engine: Engine, intake: TableIntake, checks: Sequence[tuple[str, str, str]]) -> None:
    """Evaluate several ``(condition, column, message)`` checks in one scan of ``intake.table``.

    Raises :class:`FieldError` for the earliest failing row (the first check on
    that row); the error names the file, the line and the column, never the value.
    """
    if not checks:
        return
    firsts = ", ".join(f"min(_row) FILTER (WHERE {cond})" for cond, _, _ in checks)
    row = engine.fetchone(f"SELECT {firsts} FROM {intake.table}", label="row checks")
    assert row is not None
    failing = [(int(r), i) for i, r in enumerate(row) if r is not None]
    if not failing:
        return
    bad, which = min(failing)
    _, column, message = checks[which]
    present = [c for c in engine.columns(intake.table) if c != "_row"]
    line = _line_of(engine, intake.path, intake.fmt, intake.table, bad, present)
    raise FieldError(message, file=intake.path, line=line, column=column)
