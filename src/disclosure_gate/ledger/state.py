"""State checked against the ledger: what ``ledger verify`` proves beyond the decisions.

Every state that matters to the law is written in the same transaction as a
ledger event that records it (values, or a digest of the rows). This module
replays the event log and compares it with the tables, naming the first
difference:

* agreements: document hash, status, suspension, policy, and every history row;
* policies: each registered version's text hashes to its recorded SHA-256;
* batches: the stored request rows (digest) and the row facts replay reads (digest);
* packages: who prepared, approved, delivered (where) and recalled, the rows (digest);
* review resolutions, audits (their findings, digest), judged findings;
* incidents: what they cover, certification (date and who);
* users, roles and tokens (a digest of each token's stored hash); settings; witnesses.

Objects created before this check existed (a home migrated from schema 1) have
no such events; they are reported as notes, not failures.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from disclosure_gate.engine import Engine


@dataclass(frozen=True)
class Problem:
    message: str


Events = list[dict[str, Any]]


def load_events(engine: Engine) -> Events:
    """Every event body, in order, with ``kind`` taken from the entry (format-v2 bodies of the first
    releases let an event's own ``kind`` field, such as an audit's, shadow the entry kind)."""
    return [json.loads(str(body)) | {"kind": str(kind)} for kind, body in engine.fetchall(
        "SELECT kind, body FROM ledger_entries WHERE body IS NOT NULL ORDER BY idx", label="ledger events")]


def _by_kind(events: Events, *kinds: str) -> Events:
    return [e for e in events if e.get("kind") in kinds]


def _actor(e: dict[str, Any]) -> str | None:
    value = e.get("actor", e.get("by"))
    return None if value is None else str(value)


def _s(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def _agreements(engine: Engine, events: Events) -> Problem | None:
    expected: dict[str, dict[str, Any]] = {}
    history: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    legacy: set[str] = set()
    for e in _by_kind(events, "agreement_added", "agreement_status", "agreement_policy", "agreement_suspended"):
        aid = str(e.get("agreement_id"))
        if e["kind"] == "agreement_added":
            if "sha256" not in e:
                legacy.add(aid)
                continue
            expected[aid] = {"sha256": e["sha256"], "status": e["status"], "suspended_on": e.get("suspended_on"),
                             "suspension_reason": e.get("suspension_reason"), "policy": e["policy"]}
            history[aid].append(("added", e.get("policy"), _actor(e)))
            if e["status"] != "active":
                history[aid].append((e["status"], None, _actor(e)))
        elif aid in legacy or e["kind"] == "agreement_suspended":
            legacy.add(aid)
        elif e["kind"] == "agreement_status":
            expected[aid].update(status=e["status"], suspended_on=e.get("suspended_on"),
                                 suspension_reason=e["reason"] if e["status"] != "active" else None)
            history[aid].append((e["change"], None, _actor(e)))
        else:
            expected[aid]["policy"] = e["policy"]
            history[aid].append(("policy", e["policy"], _actor(e)))
    for aid, sha, status, since, reason, policy in engine.fetchall(
            "SELECT id, sha256, status, suspended_on, suspension_reason, policy FROM agreements ORDER BY id"):
        if aid in legacy:
            continue
        want = expected.get(str(aid))
        if want is None:
            return Problem(f"agreement {aid} is stored but no ledger event added it")
        got = {"sha256": sha, "status": status, "suspended_on": _s(since), "suspension_reason": reason,
               "policy": policy}
        for k, v in want.items():
            if _s(v) != _s(got[k]):
                return Problem(f"agreement {aid}: its stored {k} differs from what the ledger recorded")
        rows = [(str(k), p if k in ("policy", "added") else None, a) for k, p, a in engine.fetchall(
            "SELECT kind, policy, actor FROM agreement_history WHERE agreement_id = ? ORDER BY seq", [aid])]
        if rows != history[str(aid)]:
            return Problem(f"agreement {aid}: its stored history differs from the ledger's")
    missing = set(expected) - {str(r[0]) for r in engine.fetchall("SELECT id FROM agreements")}
    if missing:
        return Problem(f"agreement {sorted(missing)[0]} was deleted from storage")
    return None


def _policies(engine: Engine, events: Events) -> Problem | None:
    recorded = {str(e["policy_id"]): str(e["sha256"]) for e in _by_kind(events, "policy_added")}
    for pid, sha, body in engine.fetchall("SELECT id, sha256, body FROM policies ORDER BY id"):
        if hashlib.sha256(str(body).encode()).hexdigest() != sha:
            return Problem(f"policy {pid}: its stored text no longer hashes to its recorded SHA-256")
        if recorded.get(str(pid), sha) != sha:
            return Problem(f"policy {pid}: its stored SHA-256 differs from the ledger's")
        if str(pid) not in recorded:
            return Problem(f"policy {pid} is stored but no ledger event registered it")
    return None


def _batches(engine: Engine, events: Events) -> Problem | None:
    from disclosure_gate.pipeline.batches import rows_digest
    from disclosure_gate.pipeline.decide import facts_digest

    submitted = {str(e["batch_id"]): e for e in _by_kind(events, "batch_submitted")}
    facts = {str(e["batch_id"]): e for e in _by_kind(events, "facts_stored")}
    for (bid,) in engine.fetchall("SELECT batch_id FROM batches ORDER BY batch_id"):
        e = submitted.get(str(bid))
        if e is None:
            if _legacy(engine, "batches", "batch_id", bid):
                continue
            return Problem(f"batch {bid} is stored but no ledger event submitted it")
        if rows_digest(engine, str(bid)) != e["rows_digest"]:
            return Problem(f"batch {bid}: its stored request rows differ from what the ledger recorded")
    for bid, value in engine.fetchall("SELECT batch_id, digest FROM batch_facts ORDER BY batch_id"):
        e = facts.get(str(bid))
        if e is None:
            if value is None:
                continue  # facts from before this check (a migrated home)
            return Problem(f"batch {bid}: its row facts are stored but no ledger event recorded them")
        if value != e["digest"] or facts_digest(engine, str(bid)) != e["digest"]:
            return Problem(f"batch {bid}: its stored row facts differ from what the ledger recorded")
    return None


def _legacy(engine: Engine, table: str, key: str, value: Any) -> bool:
    """Created before the home was migrated to schema 2 (no state events existed then)."""
    at = engine.scalar("SELECT value FROM meta WHERE key = 'migrated_at'")
    if at is None:
        return False
    column = {"batches": "created_at", "packages": "prepared_at", "audits": "created_at",
              "incidents": "opened_at"}[table]
    created = engine.scalar(f"SELECT {column} FROM {table} WHERE {key} = ?", [value])
    return created is not None and str(created) <= str(at)


def _packages(engine: Engine, events: Events) -> Problem | None:
    from disclosure_gate.remediation.release import rows_digest

    want: dict[str, dict[str, Any]] = {}
    for e in _by_kind(events, "release_prepared", "release_approved", "release_delivered", "release_recalled"):
        pid = str(e["package_id"])
        if e["kind"] == "release_prepared":
            want[pid] = {"state": "prepared", "prepared_by": _actor(e), "approved_by": None, "delivered_to": None,
                         "manifest_sha256": None, "recalled_by": None, "rows": e.get("rows"),
                         "digest": e.get("rows_digest")}
        elif pid not in want:
            continue
        elif e["kind"] == "release_approved":
            want[pid].update(state="approved", approved_by=_actor(e))
        elif e["kind"] == "release_delivered":
            want[pid].update(state="delivered", delivered_to=e.get("folder"), manifest_sha256=e.get("manifest_sha256"))
        else:
            want[pid].update(state="recalled", recalled_by=_actor(e) if "reason" in e else None)
    for row in engine.fetch_dicts("SELECT package_id, state, prepared_by, approved_by, delivered_to, manifest_sha256, "
                                  "recalled_by, rows FROM packages ORDER BY package_id"):
        pid = str(row["package_id"])
        w = want.get(pid)
        if w is None:
            if _legacy(engine, "packages", "package_id", pid):
                continue
            return Problem(f"package {pid} is stored but no ledger event prepared it")
        legacy = w["digest"] is None
        for k in ("state", "prepared_by", "approved_by", "manifest_sha256", "rows") + (
                () if legacy else ("delivered_to", "recalled_by")):
            if _s(row[k]) != _s(w[k]):
                return Problem(f"package {pid}: its stored {k.replace('_', ' ')} differs from what the ledger recorded")
        if not legacy and rows_digest(engine, pid) != w["digest"]:
            return Problem(f"package {pid}: its stored rows differ from what the ledger recorded")
    return None


def _reviews(engine: Engine, events: Events) -> Problem | None:
    want = sorted((str(e["run_id"]), int(e["row"]), str(_actor(e)), str(e["decision"]), str(e["reason"]))
                  for e in _by_kind(events, "review_resolved"))
    got = sorted((str(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in engine.fetchall(
        "SELECT run_id, _row, reviewer, decision, reason FROM review_resolutions WHERE withdrawn_at IS NULL"))
    if want != got:
        extra = sorted(set(got) - set(want))
        which = extra[0] if extra else sorted(set(want) - set(got))[0]
        return Problem(f"review resolutions differ from the ledger's (first: run {which[0]} row {which[1]}, "
                       f"{'not in the ledger' if extra else 'missing from storage'})")
    verdicts = sorted((str(e["audit_id"]), str(e["batch_id"]), str(e["request_id"]), str(e["verdict"]),
                       str(_actor(e))) for e in _by_kind(events, "finding_reviewed"))
    stored = sorted((str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in engine.fetchall(
        "SELECT audit_id, batch_id, request_id, verdict, reviewer FROM finding_reviews"))
    if verdicts != stored:
        return Problem("judged audit findings differ from the ledger's")
    return None


def _audits(engine: Engine, events: Events) -> Problem | None:
    from disclosure_gate.remediation.audit import findings_digest

    recorded = {str(e["audit_id"]): e for e in _by_kind(events, "audit_completed")}
    for aid, flagged in engine.fetchall("SELECT audit_id, flagged FROM audits ORDER BY audit_id"):
        e = recorded.get(str(aid))
        if e is None:
            return Problem(f"audit {aid} is stored but no ledger event completed it")
        if int(e.get("flagged", -1)) != int(flagged):
            return Problem(f"audit {aid}: its stored count of findings differs from the ledger's")
        if "findings_digest" in e:
            if findings_digest(engine, str(aid)) != e["findings_digest"]:
                return Problem(f"audit {aid}: its stored findings differ from what the ledger recorded")
        else:
            n = engine.scalar("SELECT count(*) FROM audit_findings WHERE audit_id = ?", [aid])
            if int(n or 0) != int(flagged):
                return Problem(f"audit {aid}: its stored findings differ from the ledger's count")
    return None


def _incidents(engine: Engine, events: Events) -> Problem | None:
    opened = {str(e["incident_id"]): e for e in _by_kind(events, "incident_opened")}
    certified = {str(e["incident_id"]): e for e in _by_kind(events, "incident_certified")}
    for iid, status, records, persons, on, by in engine.fetchall(
            "SELECT incident_id, status, records, persons, certified_on, certified_by FROM incidents ORDER BY 1"):
        e = opened.get(str(iid))
        if e is None:
            return Problem(f"incident {iid} is stored but no ledger event opened it")
        if (int(e["records"]), int(e["persons"])) != (int(records), int(persons)):
            return Problem(f"incident {iid}: its stored counts differ from the ledger's")
        c = certified.get(str(iid))
        if (status == "certified") != (c is not None):
            return Problem(f"incident {iid}: its stored status ({status}) differs from the ledger's")
        if c is not None and (_s(on) != _s(c["destroyed_on"]) or ("actor" in c and by != c["actor"])):
            return Problem(f"incident {iid}: its stored certification differs from the ledger's")
        covered = engine.scalar("SELECT count(*) FROM incident_findings WHERE incident_id = ?", [iid])
        if "packages" in e and int(covered or 0) != int(records):
            return Problem(f"incident {iid}: the findings it covers differ from the ledger's count")
    return None


def _users(engine: Engine, events: Events) -> Problem | None:
    names: set[str] = set()
    roles: set[tuple[str, str, str]] = set()
    tokens: dict[str, dict[str, Any]] = {}
    for e in _by_kind(events, "user_added", "role_granted", "role_revoked", "token_issued", "token_revoked"):
        user = str(e["user"])
        if e["kind"] == "user_added":
            names.add(user)
        elif e["kind"] == "role_granted":
            roles.add((user, str(e["role"]), str(e.get("agreement") or "")))
        elif e["kind"] == "role_revoked":
            roles = {r for r in roles if not (r[0] == user and r[1] == e["role"])}
        elif e["kind"] == "token_issued":
            tokens[str(e["token_id"])] = {"user": user, "hash": e["hash_digest"], "revoked": False}
        elif str(e["token_id"]) in tokens:
            tokens[str(e["token_id"])]["revoked"] = True
    stored_names = {str(r[0]) for r in engine.fetchall("SELECT name FROM users")}
    if stored_names != names:
        odd = sorted(stored_names ^ names)[0]
        return Problem(f"user {odd}: {'stored but not in the ledger' if odd in stored_names else 'missing'}")
    stored_roles = {(str(a), str(b), str(c)) for a, b, c in engine.fetchall(
        "SELECT DISTINCT name, role, agreement_id FROM user_roles")}
    if stored_roles != roles:
        odd_role = sorted(stored_roles ^ roles)[0]
        return Problem(f"user {odd_role[0]}: the {odd_role[1]} role differs from what the ledger recorded")
    for tid, user, stored, revoked in engine.fetchall("SELECT token_id, user_name, token_hash, revoked_at IS NOT NULL "
                                                      "FROM tokens ORDER BY token_id"):
        t = tokens.get(str(tid))
        if t is None or t["user"] != user or t["hash"] != hashlib.sha256(str(stored).encode()).hexdigest():
            return Problem(f"token {tid} of {user} was not issued as the ledger recorded")
        if t["revoked"] and not revoked:
            return Problem(f"token {tid} of {user} was revoked in the ledger but not in storage")
    return None


def _settings(engine: Engine, events: Events) -> Problem | None:
    want = {str(e["key"]): str(e["value"]) for e in _by_kind(events, "setting_changed")}
    got = {str(k): str(v) for k, v in engine.fetchall("SELECT key, value FROM settings")}
    if want != got:
        return Problem(f"setting {sorted(set(want.items()) ^ set(got.items()))[0][0]} differs from the ledger's")
    want_w = {str(e["witness"]): (str(e["url"]), str(e["vkey"])) for e in _by_kind(events, "witness_added")}
    got_w = {str(n): (str(u), str(v)) for n, u, v in engine.fetchall("SELECT name, url, vkey FROM witnesses")}
    if want_w != got_w:
        return Problem("the configured witnesses differ from the ledger's")
    return None


CHECKS: tuple[Callable[[Engine, Events], Problem | None], ...] = (
    _agreements, _policies, _batches, _packages, _reviews, _audits, _incidents, _users, _settings)


def check(engine: Engine) -> Problem | None:
    """The first difference between stored state and the ledger's events, or None."""
    events = load_events(engine)
    for fn in CHECKS:
        problem = fn(engine, events)
        if problem is not None:
            return problem
    return None


def notes(engine: Engine) -> list[str]:
    at = engine.scalar("SELECT value FROM meta WHERE key = 'migrated_at'")
    if at is None:
        return []
    n = engine.scalar("SELECT count(*) FROM batches WHERE CAST(created_at AS VARCHAR) <= ?", [str(at)])
    return [f"{n} batches (and their packages) predate state events (home migrated at {at}); their decisions are "
            "checked, their other state only by counts"] if n else []

