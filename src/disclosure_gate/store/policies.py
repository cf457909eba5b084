"""Policy versions: the built-in Cedar policies plus versions registered with ``dgate policy add``.

Resolving a policy never registers one: a ``.cedar`` file is compiled in
memory (audits may replay a draft), and only ``policy add`` stores a version.
Ids are immutable: new content needs a new id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from disclosure_gate.clock import naive_utc
from disclosure_gate.engine import Engine
from disclosure_gate.errors import ConflictError, PolicyError
from disclosure_gate.pipeline import policy


@dataclass(frozen=True)
class StoredPolicy:
    id: str
    sha256: str
    source: str  # built-in | added
    unsafe: bool


def find(engine: Engine, policy_id: str) -> policy.Policy | None:
    if policy_id in policy.BUILTIN_POLICIES:
        return policy.load_builtin(policy_id)
    row = engine.fetchone("SELECT body FROM policies WHERE id = ?", [policy_id], label="policy")
    return None if row is None else policy.compile_policy(policy_id, str(row[0]))


def get(engine: Engine, policy_id: str) -> policy.Policy:
    found = find(engine, policy_id)
    if found is None:
        raise PolicyError(f"unknown policy '{policy_id}': a built-in id ({', '.join(policy.BUILTIN_POLICIES)}) "
                          "or an id registered with 'dgate policy add'")
    return found


def resolve(engine: Engine, spec: str, *, allow_file: bool) -> policy.Policy:
    """A policy id, or (when ``allow_file``) a path to a ``.cedar`` file compiled in memory."""
    found = find(engine, spec)
    if found is not None:
        return found
    path = Path(spec)
    if allow_file and path.suffix == ".cedar":
        if not path.is_file():
            raise PolicyError(f"{path}: no such policy file")
        return policy.load_file(path.stem, path)
    return get(engine, spec)


def check_new(engine: Engine, policy_id: str, pol: policy.Policy) -> bool:
    """True when the version must be stored, False when it is already stored with the same content."""
    if policy_id in policy.BUILTIN_POLICIES:
        raise ConflictError(f"'{policy_id}' is a built-in policy id; choose another id")
    row = engine.fetchone("SELECT sha256 FROM policies WHERE id = ?", [policy_id], label="policy")
    if row is not None and row[0] != pol.sha256:
        raise ConflictError(f"policy id '{policy_id}' already names other content; choose a new id "
                            "(versions are immutable)")
    return row is None


def insert(engine: Engine, pol: policy.Policy, actor: str) -> None:
    engine.execute("INSERT INTO policies VALUES (?, ?, ?, ?, ?)",
                   [pol.id, pol.sha256, pol.text, naive_utc(engine.clock), actor], label="add policy")


def list_all(engine: Engine) -> list[StoredPolicy]:
    out = [StoredPolicy(pid, policy.load_builtin(pid).sha256, "built-in", pid in policy.UNSAFE_POLICIES)
           for pid in policy.BUILTIN_POLICIES]
    out += [StoredPolicy(str(r[0]), str(r[1]), "added", False)
            for r in engine.fetchall("SELECT id, sha256 FROM policies ORDER BY id", label="policies")]
    return out
