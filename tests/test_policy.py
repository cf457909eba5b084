"""The Cedar policies against an independent statement of the law, over the whole fact space."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from disclosure_gate.pipeline import facts, policy
from disclosure_gate.pipeline.policy import DENY, DISCLOSE, REVIEW

P = policy.load_builtin("6103i2")
SEED = policy.load_builtin("seed-2025")

BOOL_FACTS = [f.name for f in facts.FACTS if f.cedar_type == "Bool"]
vectors = st.fixed_dictionaries(
    {**{n: st.booleans() for n in BOOL_FACTS},
     "identity": st.sampled_from(policy.IDENTITY_VALUES),
     "seed_identity": st.sampled_from(("confirmed", "none", "name_mismatch", "not_evaluated"))})

GOOD = {n: True for n in BOOL_FACTS} | {
    "address_placeholder": False, "protected": False, "shared_by_many": False, "duplicate": False,
    "hidden_characters": False, "mixed_script": False, "identity": "confirmed", "seed_identity": "confirmed"}


def lawful(v: dict[str, object]) -> bool:
    """6103(i)(2) as written in docs/policy.md, independently of the Cedar text."""
    return bool(
        v["agreement_found"] and v["agreement_active"] and v["elements_complete"] and v["authority_match"]
        and v["name_present"] and v["address_present"] and not v["address_placeholder"]
        and v["address_sufficient"] and v["address_consistent"]
        and (not v["tin_given"] or v["tin_valid"])
        and v["identity"] in ("confirmed", "low_confidence") and v["address_on_file"]
        and not v["protected"] and not v["duplicate"])


def needs_review(v: dict[str, object]) -> bool:
    return bool(v["identity"] == "low_confidence" or not v["unit_match"] or not v["directional_match"]
                or v["shared_by_many"]
                or v["hidden_characters"] or v["mixed_script"])


@settings(max_examples=400, deadline=None)
@given(st.lists(vectors, min_size=1, max_size=40))
def test_decision_matches_independent_statement_of_the_law(vs):
    for v, outcome in zip(vs, P.evaluate(vs), strict=True):
        if not lawful(v):
            assert outcome.decision == DENY, (v, outcome)
        elif needs_review(v):
            assert outcome.decision == REVIEW, (v, outcome)
        else:
            assert outcome.decision == DISCLOSE and outcome.reasons == ()
        if outcome.decision != DISCLOSE:
            assert outcome.reasons, "every DENY/REVIEW carries at least one reason"
            assert set(outcome.reasons) <= set(policy.all_reason_codes())


def test_reasons_are_exactly_the_failing_requirements():
    cases = {
        "AGREEMENT_INACTIVE": {"agreement_active": False},
        "REQUEST_ELEMENT_MISSING": {"elements_complete": False},
        "AUTHORITY_MISMATCH": {"authority_match": False},
        "NAME_MISSING": {"name_present": False},
        "ADDRESS_PLACEHOLDER": {"address_placeholder": True, "address_sufficient": False},
        "ADDRESS_INSUFFICIENT": {"address_sufficient": False},
        "ADDRESS_INCONSISTENT": {"address_consistent": False},
        "TIN_INVALID": {"tin_valid": False, "identity": "not_evaluated", "address_on_file": False},
        "NO_MATCH": {"identity": "none", "address_on_file": False},
        "TIN_NAME_MISMATCH": {"identity": "name_mismatch", "address_on_file": False},
        "AMBIGUOUS_MATCH": {"identity": "ambiguous", "address_on_file": False},
        "ADDRESS_NOT_ON_FILE": {"address_on_file": False, "unit_match": False, "directional_match": False},
        "PROTECTED_RECORD": {"protected": True},
        "DUPLICATE_REQUEST": {"duplicate": True},
    }
    for code, change in cases.items():
        [o] = P.evaluate([GOOD | change])
        assert o == policy.Outcome(DENY, (code,)), code
    for code, change in {"LOW_CONFIDENCE": {"identity": "low_confidence"},
                         "UNIT_MISMATCH": {"unit_match": False},
                         "DIRECTIONAL_MISMATCH": {"directional_match": False},
                         "ADDRESS_SHARED_BY_MANY": {"shared_by_many": True},
                         "MIXED_SCRIPT": {"mixed_script": True},
                         "HIDDEN_CHARACTERS": {"hidden_characters": True}}.items():
        [o] = P.evaluate([GOOD | change])
        assert o == policy.Outcome(REVIEW, (code,)), code
    [o] = P.evaluate([GOOD | {"agreement_found": False, "authority_match": False, "agreement_active": False}])
    assert o == policy.Outcome(DENY, ("AGREEMENT_NOT_FOUND",))


def test_missing_facts_fail_closed():
    [o] = P.evaluate([{}])
    assert o.decision == DENY


RANK = {DENY: 0, REVIEW: 1, DISCLOSE: 2}


@settings(max_examples=300, deadline=None)
@given(vectors, st.sets(st.sampled_from([f.name for f in facts.FACTS])))
def test_a_missing_fact_never_makes_a_decision_more_permissive(v, missing):
    """Fail closed: dropping any facts from any vector never moves it towards DISCLOSE."""
    full, dropped = P.evaluate([v, {k: val for k, val in v.items() if k not in missing}])
    assert RANK[dropped.decision] <= RANK[full.decision], (v, missing)


def test_cedar_schema_file_is_generated_from_the_facts_contract():
    from importlib import resources

    text = (resources.files("disclosure_gate") / "policies" / "facts.cedarschema").read_text("utf-8")
    assert text == facts.cedar_schema()


def test_row_facts_columns_follow_the_contract(engine):
    engine.execute(facts.row_facts_ddl())
    cols = engine.columns("row_facts")
    assert cols[:3] == ["batch_id", "snapshot_id", "_row"]
    assert tuple(cols[4:]) == facts.FACT_COLUMNS
    assert {f.name for f in facts.FACTS if f.level == "row"} <= set(cols)


def test_seed_2025_discloses_without_address_corroboration():
    """The unsafe baseline discloses a placeholder address that merely contains a ZIP-like number."""
    v = GOOD | {"address_placeholder": True, "address_sufficient": False, "address_on_file": False,
                "agreement_active": False}
    assert SEED.evaluate([v])[0].decision == DISCLOSE
    assert P.evaluate([v])[0].decision == DENY
    assert SEED.unsafe and not P.unsafe
    assert SEED.evaluate([GOOD | {"seed_zip_like": False}])[0] == policy.Outcome(DENY, ("ADDRESS_MISSING",))


def test_policy_label_carries_content_hash():
    assert P.label == f"6103i2@sha256:{policy.policy_hash(P.text)}"
    assert len(P.sha256) == 64


def test_misspelt_fact_is_a_load_error():
    import pytest

    from disclosure_gate.errors import PolicyError

    bad = '@id("X")\nforbid (principal, action, resource) when { context.adress_on_file };\n'
    with pytest.raises(PolicyError, match="schema"):
        policy.compile_policy("bad", bad)
    with pytest.raises(PolicyError, match="@id"):
        policy.compile_policy("bad", "forbid (principal, action, resource);")
