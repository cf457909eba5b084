"""The compute seam: SQL runs through an :class:`Engine` (DuckDB today)."""

from disclosure_gate.engine.duckdb import Engine

__all__ = ["Engine"]
