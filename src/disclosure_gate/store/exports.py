"""Exports written by the database: the same neutralising rule as every CSV the project writes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path

from disclosure_gate.engine import Engine
from disclosure_gate.errors import InputError
from disclosure_gate.store import files


def export_query(engine: Engine, columns: Sequence[str], source_sql: str, params: Sequence[object] | None,
                 out: Path) -> Path:
    """Write ``SELECT columns FROM (source_sql)`` to ``out`` (CSV with neutralised cells, or Parquet, by
    extension): a temporary sibling (0600), fsync, rename. The folder must exist."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InputError(f"unknown extension '{out.suffix or '(none)'}': use .csv or .parquet", file=out)
    files.require_parent(out)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    if suffix == ".csv":
        select = ", ".join(f"{files.neutralise_sql(c)} AS {c}" for c in columns)
        options = "(FORMAT csv, HEADER true)"
    else:
        select = ", ".join(columns)
        options = "(FORMAT parquet)"
    old = os.umask(0o077)
    try:
        engine.execute(f"COPY (SELECT {select} FROM ({source_sql})) TO ? {options}", [*(params or []), str(tmp)],
                       label="export")
        os.chmod(tmp, files.FILE_MODE)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out)
        files.fsync_dir(out.parent)
    except OSError as exc:
        raise files.translate_os_error(exc, str(out)) from None
    finally:
        os.umask(old)
        tmp.unlink(missing_ok=True)
    return out
