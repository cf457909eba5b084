"""``dgate ledger verify``: recompute everything from storage and name the first bad entry.

Checks, in order, stopping at the first failure:

1. entry indexes run 0..n-1 with no gap or repeat (a deleted entry is named);
2. each stored event body's own ``idx`` field equals its position (a
   reordering is named);
3. each stored event body hashes to its stored leaf hash (an edited entry is
   named);
4. no signed checkpoint is larger than the log (truncation is named);
5. every decision entry, regenerated from the stored decision, its run and its
   batch, hashes to the stored leaf hash at its index, and every stored
   decision has an entry (a flipped byte in the decisions table, or a moved or
   edited leaf, is named);
6. every stored subtree node equals the one recomputed from the leaves (an
   entry rewritten together with its leaf hash is named by its subtree);
7. every stored checkpoint is signed by the ledger key and has the root
   recomputed at its size (a log rewritten wholesale, nodes included, still
   fails here).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from disclosure_gate.engine import Engine
from disclosure_gate.ledger import merkle, note
from disclosure_gate.ledger.store import (
    STORED_COLUMNS,
    STORED_DECISIONS,
    Keys,
    _leaf_bytes,
    decision_entry_sql,
    hmac_pads,
    pair_hasher,
    stored_level,
)


@dataclass
class VerifyReport:
    ok: bool
    entries: int
    checkpoints: int
    problem: str | None = None
    bad_index: int | None = None
    notes: list[str] = field(default_factory=list)

    def fail(self, idx: int | None, message: str) -> VerifyReport:
        self.ok, self.bad_index, self.problem = False, idx, message
        return self


def verify_ledger(engine: Engine, keys: Keys) -> VerifyReport:
    n = int(engine.scalar("SELECT count(*) FROM ledger_entries") or 0)
    cps = engine.fetchall("SELECT size, root, note FROM ledger_checkpoints ORDER BY size")
    report = VerifyReport(True, n, len(cps))

    gap = engine.scalar(
        "SELECT min(expected) FROM (SELECT idx, row_number() OVER (ORDER BY idx) - 1 AS expected "
        "FROM ledger_entries) WHERE idx <> expected"
    )
    if gap is not None:
        return report.fail(int(gap), f"entry {gap} is missing or repeated (the sequence breaks there)")
    moved = engine.scalar(
        "SELECT min(idx) FROM ledger_entries WHERE (body IS NOT NULL OR kind <> 'decision') "
        "AND TRY_CAST(json_extract(body, '$.idx') AS BIGINT) IS DISTINCT FROM idx"
    )
    if moved is not None:
        return report.fail(int(moved), f"entry {moved} is out of place (its body records another index)")
    edited = engine.scalar(
        "SELECT min(idx) FROM ledger_entries WHERE body IS NOT NULL "
        "AND leaf_hash <> unhex(sha256('\\x00'::BLOB || encode(body)))"
    )
    if edited is not None:
        return report.fail(int(edited), f"entry {edited} was altered (its body no longer matches its leaf hash)")
    largest = int(cps[-1][0]) if cps else 0
    if largest > n:
        return report.fail(n, f"the log is truncated: checkpoint {largest} was signed but only {n} entries remain")
    bad = _check_decisions(engine, keys)
    if bad is not None:
        return report.fail(*bad)

    leaves = _leaf_bytes(engine, 0)
    node_problem = _check_nodes(engine, leaves)
    if node_problem is not None:
        return report.fail(*node_problem)

    verifier = keys.signer.verifier()
    rng = merkle.CompactRange()
    for size_, root, signed in cps:
        size_ = int(size_)
        try:
            cp = note.open_checkpoint(str(signed), verifier, origin=keys.origin)
        except Exception:
            return report.fail(None, f"checkpoint {size_} does not carry a valid ledger signature")
        if cp.size != size_ or cp.root != bytes(root):
            return report.fail(None, f"checkpoint {size_}: the stored size or root differs from the signed note")
        rng.extend(leaves[rng.size * 32 : size_ * 32])
        if rng.root() != cp.root:
            return report.fail(
                None, f"the log was rewritten: its root at size {size_} differs from the signed checkpoint"
            )
    covered = int(cps[-1][0]) if cps else 0
    if covered < n:
        report.notes.append(f"{n - covered} entries are not yet covered by a checkpoint")
    return report


def _check_nodes(engine: Engine, leaves: bytes) -> tuple[int | None, str] | None:
    runs = merkle.CompactRange().extend(leaves, pair_hasher(engine))
    for run in runs[1:]:
        stored, problem = stored_level(engine, run.level)
        if problem is not None:
            return None, problem
        if len(stored) != len(run.hashes):
            return None, f"stored subtree nodes at level {run.level} are missing or extra"
        if stored != run.hashes:
            pos = next(i for i in range(len(run)) if stored[i * 32 : (i + 1) * 32] != run.hashes[i * 32 : (i + 1) * 32])
            first = (run.start + pos) << run.level
            last = first + (1 << run.level) - 1
            return first, (
                f"entries {first}..{last} were rewritten: stored subtree node "
                f"({run.level}, {run.start + pos}) no longer matches them"
            )
    extra = engine.scalar("SELECT count(*) FROM ledger_tiles WHERE level >= ? OR level < 1", [max(len(runs), 1)])
    if extra:
        return None, "the ledger stores subtree nodes above the top of the tree"
    return None


def _check_decisions(engine: Engine, keys: Keys) -> tuple[int | None, str] | None:
    """Regenerate every decision entry from the decision tables and compare leaf hashes."""
    if not engine.table_exists("decisions"):
        return None
    unlogged = engine.scalar(
        "SELECT count(DISTINCT run_id) FROM decisions WHERE run_id NOT IN (SELECT run_id FROM ledger_runs)"
    )
    if unlogged:
        return None, f"{unlogged} stored decision runs have no ledger entries"
    ipad, opad = hmac_pads(keys.commitment_key)
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE p_verify_leaves AS {decision_entry_sql(STORED_DECISIONS, STORED_COLUMNS)}",
        {"ipad": ipad, "opad": opad},
        label="verify decisions",
    )
    try:
        row = engine.fetchone(
            "SELECT coalesce(e.idx, x.idx), e.idx IS NULL, x.idx IS NULL, e.leaf_hash FROM p_verify_leaves x "
            "FULL OUTER JOIN (SELECT idx, leaf_hash FROM ledger_entries WHERE kind = 'decision') e ON e.idx = x.idx "
            "WHERE e.leaf_hash IS DISTINCT FROM x.leaf ORDER BY 1 LIMIT 1",
            label="verify decisions",
        )
        if row is None:
            return None
        idx = int(row[0])
        if row[1]:
            return idx, f"entry {idx}: a stored decision has no ledger entry at its index"
        if row[2]:
            return idx, f"entry {idx}: the decision it records is missing from storage"
        elsewhere = engine.scalar("SELECT min(idx) FROM p_verify_leaves WHERE leaf = ?", [row[3]])
    finally:
        engine.execute("DROP TABLE IF EXISTS p_verify_leaves")
    if elsewhere is not None:
        return idx, f"entry {idx} is out of place (it holds the leaf of entry {elsewhere})"
    return idx, f"entry {idx}: the stored decision differs from what the ledger recorded (or its leaf was altered)"
