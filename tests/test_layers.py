"""The shape of the code: surfaces parse, call and render; the layers below never import them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).parents[1] / "src" / "disclosure_gate"
SURFACES = sorted((PKG / "surfaces").rglob("*.py"))
BELOW = sorted(p for p in PKG.rglob("*.py") if "surfaces" not in p.relative_to(PKG).parts)
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TEMP\s+)?TABLE"
                 r"|ALTER\s+TABLE|DROP\s+TABLE|COPY\s+\w+)\b", re.IGNORECASE | re.DOTALL)
DATABASE_CALLS = {"execute", "executemany", "fetchone", "fetchall", "fetch_arrow", "sql"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("path", SURFACES, ids=lambda p: str(p.relative_to(PKG)))
def test_surfaces_hold_no_sql(path: Path) -> None:
    tree = _tree(path)
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            assert not SQL.search(node.value), f"{path.name}:{node.lineno} holds SQL: {node.value[:60]!r}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert node.func.attr not in DATABASE_CALLS, f"{path.name}:{node.lineno} calls .{node.func.attr}()"


def test_the_check_finds_sql_where_it_is() -> None:
    assert SQL.search("SELECT user_name FROM web_sessions")
    assert SQL.search("update decisions set decision = ?")
    assert not SQL.search("Select the next case")


@pytest.mark.parametrize("path", BELOW, ids=lambda p: str(p.relative_to(PKG)))
def test_nothing_below_the_surfaces_imports_them(path: Path) -> None:
    for node in ast.walk(_tree(path)):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        assert not any(n.startswith("disclosure_gate.surfaces") for n in names), f"{path.name}:{node.lineno}"
