"""The ledger's storage: entries, subtree nodes and signed checkpoints in DuckDB.

* **Entries** are canonical JSON (UTF-8). Decisions are serialised in SQL with
  ``json_object`` (a fixed key order) and hashed there:
  ``leaf = SHA-256(0x00 || entry)``. Other events are ``json.dumps`` with
  sorted keys. Every entry carries its own index, so a reordering is detectable.
* **No confidential values**: the person is named by a keyed commitment,
  ``HMAC-SHA-256(commitment key, "tin:" || TIN)``, computed set-based in SQL.
  The key stays in the home's ``keys/`` folder.
* **Nodes**: every perfect subtree hash (level >= 1) is stored when it
  completes, so an inclusion or consistency proof reads O(log n) nodes and
  never rebuilds the tree.
* **Appends** happen inside the caller's transaction (the one that stores the
  decisions): a decision without its leaf cannot exist.
* **Checkpoints** are C2SP tlog-checkpoint signed notes (Ed25519). Before
  signing, the new tree is proved consistent with the last checkpoint, so the
  agency never signs two inconsistent checkpoints.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..engine import Engine
from ..errors import HomeError, IntegrityError, NotFoundError
from . import merkle, note

ENTRY_VERSION = 1
_DDL = (
    """CREATE TABLE IF NOT EXISTS ledger_entries (
        idx BIGINT NOT NULL, kind VARCHAR NOT NULL, body VARCHAR NOT NULL, leaf_hash BLOB NOT NULL,
        run_id VARCHAR, request_id VARCHAR, subject VARCHAR, created_at TIMESTAMP NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS ledger_nodes (level INTEGER NOT NULL, idx BIGINT NOT NULL, hash BLOB NOT NULL)",
    """CREATE TABLE IF NOT EXISTS ledger_checkpoints (
        size BIGINT PRIMARY KEY, root BLOB NOT NULL, note VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL)""",
)


# -- keys --------------------------------------------------------------------------
@dataclass(frozen=True)
class Keys:
    origin: str
    signer: note.Signer
    commitment_key: bytes

    @property
    def verifier_key(self) -> str:
        return note.verifier_key_string(self.signer)


def _keys_dir(home: Path) -> Path:
    return home / "keys"


def ensure_keys(home: Path, origin: str | None = None) -> Keys:
    """Create the ledger signing key and the commitment key once (at ``dgate init``)."""
    d = _keys_dir(home)
    d.mkdir(mode=0o700, exist_ok=True)
    skey_file, ckey_file = d / "ledger.skey", d / "commitment.key"
    if not skey_file.exists():
        name = origin or f"disclosure-gate.local/{secrets.token_hex(4)}"
        signer = note.generate_signer(name)
        _write_secret(skey_file, note.signer_key_string(signer) + "\n")
        (d / "ledger.vkey").write_text(note.verifier_key_string(signer) + "\n")
    if not ckey_file.exists():
        _write_secret(ckey_file, secrets.token_hex(32) + "\n")
    return load_keys(home)


