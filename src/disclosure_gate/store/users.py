"""Users and roles, kept in the home's ``config.yaml``.

::

    users:
      alice: [preparer]
      bob: [approver]
      carol: [auditor]

Roles: ``preparer`` builds release packages, ``approver`` approves them (never
their own), ``auditor`` runs audits and opens incidents. An unknown user, or a
user without the role, is refused with :class:`AuthorizationError`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from disclosure_gate.errors import AuthorizationError, DocumentError, InputError

ROLES = ("preparer", "approver", "auditor")
CONFIG = "config.yaml"


def _path(home: Path) -> Path:
    return home / CONFIG


def load_users(home: Path) -> dict[str, tuple[str, ...]]:
    path = _path(home)
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        raise DocumentError("not valid YAML", file=path) from None
    users = data.get("users") or {} if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise DocumentError("'users' must be a mapping of user: [roles]", file=path)
    out: dict[str, tuple[str, ...]] = {}
    for name, roles in users.items():
        roles = [roles] if isinstance(roles, str) else roles
        if not isinstance(roles, list) or not all(r in ROLES for r in roles):
            raise DocumentError(f"user roles must be among {', '.join(ROLES)}", file=path, column=str(name))
        out[str(name)] = tuple(roles)
    return out


def add_user(home: Path, name: str, role: str) -> tuple[str, ...]:
    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}")
    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise InputError("user names are letters, digits, '-', '_' and '.'")
    users = load_users(home)
    roles = tuple(sorted(set(users.get(name, ())) | {role}))
    users[name] = roles
    path = _path(home)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump({"users": {k: list(v) for k, v in sorted(users.items())}}), encoding="utf-8")
    tmp.replace(path)
    return roles


def require_role(home: Path, user: str, role: str) -> None:
    users = load_users(home)
    if user not in users:
        raise AuthorizationError(f"unknown user '{user}': add it to {_path(home)} (dgate user add)")
    if role not in users[user]:
        raise AuthorizationError(f"user '{user}' does not have the {role} role")
