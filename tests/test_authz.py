"""Property tests of the one authorisation function, and of the review rules through the app layer.

* ``authz.decide`` is pure: random actors (names, roles, agreements), actions, facts and orders of acts;
  the separation of duties holds for everyone, admins included; the operator may do exactly the actions
  marked operator; a person without the role is refused with a message naming it; a recipient sees only
  its agreements (``authz.scope``).
* Through the app layer (``app.review.resolve`` on a real home): random sequences of resolutions by
  random people on a REVIEW row give DISCLOSE iff two different reviewers resolved DISCLOSE and nobody
  resolved DENY; a row decided DENY by policy never becomes anything else.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apphelp import People, make_people
from disclosure_gate.app import agreements, records, requests, review
from disclosure_gate.app.authz import ACTIONS, ROLES, STAFF_ROLES, Actor, Facts, decide, scope
from disclosure_gate.app.session import Session
from disclosure_gate.errors import AuthorizationError, StateError, UsageError
from disclosure_gate.pipeline.review import effective_sql
from test_review import write_review_data

NAMES = ("ann", "bob", "cy", "dee", "eve")
AGREEMENTS = ("AGR-1", "AGR-2", "AGR-3")

names = st.sampled_from(NAMES)
roles = st.frozensets(st.sampled_from(ROLES))
agreement_sets = st.frozensets(st.sampled_from(AGREEMENTS))
people = st.builds(Actor, name=names, kind=st.just("person"), roles=roles, agreements=agreement_sets)
operators = st.builds(Actor, name=st.sampled_from(("operator:svc", "operator:root")), kind=st.just("operator"),
                      roles=roles, agreements=agreement_sets)
actions = st.sampled_from(sorted(ACTIONS))
facts = st.builds(
    Facts, package_preparer=st.none() | names, package_resolvers=st.frozensets(names),
    batch_submitter=st.none() | names, row_resolvers=st.frozensets(names), target_user=st.none() | names,
    role_granted=st.none() | st.sampled_from(ROLES), agreement=st.none() | st.sampled_from(AGREEMENTS))


def with_roles(actor: Actor, *extra: str) -> Actor:
    return Actor(actor.name, "person", actor.roles | set(extra), actor.agreements)


# -- separation of duties (everyone, admins included) ---------------------------------------------------
@given(people, facts, st.booleans())
def test_the_preparer_of_a_package_never_approves_it(actor: Actor, f: Facts, admin: bool) -> None:
    actor = with_roles(actor, "approver", *(["admin"] if admin else []))
    f = Facts(**{**f.__dict__, "package_preparer": actor.name})
    d = decide(actor, "release.approve", f)
    assert not d.allowed and "preparer" in d.reason


@given(people, facts, st.booleans())
def test_nobody_approves_a_package_holding_rows_they_resolved(actor: Actor, f: Facts, admin: bool) -> None:
    actor = with_roles(actor, "approver", "reviewer", *(["admin"] if admin else []))
    preparer = None if f.package_preparer == actor.name else f.package_preparer
    f = Facts(**{**f.__dict__, "package_preparer": preparer, "package_resolvers": f.package_resolvers | {actor.name}})
    d = decide(actor, "release.approve", f)
    assert not d.allowed and "resolved" in d.reason


@given(people, facts, st.booleans())
def test_a_reviewer_never_resolves_a_row_twice(actor: Actor, f: Facts, admin: bool) -> None:
    actor = with_roles(actor, "reviewer", *(["admin"] if admin else []))
    f = Facts(**{**f.__dict__, "row_resolvers": f.row_resolvers | {actor.name}})
    assert not decide(actor, "review.resolve", f).allowed


@given(people, facts, st.booleans())
def test_nobody_resolves_rows_of_a_batch_they_submitted(actor: Actor, f: Facts, admin: bool) -> None:
    actor = with_roles(actor, "reviewer", "officer", *(["admin"] if admin else []))
    f = Facts(**{**f.__dict__, "batch_submitter": actor.name})
    d = decide(actor, "review.resolve", f)
    assert not d.allowed and "submitted" in d.reason


@given(people, facts, st.sampled_from(ROLES))
def test_nobody_grants_a_role_to_themself_not_even_an_admin(actor: Actor, f: Facts, role: str) -> None:
    actor = with_roles(actor, "admin")
    f = Facts(**{**f.__dict__, "target_user": actor.name, "role_granted": role})
    assert not decide(actor, "user.manage", f).allowed


@given(people, facts, actions)
def test_an_admin_is_exempt_from_no_rule(actor: Actor, f: Facts, action: str) -> None:
    """Adding the admin role never turns a refusal into a permission, except for what the admin role is for
    (``user.manage``, ``user.token``, ``settings.set`` are admin actions)."""
    before = decide(actor, action, f)
    after = decide(with_roles(actor, "admin"), action, f)
    if before.allowed or "admin" in ACTIONS[action].roles:
        return
    if after.allowed:
        # Only the scope of a recipient may widen: the admin role makes the actor staff (sees everything).
        assert "recipient under that agreement" in before.reason, (action, before, after)


@given(people, facts, actions)
def test_every_separation_of_duties_refusal_holds_whatever_the_roles(actor: Actor, f: Facts, action: str) -> None:
    """With every role at once (admin included), the duty rules still refuse what they refuse."""
    everything = Actor(actor.name, "person", frozenset(ROLES), actor.agreements)
    d = decide(everything, action, f)
    conflict = (
        (action == "release.approve" and (f.package_preparer == actor.name or actor.name in f.package_resolvers))
        or (action == "review.resolve" and (f.batch_submitter == actor.name or actor.name in f.row_resolvers))
        or (action == "user.manage" and f.target_user == actor.name and f.role_granted is not None)
        or (action == "user.password" and f.target_user != actor.name))
    if conflict:
        assert not d.allowed, (action, f)
    elif action != "user.bootstrap":
        assert d.allowed, (action, f, d.reason)  # nothing else stands in the way of someone with every role


# -- an order of acts: prepare, resolve, approve, by random people ---------------------------------------------
acts = st.lists(st.tuples(st.sampled_from(("resolve", "prepare", "approve")), names, st.integers(0, 2)),
                max_size=25)
role_maps = st.fixed_dictionaries({n: roles for n in NAMES})


@given(role_maps, names, acts)
def test_random_orders_of_acts_keep_the_duties_apart(role_of: dict[str, frozenset[str]], submitter: str,
                                                     sequence: list[tuple[str, str, int]]) -> None:
    """A batch of three REVIEW rows submitted by ``submitter``; people resolve rows, prepare and approve a
    package in any order. Every permission decide() grants respects the rules; every act of someone with
    the role and no conflict is granted."""
    resolvers: dict[int, set[str]] = {0: set(), 1: set(), 2: set()}
    preparer: str | None = None
    approved_by: str | None = None
    held_when_approved: frozenset[str] = frozenset()  # who had resolved rows the package holds
    for act, who, row in sequence:
        actor = Actor(who, "person", role_of[who])
        if act == "resolve":
            f = Facts(batch_submitter=submitter, row_resolvers=frozenset(resolvers[row]))
            ok = decide(actor, "review.resolve", f).allowed
            assert ok == ("reviewer" in actor.roles and who != submitter and who not in resolvers[row])
            if ok:
                resolvers[row].add(who)
        elif act == "prepare":
            ok = decide(actor, "release.prepare").allowed
            assert ok == ("preparer" in actor.roles)
            if ok and preparer is None:
                preparer = who
        elif preparer is not None:
            held = frozenset(itertools.chain.from_iterable(resolvers.values()))
            ok = decide(actor, "release.approve", Facts(package_preparer=preparer, package_resolvers=held)).allowed
            assert ok == ("approver" in actor.roles and who != preparer and who not in held)
            if ok and approved_by is None:
                approved_by, held_when_approved = who, held
    # What the rules guarantee at the end. (A row resolved after the approval is not in the package: a
    # package holds rows already decided when it was prepared, and a decided row is never resolved again.)
    assert all(submitter not in r for r in resolvers.values())
    assert approved_by is None or (approved_by != preparer and approved_by not in held_when_approved)


# -- the operator, roles, scope -----------------------------------------------------------------------------
@given(operators, actions, facts)
def test_the_operator_may_do_exactly_the_actions_marked_operator(actor: Actor, action: str, f: Facts) -> None:
    d = decide(actor, action, f)
    assert d.allowed == ACTIONS[action].operator, (action, d.reason)
    if not d.allowed:
        assert "--as NAME" in d.reason


def test_the_operators_actions_are_the_pipeline_and_the_reads() -> None:
    marked = {a for a, r in ACTIONS.items() if r.operator}
    assert {"records.load", "request.submit", "request.process", "decisions.export", "ledger.checkpoint",
            "user.bootstrap"} <= marked
    assert not marked & {"review.show", "review.resolve", "release.prepare", "release.approve", "release.deliver",
                         "user.manage", "user.token", "agreement.add", "settings.set", "accounting.person"}


@given(people, actions, facts)
def test_a_person_without_the_role_is_refused_with_a_message_naming_it(actor: Actor, action: str,
                                                                      f: Facts) -> None:
    rule = ACTIONS[action]
    if action in ("user.password", "user.bootstrap") or (action == "user.token" and f.target_user == actor.name):
        return  # not role-based: see the tests below
    actor = Actor(actor.name, "person", actor.roles - rule.roles, actor.agreements)
    d = decide(actor, action, f)
    assert not d.allowed
    assert all(role in d.reason for role in rule.roles), (action, d.reason)
    assert actor.name in d.reason


@given(people, facts)
def test_a_password_is_set_by_its_owner_only_and_a_token_issued_by_an_admin_or_oneself(actor: Actor,
                                                                                       f: Facts) -> None:
    own = Facts(**{**f.__dict__, "target_user": actor.name})
    other = Facts(**{**f.__dict__, "target_user": next(n for n in NAMES if n != actor.name)})
    admin = with_roles(actor, "admin")
    assert decide(actor, "user.password", own).allowed
    assert not decide(admin, "user.password", other).allowed
    if own.agreement is None or scope(actor) is None or own.agreement in actor.agreements:
        assert decide(actor, "user.token", own).allowed
    assert decide(actor, "user.token", other).allowed == ("admin" in actor.roles and (
        other.agreement is None or scope(actor) is None or other.agreement in actor.agreements))


@given(people)
def test_a_person_is_never_the_bootstrap_operator(actor: Actor) -> None:
    d = decide(with_roles(actor, *ROLES), "user.bootstrap")
    assert not d.allowed


def test_a_refusal_for_an_action_no_role_may_take_says_who_may() -> None:
    """``user.bootstrap`` has no role: the refusal must not read "needs the  role"."""
    d = decide(Actor("ann", "person", frozenset({"officer"})), "user.bootstrap")
    assert not d.allowed
    assert "needs the  role" not in d.reason, d.reason
    assert "operator" in d.reason, d.reason


def test_unknown_actions_are_refused_to_everyone() -> None:
    for actor in (Actor("ann", "person", frozenset(ROLES)), Actor("operator:svc", "operator")):
        assert not decide(actor, "review.resolve_all").allowed


@given(people)
def test_a_recipient_only_sees_its_agreements(actor: Actor) -> None:
    recipient = Actor(actor.name, "person", frozenset({"recipient"}), actor.agreements)
    assert scope(recipient) == actor.agreements
    for agreement in AGREEMENTS:
        for action in ("request.submit", "request.view", "agreement.view"):
            d = decide(recipient, action, Facts(agreement=agreement))
            assert d.allowed == (agreement in actor.agreements), (action, agreement)
    # Staff (any staff role) and the operator see everything.
    if actor.roles & STAFF_ROLES:
        assert scope(actor) is None
    assert scope(Actor("operator:svc", "operator")) is None
    # A recipient never does a staff act, under any agreement.
    for action, rule in ACTIONS.items():
        if "recipient" not in rule.roles and action not in ("user.password", "user.token"):
            assert not decide(recipient, action, Facts(agreement=next(iter(actor.agreements), None))).allowed


# -- through the app layer: resolutions on real REVIEW rows -------------------------------------------------
#: The people of the home: name -> roles. ``boss`` (an admin, officer and reviewer) submits the batches.
STAFF = {"rev1": ("reviewer",), "rev2": ("reviewer",), "rev3": ("reviewer",), "rev4": ("reviewer", "approver"),
         "boss": ("admin", "officer", "reviewer"), "prep": ("preparer",), "officer": ("officer",)}
POOL = 40


@dataclass
class ReviewHome:
    people: People
    sessions: dict[str, Session]
    data: dict[str, Path]
    root: Path
    batches: list[str] = field(default_factory=list)
    free: Iterator[tuple[str, str]] = field(default_factory=lambda: iter(()))
    policy_rows: dict[str, str] = field(default_factory=dict)  # request id -> policy decision (first batch)

    def new_batch(self) -> str:
        """Another batch of POOL shelter rows (every one REVIEW), submitted by boss."""
        n = len(self.batches)
        folder = self.root / f"batch{n}"
        paths = write_review_data(folder, shelter=POOL, prefix=f"P{n}_", core=n == 0)
        bid = requests.submit(self.sessions["boss"], paths["requests.csv"], self.data["manifest.yaml"]).batch.batch_id
        requests.process(self.people.op, bid)
        self.batches.append(bid)
        return bid

    def rows(self) -> Iterator[tuple[str, str]]:
        while True:
            bid = self.new_batch()
            yield from ((bid, f"P{len(self.batches) - 1}_{i}") for i in range(POOL))

    def next_row(self) -> tuple[str, str]:
        return next(self.free)


@pytest.fixture(scope="module")
def review_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReviewHome]:
    root = tmp_path_factory.mktemp("authz")
    data = write_review_data(root / "data", shelter=POOL)
    ppl = make_people(root / "home", {"officer": "officer", "prep": "preparer"})
    try:
        from disclosure_gate.app import users

        for name, rs in STAFF.items():
            if name not in ppl.tokens:
                res = users.add(ppl["admin"], name, list(rs))
                assert res.token is not None
                ppl.tokens[name] = res.token
        records.load(ppl.op, data["persons.csv"], data["addresses.csv"])
        agreements.add(ppl["officer"], data["agreement.yaml"])
        sessions = {name: ppl[name] for name in STAFF}
        home = ReviewHome(ppl, sessions, data, root)
        home.free = home.rows()
        first = home.next_row()  # builds the first batch (with the core rows R1..R7)
        home.policy_rows = {str(r[0]): str(r[1]) for r in ppl.op.engine.fetchall(
            "SELECT d.request_id, d.decision FROM decisions d JOIN runs r USING (run_id) WHERE r.batch_id = ? "
            "AND d.decision <> 'REVIEW'", [home.batches[0]])}
        assert home.policy_rows == {"R1": "DISCLOSE", "R5": "DENY"}
        home.free = itertools.chain([first], home.free)
        yield home
    finally:
        ppl.close()


def effective(h: ReviewHome, batch: str, rid: str) -> tuple[str, str, list[str]]:
    """(policy decision, effective decision, reviewers) of one row, read through the one definition."""
    row = h.people.op.engine.fetchone(
        f"SELECT e.policy_decision, e.decision, e.reviewers FROM ({effective_sql('d.request_id = $rid')}) e "
        "JOIN runs r ON r.run_id = e.run_id AND r.is_primary WHERE r.batch_id = $batch",
        {"rid": rid, "batch": batch})
    assert row is not None
    return str(row[0]), str(row[1]), list(row[2])


resolutions = st.lists(st.tuples(st.sampled_from(sorted(STAFF)), st.sampled_from(("DISCLOSE", "DENY"))),
                       min_size=1, max_size=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=resolutions)
def test_random_resolutions_on_a_review_row(review_home: ReviewHome, sequence: list[tuple[str, str]]) -> None:
    """DISCLOSE iff two different reviewers resolved DISCLOSE and nobody DENY; every refusal is the rule's."""
    h = review_home
    batch, rid = h.next_row()
    assert effective(h, batch, rid)[:2] == ("REVIEW", "REVIEW")
    discloses: set[str] = set()
    denies: set[str] = set()
    for who, decision in sequence:
        s = h.sessions[who]
        already = who in discloses | denies
        decided = bool(denies) or len(discloses) >= 2
        try:
            review.resolve(s, batch, [rid], decision, f"{who} says {decision}")
        except AuthorizationError as exc:
            assert "reviewer" not in STAFF[who] or who == "boss" or already, (who, str(exc))
            continue
        except StateError as exc:
            assert decided and "already resolved" in str(exc), (who, str(exc))
            continue
        assert "reviewer" in STAFF[who] and who != "boss" and not already and not decided, who
        (discloses if decision == "DISCLOSE" else denies).add(who)
    policy, final, reviewers = effective(h, batch, rid)
    expected = "DENY" if denies else ("DISCLOSE" if len(discloses) >= 2 else "REVIEW")
    assert (policy, final) == ("REVIEW", expected), (sequence, discloses, denies)
    assert sorted(reviewers) == sorted(discloses | denies)
    assert final != "DISCLOSE" or (len(discloses) >= 2 and not denies)
    assert "boss" not in reviewers  # the submitter, an admin, never resolves rows of their batch
    # Each live resolution is one row per reviewer.
    n = h.people.op.engine.scalar(
        "SELECT count(*) FROM review_resolutions WHERE batch_id = ? AND request_id = ? AND withdrawn_at IS NULL",
        [batch, rid])
    assert n == len(discloses | denies)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=resolutions, rid=st.sampled_from(("R5", "R1")))
