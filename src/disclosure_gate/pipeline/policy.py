"""Policy: turn fact vectors into decisions with Cedar (cedarpy).

Policies are Cedar text, versioned by content hash. Each ``forbid`` carries an
``@id`` that *is* a reason code, so a decision's reasons are exactly the
determining policies Cedar reports. Two actions are asked per fact vector:
``disclose`` and ``auto_disclose`` (see ``policies/6103i2.cedar``).

Cedar runs once per *distinct* fact vector, never per row: a batch of 1.28
million rows has a few hundred distinct vectors, evaluated in one
``is_authorized_batch`` call with a pre-parsed ``PolicySet``.

Fail-closed: a policy that does not validate against the facts contract's schema is
refused at load time; an evaluation error, or a deny with no determining
policy, is a DENY with reason ``POLICY_ERROR`` or ``NOT_PERMITTED``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import cedarpy

from disclosure_gate.errors import PolicyError
from disclosure_gate.pipeline import facts

DISCLOSE, DENY, REVIEW = "DISCLOSE", "DENY", "REVIEW"
#: Reason codes that are not Cedar policies but come from the evaluator itself.
EVALUATOR_REASONS = ("NOT_PERMITTED", "POLICY_ERROR")
BUILTIN_POLICIES = ("6103i2", "seed-2025")
UNSAFE_POLICIES = frozenset({"seed-2025"})

FACT_NAMES = facts.FACT_NAMES
IDENTITY_VALUES = facts.IDENTITY_VALUES


@dataclass(frozen=True)
class Outcome:
    decision: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    """A loaded, schema-validated policy set."""

    id: str
    text: str
    sha256: str
    reason_codes: tuple[str, ...]
    unsafe: bool
    _handle: Any = field(repr=False, compare=False)
    _ids: Mapping[str, str] = field(repr=False, compare=False)

    @property
    def label(self) -> str:
        """The value written to every decision: ``id@sha256:<hash>``."""
        return f"{self.id}@sha256:{self.sha256}"

    def evaluate(self, vectors: Sequence[Mapping[str, Any]]) -> list[Outcome]:
        """Decide each fact vector. One Cedar batch call for all of them."""
        if not vectors:
            return []
        requests: list[dict[str, Any]] = []
        for v in vectors:
            ctx = facts.context_of(v)
            for action in ("disclose", "auto_disclose"):
                requests.append({"principal": 'Agency::"requester"',
                                 "action": f'Action::"{action}"',
                                 "resource": 'Record::"row"', "context": ctx})
        try:
            results = cedarpy.is_authorized_batch(requests, self._handle, [])
        except Exception as exc:  # cedarpy raises plain exceptions
            raise PolicyError(f"policy {self.id} failed to evaluate: {type(exc).__name__}") from None
        out = []
        for i in range(len(vectors)):
            out.append(self._combine(results[2 * i], results[2 * i + 1]))
        return out

    def _combine(self, disclose: Any, auto: Any) -> Outcome:
        if disclose.diagnostics.errors or auto.diagnostics.errors:
            return Outcome(DENY, ("POLICY_ERROR",))
        if not disclose.allowed:
            return Outcome(DENY, self._reasons(disclose) or ("NOT_PERMITTED",))
        if not auto.allowed:
            return Outcome(REVIEW, self._reasons(auto) or ("NOT_PERMITTED",))
        return Outcome(DISCLOSE, ())

    def _reasons(self, result: Any) -> tuple[str, ...]:
        codes = {self._ids.get(pid, pid) for pid in result.diagnostics.reasons}
        ordered = [c for c in self.reason_codes if c in codes]
        return tuple(ordered)


@cache
def schema_text() -> str:
    """The Cedar schema, generated from the facts contract (``policies/facts.cedarschema`` is its copy)."""
    return facts.cedar_schema()


def builtin_text(policy_id: str) -> str:
    if policy_id not in BUILTIN_POLICIES:
        raise PolicyError(f"unknown built-in policy '{policy_id}' (known: {', '.join(BUILTIN_POLICIES)})")
    return (resources.files("disclosure_gate") / "policies" / f"{policy_id}.cedar").read_text("utf-8")


def policy_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def compile_policy(policy_id: str, text: str) -> Policy:
    """Parse, validate against the fact schema, and index a policy's reason codes."""
    try:
        static = json.loads(cedarpy.policies_to_json_str(text))["staticPolicies"]
    except Exception:
        raise PolicyError(f"policy {policy_id} is not valid Cedar") from None
    ids: dict[str, str] = {}
    order: list[str] = []
    for pid, body in static.items():
        code = body.get("annotations", {}).get("id")
        if not code:
            raise PolicyError(f"policy {policy_id}: every policy needs an @id (reason code)")
        if body.get("effect") == "forbid" and code in order:
            raise PolicyError(f"policy {policy_id}: reason code {code} is used twice")
        ids[pid] = code
        if body.get("effect") == "forbid":
            order.append(code)
    try:
        validation = cedarpy.validate_policies(text, schema_text())
    except Exception:
        raise PolicyError(f"policy {policy_id} could not be validated") from None
    if not validation.validation_passed:
        first = validation.errors[0] if validation.errors else "unknown validation error"
        raise PolicyError(f"policy {policy_id} does not validate against the fact schema: {first}")
    try:
        handle = cedarpy.PolicySet.from_str(text)
    except Exception:
        raise PolicyError(f"policy {policy_id} is not valid Cedar") from None
    return Policy(id=policy_id, text=text, sha256=policy_hash(text), reason_codes=tuple(order),
                  unsafe=policy_id in UNSAFE_POLICIES, _handle=handle, _ids=ids)


def load_builtin(policy_id: str) -> Policy:
    return compile_policy(policy_id, builtin_text(policy_id))


def load_file(policy_id: str, path: Path) -> Policy:
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        raise PolicyError(f"{path}: cannot read policy file as UTF-8") from None
    return compile_policy(policy_id, text)


def all_reason_codes() -> tuple[str, ...]:
    """Every reason code any built-in policy or the evaluator can emit."""
    codes: list[str] = []
    for pid in BUILTIN_POLICIES:
        for c in load_builtin(pid).reason_codes:
            if c not in codes:
                codes.append(c)
    return (*codes, *EVALUATOR_REASONS)
