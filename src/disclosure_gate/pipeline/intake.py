"""Intake: read a user's CSV or Parquet table into the engine, or refuse it clearly.

Every table input is CSV (UTF-8, with or without BOM, header row) or Parquet,
chosen by extension. Reading is set-based (DuckDB's parallel CSV reader with a
rejects table); validation is SQL over the loaded rows. Errors name the file,
the line (CSV) or row (Parquet) and the column, never the cell's value.

Checks, in order: extension; non-empty file; header decodes as UTF-8 and has
no blank or repeated names; required columns present; structural CSV errors
(bad quoting, wrong field count, invalid UTF-8) from the rejects table; at
least one data row; no NUL byte and no field over :data:`MAX_FIELD_BYTES`;
the key column non-blank and unique.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from disclosure_gate.engine import Engine
from disclosure_gate.errors import (
    DuplicateKeyError,
    EmptyInputError,
    EncodingError,
    FieldError,
    InputError,
    TableFormatError,
)

MAX_FIELD_BYTES = 10 * 1024
_BOM = b"\xef\xbb\xbf"


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
            header = _csv_header(path)
            present, ignored, group = _check_columns(path, header, spec, line=1)
            _load_csv(engine, path, header, present, target)
        else:
            header = _parquet_header(engine, path)
            present, ignored, group = _check_columns(path, header, spec, line=None)
            _load_parquet(engine, path, present, target)
        _add_missing(engine, target, spec, present)
        rows = int(engine.scalar(f"SELECT count(*) FROM {target}"))
        if rows == 0:
            raise EmptyInputError(f"{spec.label} has a header but no data rows", file=path)
        _check_values(engine, path, fmt, target, present)
        if spec.key is not None:
            _check_key(engine, path, fmt, target, spec.key)
    except BaseException:
        engine.execute(f"DROP TABLE IF EXISTS {target}", label="intake cleanup")
        raise
    return TableIntake(path=path, table=target, rows=rows, columns=spec.known,
                       sha256=file_sha256(path), fmt=fmt, ignored_columns=tuple(ignored),
                       group=group)


# -- header ------------------------------------------------------------------------
def _csv_header(path: Path) -> list[str]:
    with path.open("rb") as fh:
        first = fh.readline(MAX_FIELD_BYTES * 8)
    if first.startswith(_BOM):
        first = first[len(_BOM):]
    if b"\x00" in first:
        raise EncodingError("header contains a NUL byte", file=path, line=1)
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        raise EncodingError("header is not valid UTF-8", file=path, line=1) from None
    if not text.strip():
        raise EmptyInputError("the first line (header) is blank", file=path, line=1)
    try:
        row = next(csv.reader(io.StringIO(text)))
    except (csv.Error, StopIteration):
        raise TableFormatError("header is not valid CSV", file=path, line=1) from None
    names = [c.strip() for c in row]
    return names


def _parquet_header(engine: Engine, path: Path) -> list[str]:
    try:
        rows = engine.fetchall(
            "SELECT name FROM parquet_schema(?) WHERE num_children IS NULL OR num_children = 0",
            [str(path)], label="parquet schema")
    except Exception:
        raise TableFormatError("not a readable Parquet file", file=path) from None
    return [str(r[0]) for r in rows]


def _check_columns(path: Path, header: Sequence[str], spec: TableSpec,
                   line: int | None) -> tuple[list[str], list[str], tuple[str, ...]]:
    seen: set[str] = set()
    for i, name in enumerate(header, start=1):
        if not name:
            raise FieldError(f"header column {i} has no name", file=path, line=line)
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


# -- loading -----------------------------------------------------------------------
def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _load_csv(engine: Engine, path: Path, header: Sequence[str], present: Sequence[str],
              target: str) -> None:
    columns = "{" + ", ".join(f"{_sql_str(c)}: 'VARCHAR'" for c in header) + "}"
    tag = uuid.uuid4().hex[:12]
    rej, scan = f"_rej_{tag}", f"_scan_{tag}"
    select = ", ".join(f'"{c}"' for c in present)
    engine.execute(
        f"CREATE OR REPLACE TABLE {target} AS SELECT {select} FROM read_csv({_sql_str(str(path))}, "
        "delim=',', quote='\"', escape='\"', header=true, auto_detect=false, "
        f"columns={columns}, strict_mode=true, null_padding=false, max_line_size=4194304, "
        f"store_rejects=true, rejects_table='{rej}', rejects_scan='{scan}')",
        label="read csv")
    try:
        bad = engine.fetchone(
            f"SELECT line, column_name, error_type FROM {rej} ORDER BY line, column_idx LIMIT 1",
            label="csv rejects")
    finally:
        engine.execute(f"DROP TABLE IF EXISTS {rej}", label="drop rejects")
        engine.execute(f"DROP TABLE IF EXISTS {scan}", label="drop rejects")
    if bad is not None:
        line, column, kind = int(bad[0]), bad[1], str(bad[2])
        raise _reject_error(kind, path, line, column)
    engine.execute(f"ALTER TABLE {target} ADD COLUMN _row BIGINT", label="row ordinal")
    engine.execute(f"UPDATE {target} SET _row = rowid", label="row ordinal")


def _reject_error(kind: str, path: Path, line: int, column: str | None) -> InputError:
    messages = {
        "INVALID ENCODING": (EncodingError, "bytes that are not valid UTF-8"),
        "UNQUOTED VALUE": (TableFormatError, "malformed quoting (a quote is not closed or is misplaced)"),
        "INVALID STATE": (TableFormatError, "malformed quoting or escaping"),
        "TOO MANY COLUMNS": (TableFormatError, "more fields than the header has columns"),
        "MISSING COLUMNS": (TableFormatError, "fewer fields than the header has columns"),
        "LINE SIZE OVER MAXIMUM": (FieldError, "the line is longer than the 4 MiB limit"),
    }
    cls, text = messages.get(kind, (TableFormatError, f"malformed CSV ({kind.lower()})"))
    return cls(text, file=path, line=line, column=column)


def _load_parquet(engine: Engine, path: Path, present: Sequence[str], target: str) -> None:
    casts = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' for c in present)
    try:
        engine.execute(
            f"CREATE OR REPLACE TABLE {target} AS SELECT {casts}, file_row_number AS _row "
            f"FROM read_parquet({_sql_str(str(path))}, file_row_number=true)",
            label="read parquet")
    except Exception:
        raise TableFormatError("not a readable Parquet file", file=path) from None


def _add_missing(engine: Engine, target: str, spec: TableSpec, present: Sequence[str]) -> None:
    for col in spec.known:
        if col not in present:
            engine.execute(f'ALTER TABLE {target} ADD COLUMN "{col}" VARCHAR', label="add column")


# -- value checks ------------------------------------------------------------------
def _line_of(engine: Engine, fmt: str, target: str, row: int, present: Sequence[str]) -> int:
    """Physical line where record ``row`` starts (CSV), or the 1-based row (Parquet)."""
    if fmt != "csv":
        return row + 1
    nl = " + ".join(
        f"coalesce(length(\"{c}\") - length(replace(\"{c}\", chr(10), '')), 0)" for c in present)
    before = engine.scalar(f"SELECT coalesce(sum({nl}), 0) FROM {target} WHERE _row < ?", [row],
                           label="line number")
    return row + 2 + int(before or 0)


def _check_values(engine: Engine, path: Path, fmt: str, target: str,
                  present: Sequence[str]) -> None:
    if not present:
        return
    probes = []
    for i, c in enumerate(present):
        probes.append(
            f"SELECT _row, {i} AS col, CASE WHEN strpos(\"{c}\", chr(0)) > 0 THEN 'nul' ELSE 'long' END "
            f"AS problem FROM {target} WHERE strpos(\"{c}\", chr(0)) > 0 OR strlen(\"{c}\") > {MAX_FIELD_BYTES}")
    bad = engine.fetchone(" UNION ALL ".join(probes) + " ORDER BY _row, col LIMIT 1",
                          label="field checks")
    if bad is None:
        return
    row, col, problem = int(bad[0]), present[int(bad[1])], str(bad[2])
    line = _line_of(engine, fmt, target, row, present)
    if problem == "nul":
        raise EncodingError("field contains a NUL byte", file=path, line=line, column=col)
    raise FieldError(f"field is longer than {MAX_FIELD_BYTES // 1024} kB", file=path, line=line,
                     column=col)


def _check_key(engine: Engine, path: Path, fmt: str, target: str, key: str) -> None:
    present = engine.columns(target)
    present = [c for c in present if c != "_row"]
    blank = engine.scalar(
        f"SELECT min(_row) FROM {target} WHERE \"{key}\" IS NULL OR trim(\"{key}\") = ''",
        label="key blank")
    if blank is not None:
        line = _line_of(engine, fmt, target, int(blank), present)
        raise FieldError("key is blank", file=path, line=line, column=key)
    dup = engine.fetchone(
        f"SELECT _row, first_row FROM ("
        f"  SELECT _row, row_number() OVER w AS rn, first_value(_row) OVER w AS first_row"
        f"  FROM {target} WINDOW w AS (PARTITION BY trim(\"{key}\") ORDER BY _row)"
        f") WHERE rn = 2 ORDER BY _row LIMIT 1", label="key duplicates")
    if dup is not None and dup[0] is not None:
        second = _line_of(engine, fmt, target, int(dup[0]), present)
        first = _line_of(engine, fmt, target, int(dup[1]), present)
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
    line = _line_of(engine, intake.fmt, intake.table, bad, present)
    raise FieldError(message, file=intake.path, line=line, column=column)
