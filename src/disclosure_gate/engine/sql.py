"""The one audited place where text becomes SQL.

Values are bound as parameters everywhere (``?`` or ``$name``). Two things
cannot be bound: identifiers (table and column names, which always come from
code) and literals inside SQL that builders hand to another engine as text.
Both go through this module and nowhere else:

* :func:`ident` accepts only ``[A-Za-z_][A-Za-z0-9_]*`` and double-quotes it;
* :func:`literal` quotes a string, integer, date or boolean for SQL, doubling
  quotes and refusing NUL and other control characters.
"""

from __future__ import annotations

import datetime as dt
import re

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def ident(name: str) -> str:
    """A safe, double-quoted identifier."""
    if not isinstance(name, str) or not _IDENT.fullmatch(name):
        raise ValueError("not a valid SQL identifier")
    return f'"{name}"'


def bare_ident(name: str) -> str:
    """A validated identifier without quotes (for names the SQL also uses unquoted)."""
    ident(name)
    return name


def literal(value: str | int | bool | dt.date | None) -> str:
    """A SQL literal. Strings are single-quoted with quotes doubled; control characters are refused."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, dt.datetime):
        raise TypeError("timestamps are bound as parameters, not pasted")
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if not isinstance(value, str):
        raise TypeError(f"cannot make a SQL literal of {type(value).__name__}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("control characters cannot appear in a SQL literal")
    return "'" + value.replace("'", "''") + "'"


def literal_list(values: list[str] | tuple[str, ...]) -> str:
    """``[lit, lit, ...]`` for a list of code-side strings."""
    return "[" + ", ".join(literal(v) for v in values) + "]"
