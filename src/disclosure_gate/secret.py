"""A wrapper for confidential values whose repr and str never show the value."""

from __future__ import annotations

import hashlib
from typing import Generic, TypeVar

T = TypeVar("T")


class Secret(Generic[T]):
    """Holds a confidential value (TIN, name, address).

    ``repr``/``str``/f-strings print ``Secret('***')``; the value is only
    reachable through :meth:`reveal`, so it cannot leak into a log line or an
    exception message by accident.
    """

    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value = value

    def reveal(self) -> T:
        return self._value

    def fingerprint(self) -> str:
        """A short, unkeyed digest for correlating log lines (not a commitment)."""
        return hashlib.sha256(repr(self._value).encode()).hexdigest()[:8]

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and bool(self._value == other._value)

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret values are not picklable")
