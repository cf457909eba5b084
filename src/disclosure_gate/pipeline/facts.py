"""The facts contract: every fact a policy can see, defined once.

From :data:`FACTS` derive the ``row_facts`` columns and their DDL, the Cedar
schema (``policies/facts.cedarschema`` is generated from it and a test checks
the file), the Arrow schema of the compute engine's output, and the
**fail-closed defaults**: a fact that is missing (never computed, NULL) takes
the value that can only lead to DENY or REVIEW: positive facts (present,
sufficient, on file, ...) default to false, negative facts (placeholder,
protected, duplicate, shared, hidden characters, ...) to true, and identity to
``not_evaluated``. Every path that evaluates a policy (processing, replay
audits, imported-log audits) goes through :func:`context_of` or
:func:`vector_select`, so none can fail open.

Row facts are computed by the compute engine (``pipeline.match``) and stored
per batch and custodian snapshot in ``row_facts``; request facts come from the
manifest and the agreement on the processing date, and decision facts
(``duplicate``) from the policy's own first pass (``pipeline.decide``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from disclosure_gate.engine import sql

CedarType = Literal["Bool", "String"]
IDENTITY_VALUES = ("confirmed", "low_confidence", "ambiguous", "none", "name_mismatch", "not_evaluated")


@dataclass(frozen=True)
class Fact:
    name: str
    cedar_type: CedarType
    level: Literal["request", "row", "decision"]
    default: bool | str  # the fail-closed value of a missing fact
    doc: str

    @property
    def sql_type(self) -> str:
        return "BOOLEAN" if self.cedar_type == "Bool" else "VARCHAR"


def _row(name: str, default: bool | str, doc: str) -> Fact:
    return Fact(name, "String" if isinstance(default, str) else "Bool", "row", default, doc)


def _req(name: str, doc: str) -> Fact:
    return Fact(name, "Bool", "request", False, doc)


FACTS: tuple[Fact, ...] = (
    _req("agreement_found", "the manifest names an agreement this home holds"),
    _req("agreement_active", "the agreement is in force on the processing date"),
    _req("elements_complete", "requesting official, authority, purpose and taxable periods are all given"),
    _req("authority_match", "the manifest's authority and purpose are the agreement's"),
    _row("name_present", False, "first and last name hold letters"),
    _row("address_present", False, "the address is not blank"),
    _row("address_placeholder", True, "the address is a placeholder (Don't Care 12345, UNKNOWN, 00000)"),
    _row("address_sufficient", False, "the address has what a delivery needs (number and street or box; ZIP or "
         "city and state)"),
    _row("address_consistent", False, "the ZIP exists and agrees with the state"),
    _row("tin_given", True, "the request carries a TIN"),
    _row("tin_valid", False, "the TIN could have been issued (SSA/IRS rules)"),
    _row("identity", "not_evaluated", "identity: " + " | ".join(IDENTITY_VALUES)),
    _row("address_on_file", False, "the requested address is one of the matched person's addresses on file"),
    _row("unit_match", False, "the unit (number or id-less designator) agrees with the one on file"),
    _row("directional_match", False, "the directionals (N, S, E, W...) agree with the address on file"),
    _row("protected", True, "the matched person is protected"),
    _row("shared_by_many", True, "the requested address is requested for more people than the agreement allows"),
    Fact("duplicate", "Bool", "decision", True,
         "an earlier row of the batch, disclosable on its own, names the same person (decided per policy)"),
    _row("hidden_characters", True, "a name or address held invisible, format or control characters"),
    _row("mixed_script", True, "a word of a name or address mixes scripts (a look-alike attack)"),
    _row("seed_zip_like", False, "2025 baseline only: the address field has a 5- or 9-digit run"),
    _row("seed_identity", "not_evaluated", "2025 baseline only: its TIN + name-control identity"),
)
FACT_NAMES: tuple[str, ...] = tuple(f.name for f in FACTS)
ROW_FACTS: tuple[Fact, ...] = tuple(f for f in FACTS if f.level == "row")
REQUEST_FACTS: tuple[Fact, ...] = tuple(f for f in FACTS if f.level == "request")
DECISION_FACTS: tuple[Fact, ...] = tuple(f for f in FACTS if f.level == "decision")
BY_NAME: Mapping[str, Fact] = {f.name: f for f in FACTS}

#: Columns stored with the row facts that policies do not see.
EXTRA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("path", "VARCHAR"),          # TIN | NAME_DOB_ADDRESS
    ("matched_tin", "VARCHAR"),   # the custodian TIN of a confirmed or low-confidence match
    ("addr_usable", "BOOLEAN"),   # sufficient and consistent: the funnel's "sufficient" stage
    ("address_key", "VARCHAR"),   # the standardized requested address (kind|ZIP5|number|street), for grouping
    ("std", "VARCHAR"),           # the standardized request fields (JSON), for the reviewer's side-by-side
)
#: Every column the compute engine hands over, in order (after ``_row, request_id``).
FACT_COLUMNS: tuple[str, ...] = tuple(f.name for f in ROW_FACTS) + tuple(c for c, _ in EXTRA_COLUMNS)


def row_facts_ddl() -> str:
    cols = [f"{f.name} {f.sql_type}" for f in ROW_FACTS] + [f"{c} {t}" for c, t in EXTRA_COLUMNS]
    return ("CREATE TABLE IF NOT EXISTS row_facts (batch_id VARCHAR NOT NULL, snapshot_id VARCHAR, "
            f"_row BIGINT NOT NULL, request_id VARCHAR, {', '.join(cols)})")


def arrow_schema() -> Any:
    """The Arrow schema of a facts table (``_row``, ``request_id``, then :data:`FACT_COLUMNS`)."""
    import pyarrow as pa

    def typ(sql_type: str) -> Any:
        return pa.bool_() if sql_type == "BOOLEAN" else pa.string()

    fields = [("_row", pa.int64()), ("request_id", pa.string())]
    fields += [(f.name, typ(f.sql_type)) for f in ROW_FACTS] + [(c, typ(t)) for c, t in EXTRA_COLUMNS]
    return pa.schema(fields)


def default_sql(fact: Fact) -> str:
    d = fact.default
    return sql.literal(d) if isinstance(d, str) else ("true" if d else "false")


def vector_select(alias: str = "") -> str:
    """``coalesce(col, <fail-closed default>) AS fact`` for every row fact."""
    p = f"{alias}." if alias else ""
    return ", ".join(f"coalesce({p}{f.name}, {default_sql(f)}) AS {f.name}" for f in ROW_FACTS)


def context_of(vector: Mapping[str, Any]) -> dict[str, Any]:
    """A Cedar context: every fact present, typed, missing ones at their fail-closed default."""
    ctx: dict[str, Any] = {}
    for f in FACTS:
        value = vector.get(f.name)
        if value is None:
            value = f.default
        ctx[f.name] = bool(value) if f.cedar_type == "Bool" else str(value)
    return ctx


def cedar_schema() -> str:
    """The Cedar schema every policy is validated against (``policies/facts.cedarschema``)."""
    lines = ["// Generated from disclosure_gate.pipeline.facts.FACTS: edit that, not this file.",
             "// The facts the pipeline computes for one request row. Every policy is validated",
             "// against this schema when it is loaded, so a misspelt fact is a load error.",
             "type Facts = {"]
    for f in FACTS:
        lines.append(f"  // {f.level}: {f.doc}")
        lines.append(f'  "{f.name}": {f.cedar_type},')
    lines += ["};", "entity Agency;", "entity Record;", 'action "disclose", "auto_disclose" appliesTo {',
              "  principal: [Agency],", "  resource: [Record],", "  context: Facts", "};", ""]
    return "\n".join(lines)
