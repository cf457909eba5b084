"""Plan, then apply: every mutating action can describe what it would do without doing it.

A :class:`Plan` is what ``--dry-run`` prints and what an action checks before
its transaction starts. Building a plan validates everything (files, state,
authorisation) on a home opened read-only: it changes no byte of the home.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Plan:
    action: str
    summary: str
    steps: tuple[str, ...] = ()
    noop: bool = False  # applying it would change nothing (already done)
    data: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        head = f"[dry run] {self.summary}" + (" (nothing to do)" if self.noop else "")
        return [head, *(f"  - {s}" for s in self.steps)]
