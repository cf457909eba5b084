"""The one seam through which SQL is executed (DuckDB by default).

Stages build SQL with small pure functions and hand it to an :class:`Engine`.
Nothing else in the package imports ``duckdb`` directly, except the intake
reader's CSV sniffing, so a second engine only has to implement this class.
DuckDB exceptions are translated into :class:`~disclosure_gate.errors.EngineError`
here, with the statement's label, never its parameters (they may be confidential).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb

from disclosure_gate.errors import EngineError

Row = tuple[Any, ...]


class Engine:
    """A DuckDB connection with a narrow API: execute, fetch, transaction."""

    dialect = "duckdb"

    def __init__(self, path: str | Path | None = None, *, threads: int | None = None,
                 memory_limit: str | None = None, read_only: bool = False) -> None:
        target = ":memory:" if path is None else str(path)
        config: dict[str, Any] = {}
        if threads is not None:
            config["threads"] = threads
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        try:
            self._con = duckdb.connect(target, read_only=read_only, config=config)
        except duckdb.Error as exc:  # pragma: no cover - depends on filesystem state
            raise EngineError(f"cannot open database {target}: {type(exc).__name__}") from None
        self._con.execute("SET preserve_insertion_order = true")
        self._lock = threading.RLock()
        self._in_tx = False

    # -- execution -----------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None,
                *, label: str = "statement") -> None:
        with self._lock:
            try:
                if params is None:
                    self._con.execute(sql)
                else:
                    self._con.execute(sql, params)
            except duckdb.Error as exc:
                raise EngineError(_describe(label, exc)) from None

    def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None,
                 *, label: str = "query") -> list[Row]:
        with self._lock:
            try:
                cur = self._con.execute(sql, params) if params is not None else self._con.execute(sql)
                return [tuple(r) for r in cur.fetchall()]
            except duckdb.Error as exc:
                raise EngineError(_describe(label, exc)) from None

    def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None,
                 *, label: str = "query") -> Row | None:
        rows = self.fetchall(sql, params, label=label)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None,
               *, label: str = "query") -> Any:
        row = self.fetchone(sql, params, label=label)
        return None if row is None else row[0]

    def fetch_dicts(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None,
                    *, label: str = "query") -> list[dict[str, Any]]:
        with self._lock:
            try:
                cur = self._con.execute(sql, params) if params is not None else self._con.execute(sql)
                cols = [d[0] for d in cur.description or []]
                return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
            except duckdb.Error as exc:
                raise EngineError(_describe(label, exc)) from None

    def fetch_arrow(self, sql: str, params: Sequence[Any] | None = None,
                    *, label: str = "query") -> Any:
        with self._lock:
            try:
                rel = self._con.sql(sql, params=params) if params is not None else self._con.sql(sql)
                return rel.to_arrow_table()
            except duckdb.Error as exc:
                raise EngineError(_describe(label, exc)) from None

    def register(self, name: str, obj: Any) -> None:
        """Expose an Arrow table / pandas frame / numpy dict as a view."""
        with self._lock:
            self._con.register(name, obj)

    def unregister(self, name: str) -> None:
        with self._lock:
            self._con.unregister(name)

    def table_exists(self, name: str) -> bool:
        return bool(self.scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]))

    def columns(self, name: str) -> list[str]:
        return [r[0] for r in self.fetchall(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position", [name])]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Engine]:
        """BEGIN/COMMIT, ROLLBACK on any exception. Nested use joins the outer one."""
        with self._lock:
            if self._in_tx:
                yield self
                return
            self.execute("BEGIN TRANSACTION", label="begin")
            self._in_tx = True
            try:
                yield self
            except BaseException:
                self._in_tx = False
                with contextlib.suppress(duckdb.Error):
                    self._con.execute("ROLLBACK")
                raise
            else:
                self._in_tx = False
                self.execute("COMMIT", label="commit")

    def checkpoint(self) -> None:
        self.execute("CHECKPOINT", label="checkpoint")

    def close(self) -> None:
        with self._lock:
            self._con.close()

    @property
    def raw(self) -> duckdb.DuckDBPyConnection:
        """The underlying connection, for Splink's DuckDB API only."""
        return self._con


def _describe(label: str, exc: BaseException) -> str:
    # DuckDB messages can quote values from the data (e.g. a failed cast), so
    # only the class of the error and the statement label are reported.
    kind = type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else ""
    # Errors about the SQL itself (not the data) are safe and needed to debug.
    structural = kind in ("ParserException", "BinderException", "CatalogException")
    safe = text if structural or _is_safe(text) else ""
    return f"database error in {label}: {kind}{(': ' + safe) if safe else ''}"


def _is_safe(text: str) -> bool:
    lowered = text.lower()
    risky = ("could not convert", "conversion error", "'", '"', "value")
    return not any(r in lowered for r in risky)
