"""The console's sign-in sessions: rows of ``web_sessions``, keyed by the SHA-256 of the cookie.

Only storage lives here; the rules (idle time, lifetime, when to note a
request) are the console's, in :mod:`disclosure_gate.surfaces.web.console_auth`.
Every statement binds its values.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from disclosure_gate.engine import Engine

KEEP = dt.timedelta(days=1)  # ended or idle sessions are deleted after this


class Row(NamedTuple):
    user: str
    csrf: str
    created_at: dt.datetime
    last_seen: dt.datetime
    ended_at: dt.datetime | None


def create(engine: Engine, sid: str, user: str, csrf: str, now: dt.datetime) -> None:
    """Store a new session and drop those of no further use (ended or idle for :data:`KEEP`)."""
    with engine.transaction():
        engine.execute("INSERT INTO web_sessions (session_hash, user_name, csrf, created_at, last_seen) "
                       "VALUES (?, ?, ?, ?, ?)", [sid, user, csrf, now, now], label="web session")
        engine.execute("DELETE FROM web_sessions WHERE (ended_at IS NOT NULL OR last_seen < ?) AND created_at < ?",
                       [now - KEEP, now - KEEP], label="web session")


def find(engine: Engine, sid: str) -> Row | None:
    row = engine.fetchone("SELECT user_name, csrf, created_at, last_seen, ended_at FROM web_sessions "
                          "WHERE session_hash = ?", [sid], label="web session")
    return None if row is None else Row(str(row[0]), str(row[1]), row[2], row[3], row[4])


def touch(engine: Engine, sid: str, now: dt.datetime) -> None:
    with engine.transaction():
        engine.execute("UPDATE web_sessions SET last_seen = ? WHERE session_hash = ? AND last_seen < ?",
                       [now, sid, now], label="web session")


def end(engine: Engine, sid: str, now: dt.datetime) -> None:
    with engine.transaction():
        engine.execute("UPDATE web_sessions SET ended_at = ? WHERE session_hash = ? AND ended_at IS NULL",
                       [now, sid], label="web session")


def end_all(engine: Engine, user: str, now: dt.datetime) -> None:
    with engine.transaction():
        engine.execute("UPDATE web_sessions SET ended_at = ? WHERE user_name = ? AND ended_at IS NULL",
                       [now, user], label="web session")
