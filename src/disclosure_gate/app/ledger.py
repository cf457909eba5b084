"""The ledger: checkpoints (and their witnesses), proofs, verification, browsing events."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from disclosure_gate.app.plans import Plan
from disclosure_gate.app.session import Session
from disclosure_gate.clock import naive_utc
from disclosure_gate.errors import ConflictError, DgateError, NotFoundError, UsageError
from disclosure_gate.ledger import merkle, note, state, witness_net
from disclosure_gate.ledger import store as ledger
from disclosure_gate.ledger import witness as witness_mod
from disclosure_gate.ledger.verify import VerifyReport, verify_ledger
from disclosure_gate.pipeline import decide

WITNESS_TIMEOUT = 10.0


@dataclass(frozen=True)
class WitnessOutcome:
    name: str
    ok: bool
    message: str


@dataclass(frozen=True)
class Published:
    checkpoint: ledger.SignedCheckpoint
    cosigned: str  # the checkpoint note with every cosignature received for it
    witnesses: list[WitnessOutcome]


def key(s: Session) -> str:
    s.authorize("ledger.view")
    return s.keys.verifier_key


def cosigned_note(s: Session, cp: ledger.SignedCheckpoint) -> str:
    text = cp.note
    for (line,) in s.engine.fetchall("SELECT line FROM cosignatures WHERE size = ? ORDER BY witness", [cp.size]):
        text = witness_net.attach_cosignature(text, str(line))
    return text


def _witness_one(s: Session, name: str, url: str, vkey: str, last: int, cp: ledger.SignedCheckpoint) -> WitnessOutcome:
    store = ledger.DuckNodeStore(s.engine)

    def proof_from(old: int) -> list[bytes]:
        if old in (0, cp.size):
            return []
        return merkle.consistency_proof(old, cp.size, store)

    try:
        try:
            line = witness_net.request_cosignature(url, vkey, cp.note, last, proof_from(last), timeout=WITNESS_TIMEOUT)
        except witness_mod.WitnessConflict as exc:
            if exc.recorded_size > cp.size:
                raise DgateError(f"witness {name} has cosigned a larger tree ({exc.recorded_size}) than this log "
                                 f"({cp.size}): the log may have been rewritten") from None
            line = witness_net.request_cosignature(url, vkey, cp.note, exc.recorded_size,
                                                   proof_from(exc.recorded_size), timeout=WITNESS_TIMEOUT)
    except DgateError as exc:
        with s.engine.transaction():
            s.engine.execute("UPDATE witnesses SET last_error = ?, last_error_at = ? WHERE name = ?",
                             [exc.message[:500], naive_utc(s.engine.clock), name], label="witness")
        return WitnessOutcome(name, False, exc.message)
    with s.engine.transaction():
        s.engine.execute("DELETE FROM cosignatures WHERE size = ? AND witness = ?", [cp.size, name])
        s.engine.execute("INSERT INTO cosignatures VALUES (?, ?, ?, ?)", [cp.size, name, line,
                                                                          naive_utc(s.engine.clock)])
        s.engine.execute("UPDATE witnesses SET last_size = ?, last_error = NULL, last_error_at = NULL WHERE name = ?",
                         [cp.size, name], label="witness")
    return WitnessOutcome(name, True, f"cosigned size {cp.size}")


def publish(s: Session) -> Published:
    """Sign a checkpoint of the current tree (if it grew) and send it to every configured witness."""
    cp = ledger.make_checkpoint(s.engine, s.keys)
    outcomes = []
    for name, url, vkey, last in s.engine.fetchall(
            "SELECT name, url, vkey, coalesce(last_size, 0) FROM witnesses ORDER BY name", label="witnesses"):
        if int(last) == cp.size and s.engine.scalar("SELECT count(*) FROM cosignatures WHERE size = ? AND witness = ?",
                                                   [cp.size, name]):
            continue
        outcomes.append(_witness_one(s, str(name), str(url), str(vkey), int(last), cp))
    return Published(cp, cosigned_note(s, cp), outcomes)


def plan_checkpoint(s: Session) -> Plan:
    s.authorize("ledger.checkpoint")
    n = ledger.size(s.engine)
    last = ledger.latest_checkpoint(s.engine)
    witnesses = int(s.engine.scalar("SELECT count(*) FROM witnesses") or 0)
    if last is not None and last.size == n:
        return Plan("ledger.checkpoint", f"the latest checkpoint already covers all {n:,} entries", noop=True)
    return Plan("ledger.checkpoint", f"sign a checkpoint of {n:,} entries",
                (f"send it to {witnesses} witness{'es' if witnesses != 1 else ''}",) if witnesses else ())


def checkpoint(s: Session) -> Published:
    s.authorize("ledger.checkpoint")
    return publish(s)


def latest(s: Session) -> tuple[ledger.SignedCheckpoint, str] | None:
    """The latest checkpoint and its note with cosignatures (no authorization: hash tiles are public)."""
    cp = ledger.latest_checkpoint(s.engine)
    return None if cp is None else (cp, cosigned_note(s, cp))


def prove(s: Session, batch_id: str, request_id: str, policy_id: str | None = None) -> dict[str, Any]:
    """A decision's entry, inclusion proof and the checkpoint it is proved against."""
    s.authorize("ledger.view")
    run = decide.find_run(s.engine, batch_id, policy_id)
    if run is None:
        raise NotFoundError(f"batch '{batch_id}' has no run" + (f" under policy '{policy_id}'" if policy_id else ""))
    idx = ledger.find_decision_entry(s.engine, run.run_id, request_id)
    cp = ledger.checkpoint_covering(s.engine, idx)
    if cp is None:
        raise NotFoundError(f"entry {idx} is not yet covered by a checkpoint: run 'dgate ledger checkpoint'")
    return ledger.inclusion_bundle(s.engine, idx, cp, s.keys)


