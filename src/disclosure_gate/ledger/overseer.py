"""Verification an overseer can run with only the ledger's public key (no agency database).

* a checkpoint: the log's Ed25519 signature on a C2SP tlog-checkpoint note;
* an inclusion bundle (``dgate ledger prove --out``): the entry hashes to a leaf
  that the proof places under the checkpoint's root;
* a consistency bundle (``dgate ledger consistency --out``): the newer
  checkpoint extends the older one (nothing was rewritten or removed);
* witnessing: a cosignature/v1 on a checkpoint, only after checking it is
  consistent with the largest checkpoint this witness cosigned before.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from disclosure_gate.errors import DocumentError, InputError, IntegrityError
from disclosure_gate.ledger import merkle, note
from disclosure_gate.ledger import witness as witness_rules
from disclosure_gate.store.files import atomic_write


def read_text(path_or_value: str) -> str:
    """A key or note given inline or as a file path."""
    p = Path(path_or_value)
    try:
        if p.is_file():
            return p.read_text(encoding="utf-8")
    except OSError:
        pass
    return path_or_value


def load_verifier(key: str) -> note.Verifier:
    return note.parse_verifier_key(read_text(key).strip())


def load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DocumentError("not valid JSON", file=path) from None
    if not isinstance(data, dict):
        raise DocumentError("expected a JSON object", file=path)
    return data


def _hashes(values: Any, what: str) -> list[bytes]:
    if not isinstance(values, list):
        raise DocumentError(f"{what} must be a list of hex hashes")
    try:
        return [bytes.fromhex(v) for v in values]
    except (TypeError, ValueError):
        raise DocumentError(f"{what} must be a list of hex hashes") from None


def verify_checkpoint(note_text: str, verifier: note.Verifier) -> note.Checkpoint:
    try:
        return note.open_checkpoint(note_text, verifier)
    except (DocumentError, InputError, IntegrityError) as exc:
        raise IntegrityError(f"checkpoint does not verify: {exc}") from None


@dataclass(frozen=True)
class InclusionResult:
    checkpoint: note.Checkpoint
    index: int
    entry: dict[str, Any]


def verify_inclusion_bundle(bundle: dict[str, Any], verifier: note.Verifier) -> InclusionResult:
    cp = verify_checkpoint(str(bundle.get("checkpoint", "")), verifier)
    entry_text = bundle.get("entry")
    if not isinstance(entry_text, str):
        raise DocumentError("bundle has no entry")
    leaf = merkle.leaf_hash(entry_text.encode("utf-8"))
    if bundle.get("leaf_hash") not in (None, leaf.hex()):
        raise IntegrityError("the entry does not hash to the bundle's leaf hash")
    index = bundle.get("index")
    if not isinstance(index, int) or isinstance(index, bool):
        raise DocumentError("bundle index must be an integer")
    if bundle.get("tree_size", cp.size) != cp.size:
        raise IntegrityError("the proof is for another tree size than the checkpoint's")
    merkle.verify_inclusion(leaf, index, cp.size, _hashes(bundle.get("proof"), "proof"), cp.root)
    parsed = json.loads(entry_text)
    if parsed.get("idx") != index:
        raise IntegrityError("the entry records another index than the proof")
    return InclusionResult(cp, index, parsed)


def verify_consistency_bundle(
    bundle: dict[str, Any], verifier: note.Verifier
) -> tuple[note.Checkpoint, note.Checkpoint]:
    new = verify_checkpoint(str(bundle.get("new_checkpoint", "")), verifier)
    if bundle.get("old_checkpoint") is None and bundle.get("old_size") == 0:
        # From the empty tree the proof is empty (c2sp.org/tlog-witness): no signed size-0 checkpoint needed.
        if _hashes(bundle.get("proof"), "proof"):
            raise IntegrityError("a consistency proof from the empty tree must be empty")
        return note.Checkpoint(new.origin, 0, merkle.EMPTY_ROOT), new
    old = verify_checkpoint(str(bundle.get("old_checkpoint", "")), verifier)
    if old.origin != new.origin:
        raise IntegrityError("the two checkpoints are from different logs")
    proof = _hashes(bundle.get("proof"), "proof")
    if old.size == 0:
        if proof or old.root != merkle.EMPTY_ROOT:
            raise IntegrityError("a checkpoint of the empty tree must have the empty root and an empty proof")
        return old, new
    merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)
    return old, new


def cosign_checkpoint(
    note_text: str,
    verifier: note.Verifier,
    witness: note.Signer,
    state_file: Path,
    consistency: dict[str, Any] | None = None,
    *,
    now: int | None = None,
    dry_run: bool = False,
) -> str:
    """Witness a checkpoint: verify it, check consistency with the last one cosigned, cosign.

    ``state_file`` holds the largest checkpoint this witness has cosigned for
    the log (the signed note, as before). The rules are the tlog-witness ones
    of :func:`disclosure_gate.ledger.witness.check_update`, shared with
    ``dgate-verify witness serve``: a smaller checkpoint (a rollback), the same
    size with another root (a fork), or a larger one without a verifying
    consistency proof from the recorded checkpoint is refused, so a witness
    never endorses a fork or a rollback. The state file is replaced atomically
    while ``<state_file>.lock`` is held.
    """
    cp = verify_checkpoint(note_text, verifier)
    lock = contextlib.nullcontext() if dry_run else witness_rules.StateLock(state_file)
    with lock:
        recorded = witness_rules.EMPTY_STATE
        proof: list[bytes] = []
        if state_file.exists():
            previous = verify_checkpoint(state_file.read_text(encoding="utf-8"), verifier)
            if previous.origin != cp.origin:
                raise IntegrityError(
                    f"refusing to cosign: the state file is for log {previous.origin!r}, not {cp.origin!r}"
                )
            recorded = witness_rules.LogState(previous.size, previous.root)
        if cp.size > recorded.size > 0:
            if consistency is None:
                raise InputError(
                    "a consistency proof from the last witnessed checkpoint is required "
                    f"(dgate ledger consistency --from {recorded.size})"
                )
            old, new = verify_consistency_bundle(consistency, verifier)
            if (old.size, old.root, new.size, new.root) != (recorded.size, recorded.root, cp.size, cp.root):
                raise IntegrityError("the consistency proof is not between the witnessed and the new checkpoint")
            proof = _hashes(consistency.get("proof"), "proof")
        try:
            witness_rules.check_update(recorded, recorded.size, cp, proof)
        except witness_rules.WitnessRefusal as exc:
            raise IntegrityError(f"refusing to cosign: {exc.message}") from None
        if dry_run:  # every check passed; nothing signed, the state file untouched
            return note_text
        cosigned = note.cosign(note_text, witness, int(time.time()) if now is None else now)
        atomic_write(state_file, note_text)
    return cosigned
