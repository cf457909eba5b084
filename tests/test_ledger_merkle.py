"""RFC 6962 Merkle core: outside known-answer vectors, then properties against a naive reference.

Vector sources (see tests/fixtures/merkle/NOTICE):
* transparency-dev/merkle testdata/{inclusion,consistency} JSON (Apache-2.0);
* C2SP CCTV merkle/testdata (rgdd/CCTV copy, BSD-2-Clause);
* transparency-dev/merkle testonly/constants.go and proof/verify_test.go (Apache-2.0).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disclosure_gate.errors import InputError, IntegrityError
from disclosure_gate.ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryNodeStore,
    NodeRun,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    leaf_hashes,
    node_hash,
    root_at,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    split_hashes,
    verify_consistency,
    verify_inclusion,
)

FIXTURES = Path(__file__).parent / "fixtures" / "merkle"
TD = FIXTURES / "transparency-dev"
CCTV = FIXTURES / "cctv"
INCLUSION_FILES = sorted((TD / "inclusion").rglob("*.json"))
CONSISTENCY_FILES = sorted((TD / "consistency").rglob("*.json"))


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def h(hexstr: str) -> bytes:
    return bytes.fromhex(hexstr)


def build(hashes: list[bytes]) -> tuple[CompactRange, MemoryNodeStore]:
    rng, store = CompactRange(), MemoryNodeStore()
    store.put_runs(rng.extend(hashes))
    return rng, store


# --------------------------------------------------------------------------
# RFC 6962 known answers: transparency-dev/merkle testonly/constants.go
# --------------------------------------------------------------------------

KAT_LEAF_INPUTS = [
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
]  # fmt: skip
KAT_LEAVES = [h(x) for x in KAT_LEAF_INPUTS]
KAT_LEAF_HASHES = [leaf_hash(d) for d in KAT_LEAVES]
KAT_ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
KAT_NODES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]
# CompactTrees(): the right border after each size (constants.go).
KAT_BORDERS = [
    [],
    [KAT_NODES[0][0]],
    [KAT_NODES[1][0]],
    [KAT_NODES[1][0], KAT_NODES[0][2]],
    [KAT_NODES[2][0]],
    [KAT_NODES[2][0], KAT_NODES[0][4]],
    [KAT_NODES[2][0], KAT_NODES[1][2]],
    [KAT_NODES[2][0], KAT_NODES[1][2], KAT_NODES[0][6]],
    [KAT_NODES[3][0]],
]
# proof/verify_test.go: (1-based leaf, size, proof) and (size1, size2, proof).
KAT_INCLUSION = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
KAT_CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")
KAT_RANGE, KAT_STORE = build(KAT_LEAF_HASHES)


def test_empty_root_and_hash_prefixes() -> None:
    assert EMPTY_ROOT == KAT_ROOTS[0] == root_from_leaf_hashes([]) == CompactRange().root()
    assert leaf_hash(b"") == KAT_NODES[0][0]
    assert node_hash(KAT_NODES[0][0], KAT_NODES[0][1]) == KAT_NODES[1][0]
    assert leaf_hashes(KAT_LEAVES) == b"".join(KAT_LEAF_HASHES)
    assert split_hashes(leaf_hashes(KAT_LEAVES)) == KAT_LEAF_HASHES


@pytest.mark.parametrize("size", range(9))
def test_kat_roots_for_every_size(size: int) -> None:
    assert root_from_leaf_hashes(KAT_LEAF_HASHES[:size]) == KAT_ROOTS[size]
    assert root_at(size, KAT_STORE) == KAT_ROOTS[size]
    one_by_one = CompactRange()
    for lh in KAT_LEAF_HASHES[:size]:
        one_by_one.append(lh)
    assert one_by_one.root() == KAT_ROOTS[size]
    assert one_by_one.state() == KAT_BORDERS[size]
    assert CompactRange.from_store(size, KAT_STORE).state() == KAT_BORDERS[size]


def test_kat_every_perfect_node_is_stored() -> None:
    for level, nodes in enumerate(KAT_NODES):
        for index, node in enumerate(nodes):
            assert KAT_STORE.get_node(level, index) == node
    with pytest.raises(IntegrityError):
        KAT_STORE.get_node(3, 1)
    with pytest.raises(IntegrityError):
        KAT_STORE.get_node(4, 0)


def corrupt_inclusion(
    index: int, size: int, proof: list[bytes], root: bytes, lh: bytes
) -> list[tuple[int, int, list[bytes], bytes, bytes]]:
    """Port of corruptInclusionProof (proof/verify_test.go)."""
    probes = [
        (index - 1, size, proof, root, lh),
        (index + 1, size, proof, root, lh),
        (index ^ 2, size, proof, root, lh),
        (index, size * 2, proof, root, lh),
        (index, size // 2, proof, root, lh),
        (index, size, proof, root, b"WrongLeaf"),
        (index, size, proof, KAT_ROOTS[0], lh),
        (index, size, proof, SOME_HASH, lh),
        (index, size, [*proof, b""], root, lh),
        (index, size, [*proof, root], root, lh),
        (index, size, [b"", *proof], root, lh),
        (index, size, [root, *proof], root, lh),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([proof[i][0] ^ 8]) + proof[i][1:]
        probes.append((index, size, flipped, root, lh))
    if proof:
        probes.append((index, size, proof[:-1], root, lh))
    if len(proof) > 1:
        probes.append((index, size, [proof[0], SOME_HASH, *proof[1:]], root, lh))
    return probes


@pytest.mark.parametrize(("leaf", "size", "proof_hex"), KAT_INCLUSION)
def test_kat_inclusion_proofs(leaf: int, size: int, proof_hex: list[str]) -> None:
    index, proof = leaf - 1, [h(x) for x in proof_hex]
    lh, root = KAT_LEAF_HASHES[index], KAT_ROOTS[size]
    assert inclusion_proof(index, size, KAT_STORE) == proof
    assert root_from_inclusion_proof(lh, index, size, proof) == root
    verify_inclusion(lh, index, size, proof, root)
    for probe in corrupt_inclusion(index, size, proof, root, lh):
        i, s, p, r, leaf_h = probe
        with pytest.raises(IntegrityError):
            verify_inclusion(leaf_h, i, s, p, r)


def corrupt_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> list[tuple[int, int, list[bytes], bytes, bytes]]:
    """Port of corruptConsistencyProof (proof/verify_test.go)."""
    probes = [
        (size1 - 1, size2, proof, root1, root2),
        (size1 + 1, size2, proof, root1, root2),
        (size1 ^ 2, size2, proof, root1, root2),
        (size1, size2 * 2, proof, root1, root2),
        (size1, size2 // 2, proof, root1, root2),
        (size1, size2, proof, b"WrongRoot", root2),
        (size1, size2, proof, root1, b"WrongRoot"),
        (size1, size2, proof, root2, root1),
        (size1, size2, [], root1, root2),
        (size1, size2, [*proof, b""], root1, root2),
        (size1, size2, [*proof, root1], root1, root2),
        (size1, size2, [*proof, root2], root1, root2),
        (size1, size2, [b"", *proof], root1, root2),
        (size1, size2, [root1, *proof], root1, root2),
        (size1, size2, [root2, *proof], root1, root2),
        (size1, size2, [proof[0], *proof], root1, root2),
        (size1, size2, proof[:-1], root1, root2),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([proof[i][0] ^ 16]) + proof[i][1:]
        probes.append((size1, size2, flipped, root1, root2))
    return probes


@pytest.mark.parametrize(("size1", "size2", "proof_hex"), KAT_CONSISTENCY)
def test_kat_consistency_proofs(size1: int, size2: int, proof_hex: list[str]) -> None:
    proof = [h(x) for x in proof_hex]
    root1, root2 = KAT_ROOTS[size1], KAT_ROOTS[size2]
    assert consistency_proof(size1, size2, KAT_STORE) == proof
    verify_consistency(size1, size2, proof, root1, root2)
    if not proof:  # the Go test only corrupts non-trivial proofs
        return
    for s1, s2, p, r1, r2 in corrupt_consistency(size1, size2, root1, root2, proof):
        with pytest.raises(IntegrityError):
            verify_consistency(s1, s2, p, r1, r2)


# --------------------------------------------------------------------------
# transparency-dev/merkle testdata (JSON files, globbed)
# --------------------------------------------------------------------------


def test_vector_files_are_present() -> None:
    assert len(INCLUSION_FILES) >= 98
    assert len(CONSISTENCY_FILES) >= 98
    for files in (INCLUSION_FILES, CONSISTENCY_FILES):
        wants = {json.loads(p.read_text())["wantErr"] for p in files}
        assert wants == {True, False}


def _rel(path: Path) -> str:
    return str(path.relative_to(TD))


@pytest.mark.parametrize("path", INCLUSION_FILES, ids=_rel)
def test_transparency_dev_inclusion(path: Path) -> None:
    case = json.loads(path.read_text())
    index = case["leafIdx"] if "leafIdx" in case else case["leafIndex"]
    size, lh, root = case["treeSize"], b64(case["leafHash"]), b64(case["root"])
    proof = [b64(p) for p in case["proof"] or []]
    if case["wantErr"]:
        with pytest.raises(IntegrityError):
            verify_inclusion(lh, index, size, proof, root)
        return
    verify_inclusion(lh, index, size, proof, root)
    assert root_from_inclusion_proof(lh, index, size, proof) == root
    if size <= len(KAT_LEAF_HASHES) and KAT_LEAF_HASHES[index] == lh:  # generated from the KAT tree
        assert inclusion_proof(index, size, KAT_STORE) == proof


@pytest.mark.parametrize("path", CONSISTENCY_FILES, ids=_rel)
def test_transparency_dev_consistency(path: Path) -> None:
    case = json.loads(path.read_text())
    size1, size2 = case["size1"], case["size2"]
    root1, root2 = b64(case["root1"]), b64(case["root2"])
    proof = [b64(p) for p in case["proof"] or []]
    if case["wantErr"]:
        with pytest.raises(IntegrityError):
            verify_consistency(size1, size2, proof, root1, root2)
        return
    verify_consistency(size1, size2, proof, root1, root2)
    if 0 < size1 <= size2 <= 8 and root1 == KAT_ROOTS[size1] and root2 == KAT_ROOTS[size2]:
        assert consistency_proof(size1, size2, KAT_STORE) == proof


# --------------------------------------------------------------------------
# C2SP CCTV vectors (rgdd/CCTV merkle/testdata)
# --------------------------------------------------------------------------


def _cctv(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((CCTV / name).read_text())
    assert data, name
    return data


CCTV_TREE = _cctv("merkle_tree.json")
CCTV_RANGE, CCTV_STORE = build([b64(e["leaf_hash"]) for e in CCTV_TREE])


def test_cctv_tree_heads() -> None:
    rng = CompactRange()
    for size, entry in enumerate(CCTV_TREE, start=1):
        lh = leaf_hash(entry["leaf_data"].encode())
        assert lh == b64(entry["leaf_hash"])
        rng.append(lh)
        assert rng.root() == b64(entry["root_hash"]) == root_at(size, CCTV_STORE)


def test_cctv_inclusion() -> None:
    for case in _cctv("inclusion-valid.json"):
        index, size, path = case["leaf_index"], case["tree_size"], [b64(p) for p in case["inclusion_path"]]
        assert inclusion_proof(index, size, CCTV_STORE) == path
        verify_inclusion(b64(case["leaf_hash"]), index, size, path, b64(case["root_hash"]))
    for case in _cctv("inclusion-invalid.json"):
        with pytest.raises(IntegrityError):
            verify_inclusion(
                b64(case["leaf_hash"]),
                case["leaf_index"],
                case["tree_size"],
                [b64(p) for p in case["inclusion_path"]],
                b64(case["root_hash"]),
            )


def test_cctv_consistency() -> None:
    for case in _cctv("consistency-valid.json"):
        old, new, path = case["old_size"], case["new_size"], [b64(p) for p in case["consistency_path"]]
        args = (old, new, path, b64(case["old_root"]), b64(case["new_root"]))
        if old == 0:
            # Documented divergence: CCTV accepts proofs from the empty tree; the
            # current transparency-dev vectors (and this module) reject them as
            # meaningless. Nothing is lost: such a proof proves nothing.
            with pytest.raises(IntegrityError):
                verify_consistency(*args)
            continue
        assert consistency_proof(old, new, CCTV_STORE) == path
        verify_consistency(*args)
    for case in _cctv("consistency-invalid.json"):
        with pytest.raises(IntegrityError):
            verify_consistency(
                case["old_size"],
                case["new_size"],
                [b64(p) for p in case["consistency_path"]],
                b64(case["old_root"]),
                b64(case["new_root"]),
            )


# --------------------------------------------------------------------------
# Naive recursive reference (RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1)
# --------------------------------------------------------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(hs: list[bytes]) -> bytes:
    if not hs:
        return EMPTY_ROOT
    if len(hs) == 1:
        return hs[0]
    k = _k(len(hs))
    return node_hash(ref_mth(hs[:k]), ref_mth(hs[k:]))


def ref_path(m: int, hs: list[bytes]) -> list[bytes]:
    if len(hs) == 1:
        return []
    k = _k(len(hs))
    if m < k:
        return [*ref_path(m, hs[:k]), ref_mth(hs[k:])]
    return [*ref_path(m - k, hs[k:]), ref_mth(hs[:k])]


def ref_subproof(m: int, hs: list[bytes], whole: bool) -> list[bytes]:
    n = len(hs)
    if m == n:
        return [] if whole else [ref_mth(hs)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, hs[:k], whole), ref_mth(hs[k:])]
    return [*ref_subproof(m - k, hs[k:], False), ref_mth(hs[:k])]


def distinct_leaves(n: int, salt: int) -> list[bytes]:
    return [leaf_hash(b"%d:%d" % (salt, i)) for i in range(n)]


def build_in_chunks(hs: list[bytes], chunks: list[int]) -> tuple[CompactRange, MemoryNodeStore, list[NodeRun]]:
    """Feed ``hs`` through append (chunk 1) and extend (other chunks), resuming from state each time."""
    rng, store, runs = CompactRange(), MemoryNodeStore(), []
    pos, turn = 0, 0
    while pos < len(hs):
        size = chunks[turn % len(chunks)] if chunks else len(hs)
        turn += 1
        piece = hs[pos : pos + size]
        rng = CompactRange.from_state(rng.size, rng.state())  # as if reloaded from a store
        new = rng.append(piece[0]) if len(piece) == 1 else rng.extend(b"".join(piece))
        store.put_runs(new)
        runs.extend(new)
        pos += len(piece)
    return rng, store, runs


FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
sizes = st.integers(min_value=1, max_value=300)


@FAST
@given(n=sizes, salt=st.integers(0, 2**16), chunks=st.lists(st.integers(1, 40), max_size=6))
def test_root_and_stored_nodes_match_reference(n: int, salt: int, chunks: list[int]) -> None:
    hs = distinct_leaves(n, salt)
    rng, store, runs = build_in_chunks(hs, chunks)
    assert rng.size == n
    assert rng.root() == ref_mth(hs) == root_at(n, store) == root_from_leaf_hashes(hs)
    # Every emitted node is the MTH of the leaves it names, and the bulk path emits the same nodes.
    emitted = {(lvl, idx): node for run in runs for lvl, idx, node in run.nodes()}
    for (lvl, idx), node in emitted.items():
        assert node == ref_mth(hs[idx << lvl : (idx + 1) << lvl])
        assert (idx + 1) << lvl <= n
    bulk = {(lvl, idx): node for run in CompactRange().extend(hs) for lvl, idx, node in run.nodes()}
    assert emitted == bulk
    assert len(bulk) == 2 * n - bin(n).count("1")  # every perfect node, exactly once


@FAST
@given(n=sizes, salt=st.integers(0, 2**16), data=st.data())
def test_inclusion_matches_reference_and_tampering_fails(n: int, salt: int, data: st.DataObject) -> None:
    hs = distinct_leaves(n, salt)
    _, store = build(hs)
    root = ref_mth(hs)
    i = data.draw(st.integers(0, n - 1), label="index")
    proof = inclusion_proof(i, n, store)
    assert proof == ref_path(i, hs)
    verify_inclusion(hs[i], i, n, proof, root)

    def rejects(fn: Callable[[], None]) -> None:
        with pytest.raises(IntegrityError):
            fn()

    rejects(lambda: verify_inclusion(hs[i], i, n, proof, node_hash(root, root)))
    rejects(lambda: verify_inclusion(bytes([hs[i][0] ^ 1]) + hs[i][1:], i, n, proof, root))
    rejects(lambda: verify_inclusion(hs[i], i, 2 * n, proof, root))
    if i < n // 2:
        rejects(lambda: verify_inclusion(hs[i], i, n // 2, proof, root))
    j = data.draw(st.integers(0, n - 1).filter(lambda x: x != i) if n > 1 else st.just(n), label="other")
    rejects(lambda: verify_inclusion(hs[i], j, n, proof, root))
    extra = data.draw(st.integers(0, len(proof)), label="extra_at")
    rejects(lambda: verify_inclusion(hs[i], i, n, [*proof[:extra], os.urandom(32), *proof[extra:]], root))
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1), label="element")
        bit = data.draw(st.integers(0, 255), label="bit")
        changed = bytearray(proof[k])
        changed[bit // 8] ^= 1 << (bit % 8)
        flipped = [*proof[:k], bytes(changed), *proof[k + 1 :]]
        rejects(lambda: verify_inclusion(hs[i], i, n, flipped, root))
        rejects(lambda: verify_inclusion(hs[i], i, n, proof[:k] + proof[k + 1 :], root))
        rejects(lambda: verify_inclusion(hs[i], i, n, [*proof[:k], proof[k][:31], *proof[k + 1 :]], root))


@FAST
@given(n=sizes, salt=st.integers(0, 2**16), data=st.data())
def test_consistency_matches_reference_and_tampering_fails(n: int, salt: int, data: st.DataObject) -> None:
    hs = distinct_leaves(n, salt)
    _, store = build(hs)
    m = data.draw(st.integers(1, n), label="size1")
    root1, root2 = ref_mth(hs[:m]), ref_mth(hs)
    proof = consistency_proof(m, n, store)
    assert proof == ref_subproof(m, hs, True)
    verify_consistency(m, n, proof, root1, root2)
    if m == n:
        assert proof == []
        with pytest.raises(IntegrityError):
            verify_consistency(m, n, [root1], root1, root2)
        return

    def rejects(s1: int, s2: int, p: list[bytes], r1: bytes = root1, r2: bytes = root2) -> None:
        with pytest.raises(IntegrityError):
            verify_consistency(s1, s2, p, r1, r2)

    rejects(m - 1, n, proof)
    rejects(m + 1, n, proof)
    rejects(m, 2 * n, proof)
    rejects(m, n // 2, proof)
    rejects(m, n, proof, root2, root1)
    rejects(m, n, proof, r1=node_hash(root1, root1))
    rejects(m, n, proof, r2=node_hash(root2, root2))
    rejects(m, n, [])
    extra = data.draw(st.integers(0, len(proof)), label="extra_at")
    rejects(m, n, [*proof[:extra], os.urandom(32), *proof[extra:]])
    k = data.draw(st.integers(0, len(proof) - 1), label="element")
    bit = data.draw(st.integers(0, 255), label="bit")
    flipped = bytearray(proof[k])
    flipped[bit // 8] ^= 1 << (bit % 8)
    rejects(m, n, [*proof[:k], bytes(flipped), *proof[k + 1 :]])
    rejects(m, n, proof[:k] + proof[k + 1 :])


# --------------------------------------------------------------------------
# Storage-facing behaviour
# --------------------------------------------------------------------------


class CountingStore:
    def __init__(self, inner: MemoryNodeStore) -> None:
        self.inner, self.calls = inner, 0

    def get_node(self, level: int, index: int) -> bytes:
        self.calls += 1
        return self.inner.get_node(level, index)


def test_proofs_read_only_logarithmically_many_nodes() -> None:
    n = (1 << 16) + 12345
    hs = leaf_hashes(b"%d" % i for i in range(n))
    rng, store = build(split_hashes(hs))
    counting = CountingStore(store)
    depth = n.bit_length()
    for index in (0, 1, n // 3, (1 << 16) - 1, 1 << 16, n - 2, n - 1):
        counting.calls = 0
        proof = inclusion_proof(index, n, counting)
        assert counting.calls <= 2 * depth
        verify_inclusion(hs[index * 32 : index * 32 + 32], index, n, proof, rng.root())
    for old in (1, 7, 1 << 15, (1 << 16) + 1, n - 1):
        counting.calls = 0
        proof = consistency_proof(old, n, counting)
        assert counting.calls <= 2 * depth
        verify_consistency(old, n, proof, root_at(old, store), rng.root())


def test_bulk_equals_one_by_one_on_a_larger_tree() -> None:
    hs = distinct_leaves(5000, 7)
    bulk_range, bulk_store = build(hs)
    single, single_store = CompactRange(), MemoryNodeStore()
    for lh in hs:
        single_store.put_runs(single.append(lh))
    assert bulk_range.root() == single.root() == ref_mth(hs)
    assert bulk_range.state() == single.state()
    for level in range(14):
        for index in range(0, 5000 >> level, 97):
            assert bulk_store.get_node(level, index) == single_store.get_node(level, index)


def test_input_and_state_errors() -> None:
    rng = CompactRange()
    with pytest.raises(InputError):
        rng.append(b"short")
    with pytest.raises(InputError):
        rng.extend(b"x" * 33)
    with pytest.raises(InputError):
        rng.extend([KAT_LEAF_HASHES[0], b"short"])
    assert rng.extend(b"") == [] and rng.size == 0
    with pytest.raises(IntegrityError):
        CompactRange.from_state(3, [KAT_NODES[1][0]])
    with pytest.raises(IntegrityError):
        CompactRange.from_state(1, [b"short"])
    with pytest.raises(IntegrityError):
        CompactRange.from_state(-1, [])
    restored = CompactRange.from_state(7, KAT_BORDERS[7])
    assert restored.root() == KAT_ROOTS[7] and restored.copy().state() == KAT_BORDERS[7]
    with pytest.raises(InputError):
        inclusion_proof(8, 8, KAT_STORE)
    with pytest.raises(InputError):
        inclusion_proof(0, 0, KAT_STORE)
    with pytest.raises(InputError):
        consistency_proof(0, 5, KAT_STORE)
    with pytest.raises(InputError):
        consistency_proof(6, 5, KAT_STORE)
    with pytest.raises(InputError):
        root_at(-1, KAT_STORE)
    with pytest.raises(IntegrityError):  # the store does not hold a tree of size 9
        inclusion_proof(0, 9, KAT_STORE)
    with pytest.raises(InputError):
        split_hashes(b"x" * 31)


def test_memory_store_accepts_replay_but_not_gaps_or_rewrites() -> None:
    rng = CompactRange()
    runs = rng.extend(KAT_LEAF_HASHES[:5])
    store = MemoryNodeStore()
    store.put_runs(runs)
    store.put_runs(runs)  # replay after a crash: identical bytes, no change
    assert store.leaf_count == 5
    with pytest.raises(IntegrityError):
        store.put_run(NodeRun(0, 7, KAT_LEAF_HASHES[7]))  # gap
    with pytest.raises(IntegrityError):
        store.put_run(NodeRun(0, 4, SOME_HASH))  # different hash for a stored node
    store.put_runs(rng.extend(KAT_LEAF_HASHES[5:]))
    assert root_at(8, store) == KAT_ROOTS[8]
