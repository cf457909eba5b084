"""The compute seam: what runs the standardize and match SQL, separate from the state store.

A :class:`ComputeEngine` has a :class:`~disclosure_gate.engine.dialect.Dialect`,
materializes named steps (``CREATE TEMP TABLE name AS <builder SQL>``), and
hands its result to the state store as an Arrow table. The state store
(agreements, batches, decisions, ledger, users) never shares a transaction with
it. :class:`DuckDBCompute` runs on its own connection to the home's database,
reading the committed request rows and custodian snapshot; a Spark engine
would read the same tables exported as Parquet and run the same builders with
its own Dialect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from disclosure_gate.engine.dialect import DUCKDB, Dialect
from disclosure_gate.engine.duckdb import Engine, Params
from disclosure_gate.engine.sql import bare_ident


@dataclass(frozen=True)
class Step:
    """One materialized step: a temp table ``name`` built by ``sql`` (from a pure builder)."""

    name: str
    sql: str
    label: str
    params: dict[str, Any] | None = None


class ComputeEngine(Protocol):
    dialect: Dialect

    def run(self, step: Step) -> None: ...

    def arrow(self, sql: str, params: Params = None, *, label: str) -> Any: ...

    def scalar(self, sql: str, params: Params = None, *, label: str) -> Any: ...

    def table_exists(self, name: str) -> bool: ...

    def drop(self, names: Sequence[str]) -> None: ...

    def close(self) -> None: ...


class DuckDBCompute:
    """DuckDB as the compute engine: a separate connection (own transaction, own temp tables)."""

    dialect = DUCKDB

    def __init__(self, state: Engine) -> None:
        self._engine = state.cursor()

    @property
    def engine(self) -> Engine:
        return self._engine

    def run(self, step: Step) -> None:
        self._engine.execute(self.dialect.create_temp(bare_ident(step.name), step.sql), step.params,
                             label=step.label)

    def arrow(self, sql: str, params: Params = None, *, label: str) -> Any:
        return self._engine.fetch_arrow(sql, params, label=label)

    def scalar(self, sql: str, params: Params = None, *, label: str) -> Any:
        return self._engine.scalar(sql, params, label=label)

    def table_exists(self, name: str) -> bool:
        return self._engine.table_exists(name)

    def drop(self, names: Sequence[str]) -> None:
        for name in names:
            self._engine.execute(f"DROP TABLE IF EXISTS {bare_ident(name)}", label="cleanup")

    def close(self) -> None:
        self._engine.close()
