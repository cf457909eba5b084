"""Digests of stored state, so that ``ledger verify`` can check tables against ledger events.

A digest is SHA-256 over the concatenated SHA-256 of each row's canonical JSON
(``to_json`` of a struct of the named columns), in a stated order. It is
computed in SQL, set-based, when the state is written (the value goes into the
ledger event) and again when the ledger is verified.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from disclosure_gate.engine import Engine
from disclosure_gate.engine.sql import bare_ident


def digest_sql(source: str, columns: Sequence[str], order: Sequence[str]) -> str:
    """SQL giving one row, one column: the digest of ``columns`` of ``source`` in ``order``."""
    struct = ", ".join(f"{bare_ident(c)} := {bare_ident(c)}" for c in columns)
    keys = ", ".join(bare_ident(c) for c in order)
    return (f"SELECT coalesce(sha256(string_agg(h, '' ORDER BY {keys})), sha256('')) FROM "
            f"(SELECT {keys}, sha256(to_json(struct_pack({struct}))::VARCHAR) AS h FROM {source})")


def digest(engine: Engine, source: str, columns: Sequence[str], order: Sequence[str],
           params: Sequence[Any] | dict[str, Any] | None = None) -> str:
    return str(engine.scalar(digest_sql(source, columns, order), params, label="state digest"))
