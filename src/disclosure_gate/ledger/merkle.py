"""RFC 6962 / RFC 9162 Merkle tree: hashing, compact ranges, proofs, verifiers.

Hashing (RFC 6962 §2.1, RFC 9162 §2.1.1)::

    MTH({})    = SHA-256()
    MTH({d0})  = SHA-256(0x00 || d0)                       leaf_hash
    MTH(D[n])  = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))  node_hash
                 where k is the largest power of two smaller than n

Storage model. A *perfect subtree* node is named ``(level, index)``: it covers
the leaves ``[index * 2**level, (index + 1) * 2**level)``. Level 0 nodes are the
leaf hashes. Once complete, a perfect node never changes, so a store can write
it once and keep it forever. :class:`CompactRange` appends leaf hashes and
returns every node it completes as :class:`NodeRun` values (a level, a start
index and the concatenated 32-byte hashes); a store persists those runs and
answers :meth:`NodeStore.get_node`. Proofs are then computed from stored nodes
only: O(log n) look-ups for perfect siblings plus at most one "ragged" right
sibling (a subtree that ends at the tree's right edge), which is folded from
its O(log n) perfect pieces. No proof rebuilds the tree.

Verification follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency)
step by step and raises :class:`~disclosure_gate.errors.IntegrityError` on any
failure. Edge-case behaviour matches the transparency-dev/merkle test vectors
(``testdata/inclusion``, ``testdata/consistency``), including: a consistency
proof from size 0 is always rejected ("meaningless"), and equal sizes need an
empty proof and equal roots.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from disclosure_gate.errors import InputError, IntegrityError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "MemoryNodeStore",
    "NodeRun",
    "NodeStore",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "leaf_hashes",
    "node_hash",
    "root_at",
    "root_from_inclusion_proof",
    "root_from_leaf_hashes",
    "split_hashes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

# Pre-fed hash contexts: copying one is cheaper than hashing a concatenation.
_LEAF_CTX = hashlib.sha256(b"\x00")
_NODE_CTX = hashlib.sha256(b"\x01")


# --------------------------------------------------------------------------
# Hashing
# --------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    h = _LEAF_CTX.copy()
    h.update(data)
    return h.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    h = _NODE_CTX.copy()
    h.update(left)
    h.update(right)
    return h.digest()


def leaf_hashes(datas: Iterable[bytes]) -> bytes:
    """Bulk :func:`leaf_hash`: the leaf hashes of ``datas``, concatenated (32 bytes each)."""
    copy = _LEAF_CTX.copy
    out: list[bytes] = []
    append = out.append
    for data in datas:
        h = copy()
        h.update(data)
        append(h.digest())
    return b"".join(out)


def split_hashes(buf: bytes) -> list[bytes]:
    """Split concatenated 32-byte hashes into a list."""
    if len(buf) % HASH_SIZE:
        raise InputError(f"hash buffer of {len(buf)} bytes is not a multiple of {HASH_SIZE}")
    return [buf[i : i + HASH_SIZE] for i in range(0, len(buf), HASH_SIZE)]


PairHasher = Callable[[bytes, int], bytes]
"""``(buf, pairs) -> parents``: node_hash over consecutive pairs of the first ``2 * pairs`` hashes of ``buf``."""


def hash_pairs(buf: bytes, pairs: int) -> bytes:
    """node_hash over consecutive pairs of the first ``2 * pairs`` hashes of ``buf``.

    The plain-Python reference (about 0.7 M nodes/s). Storage layers may pass a
    set-based :data:`PairHasher` to :meth:`CompactRange.extend` for big levels.
    """
    view = memoryview(buf)
    copy = _NODE_CTX.copy
    out: list[bytes] = []
    append = out.append
    for off in range(0, pairs * 2 * HASH_SIZE, 2 * HASH_SIZE):
        h = copy()
        h.update(view[off : off + 2 * HASH_SIZE])
        append(h.digest())
    return b"".join(out)


def _as_concat(hashes: bytes | bytearray | memoryview | Sequence[bytes]) -> bytes:
    if isinstance(hashes, bytes | bytearray | memoryview):
        buf = bytes(hashes)
        if len(buf) % HASH_SIZE:
            raise InputError(f"leaf hash buffer of {len(buf)} bytes is not a multiple of {HASH_SIZE}")
        return buf
    for pos, h in enumerate(hashes):
        if len(h) != HASH_SIZE:
            raise InputError(f"leaf hash #{pos} is {len(h)} bytes, expected {HASH_SIZE}")
    return b"".join(hashes)


def _largest_pow2_below(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves (iterative; equal to the recursive RFC definition)."""
    if not hashes:
        return EMPTY_ROOT
    rng = CompactRange()
    rng.extend(hashes)
    return rng.root()


