"""Presentation helpers for the console's templates: numbers, times, charts as SVG geometry, character diffs.

Only presentation: what a value looks like, never what it means for a decision.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from disclosure_gate.pipeline.reporting import Funnel

#: What a reviewer should look at for each reason that sends a row to review (docs/policy.md has the full text).
REASON_HINTS = {
    "LOW_CONFIDENCE": "One candidate, but weak: the date of birth is absent, off by a digit or a day, or swapped; or "
                      "the first name is unrelated and no exact date of birth confirms the person.",
    "UNIT_MISMATCH": "The address matches, but the unit is missing on one side or different.",
    "DIRECTIONAL_MISMATCH": "The address matches, but a directional (N, SW...) is written on one side only: they "
                            "may be two different addresses.",
    "ADDRESS_SHARED_BY_MANY": "The batch requests this street address for more people than the agreement allows: "
                              "a shelter, jail or other institution.",
    "MIXED_SCRIPT": "A word mixed scripts (Latin letters with look-alikes from other scripts): compare the text "
                    "as received.",
    "HIDDEN_CHARACTERS": "A name or address held invisible or control characters: compare the text as received.",
    "NOT_PERMITTED": "No policy forbade it, but the policy's permit did not apply either.",
}

VERDICT_LABELS = {"exact": "exact", "typo": "typo", "nickname": "nickname", "missing": "missing",
                  "different": "different", "hidden": "hidden (blind)"}


def num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def ts(value: Any) -> str:
    """A stored (naive UTC) or aware timestamp as ``YYYY-MM-DD HH:MM UTC``."""
    if value is None or value == "":
        return "-"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return str(value.strftime("%Y-%m-%d %H:%M UTC"))
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def pct(part: int, whole: int) -> str:
    return "-" if not whole else f"{100.0 * part / whole:.1f}%"


def short(value: Any, n: int = 12) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= n else text[:n] + "…"


def policy_name(label: str) -> str:
    """``6103i2@sha256:abcd...`` -> ``6103i2 (sha256 abcd1234…)``."""
    pid, _, sha = label.partition("@sha256:")
    return f"{pid} (sha256 {sha[:12]}…)" if sha else label


# -- charts --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    y: int
    width: float  # in the chart's bar area, 0..BAR_AREA
    kind: str  # stage | disclose | review | deny
    share: str


BAR_AREA = 420.0
BAR_H = 22
BAR_GAP = 8


def funnel_bars(f: Funnel) -> list[Bar]:
    """The funnel as horizontal bars, scaled to the rows requested."""
    top = max(f.requested, 1)
    kinds = {"DISCLOSE": "disclose", "REVIEW": "review", "DENY": "deny"}
    out = []
    for i, (label, value) in enumerate(f.stages()):
        out.append(Bar(label, value, i * (BAR_H + BAR_GAP), round(BAR_AREA * value / top, 1),
                       kinds.get(label, "stage"), pct(value, f.requested)))
    return out


def chart_height(bars: Sequence[Bar]) -> int:
    return len(bars) * (BAR_H + BAR_GAP)


def age_bars(counts: Sequence[int], width: float = 160.0) -> list[tuple[float, float, int]]:
    """A stacked bar of ages: (x, width, count) per bucket."""
    total = max(sum(counts), 1)
    x = 0.0
    out = []
    for c in counts:
        w = round(width * c / total, 1)
        out.append((x, w, c))
        x += w
    return out


# -- character diffs -------------------------------------------------------------------------------
def diff(a: Any, b: Any) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """Both sides as segments (text, differs), so a template can mark the characters that differ."""
    left = "" if a is None else str(a)
    right = "" if b is None else str(b)
    if not left or not right:
        return ([(left, bool(left))] if left else []), ([(right, bool(right))] if right else [])
    sm = difflib.SequenceMatcher(None, left.upper(), right.upper(), autojunk=False)
    ls: list[tuple[str, bool]] = []
    rs: list[tuple[str, bool]] = []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        same = op == "equal"
        if i2 > i1:
            ls.append((left[i1:i2], not same))
        if j2 > j1:
            rs.append((right[j1:j2], not same))
    return ls, rs


def printable(value: Any) -> str:
    """Outside text with invisible, control and bidi characters shown as escapes (the reviewer must see them)."""
    import unicodedata

    text = "" if value is None else str(value)
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


JOB_LABELS = {"process": "Processing", "verify": "Ledger verification", "replay": "Replay audit",
              "incident": "Incident documents"}

FILTERS = {"num": num, "ts": ts, "short": short, "policy_name": policy_name, "printable": printable}
GLOBALS = {"pct": pct, "funnel_bars": funnel_bars, "chart_height": chart_height, "age_bars": age_bars,
           "diff": diff, "reason_hints": REASON_HINTS, "verdict_labels": VERDICT_LABELS, "BAR_AREA": BAR_AREA,
           "BAR_H": BAR_H, "job_labels": JOB_LABELS}
