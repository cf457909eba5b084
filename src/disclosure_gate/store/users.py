"""Accounts and credentials, in the home's database.

* A user has roles (see :mod:`disclosure_gate.app.authz`); the ``recipient``
  role is bound to agreements.
* **Tokens** (CLI and API): ``dgt_<id>_<secret>``, 32 random bytes (256 bits)
  from :mod:`secrets`, shown once, stored only as SHA-256 of the secret (a
  random 256-bit secret needs no slow hash), named, with an expiry, revocable.
* **Passwords** (console): Argon2id via ``argon2-cffi`` with its default
  (RFC 9106 low-memory) parameters, rehashed when they change.
* **Failed authentications** are counted per account. After
  :data:`LOCK_AFTER` failures in a row the account is locked for a period that
  doubles with each further failure (1 minute up to 1 hour); a success resets
  the count. A read-only open cannot record a failure: it still refuses.

Nothing here decides who may do what: that is :mod:`disclosure_gate.app.authz`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from disclosure_gate.clock import naive_utc
from disclosure_gate.engine import Engine
from disclosure_gate.errors import AuthenticationError, ConflictError, NotFoundError, UsageError

NAME_RE = re.compile(r"[a-z][a-z0-9._-]{0,63}")
TOKEN_RE = re.compile(r"dgt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
LOCK_AFTER = 5
MAX_LOCK = dt.timedelta(hours=1)
DEFAULT_TOKEN_DAYS = 90
_HASHER = PasswordHasher()
_FAILED = "authentication failed: wrong or unknown user name, token or password"


@dataclass(frozen=True)
class User:
    name: str
    roles: tuple[tuple[str, str], ...]  # (role, agreement or '')
    created_at: dt.datetime
    created_by: str
    disabled: bool
    has_password: bool
    locked_until: dt.datetime | None

    @property
    def role_names(self) -> frozenset[str]:
        return frozenset(r for r, _ in self.roles)

    @property
    def agreements(self) -> frozenset[str]:
        return frozenset(a for r, a in self.roles if r == "recipient" and a)


@dataclass(frozen=True)
class Token:
    token_id: str
    user_name: str
    label: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise UsageError("user names are 1-64 characters: a lower-case letter, then letters, digits, '.', '_' or '-'")
    return name


def find_user(engine: Engine, name: str) -> User | None:
    row = engine.fetchone("SELECT name, created_at, created_by, disabled, password_hash IS NOT NULL, locked_until "
                          "FROM users WHERE name = ?", [name], label="find user")
    if row is None:
        return None
    roles = tuple((str(r), str(a)) for r, a in engine.fetchall(
        "SELECT DISTINCT role, agreement_id FROM user_roles WHERE name = ? ORDER BY 1, 2", [name], label="roles"))
    return User(str(row[0]), roles, row[1], str(row[2]), bool(row[3]), bool(row[4]), row[5])


def get_user(engine: Engine, name: str) -> User:
    user = find_user(engine, name)
    if user is None:
        raise NotFoundError(f"no user '{name}'")
    return user


def list_users(engine: Engine) -> list[User]:
    return [get_user(engine, str(r[0])) for r in engine.fetchall("SELECT name FROM users ORDER BY name")]


def count_admins(engine: Engine) -> int:
    return int(engine.scalar("SELECT count(DISTINCT r.name) FROM user_roles r JOIN users u USING (name) "
                             "WHERE r.role = 'admin' AND NOT u.disabled") or 0)


def create_user(engine: Engine, name: str, by: str) -> None:
    if find_user(engine, name) is not None:
        raise ConflictError(f"user '{name}' already exists")
    engine.execute("INSERT INTO users (name, created_at, created_by) VALUES (?, ?, ?)",
                   [name, naive_utc(engine.clock), by], label="add user")


def grant(engine: Engine, name: str, role: str, agreement: str, by: str) -> bool:
    have = engine.scalar("SELECT count(*) FROM user_roles WHERE name = ? AND role = ? AND agreement_id = ?",
                         [name, role, agreement])
    if have:
        return False
    engine.execute("INSERT INTO user_roles VALUES (?, ?, ?, ?, ?)",
                   [name, role, agreement, by, naive_utc(engine.clock)], label="grant role")
    return True


def revoke_role(engine: Engine, name: str, role: str) -> bool:
    n = int(engine.scalar("SELECT count(*) FROM user_roles WHERE name = ? AND role = ?", [name, role]) or 0)
    engine.execute("DELETE FROM user_roles WHERE name = ? AND role = ?", [name, role], label="revoke role")
    return n > 0


# -- tokens ------------------------------------------------------------------------------
def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def issue_token(engine: Engine, name: str, label: str, expires_at: dt.datetime | None, by: str) -> tuple[str, str]:
    """A new token for ``name``: returns (token_id, the token). The token is never stored."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    engine.execute("INSERT INTO tokens (token_id, user_name, label, token_hash, created_at, created_by, expires_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)",
                   [token_id, name, label, _secret_hash(secret), naive_utc(engine.clock), by, expires_at],
                   label="issue token")
    return token_id, f"dgt_{token_id}_{secret}"


def list_tokens(engine: Engine, name: str) -> list[Token]:
    return [Token(str(r[0]), str(r[1]), str(r[2]), r[3], r[4], r[5], r[6]) for r in engine.fetchall(
        "SELECT token_id, user_name, label, created_at, expires_at, revoked_at, last_used_at FROM tokens "
        "WHERE user_name = ? ORDER BY created_at", [name], label="tokens")]


