"""Taxpayer identification numbers: format and issuance rules, as SQL expressions.

An SSN can never be issued with area 000, 666 or 900-999, group 00 or serial
0000 (SSA). A number with area 9xx is an ITIN only when its middle (4th-5th)
digits are in 50-65, 70-88, 90-92 or 94-99 (IRS). python-stdnum's ITIN check
rejects 50-65, which is wrong, so the rule is written here. The advertising
block 987-65-4320..4329 is refused too. Dashes and spaces are tolerated; any
other character, or a length other than nine digits, makes the TIN invalid.
"""

from __future__ import annotations

ITIN_GROUP_RANGES = ((50, 65), (70, 88), (90, 92), (94, 99))


def tin_digits(expr: str) -> str:
    return f"regexp_replace(trim(coalesce({expr}, '')), '[\\s-]', '', 'g')"


def itin_group_condition(group_expr: str) -> str:
    parts = [f"({group_expr} BETWEEN {lo} AND {hi})" for lo, hi in ITIN_GROUP_RANGES]
    return "(" + " OR ".join(parts) + ")"


def tin_columns(expr: str, prefix: str = "t_") -> list[str]:
    """``t_present``, ``t_digits`` (NULL when absent), ``t_valid``, ``t_kind`` (SSN/ITIN/NULL)."""
    d = tin_digits(expr)
    fmt = f"regexp_full_match({d}, '[0-9]{{9}}')"
    area = f"TRY_CAST(substr({d}, 1, 3) AS INTEGER)"
    grp = f"TRY_CAST(substr({d}, 4, 2) AS INTEGER)"
    serial = f"substr({d}, 6, 4)"
    itin = f"({fmt} AND {area} >= 900 AND {itin_group_condition(grp)})"
    ssn = f"({fmt} AND {area} NOT IN (0, 666) AND {area} < 900 AND {grp} <> 0)"
    advertising = f"({d} BETWEEN '987654320' AND '987654329')"
    valid = f"(({itin} OR {ssn}) AND {serial} <> '0000' AND NOT {advertising})"
    p = prefix
    return [
        f"(length({d}) > 0) AS {p}present",
        f"nullif({d}, '') AS {p}digits",
        f"coalesce({valid}, false) AS {p}valid",
        f"CASE WHEN {itin} THEN 'ITIN' WHEN {ssn} THEN 'SSN' END AS {p}kind",
    ]
