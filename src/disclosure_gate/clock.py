"""The one clock. Every timestamp and "today" the application records comes from a :class:`Clock`.

The state store carries one (``Engine.clock``); tests and replays inject a
:class:`FixedClock`. Stored timestamps are UTC without a zone (``naive_now``);
printed ones carry the zone.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock that stands still (or moves only when told): for tests and deterministic replays."""

    def __init__(self, at: dt.datetime) -> None:
        self._at = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        return self._at

    def advance(self, delta: dt.timedelta) -> None:
        self._at += delta


def naive_utc(clock: Clock) -> dt.datetime:
    """The clock's time as naive UTC (how TIMESTAMP columns are stored)."""
    return clock.now().astimezone(dt.UTC).replace(tzinfo=None)


def today(clock: Clock) -> dt.date:
    return clock.now().astimezone(dt.UTC).date()


def iso_utc(value: dt.datetime | None) -> str:
    """A stored (naive UTC) or aware timestamp as ``YYYY-MM-DDTHH:MM:SSZ``."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"