def entry_proof(s: Session, idx: int) -> dict[str, Any]:
    s.authorize("ledger.entries")
    cp = ledger.checkpoint_covering(s.engine, idx)
    if cp is None:
        raise NotFoundError(f"entry {idx} is not covered by a checkpoint yet")
    return ledger.inclusion_bundle(s.engine, idx, cp, s.keys)


def consistency(s: Session, from_size: int, to_size: int | None = None) -> dict[str, Any]:
    s.authorize("ledger.view")
    if from_size < 0:
        raise UsageError("--from is a tree size, 0 or more")
    new = ledger.checkpoint_at(s.engine, to_size) if to_size is not None else ledger.latest_checkpoint(s.engine)
    if new is None:
        raise NotFoundError("no checkpoint has been signed yet")
    if from_size > new.size:
        raise UsageError(f"--from {from_size} is larger than the newer checkpoint ({new.size})")
    old = None if from_size == 0 else ledger.checkpoint_at(s.engine, from_size)
    return ledger.consistency_bundle(s.engine, old, new)


def verify(s: Session) -> VerifyReport:
    s.authorize("ledger.view")
    report = verify_ledger(s.engine, s.keys)
    if report.ok:
        problem = state.check(s.engine)
        if problem is not None:
            report.fail(None, problem.message)
        report.notes.extend(state.notes(s.engine))
    return report


def events(s: Session, kind: str | None = None, since: dt.date | None = None, limit: int = 1000,
           offset: int = 0) -> list[dict[str, Any]]:
    """Event entries (not decisions), oldest first, with their index."""
    s.authorize("ledger.entries")
    rows = s.engine.fetchall(
        "SELECT idx, body FROM ledger_entries WHERE body IS NOT NULL AND (? IS NULL OR kind = ?) "
        "AND (? IS NULL OR created_at >= ?) ORDER BY idx LIMIT ? OFFSET ?",
        [kind, kind, since, since, limit, offset], label="events")
    return [json.loads(str(b)) for _, b in rows]


# -- witnesses ----------------------------------------------------------------------------------
def _check_witness(s: Session, url: str, vkey: str) -> note.Verifier:
    s.authorize("ledger.witness")
    if not (url.startswith("http://") or url.startswith("https://")) or any(c.isspace() for c in url):
        raise UsageError("the witness URL must be http:// or https:// with no spaces")
    try:
        verifier = note.parse_verifier_key(vkey.strip())
    except Exception:
        raise UsageError("not a witness verifier key (name+id+key, from 'dgate-verify witness-key')") from None
    if s.engine.scalar("SELECT count(*) FROM witnesses WHERE name = ?", [verifier.name]):
        raise ConflictError(f"a witness named {verifier.name} is already configured")
    return verifier


def plan_add_witness(s: Session, url: str, vkey: str) -> Plan:
    v = _check_witness(s, url, vkey)
    return Plan("ledger.witness", f"add witness {v.name} at {url}; every new checkpoint is sent to it")


def add_witness(s: Session, url: str, vkey: str) -> Published:
    v = _check_witness(s, url, vkey)
    with s.engine.transaction():
        s.engine.execute("INSERT INTO witnesses (name, url, vkey, added_by, added_at) VALUES (?, ?, ?, ?, ?)",
                         [v.name, url.rstrip("/"), vkey.strip(), s.actor.name, naive_utc(s.engine.clock)])
        s.event("witness_added", {"witness": v.name, "url": url.rstrip("/"), "vkey": vkey.strip()})
    return publish(s)


def witnesses(s: Session) -> list[dict[str, Any]]:
    s.authorize("ledger.view")
    return s.engine.fetch_dicts("SELECT name, url, vkey, added_by, added_at, last_size, last_error, last_error_at "
                                "FROM witnesses ORDER BY name", label="witnesses")
