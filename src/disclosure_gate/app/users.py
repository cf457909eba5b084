"""People: accounts, roles, tokens, passwords. Every change is a ledger event with its actor.

Bootstrap: on a home with no admin, the operator (the account that owns the
home) adds the first admin and receives its first token. After that only an
authenticated admin manages users, and nobody changes their own roles.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from disclosure_gate.app import authz
from disclosure_gate.app.plans import Plan
from disclosure_gate.app.session import Session
from disclosure_gate.clock import naive_utc
from disclosure_gate.errors import NotFoundError, StateError, UsageError
from disclosure_gate.store import users
from disclosure_gate.store.agreements import get_agreement
from disclosure_gate.store.users import Token, User

MAX_TOKEN_DAYS = 366


@dataclass(frozen=True)
class AddResult:
    user: User
    created: bool
    granted: tuple[str, ...]
    token: str | None  # shown once
    token_id: str | None


def _roles(roles: list[str], agreements: list[str]) -> list[tuple[str, str]]:
    if not roles:
        raise UsageError("give at least one --role")
    bad = [r for r in roles if r not in authz.ROLES]
    if bad:
        raise UsageError(f"unknown role {', '.join(bad)}: roles are {', '.join(authz.ROLES)}")
    if agreements and "recipient" not in roles:
        raise UsageError("--agreement binds the recipient role: give --role recipient")
    if "recipient" in roles and not agreements:
        raise UsageError("the recipient role is bound to agreements: give --agreement ID")
    out = [(r, "") for r in dict.fromkeys(roles) if r != "recipient"]
    out += [("recipient", a) for a in dict.fromkeys(agreements)]
    return out


def _check_add(s: Session, name: str, roles: list[str], agreements: list[str]) -> tuple[list[tuple[str, str]], bool]:
    """(the grants to make, bootstrap)."""
    users.check_name(name)
    grants = _roles(roles, agreements)
    bootstrap = s.actor.is_operator and users.count_admins(s.engine) == 0
    if bootstrap:
        s.authorize("user.bootstrap")
        if [r for r, _ in grants] != ["admin"]:
            raise UsageError("the first user of a home is an admin: 'dgate user add NAME --role admin'")
    else:
        for role, _ in grants:
            s.authorize("user.manage", authz.Facts(target_user=name, role_granted=role))
    for _, a in grants:
        if a:
            get_agreement(s.engine, a)
    return grants, bootstrap


def plan_add(s: Session, name: str, roles: list[str], agreements: list[str] | None = None) -> Plan:
    grants, bootstrap = _check_add(s, name, roles, agreements or [])
    existing = users.find_user(s.engine, name)
    new = [g for g in grants if existing is None or g not in existing.roles]
    what = ", ".join(r + (f" ({a})" if a else "") for r, a in new) or "nothing new"
    return Plan("user.add", f"{'add' if existing is None else 'grant'} {name}: {what}"
                + (" (the first admin; a token is printed once)" if bootstrap else ""), noop=not new)


def add(s: Session, name: str, roles: list[str], agreements: list[str] | None = None,
        token_days: int = 90) -> AddResult:
    grants, _ = _check_add(s, name, roles, agreements or [])
    existing = users.find_user(s.engine, name)
    token = token_id = None
    granted = []
    with s.engine.transaction():
        events: list[tuple[str, dict[str, object]]] = []
        if existing is None:
            users.create_user(s.engine, name, s.actor.name)
            events.append(("user_added", {"user": name}))
        for role, agreement in grants:
            if users.grant(s.engine, name, role, agreement, s.actor.name):
                granted.append(role + (f":{agreement}" if agreement else ""))
                events.append(("role_granted", {"user": name, "role": role, "agreement": agreement}))
        if existing is None:
            token_id, token, expires = _issue(s, name, "first token", token_days)
            events.append(_token_event(s, name, token_id, "first token", expires))
        s.events(events)
    return AddResult(users.get_user(s.engine, name), existing is None, tuple(granted), token, token_id)


def _issue(s: Session, name: str, label: str, days: int | None) -> tuple[str, str, dt.datetime | None]:
    if days is not None and not 1 <= days <= MAX_TOKEN_DAYS:
        raise UsageError(f"a token lives 1 to {MAX_TOKEN_DAYS} days")
    expires = naive_utc(s.engine.clock) + dt.timedelta(days=days) if days else None
    token_id, token = users.issue_token(s.engine, name, label, expires, s.actor.name)
    return token_id, token, expires


def _token_event(s: Session, name: str, token_id: str, label: str, expires: dt.datetime | None
                 ) -> tuple[str, dict[str, object]]:
    stored = s.engine.scalar("SELECT token_hash FROM tokens WHERE token_id = ?", [token_id])
    return ("token_issued", {"user": name, "token_id": token_id, "label": label, "expires": expires,
                             "hash_digest": hashlib.sha256(str(stored).encode()).hexdigest()})


def _check_token(s: Session, name: str, expires: dt.date | None, label: str) -> int:
    users.check_name(name)
    s.authorize("user.token", authz.Facts(target_user=name))
    user = users.get_user(s.engine, name)
    if user.disabled:
        raise StateError(f"user '{name}' is disabled")
    if not label.strip() or len(label) > 100:
        raise UsageError("a token label is 1-100 characters")
    today = naive_utc(s.engine.clock).date()
    days = 90 if expires is None else (expires - today).days
    if days < 1 or days > MAX_TOKEN_DAYS:
        raise UsageError(f"--expires is a date 1 to {MAX_TOKEN_DAYS} days from today")
    return days


def plan_token(s: Session, name: str, expires: dt.date | None = None, label: str = "token") -> Plan:
    days = _check_token(s, name, expires, label)
    return Plan("user.token", f"issue a token '{label}' for {name}, valid {days} days (printed once)")


def token(s: Session, name: str, expires: dt.date | None = None, label: str = "token") -> tuple[str, str]:
    """A new token for ``name``: (token_id, token). The token is printed once and stored only as a hash."""
    days = _check_token(s, name, expires, label)
    with s.engine.transaction():
        token_id, secret, exp = _issue(s, name, label.strip(), days)
        s.events([_token_event(s, name, token_id, label.strip(), exp)])
    return token_id, secret


def _check_revoke(s: Session, name: str, token_id: str | None, role: str | None) -> User:
    users.check_name(name)
    user = users.get_user(s.engine, name)
    if role is not None:
        if role not in authz.ROLES:
            raise UsageError(f"unknown role {role}")
        s.authorize("user.manage", authz.Facts(target_user=name, role_granted=role))
        if role not in user.role_names:
            raise NotFoundError(f"user '{name}' does not have the {role} role")
        if role == "admin" and users.count_admins(s.engine) <= 1:
            raise StateError("the last admin keeps the admin role: add another admin first")
    else:
        s.authorize("user.manage", authz.Facts(target_user=name))
        if token_id is not None and token_id not in {t.token_id for t in users.list_tokens(s.engine, name)}:
            raise NotFoundError(f"user '{name}' has no token {token_id}")
    return user


def plan_revoke(s: Session, name: str, token_id: str | None = None, role: str | None = None) -> Plan:
    _check_revoke(s, name, token_id, role)
    what = f"the {role} role" if role else (f"token {token_id}" if token_id else "every token")
    return Plan("user.revoke", f"revoke {what} of {name}")


def revoke(s: Session, name: str, token_id: str | None = None, role: str | None = None) -> int:
    _check_revoke(s, name, token_id, role)
    with s.engine.transaction():
        if role is not None:
            users.revoke_role(s.engine, name, role)
            s.event("role_revoked", {"user": name, "role": role})
            return 1
        ids = [t.token_id for t in users.list_tokens(s.engine, name) if t.revoked_at is None
               and (token_id is None or t.token_id == token_id)]
        n = users.revoke_tokens(s.engine, name, token_id, s.actor.name)
        s.events([("token_revoked", {"user": name, "token_id": i}) for i in ids])
    return n


def _check_password(s: Session, name: str, password: str) -> None:
    users.check_name(name)
    s.authorize("user.password", authz.Facts(target_user=name))
    users.check_password(password)


def plan_password(s: Session, name: str, password: str) -> Plan:
    _check_password(s, name, password)
    return Plan("user.password", f"set the console password of {name}")


def set_password(s: Session, name: str, password: str) -> None:
    _check_password(s, name, password)
    with s.engine.transaction():
        users.set_password(s.engine, name, password)
        s.event("password_set", {"user": name})


def list_(s: Session) -> list[tuple[User, list[Token]]]:
    s.authorize("user.view")
    return [(u, users.list_tokens(s.engine, u.name)) for u in users.list_users(s.engine)]