# --------------------------------------------------------------------------
# Node runs and stores
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeRun:
    """Consecutive perfect-subtree nodes on one level.

    ``hashes`` concatenates the 32-byte hashes of nodes ``(level, start)``,
    ``(level, start + 1)``, ... A store may keep a run as one blob or split it
    into rows with :meth:`nodes`.
    """

    level: int
    start: int
    hashes: bytes

    def __len__(self) -> int:
        return len(self.hashes) // HASH_SIZE

    def nodes(self) -> Iterator[tuple[int, int, bytes]]:
        """Yield ``(level, index, hash)`` for each node of the run."""
        for k in range(len(self)):
            yield self.level, self.start + k, self.hashes[k * HASH_SIZE : (k + 1) * HASH_SIZE]


class NodeStore(Protocol):
    """Read access to stored perfect-subtree nodes.

    ``get_node(level, index)`` returns the 32-byte hash of the perfect subtree
    covering leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 is
    the leaf hashes. It must raise :class:`IntegrityError` when the node is not
    stored (a proof was asked for a tree the store does not fully hold).
    """

    def get_node(self, level: int, index: int) -> bytes: ...


class MemoryNodeStore:
    """In-memory :class:`NodeStore`: one contiguous byte buffer per level.

    Runs must arrive in order per level (as :class:`CompactRange` emits them).
    Re-putting nodes already held is accepted if the bytes are identical, so a
    replay after a crash is harmless; a gap or a different hash raises
    :class:`IntegrityError`.
    """

    def __init__(self) -> None:
        self._levels: list[bytearray] = []

    @property
    def leaf_count(self) -> int:
        """How many leaf hashes (level-0 nodes) the store holds."""
        return len(self._levels[0]) // HASH_SIZE if self._levels else 0

    def put_run(self, run: NodeRun) -> None:
        while len(self._levels) <= run.level:
            self._levels.append(bytearray())
        level = self._levels[run.level]
        have = len(level) // HASH_SIZE
        if run.start > have:
            raise IntegrityError(
                f"node run at level {run.level} starts at {run.start} but only {have} nodes are stored"
            )
        overlap = min(have - run.start, len(run)) * HASH_SIZE
        begin = run.start * HASH_SIZE
        if level[begin : begin + overlap] != run.hashes[:overlap]:
            raise IntegrityError(f"node run at level {run.level} rewrites stored node {run.start} or later")
        level += run.hashes[overlap:]

    def put_runs(self, runs: Iterable[NodeRun]) -> None:
        for run in runs:
            self.put_run(run)

    def get_node(self, level: int, index: int) -> bytes:
        if level < 0 or index < 0 or level >= len(self._levels):
            raise IntegrityError(f"node ({level}, {index}) is not stored")
        buf = self._levels[level]
        end = (index + 1) * HASH_SIZE
        if end > len(buf):
            raise IntegrityError(f"node ({level}, {index}) is not stored")
        return bytes(buf[end - HASH_SIZE : end])


# --------------------------------------------------------------------------
# Compact range (append-only accumulator)
# --------------------------------------------------------------------------