def test_a_policy_decision_never_changes_whatever_anyone_does(review_home: ReviewHome,
                                                            sequence: list[tuple[str, str]], rid: str) -> None:
    h = review_home
    batch = h.batches[0]
    policy = h.policy_rows[rid]
    for who, decision in sequence:
        for group in ([rid], [rid, rid]):
            with pytest.raises((AuthorizationError, StateError)):
                review.resolve(h.sessions[who], batch, group, decision, "try anyway")
        assert effective(h, batch, rid) == (policy, policy, [])
    # Nor does a group resolution that sweeps it in: refused whole, nothing recorded.
    batch_rows = [rid, "R2"]
    with pytest.raises(StateError):
        review.resolve(h.sessions["rev1"], batch, batch_rows, "DISCLOSE", "sweep")
    assert effective(h, batch, rid) == (policy, policy, [])
    assert effective(h, batch, "R2")[1:] == ("REVIEW", [])


def test_a_group_naming_a_row_twice_records_one_resolution(review_home: ReviewHome) -> None:
    """The app layer is the rule (the console and the API call it too): a reviewer who names the same row
    twice in one group has still resolved it once; a second resolution by the same reviewer must not be
    recorded (nor its ledger event)."""
    h = review_home
    batch, rid = h.next_row()
    before = h.people.op.engine.scalar("SELECT count(*) FROM ledger_entries")
    with contextlib.suppress(AuthorizationError, StateError, UsageError):  # refusing the group is fine too
        review.resolve(h.sessions["rev1"], batch, [rid, rid], "DISCLOSE", "twice in one group")
    recorded = h.people.op.engine.scalar(
        "SELECT count(*) FROM review_resolutions WHERE batch_id = ? AND request_id = ? AND reviewer = 'rev1'",
        [batch, rid])
    events = int(h.people.op.engine.scalar("SELECT count(*) FROM ledger_entries")) - int(before)
    assert recorded <= 1, f"rev1 has {recorded} resolutions of {rid} (and {events} new ledger events)"
    assert effective(h, batch, rid)[1] == "REVIEW"