def _write_secret(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_keys(home: Path) -> Keys:
    d = _keys_dir(home)
    try:
        signer = note.parse_signer_key((d / "ledger.skey").read_text().strip())
        ckey = bytes.fromhex((d / "commitment.key").read_text().strip())
    except FileNotFoundError:
        raise HomeError(f"ledger keys missing in {d}: run 'dgate init'") from None
    return Keys(origin=signer.name, signer=signer, commitment_key=ckey)


def commitment(key: bytes, tin: str) -> str:
    """The subject commitment for a TIN (hex). Same value as the SQL in :func:`commitment_sql`."""
    return hmac.new(key, f"tin:{tin}".encode(), hashlib.sha256).hexdigest()


def _pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer padded keys (RFC 2104), for the SQL form of the HMAC."""
    block = (key if len(key) <= 64 else hashlib.sha256(key).digest()).ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def commitment_sql(tin_expr: str) -> str:
    """HMAC-SHA-256 in SQL; takes parameters ``$ipad`` and ``$opad`` (BLOB)."""
    inner = f"unhex(sha256($ipad::BLOB || encode('tin:' || {tin_expr})))"
    return f"CASE WHEN {tin_expr} IS NULL THEN NULL ELSE sha256($opad::BLOB || {inner}) END"


# -- store ---------------------------------------------------------------------------
class DuckNodeStore:
    """:class:`merkle.NodeStore` over ``ledger_entries`` (level 0) and ``ledger_nodes``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get_node(self, level: int, index: int) -> bytes:
        if level == 0:
            value = self.engine.scalar("SELECT leaf_hash FROM ledger_entries WHERE idx = ?", [index])
        else:
            value = self.engine.scalar("SELECT hash FROM ledger_nodes WHERE level = ? AND idx = ?", [level, index])
        if value is None:
            raise IntegrityError(f"ledger node ({level}, {index}) is not stored")
        return bytes(value)


def install(engine: Engine) -> None:
    for ddl in _DDL:
        engine.execute(ddl, label="ledger schema")


def size(engine: Engine) -> int:
    return int(engine.scalar("SELECT coalesce(max(idx) + 1, 0) FROM ledger_entries") or 0)


def _store_runs(engine: Engine, runs: list[merkle.NodeRun]) -> None:
    for run in runs:
        if run.level == 0 or not len(run):
            continue
        n = len(run)
        hashes = pa.FixedSizeBinaryArray.from_buffers(pa.binary(merkle.HASH_SIZE), n, [None, pa.py_buffer(run.hashes)])
        table = pa.table(
            {
                "level": pa.array(np.full(n, run.level, dtype=np.int32)),
                "idx": pa.array(np.arange(run.start, run.start + n, dtype=np.int64)),
                "hash": hashes,
            }
        )
        engine.register("ledger_run_view", table)
        try:
            engine.execute(
                "INSERT INTO ledger_nodes SELECT level, idx, hash::BLOB FROM ledger_run_view", label="ledger nodes"
            )
        finally:
            engine.unregister("ledger_run_view")


def _leaf_bytes(engine: Engine, first: int) -> bytes:
    table = engine.fetch_arrow("SELECT leaf_hash FROM ledger_entries WHERE idx >= ? ORDER BY idx", [first])
    col = table.column(0).combine_chunks()
    if len(col) == 0:
        return b""
    offsets = np.frombuffer(col.buffers()[1], dtype=np.int32 if col.type == pa.binary() else np.int64)
    start, end = int(offsets[col.offset]), int(offsets[col.offset + len(col)])
    data: bytes = col.buffers()[2].to_pybytes()[start:end]
    if len(data) != merkle.HASH_SIZE * len(col):
        raise IntegrityError("a stored leaf hash is not 32 bytes")
    return data


def _grow_tree(engine: Engine, old_size: int) -> int:
    """Compute and store the nodes completed by entries ``[old_size, size)``."""
    new = _leaf_bytes(engine, old_size)
    if not new:
        return old_size
    rng = merkle.CompactRange.from_store(old_size, DuckNodeStore(engine))
    _store_runs(engine, rng.extend(new))
    return rng.size


def canonical(body: Mapping[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def append_event(engine: Engine, kind: str, fields: Mapping[str, Any]) -> int:
    """Append one non-decision event (release, agreement, snapshot, policy...). Returns its index."""
    install(engine)
    with engine.transaction():
        idx = size(engine)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        body = canonical(
            {
                "v": ENTRY_VERSION,
                "idx": idx,
                "type": "event",
                "kind": kind,
                "at": now.isoformat(timespec="seconds") + "Z",
                **fields,
            }
        )
        engine.execute(
            "INSERT INTO ledger_entries SELECT ?, ?, ?, unhex(sha256('\\x00'::BLOB || encode(?))), NULL, NULL, NULL, ?",
            [idx, kind, body, body, now],
            label="ledger event",
        )
        _grow_tree(engine, idx)
    return idx


def decision_body_sql(base: str, source: str = "p_ledger_src s") -> str:
    """Decision entry bodies from ``source`` (alias ``s``, see :func:`source_sql`).

    ``base`` is an SQL expression for the run's first ledger index. Parameters: $ipad, $opad.
    The subject commitment is computed once per row (it costs two SHA-256 calls).
    """
    subject = commitment_sql("s.matched_tin")
    return f"""
WITH c AS MATERIALIZED (SELECT s.*, {base} + s.rn - 1 AS idx, {subject} AS subject FROM {source})
SELECT c.idx, c.request_id, c.run_id, c.subject,
  json_object('v', {ENTRY_VERSION}, 'idx', c.idx, 'type', 'decision',
              'run', c.run_id, 'batch', c.batch_id, 'agreement', c.agreement_id,
              'request_id', c.request_id, 'decision', c.decision,
              'reasons', list_filter(string_split(c.reasons, ';'), lambda x: x <> ''),
              'match_basis', c.match_basis, 'policy', c.policy, 'as_of', c.as_of,
              'subject', c.subject)::VARCHAR AS body
FROM c
"""


def source_sql(run_id_param: bool = True) -> str:
    """The columns a decision entry is made of, from the stored decision tables."""
    where = "d.run_id = $run" if run_id_param else "true"
    return f"""
SELECT row_number() OVER (PARTITION BY d.run_id ORDER BY d._row) AS rn, d.run_id, r.batch_id, b.agreement_id,
       d.request_id, d.decision, d.reasons, d.match_basis, r.policy_id || '@sha256:' || r.policy_sha256 AS policy,
       CAST(r.as_of AS VARCHAR) AS as_of, d.matched_tin
FROM decisions d JOIN runs r USING (run_id) JOIN batches b ON b.batch_id = r.batch_id
WHERE {where}
"""


def append_decisions(engine: Engine, run_id: str, keys: Keys) -> tuple[int, int]:
    """Append one leaf per stored decision of ``run_id``. Call inside the storing transaction."""
    install(engine)
    base = size(engine)
    ipad, opad = _pads(keys.commitment_key)
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE p_ledger_src AS {source_sql()}", {"run": run_id}, label="ledger source"
    )
    try:
        engine.execute(
            "INSERT INTO ledger_entries SELECT idx, 'decision', body, "
            "unhex(sha256('\\x00'::BLOB || encode(body))), run_id, request_id, subject, now()::TIMESTAMP "
            f"FROM ({decision_body_sql(str(base))}) ORDER BY idx",
            {"ipad": ipad, "opad": opad},
            label="ledger decisions",
        )
    finally:
        engine.execute("DROP TABLE IF EXISTS p_ledger_src")
    new_size = _grow_tree(engine, base)
    return base, new_size


# -- checkpoints -------------------------------------------------------------------------
@dataclass(frozen=True)
class SignedCheckpoint:
    size: int
    root: bytes
    note: str


def latest_checkpoint(engine: Engine) -> SignedCheckpoint | None:
    install(engine)
    row = engine.fetchone("SELECT size, root, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1")
    return None if row is None else SignedCheckpoint(int(row[0]), bytes(row[1]), str(row[2]))


def checkpoint_covering(engine: Engine, idx: int) -> SignedCheckpoint | None:
    row = engine.fetchone("SELECT size, root, note FROM ledger_checkpoints WHERE size > ? ORDER BY size LIMIT 1", [idx])
    return None if row is None else SignedCheckpoint(int(row[0]), bytes(row[1]), str(row[2]))


def make_checkpoint(engine: Engine, keys: Keys) -> SignedCheckpoint:
    """Sign the current tree head, after proving it consistent with the last one signed."""
    install(engine)
    n = size(engine)
    store = DuckNodeStore(engine)
    last = latest_checkpoint(engine)
    if last is not None and last.size == n:
        if merkle.root_at(n, store) != last.root:
            raise IntegrityError(f"the ledger no longer matches checkpoint {n}: refusing to sign")
        return last
    root = merkle.root_at(n, store) if n else merkle.EMPTY_ROOT
    if last is not None and last.size > 0:
        if last.size > n:
            raise IntegrityError(
                f"the ledger has {n} entries but checkpoint {last.size} was signed: refusing to sign a shorter tree"
            )
        proof = merkle.consistency_proof(last.size, n, store)
        try:
            merkle.verify_consistency(last.size, n, proof, last.root, root)
        except IntegrityError:
            raise IntegrityError(
                f"the ledger is not consistent with checkpoint {last.size}: refusing to sign"
            ) from None
    signed = note.sign_checkpoint(note.Checkpoint(keys.origin, n, root), keys.signer)
    engine.execute(
        "INSERT INTO ledger_checkpoints VALUES (?, ?, ?, ?)",
        [n, root, signed, dt.datetime.now(dt.UTC).replace(tzinfo=None)],
        label="checkpoint",
    )
    return SignedCheckpoint(n, root, signed)


# -- proofs --------------------------------------------------------------------------------
def entry(engine: Engine, idx: int) -> tuple[str, bytes]:
    row = engine.fetchone("SELECT body, leaf_hash FROM ledger_entries WHERE idx = ?", [idx])
    if row is None:
        raise NotFoundError(f"no ledger entry {idx}")
    return str(row[0]), bytes(row[1])


def find_decision_entry(engine: Engine, run_id: str, request_id: str) -> int:
    value = engine.scalar(
        "SELECT idx FROM ledger_entries WHERE run_id = ? AND request_id = ? AND kind = 'decision'", [run_id, request_id]
    )
    if value is None:
        raise NotFoundError(f"no ledger entry for request '{request_id}' in run {run_id}")
    return int(value)


def inclusion_bundle(engine: Engine, idx: int, checkpoint: SignedCheckpoint) -> dict[str, Any]:
    """Everything an overseer needs to check one entry with only the public key."""
    body, leaf = entry(engine, idx)
    proof = merkle.inclusion_proof(idx, checkpoint.size, DuckNodeStore(engine))
    return {
        "index": idx,
        "entry": body,
        "leaf_hash": leaf.hex(),
        "tree_size": checkpoint.size,
        "proof": [p.hex() for p in proof],
        "checkpoint": checkpoint.note,
    }


def consistency_bundle(engine: Engine, old: SignedCheckpoint, new: SignedCheckpoint) -> dict[str, Any]:
    proof = merkle.consistency_proof(old.size, new.size, DuckNodeStore(engine))
    return {"old_checkpoint": old.note, "new_checkpoint": new.note, "proof": [p.hex() for p in proof]}


def checkpoint_at(engine: Engine, size_: int) -> SignedCheckpoint:
    row = engine.fetchone("SELECT size, root, note FROM ledger_checkpoints WHERE size = ?", [size_])
    if row is None:
        raise NotFoundError(f"no checkpoint of size {size_}")
    return SignedCheckpoint(int(row[0]), bytes(row[1]), str(row[2]))