class CompactRange:
    """Append-only accumulator for the tree ``[0, size)``.

    It keeps only the right border: one perfect-subtree hash per set bit of
    ``size`` (O(log n) memory). Appending is O(1) amortised hashing per leaf.
    Both :meth:`append` and :meth:`extend` return the :class:`NodeRun` values
    for every node they complete, level 0 (the leaf hashes themselves)
    included; hand them to the node store. :meth:`state` / :meth:`from_state`
    let a store persist the accumulator between runs.
    """

    __slots__ = ("_border", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._border: dict[int, bytes] = {}  # level -> hash of the border node at that level

    @classmethod
    def from_state(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        """Rebuild from :attr:`size` and :meth:`state` (border hashes, highest level first)."""
        if size < 0:
            raise IntegrityError(f"compact range size {size} is negative")
        levels = [lvl for lvl in range(size.bit_length() - 1, -1, -1) if size >> lvl & 1]
        if len(hashes) != len(levels):
            raise IntegrityError(f"compact range of size {size} needs {len(levels)} border hashes, got {len(hashes)}")
        rng = cls()
        for lvl, h in zip(levels, hashes, strict=True):
            if len(h) != HASH_SIZE:
                raise IntegrityError(f"border hash is {len(h)} bytes, expected {HASH_SIZE}")
            rng._border[lvl] = bytes(h)
        rng._size = size
        return rng

    @classmethod
    def from_store(cls, size: int, store: NodeStore) -> CompactRange:
        """Rebuild the accumulator for ``[0, size)`` from stored perfect nodes."""
        return cls.from_state(size, _decompose(0, size, store))

    @property
    def size(self) -> int:
        return self._size

    def state(self) -> list[bytes]:
        """The border hashes, highest level (leftmost subtree) first."""
        return [self._border[lvl] for lvl in sorted(self._border, reverse=True)]

    def copy(self) -> CompactRange:
        return CompactRange.from_state(self._size, self.state())

    def root(self) -> bytes:
        """MTH of the leaves appended so far."""
        if not self._border:
            return EMPTY_ROOT
        levels = sorted(self._border)
        acc = self._border[levels[0]]
        for lvl in levels[1:]:
            acc = node_hash(self._border[lvl], acc)
        return acc

    def append(self, leaf_hash: bytes) -> list[NodeRun]:
        """Append one leaf hash; return the leaf and every node it completes."""
        if len(leaf_hash) != HASH_SIZE:
            raise InputError(f"leaf hash is {len(leaf_hash)} bytes, expected {HASH_SIZE}")
        cur = bytes(leaf_hash)
        index = self._size
        level = 0
        runs = [NodeRun(0, index, cur)]
        while index & 1:
            cur = node_hash(self._border.pop(level), cur)
            level += 1
            index >>= 1
            runs.append(NodeRun(level, index, cur))
        self._border[level] = cur
        self._size += 1
        return runs

    def extend(self, leaf_hashes: bytes | bytearray | memoryview | Sequence[bytes],
               pair_hasher: PairHasher | None = None) -> list[NodeRun]:
        """Append many leaf hashes at once (bulk path).

        ``leaf_hashes`` is either concatenated 32-byte hashes or a sequence of
        them. Nodes are computed level by level over contiguous buffers: n new
        leaves cost about n SHA-256 calls (one per completed interior node) and
        no per-node Python objects beyond the digests. ``pair_hasher`` replaces
        the per-pair Python loop (the store passes a set-based one). Returns one
        run per level touched.
        """
        buf = _as_concat(leaf_hashes)
        count = len(buf) // HASH_SIZE
        if count == 0:
            return []
        runs = [NodeRun(0, self._size, buf)]
        level = 0
        start = self._size  # index of buf's first node on this level
        cur = buf
        while cur:
            if start & 1:  # the first new node is a right child: pull its left sibling from the border
                cur = self._border.pop(level) + cur
                start -= 1
            n = len(cur) // HASH_SIZE
            if n & 1:
                self._border[level] = cur[-HASH_SIZE:]
            parents = (pair_hasher or hash_pairs)(cur, n // 2)
            level += 1
            start >>= 1
            if parents:
                runs.append(NodeRun(level, start, parents))
            cur = parents
        self._size += count
        return runs


# --------------------------------------------------------------------------
# Proofs from stored nodes
# --------------------------------------------------------------------------


def _decompose(begin: int, end: int, store: NodeStore) -> list[bytes]:
    """Stored perfect nodes covering ``[begin, end)``, left to right (largest first)."""
    out: list[bytes] = []
    while begin < end:
        lvl = (end - begin).bit_length() - 1
        if begin:
            lvl = min(lvl, (begin & -begin).bit_length() - 1)
        out.append(store.get_node(lvl, begin >> lvl))
        begin += 1 << lvl
    return out


def _subtree_root(begin: int, end: int, store: NodeStore) -> bytes:
    """MTH(D[begin:end]) for an RFC 6962 subtree (``begin`` aligned as the recursion makes it).

    One look-up when the subtree is perfect; otherwise its O(log n) perfect
    pieces are folded right to left.
    """
    size = end - begin
    if size & (size - 1) == 0:
        lvl = size.bit_length() - 1
        return store.get_node(lvl, begin >> lvl)
    pieces = _decompose(begin, end, store)
    acc = pieces[-1]
    for h in reversed(pieces[:-1]):
        acc = node_hash(h, acc)
    return acc


def root_at(size: int, store: NodeStore) -> bytes:
    """MTH of the first ``size`` leaves, from stored nodes (O(log n))."""
    if size < 0:
        raise InputError(f"tree size {size} is negative")
    return EMPTY_ROOT if size == 0 else _subtree_root(0, size, store)


def inclusion_proof(index: int, size: int, store: NodeStore) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[size]), bottom-up, from stored nodes."""
    if not 0 <= index < size:
        raise InputError(f"leaf index {index} is outside a tree of size {size}")
    top_down: list[bytes] = []
    begin, end = 0, size
    while end - begin > 1:
        k = _largest_pow2_below(end - begin)
        if index < begin + k:
            top_down.append(_subtree_root(begin + k, end, store))
            end = begin + k
        else:
            top_down.append(_subtree_root(begin, begin + k, store))
            begin += k
    top_down.reverse()
    return top_down


def consistency_proof(size1: int, size2: int, store: NodeStore) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(size1, D[size2]) from stored nodes; needs 0 < size1 <= size2."""
    if not 0 < size1 <= size2:
        raise InputError(f"no consistency proof from size {size1} to size {size2}")
    top_down: list[bytes] = []
    begin, end, m, whole = 0, size2, size1, True
    while True:
        n = end - begin
        if m == n:
            if not whole:
                top_down.append(_subtree_root(begin, end, store))
            break
        k = _largest_pow2_below(n)
        if m <= k:
            top_down.append(_subtree_root(begin + k, end, store))
            end = begin + k
        else:
            top_down.append(_subtree_root(begin, begin + k, store))
            begin += k
            m -= k
            whole = False
    top_down.reverse()
    return top_down


# --------------------------------------------------------------------------
# Verifiers (RFC 9162 §2.1.3.2 and §2.1.4.2)
# --------------------------------------------------------------------------


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise IntegrityError(f"{what} is {len(value)} bytes, expected {HASH_SIZE}")


def _check_proof(proof: Sequence[bytes]) -> None:
    for pos, h in enumerate(proof):
        _check_hash(h, f"proof element {pos}")


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for ``leaf_hash`` at ``index`` in a tree of ``size``.

    RFC 9162 §2.1.3.2 steps 1-5, except the final comparison with a root.
    """
    if index < 0 or size < 0:
        raise IntegrityError(f"negative leaf index {index} or tree size {size}")
    if index >= size:
        raise IntegrityError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash(leaf_hash, "leaf hash")
    _check_proof(proof)
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            raise IntegrityError("inclusion proof has too many elements")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise IntegrityError("inclusion proof has too few elements")
    return r


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Raise :class:`IntegrityError` unless ``proof`` shows ``leaf_hash`` at ``index`` under ``root``."""
    computed = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if not hmac.compare_digest(computed, root):
        raise IntegrityError(f"inclusion proof for leaf {index} does not match the tree head at size {size}")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Raise :class:`IntegrityError` unless ``proof`` shows tree ``size2`` extends tree ``size1``.

    RFC 9162 §2.1.4.2. Boundary rules (as the transparency-dev vectors expect):
    ``size1 > size2`` fails; ``size1 == 0`` fails (nothing to prove); equal
    sizes require an empty proof and identical roots.
    """
    if size1 < 0 or size2 < 0:
        raise IntegrityError(f"negative tree size {size1} or {size2}")
    if size1 > size2:
        raise IntegrityError(f"tree size went backwards from {size1} to {size2}")
    if size1 == 0:
        raise IntegrityError("a consistency proof from the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise IntegrityError("sizes are equal, so the consistency proof must be empty")
        if not hmac.compare_digest(root1, root2):
            raise IntegrityError(f"two different tree heads for size {size1}")
        return
    _check_hash(root1, "first root")
    _check_hash(root2, "second root")
    _check_proof(proof)
    if not proof:  # step 1
        raise IntegrityError("consistency proof is empty")
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # step 2
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise IntegrityError("consistency proof has too many elements")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 7
        raise IntegrityError("consistency proof has too few elements")
    if not hmac.compare_digest(fr, root1):
        raise IntegrityError(f"consistency proof does not lead to the tree head at size {size1}")
    if not hmac.compare_digest(sr, root2):
        raise IntegrityError(f"consistency proof does not lead to the tree head at size {size2}")
