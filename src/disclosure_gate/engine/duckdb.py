"""DuckDB behind a narrow API: the state store's connection, and the compute engine's.

Nothing else in the package imports ``duckdb``. Every value reaches SQL as a
bound parameter; identifiers come from code and pass :func:`sql.ident`.
DuckDB exceptions become :class:`~disclosure_gate.errors.DgateError`\\ s here,
with the statement's label and never its parameters (they may be confidential):

* a full disk is :class:`DiskFullError` (exit 12);
* another process holding the database is :class:`BusyError` (exit 11), naming its pid;
* anything else is :class:`EngineError` (exit 9).

One process may open a database once; :meth:`Engine.cursor` gives further
connections to the same database (the compute engine, a server's request
threads), sharing one write lock so that state-changing transactions of one
process never interleave.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb

from disclosure_gate.clock import Clock, SystemClock
from disclosure_gate.errors import BusyError, DgateError, DiskFullError, EngineError

Row = tuple[Any, ...]
Params = Sequence[Any] | dict[str, Any] | None
_PID = re.compile(r"\(PID (\d+)\)")


class Engine:
    """A DuckDB connection with a narrow API: execute, fetch, transaction."""

    def __init__(self, path: str | Path | None = None, *, threads: int | None = None,
                 memory_limit: str | None = None, read_only: bool = False, temp_directory: Path | None = None,
                 clock: Clock | None = None) -> None:
        target = ":memory:" if path is None else str(path)
        config: dict[str, Any] = {}
        if threads is not None:
            config["threads"] = threads
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        if temp_directory is not None:
            config["temp_directory"] = str(temp_directory)
        try:
            con = duckdb.connect(target, read_only=read_only, config=config)
        except duckdb.Error as exc:
            raise open_error(target, exc) from None
        self._setup(con, threading.RLock(), read_only, clock or SystemClock())
        self.path = None if path is None else Path(path)

    def _setup(self, con: duckdb.DuckDBPyConnection, write_lock: threading.RLock, read_only: bool,
               clock: Clock) -> None:
        self._con = con
        self._con.execute("SET preserve_insertion_order = true")
        self._lock = threading.RLock()
        self.write_lock = write_lock
        self.read_only = read_only
        self.clock = clock
        self._in_tx = False

    def cursor(self) -> Engine:
        """Another connection to the same database (own transactions and temp tables)."""
        other = Engine.__new__(Engine)
        with self._lock:
            other._setup(self._con.cursor(), self.write_lock, self.read_only, self.clock)
        other.path = self.path
        return other

    # -- execution -----------------------------------------------------------------
    def _run(self, sql: str, params: Params, label: str) -> duckdb.DuckDBPyConnection:
        try:
            return self._con.execute(sql, params) if params is not None else self._con.execute(sql)
        except duckdb.Error as exc:
            raise translate(label, exc) from None

    def execute(self, sql: str, params: Params = None, *, label: str = "statement") -> None:
        with self._lock:
            self._run(sql, params, label)

    def fetchall(self, sql: str, params: Params = None, *, label: str = "query") -> list[Row]:
        with self._lock:
            cur = self._run(sql, params, label)
            try:
                return [tuple(r) for r in cur.fetchall()]
            except duckdb.Error as exc:
                raise translate(label, exc) from None

    def fetchone(self, sql: str, params: Params = None, *, label: str = "query") -> Row | None:
        rows = self.fetchall(sql, params, label=label)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Params = None, *, label: str = "query") -> Any:
        row = self.fetchone(sql, params, label=label)
        return None if row is None else row[0]

    def fetch_dicts(self, sql: str, params: Params = None, *, label: str = "query") -> list[dict[str, Any]]:
        with self._lock:
            cur = self._run(sql, params, label)
            try:
                cols = [d[0] for d in cur.description or []]
                return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
            except duckdb.Error as exc:
                raise translate(label, exc) from None

    def fetch_arrow(self, sql: str, params: Params = None, *, label: str = "query") -> Any:
        with self._lock:
            try:
                rel = self._con.sql(sql, params=params) if params is not None else self._con.sql(sql)
                return rel.to_arrow_table()
            except duckdb.Error as exc:
                raise translate(label, exc) from None

    def register(self, name: str, obj: Any) -> None:
        """Expose an Arrow table as a view of this connection."""
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
        """BEGIN/COMMIT under the process's write lock; ROLLBACK on any exception. Nested use joins."""
        with self._lock:
            if self._in_tx:
                yield self
                return
        with self.write_lock, self._lock:
            self.execute("BEGIN TRANSACTION", label="begin")
            self._in_tx = True
            try:
                yield self
            except BaseException:
                self._in_tx = False
                with contextlib.suppress(duckdb.Error):
                    self._con.execute("ROLLBACK")
                raise
            self._in_tx = False
            try:
                self._con.execute("COMMIT")
            except duckdb.Error as exc:
                with contextlib.suppress(duckdb.Error):
                    self._con.execute("ROLLBACK")
                raise translate("commit", exc) from None

    @property
    def in_transaction(self) -> bool:
        return self._in_tx

    def close(self) -> None:
        with self._lock:
            self._con.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else ""


def _disk_full(text: str) -> bool:
    lowered = text.lower()
    return any(t in lowered for t in ("no space left", "disk is full", "quota exceeded", "file too large"))


def open_error(target: str, exc: BaseException) -> DgateError:
    """Why a database could not be opened: in use by another process, disk full, or else."""
    text = str(exc)
    if "lock" in text.lower():
        pid = _PID.search(text)
        who = f" (pid {pid.group(1)})" if pid else ""
        return BusyError(f"the home is in use by another dgate process{who}")
    if _disk_full(text):
        return DiskFullError("disk full: the database cannot be opened; free some space")
    return EngineError(f"cannot open database {target}: {type(exc).__name__}")


def translate(label: str, exc: BaseException) -> DgateError:
    """A DuckDB error as a DgateError; the message never carries data values."""
    kind = type(exc).__name__
    text = _first_line(exc)
    if _disk_full(str(exc)):
        return DiskFullError(f"disk full while running {label}: free some space and run the command again")
    if kind == "TransactionException" and "conflict" in text.lower():
        return BusyError(f"{label}: another action changed the same records at the same time; run it again")
    # DuckDB messages can quote values from the data (e.g. a failed cast), so only the class of the
    # error and the statement label are reported, plus the message when it is about the SQL itself.
    structural = kind in ("ParserException", "BinderException", "CatalogException")
    safe = text if structural or _is_safe(text) else ""
    return EngineError(f"database error in {label}: {kind}{(': ' + safe) if safe else ''}")


def _is_safe(text: str) -> bool:
    lowered = text.lower()
    risky = ("could not convert", "conversion error", "'", '"', "value")
    return not any(r in lowered for r in risky)