def revoke_tokens(engine: Engine, name: str, token_id: str | None, by: str) -> int:
    params: list[object] = [naive_utc(engine.clock), by, name]
    where = "user_name = ? AND revoked_at IS NULL"
    if token_id is not None:
        where += " AND token_id = ?"
        params.append(token_id)
    n = int(engine.scalar(f"SELECT count(*) FROM tokens WHERE {where}", params[2:]) or 0)
    engine.execute(f"UPDATE tokens SET revoked_at = ?, revoked_by = ? WHERE {where}", params, label="revoke token")
    return n


# -- authentication ---------------------------------------------------------------------------
def _locked(engine: Engine, name: str) -> dt.datetime | None:
    until = engine.scalar("SELECT locked_until FROM users WHERE name = ?", [name])
    now = naive_utc(engine.clock)
    return until if until is not None and until > now else None


def _fail(engine: Engine, name: str | None) -> AuthenticationError:
    if name is not None and not engine.read_only and find_user(engine, name) is not None:
        with engine.transaction():
            n = int(engine.scalar("SELECT failed_logins + 1 FROM users WHERE name = ?", [name]) or 1)
            until = None
            if n >= LOCK_AFTER:
                until = naive_utc(engine.clock) + min(MAX_LOCK, dt.timedelta(minutes=2 ** (n - LOCK_AFTER)))
            engine.execute("UPDATE users SET failed_logins = ?, locked_until = ? WHERE name = ?", [n, until, name],
                           label="failed login")
    return AuthenticationError(_FAILED)


LAST_USED_GRANULARITY = dt.timedelta(minutes=1)


def _succeed(engine: Engine, name: str, token_id: str | None) -> None:
    """Reset the failure count and note the token's use, writing only when that changes something (a
    read-only request must not wait for the write lock behind a long commit)."""
    if engine.read_only:
        return
    now = naive_utc(engine.clock)
    failed = int(engine.scalar("SELECT failed_logins FROM users WHERE name = ?", [name]) or 0)
    used = engine.scalar("SELECT last_used_at FROM tokens WHERE token_id = ?", [token_id]) if token_id else None
    stale = token_id is not None and (used is None or now - used >= LAST_USED_GRANULARITY)
    if not failed and not stale:
        return
    with engine.transaction():
        if failed:
            engine.execute("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE name = ?", [name],
                           label="login")
        if stale:
            engine.execute("UPDATE tokens SET last_used_at = ? WHERE token_id = ?", [now, token_id],
                           label="token use")


def _usable(engine: Engine, name: str) -> User:
    user = find_user(engine, name)
    if user is None or user.disabled:
        raise _fail(engine, None)
    until = _locked(engine, name)
    if until is not None:
        raise AuthenticationError(f"user '{name}' is locked after repeated failed authentications until "
                                  f"{until.isoformat(timespec='seconds')}Z")
    return user


def authenticate_token(engine: Engine, name: str | None, token: str) -> tuple[User, str]:
    """The user a token belongs to (and must be ``name``, when given). Returns (user, token_id)."""
    m = TOKEN_RE.fullmatch(token.strip())
    if m is None:
        raise _fail(engine, name)
    token_id, secret = m.group(1), m.group(2)
    row = engine.fetchone("SELECT user_name, token_hash, expires_at, revoked_at FROM tokens WHERE token_id = ?",
                          [token_id], label="token")
    owner = str(row[0]) if row is not None else None
    if row is None or (name is not None and owner != name):
        raise _fail(engine, name or owner)
    user = _usable(engine, str(owner))
    if not hmac.compare_digest(str(row[1]), _secret_hash(secret)):
        raise _fail(engine, owner)
    now = naive_utc(engine.clock)
    if row[3] is not None:
        raise AuthenticationError(f"token {token_id} was revoked")
    if row[2] is not None and row[2] <= now:
        raise AuthenticationError(f"token {token_id} expired on {row[2].isoformat(timespec='seconds')}Z")
    _succeed(engine, user.name, token_id)
    return user, token_id


def check_password(password: str) -> None:
    if len(password) < 12:
        raise UsageError("a password needs at least 12 characters")
    if len(password) > 1024:
        raise UsageError("a password has at most 1024 characters")


def set_password(engine: Engine, name: str, password: str) -> None:
    check_password(password)
    engine.execute("UPDATE users SET password_hash = ? WHERE name = ?", [_HASHER.hash(password), name],
                   label="set password")


def authenticate_password(engine: Engine, name: str, password: str) -> User:
    user = find_user(engine, name)
    if user is None:
        _HASHER.hash(password)  # the same cost whether or not the user exists
        raise _fail(engine, None)
    user = _usable(engine, name)
    stored = engine.scalar("SELECT password_hash FROM users WHERE name = ?", [name])
    if stored is None:
        raise _fail(engine, name)
    try:
        _HASHER.verify(str(stored), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise _fail(engine, name) from None
    if _HASHER.check_needs_rehash(str(stored)) and not engine.read_only:
        engine.execute("UPDATE users SET password_hash = ? WHERE name = ?", [_HASHER.hash(password), name])
    _succeed(engine, name, None)
    return user
