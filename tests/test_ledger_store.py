"""The ledger as stored: tampering is caught and named, crashes leave it verifiable."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apphelp import load_world, make_people, operator, submit_and_process
from conftest import kill9, run_until_paused
from disclosure_gate.app import requests
from disclosure_gate.engine import Engine
from disclosure_gate.errors import IntegrityError
from disclosure_gate.ledger import merkle, note, overseer
from disclosure_gate.ledger import store as ledger
from disclosure_gate.ledger.verify import verify_ledger
from disclosure_gate.pipeline import decide
from disclosure_gate.store.home import open_home

MINI = Path(__file__).parent / "fixtures" / "mini"


def build_home(path: Path) -> str:
    people = make_people(path)
    load_world(people, MINI / "persons.csv", MINI / "addresses.csv", MINI / "agreement.yaml")
    bid = submit_and_process(people, MINI / "requests.csv", MINI / "manifest.yaml").run.batch_id
    people.close()
    return bid


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    path = tmp_path_factory.mktemp("ledger") / "home"
    bid = build_home(path)
    return path, bid


@pytest.fixture
def home(pristine, tmp_path):
    path, bid = pristine
    copy = tmp_path / "home"
    shutil.copytree(path, copy)
    h = open_home(copy, write=True)
    yield h, ledger.load_keys(copy), bid
    h.close()


def _snap(h) -> int:
    """The index of the snapshot_loaded event (its body has "persons":5)."""
    return int(h.engine.scalar("SELECT idx FROM ledger_entries WHERE kind = 'snapshot_loaded'"))


def _first(h) -> int:
    """The index of the first decision entry."""
    return int(h.engine.scalar("SELECT min(first_idx) FROM ledger_runs"))


def test_pristine_ledger_verifies(home):
    h, keys, _ = home
    report = verify_ledger(h.engine, keys)
    assert report.ok, report.problem
    events = h.engine.scalar("SELECT count(*) FROM ledger_entries WHERE body IS NOT NULL")
    assert report.entries == events + 12 and report.checkpoints == 1


def _all_entries(h, keys) -> list[str]:
    """Every entry as an overseer receives it: event bodies as stored, decision entries regenerated."""
    ipad, opad = ledger.hmac_pads(keys.commitment_key)
    decisions = h.engine.fetchall(
        f"SELECT idx, body FROM ({ledger.decision_entry_sql(ledger.STORED_DECISIONS, ledger.STORED_COLUMNS)})",
        {"ipad": ipad, "opad": opad})
    events = h.engine.fetchall("SELECT idx, body FROM ledger_entries WHERE body IS NOT NULL")
    return [body for _, body in sorted(decisions + events)]


def test_every_decision_has_exactly_one_leaf_without_plain_values(home):
    h, keys, _ = home
    assert h.engine.scalar("SELECT count(*) FROM decisions") == h.engine.scalar(
        "SELECT count(*) FROM ledger_entries WHERE kind = 'decision'")
    assert h.engine.scalar("SELECT count(*) FROM ledger_entries WHERE kind = 'decision' AND body IS NOT NULL") == 0
    entries = _all_entries(h, keys)
    assert len(entries) == h.engine.scalar("SELECT count(*) FROM ledger_entries")
    bodies = " ".join(entries)
    for secret in ("123456789", "912561234", "GARCIA", "Garc", "MAIN", "Springfield", "1990-11-30"):
        assert secret not in bodies


def test_decision_entries_carry_what_the_issue_requires_and_hash_to_their_leaves(home):
    h, keys, bid = home
    run = decide.find_run(h.engine, bid)
    assert run is not None
    rows = h.engine.fetchall("SELECT request_id, decision, reasons, matched_tin FROM decisions ORDER BY _row")
    for i, (request_id, decision, reasons, tin) in enumerate(rows):
        idx = ledger.find_decision_entry(h.engine, run.run_id, request_id)
        body, leaf = ledger.entry(h.engine, idx, keys)
        assert merkle.leaf_hash(body.encode()) == leaf
        e = json.loads(body)
        assert e["v"] == 2 and e["type"] == "decision" and e["idx"] == idx == _first(h) + i
        assert e["batch"] == bid and e["agreement"] == "AGR-1"
        assert e["policy"] == f"{run.policy_id}@sha256:{run.policy_sha256}" and e["as_of"] == str(run.as_of)
        assert (e["request_id"], e["decision"]) == (request_id, decision)
        assert e["reasons"] == [r for r in (reasons or "").split(";") if r]
        assert e["subject"] == (ledger.commitment(keys.commitment_key, tin) if tin else None)


def test_entry_of_a_changed_decision_is_refused(home):
    h, keys, bid = home
    run = decide.find_run(h.engine, bid)
    assert run is not None
    idx = ledger.find_decision_entry(h.engine, run.run_id, "R2")
    h.engine.execute("UPDATE decisions SET reasons = 'X' WHERE request_id = 'R2'")
    with pytest.raises(IntegrityError, match=f"entry {idx}"):
        ledger.entry(h.engine, idx, keys)


def test_commitment_sql_is_hmac_sha256(engine):
    # RFC 4231 test case 2, through the same ipad/opad SQL construction the ledger uses.
    ipad, opad = ledger.hmac_pads(b"Jefe")
    got = engine.scalar("SELECT sha256($opad::BLOB || unhex(sha256($ipad::BLOB || encode($m))))",
                        {"ipad": ipad, "opad": opad, "m": "what do ya want for nothing?"})
    assert got == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


@settings(max_examples=25, deadline=None)
@given(key=st.binary(min_size=1, max_size=100), tin=st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_commitment_sql_matches_python(key, tin):
    e = Engine()
    ipad, opad = ledger.hmac_pads(key)
    got = e.scalar(f"SELECT {ledger.commitment_sql('$tin')}", {"ipad": ipad, "opad": opad, "tin": tin})
    e.close()
    assert got == ledger.commitment(key, tin) == hmac.new(key, f"tin:{tin}".encode(), hashlib.sha256).hexdigest()


def _fails_at(h, keys, idx_or_none, text):
    report = verify_ledger(h.engine, keys)
    assert not report.ok
    assert text in report.problem
    assert report.bad_index == idx_or_none
    return report


def test_flipped_stored_decision_is_named(home):
    h, keys, bid = home
    idx = ledger.find_decision_entry(h.engine, decide.find_run(h.engine, bid).run_id, "R3")
    h.engine.execute("UPDATE decisions SET decision = 'DISCLOSE', reasons = '' WHERE request_id = 'R3'")
    _fails_at(h, keys, idx, "stored decision differs")


def test_flipped_byte_in_event_entry_is_named(home):
    h, keys, _ = home
    k = _snap(h)
    h.engine.execute("UPDATE ledger_entries SET body = replace(body, '\"persons\":5', '\"persons\":6') WHERE idx = ?",
                     [k])
    _fails_at(h, keys, k, "altered")


def test_flipped_byte_in_decision_leaf_is_named(home):
    h, keys, _ = home
    k = _first(h) + 3
    # Flip the first byte to a value it cannot already hold (a fixed '00' left it unchanged 1 time in 256).
    h.engine.execute("UPDATE ledger_entries SET leaf_hash = unhex(CASE WHEN substr(hex(leaf_hash), 1, 2) = '00' "
                     "THEN 'FF' ELSE '00' END || substr(hex(leaf_hash), 3)) WHERE idx = ?", [k])
    _fails_at(h, keys, k, "leaf was altered")


def test_reordered_decision_entries_are_named(home):
    h, keys, _ = home
    a = _first(h) + 4
    h.engine.execute("UPDATE ledger_entries SET idx = CASE idx WHEN ? THEN ? ELSE ? END WHERE idx IN (?, ?)",
                     [a, a + 1, a, a, a + 1])
    _fails_at(h, keys, a, f"out of place (it holds the leaf of entry {a + 1})")


def test_reordered_event_entries_are_named(home):
    h, keys, _ = home
    k = _snap(h)
    h.engine.execute("UPDATE ledger_entries SET idx = CASE idx WHEN ? THEN ? ELSE ? END WHERE idx IN (?, ?)",
                     [k, k + 1, k, k, k + 1])
    _fails_at(h, keys, k, "out of place")


def test_deleted_decision_is_named(home):
    h, keys, _ = home
    h.engine.execute("DELETE FROM decisions WHERE _row = 3")
    _fails_at(h, keys, _first(h) + 3, "missing from storage")


def test_deleted_entry_is_named(home):
    h, keys, _ = home
    k = _first(h) + 2
    h.engine.execute("DELETE FROM ledger_entries WHERE idx = ?", [k])
    _fails_at(h, keys, k, "missing")


def test_truncated_log_is_named(home):
    h, keys, _ = home
    cut = _first(h) + 8
    h.engine.execute("DELETE FROM ledger_entries WHERE idx >= ?", [cut])
    h.engine.execute("DELETE FROM decisions WHERE request_id IN (SELECT request_id FROM decisions "
                     "ORDER BY _row DESC LIMIT 4)")
    h.engine.execute("DELETE FROM ledger_tiles")
    report = verify_ledger(h.engine, keys)
    assert not report.ok and "truncated" in report.problem and report.bad_index == cut


def _rewrite_entry(h, idx: int) -> None:
    """An insider rewrites an event entry consistently: body, leaf hash and every node."""
    h.engine.execute("UPDATE ledger_entries SET body = replace(body, '\"persons\":5', '\"persons\":4') WHERE idx = ?",
                     [idx])
    h.engine.execute("UPDATE ledger_entries SET leaf_hash = unhex(sha256('\\x00'::BLOB || encode(body))) WHERE idx = ?",
                     [idx])


def test_consistent_rewrite_is_named_by_its_subtree(home):
    h, keys, _ = home
    k = _snap(h)
    _rewrite_entry(h, k)
    report = _fails_at(h, keys, k - k % 2, "rewritten")
    assert f"entries {k - k % 2}..{k - k % 2 + 1}" in report.problem


def test_wholesale_rewrite_fails_the_signed_checkpoint_and_the_agency_refuses_to_sign(home):
    h, keys, _ = home
    old = ledger.latest_checkpoint(h.engine)
    _rewrite_entry(h, _snap(h))
    h.engine.execute("DELETE FROM ledger_tiles")
    leaves = ledger._leaf_bytes(h.engine, 0)
    ledger._store_runs(h.engine, merkle.CompactRange().extend(leaves))
    report = verify_ledger(h.engine, keys)
    assert not report.ok and "differs from the signed checkpoint" in report.problem
    ledger.append_event(h.engine, "test", {"n": 1}, "tester")
    with pytest.raises(IntegrityError, match="refusing to sign"):
        ledger.make_checkpoint(h.engine, keys)
    # Even if the insider also deletes the stored checkpoints and signs anew, an overseer holding the
    # old checkpoint sees that the new one is not an extension of it.
    h.engine.execute("DELETE FROM ledger_checkpoints")
    new = ledger.make_checkpoint(h.engine, keys)
    bundle = ledger.consistency_bundle(h.engine, old, new)
    with pytest.raises(IntegrityError):
        overseer.verify_consistency_bundle(bundle, note.parse_verifier_key(keys.verifier_key))


def test_inclusion_bundle_verifies_with_only_the_public_key(home):
    h, keys, bid = home
    run = decide.find_run(h.engine, bid)
    assert run is not None
    idx = ledger.find_decision_entry(h.engine, run.run_id, "R1")
    cp = ledger.latest_checkpoint(h.engine)
    bundle = ledger.inclusion_bundle(h.engine, idx, cp, keys)
    vkey = note.parse_verifier_key(keys.verifier_key)
    res = overseer.verify_inclusion_bundle(bundle, vkey)
    assert res.entry["request_id"] == "R1" and res.entry["decision"] == "DISCLOSE"
    tampered = dict(bundle, entry=bundle["entry"].replace("DISCLOSE", "DENY"))
    with pytest.raises(IntegrityError):
        overseer.verify_inclusion_bundle(tampered, vkey)


def test_witness_cosigns_only_consistent_growth(home, tmp_path):
    h, keys, _ = home
    vkey = note.parse_verifier_key(keys.verifier_key)
    witness = note.generate_signer("court.example/witness")
    state = tmp_path / "witness-state"
    first = ledger.latest_checkpoint(h.engine)
    cosigned = overseer.cosign_checkpoint(first.note, vkey, witness, state, now=1_700_000_000)
    assert note.verify_cosignature(cosigned, witness.verifier(note.ALG_COSIGNATURE_V1), log_verifier=vkey) == \
        1_700_000_000
    ledger.append_event(h.engine, "test", {"n": 2}, "tester")
    second = ledger.make_checkpoint(h.engine, keys)
    with pytest.raises(Exception, match="consistency proof"):
        overseer.cosign_checkpoint(second.note, vkey, witness, state)
    proof = ledger.consistency_bundle(h.engine, first, second)
    overseer.cosign_checkpoint(second.note, vkey, witness, state, proof)
    with pytest.raises(IntegrityError, match="smaller"):
        overseer.cosign_checkpoint(first.note, vkey, witness, state)


def test_kill_9_during_processing_leaves_a_verifiable_ledger_and_a_rerun_completes(tmp_path):
    people = make_people(tmp_path / "home")
    load_world(people, MINI / "persons.csv", MINI / "addresses.csv", MINI / "agreement.yaml")
    bid = requests.submit(people.op, MINI / "requests.csv", MINI / "manifest.yaml").batch.batch_id
    people.close()
    # Killed after the decisions and their leaves were written, before the transaction commits.
    proc = run_until_paused("disclosure_gate.ledger.store:append_decisions", "after", tmp_path / "paused",
                            "request", "process", bid, home=tmp_path / "home")
    kill9(proc)
    h = open_home(tmp_path / "home", write=True)
    keys = ledger.load_keys(h.path)
    assert verify_ledger(h.engine, keys).ok
    assert h.engine.scalar("SELECT count(*) FROM decisions") == 0
    assert h.engine.scalar("SELECT count(*) FROM runs") == 0
    assert h.engine.scalar("SELECT count(*) FROM ledger_entries WHERE kind = 'decision'") == 0
    h.close()
    s = operator(tmp_path / "home")
    res = requests.process(s, bid)
    assert res.created
    assert s.engine.scalar("SELECT count(*) FROM decisions") == 12
    assert verify_ledger(s.engine, keys).ok
    s.close()


def _insert_leaves(e: Engine, first: int, leaves: bytes) -> None:
    n = len(leaves) // 32
    e.register("leaf_view", pa.table({"idx": list(range(first, first + n)),
                                      "leaf": [leaves[i * 32:(i + 1) * 32] for i in range(n)]}))
    e.execute("INSERT INTO ledger_entries (idx, kind, body, leaf_hash, created_at) "
              "SELECT idx, 'test', NULL, leaf, now() FROM leaf_view")
    e.unregister("leaf_view")


@settings(max_examples=8, deadline=None)
@given(chunks=st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=8), big=st.booleans())
def test_tiles_across_chunked_appends_match_a_fresh_tree_and_prove(chunks, big):
    """Appends of any sizes (crossing 256-node tiles; one big enough for the SQL pair hasher)
    store exactly the nodes a fresh tree has, and proofs read from the tiles verify."""
    if big:
        chunks = [*chunks, 2 * ledger._SQL_PAIRS_MIN + 3]
    e = Engine()
    from disclosure_gate.store import schema

    schema.create(e, "test")
    leaves = b""
    for n in chunks:
        old = len(leaves) // 32
        new = merkle.leaf_hashes(str(old + i).encode() for i in range(n))
        _insert_leaves(e, old, new)
        # odd chunks hand the leaves over, even ones make the store read them back
        assert ledger._grow_tree(e, old, new if n % 2 else None) == old + n
        leaves += new
    for run in merkle.CompactRange().extend(leaves)[1:]:
        stored, problem = ledger.stored_level(e, run.level)
        assert problem is None and stored == run.hashes
    size = len(leaves) // 32
    store = ledger.DuckNodeStore(e)
    root = merkle.root_at(size, store)
    assert root == merkle.root_from_leaf_hashes(merkle.split_hashes(leaves))
    for idx in sorted({0, size // 3, size - 1}):
        leaf = leaves[idx * 32:(idx + 1) * 32]
        merkle.verify_inclusion(leaf, idx, size, merkle.inclusion_proof(idx, size, store), root)
        with pytest.raises(IntegrityError):
            merkle.verify_inclusion(merkle.leaf_hash(b"other"), idx, size, merkle.inclusion_proof(idx, size, store),
                                    root)
    e.close()
