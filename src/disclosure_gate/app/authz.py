"""The one authorisation function. Every surface (CLI, console, API) reaches it through the app layer.

:func:`decide` is pure: it takes the actor, the action and the facts about the
resource that the rules need (who prepared a package, who resolved its rows,
who submitted a batch, ...) and returns a :class:`Decision`. The app layer
gathers those facts from the store and calls :func:`require`, which raises
:class:`AuthorizationError`. No surface checks a role on its own.

Rules
    * Each action names the roles that may perform it (:data:`ACTIONS`), and
      whether the home's operator (the service account that owns the home,
      no token) may perform it: pipeline operations only.
    * Separation of duties, for everyone, admins included:
        - the preparer of a package never approves it;
        - nobody approves a package holding rows they resolved in review;
        - nobody resolves review rows of a batch they submitted;
        - a REVIEW row becomes DISCLOSE only when two different reviewers agree
          (a reviewer cannot resolve the same row twice);
        - nobody grants a role to themself or revokes their own admin role;
          another admin must.
    * A recipient acts only under the agreements its role is bound to; other
      agreements' objects are reported as not found by the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from disclosure_gate.errors import AuthorizationError

ROLES = ("admin", "officer", "reviewer", "preparer", "approver", "auditor", "overseer", "recipient")
ActorKind = Literal["person", "operator"]


@dataclass(frozen=True)
class Actor:
    """Who acts. ``name`` is what the ledger records (``operator:<os user>`` for the operator)."""

    name: str
    kind: ActorKind
    roles: frozenset[str] = frozenset()
    agreements: frozenset[str] = frozenset()  # the agreements a recipient is bound to
    token_id: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.kind == "operator"

    def has(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    operator: bool = False  # the home's operator may do it without a person's token
    doc: str = ""


def _r(roles: str, operator: bool = False, doc: str = "") -> Rule:
    return Rule(frozenset(roles.split()) if roles else frozenset(), operator, doc)


#: action -> who may perform it. Keep docs/operations.md's "roles and duties" table in step (a test checks).
ACTIONS: Mapping[str, Rule] = {
    "records.load": _r("officer", True, "load a custodian snapshot"),
    "request.submit": _r("officer recipient", True, "submit a request batch"),
    "request.process": _r("officer", True, "decide every row of a batch"),
    "request.view": _r("officer reviewer preparer approver auditor overseer recipient", True,
                       "list batches and their funnels (no custodian data)"),
    "decisions.export": _r("officer auditor reviewer", True, "export decisions (no custodian data)"),
    "evaluate": _r("auditor officer", True, "score a run against a truth file"),
    "agreement.add": _r("officer", False, "add a data-sharing agreement"),
    "agreement.status": _r("officer", False, "suspend, reinstate or terminate an agreement"),
    "agreement.policy": _r("officer", False, "adopt a policy version for an agreement"),
    "agreement.view": _r("officer reviewer preparer approver auditor overseer recipient", True,
                         "list and show agreements"),
    "policy.add": _r("officer", False, "register a policy version"),
    "policy.view": _r("officer reviewer preparer approver auditor overseer", True, "list policies"),
    "user.bootstrap": _r("", True, "add the first admin of a home that has none"),
    "user.manage": _r("admin", False, "add users, grant and revoke roles, revoke tokens"),
    "user.token": _r("admin", False, "issue a token (admins for anyone; everyone for themself)"),
    "user.password": _r("", False, "set one's own password"),
    "user.view": _r("admin officer auditor overseer", True, "list users and roles"),
    "review.view": _r("reviewer officer auditor", False, "list the review queue"),
    "review.show": _r("reviewer", False, "look at a case (confidential values; the view is recorded)"),
    "review.resolve": _r("reviewer", False, "resolve REVIEW rows"),
    "release.prepare": _r("preparer", False, "prepare a release package"),
    "release.approve": _r("approver", False, "approve a package (never one's own)"),
    "release.deliver": _r("preparer approver officer", False, "deliver an approved package"),
    "release.recall": _r("officer", False, "record that a package was recalled"),
    "release.view": _r("officer preparer approver auditor overseer reviewer", True, "list and show packages"),
    "release.receive": _r("recipient", False, "list and download one's own delivered packages (the API)"),
    "audit.run": _r("auditor", False, "run a replay or import audit"),
    "audit.review": _r("auditor", False, "judge an audit's review findings"),
    "audit.view": _r("auditor officer overseer", True, "list and show audits"),
    "incident.open": _r("auditor", False, "open an incident"),
    "incident.certify": _r("auditor officer", False, "record the certification of destruction"),
    "incident.view": _r("auditor officer overseer", True, "list incidents and follow their status"),
    "ledger.checkpoint": _r("officer", True, "sign a checkpoint"),
    "ledger.view": _r("officer auditor overseer", True, "read the ledger, proofs and verification"),
    "ledger.entries": _r("overseer auditor officer", True, "browse ledger events"),
    "log.entries": _r("overseer", False, "read the log's entry bundles (they carry the agency's request ids)"),
    "ledger.witness": _r("officer", False, "configure witnesses"),
    "accounting.person": _r("officer auditor overseer", False, "one person's accounting (looked up by TIN)"),
    "accounting.report": _r("officer auditor overseer", True, "the annual accounting report"),
    "settings.set": _r("admin officer", False, "set the agency's name, contact point and processing mode"),
    "settings.view": _r("admin officer auditor overseer reviewer preparer approver", True, "show settings"),
    "jobs.view": _r("officer reviewer preparer approver auditor overseer", True, "follow background jobs"),
}


@dataclass(frozen=True)
class Facts:
    """What the separation-of-duties rules need to know about the resource."""

    package_preparer: str | None = None
    package_resolvers: frozenset[str] = frozenset()
    batch_submitter: str | None = None
    row_resolvers: frozenset[str] = frozenset()  # reviewers who already resolved the row(s)
    target_user: str | None = None  # user management: whom the action is about
    role_granted: str | None = None
    agreement: str | None = None  # the agreement the object belongs to (recipient scoping)
    extra: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


NO_FACTS = Facts()


def decide(actor: Actor, action: str, facts: Facts = NO_FACTS) -> Decision:
    """May ``actor`` perform ``action`` on a resource described by ``facts``? Pure."""
    rule = ACTIONS.get(action)
    if rule is None:
        return Decision(False, f"unknown action '{action}'")
    if actor.is_operator:
        if not rule.operator:
            return Decision(False, f"'{action}' is a person's act: name yourself with --as NAME and a token")
        return Decision(True)
    # -- role ---------------------------------------------------------------------------
    if action == "user.password":
        if facts.target_user != actor.name:
            return Decision(False, "a password is set by its owner only")
        return Decision(True)
    if action == "user.token" and facts.target_user == actor.name:
        pass  # everyone may issue themself a token
    elif not (rule.roles & actor.roles):
        if not rule.roles:
            return Decision(False, f"'{action}' is for {_WHO.get(action, 'the operator')}, not a person's token")
        need = " or ".join(sorted(rule.roles))
        return Decision(False, f"user '{actor.name}' needs the {need} role to {rule.doc}")
    visible = scope(actor)
    if visible is not None and facts.agreement is not None and facts.agreement not in visible:
        return Decision(False, f"user '{actor.name}' is not a recipient under that agreement")
    # -- separation of duties ----------------------------------------------------------------
    if action == "release.approve":
        if facts.package_preparer == actor.name:
            return Decision(False, "the preparer cannot approve their own package: a second person must")
        if actor.name in facts.package_resolvers:
            return Decision(False, "you resolved review rows in this package: another approver must approve it")
    if action == "review.resolve":
        if facts.batch_submitter == actor.name:
            return Decision(False, "you submitted this batch: another reviewer must resolve its rows")
        if actor.name in facts.row_resolvers:
            return Decision(False, "you already resolved this row: a second reviewer must")
    if action == "user.manage" and facts.target_user == actor.name and facts.role_granted is not None:
        return Decision(False, "nobody changes their own roles: another admin must")
    return Decision(True)


STAFF_ROLES = frozenset(ROLES) - {"recipient"}


def scope(actor: Actor) -> frozenset[str] | None:
    """The agreements whose objects ``actor`` may see, or None for all (staff and the operator)."""
    if actor.is_operator or actor.roles & STAFF_ROLES:
        return None
    return actor.agreements


def require(actor: Actor, action: str, facts: Facts = NO_FACTS) -> None:
    d = decide(actor, action, facts)
    if not d.allowed:
        raise AuthorizationError(d.reason)


_WHO = {"user.bootstrap": "the operator, on a home with no admin", "user.password": "the user themself",
        "user.token": "admin (or the user themself)"}


def roles_table() -> list[tuple[str, str, str, bool]]:
    """(action, doc, who, operator) rows for the documentation (docs/operations.md; a test checks it)."""
    return [(a, r.doc, _WHO.get(a) or ", ".join(sorted(r.roles)), r.operator) for a, r in ACTIONS.items()]
