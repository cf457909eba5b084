"""A session: an open home plus an authenticated actor. Every action of the app layer takes one.

Who acts:

* the **operator**: the operating-system account that owns the home, with no
  token. It may run the pipeline operations (load records, submit and
  process batches, export, checkpoint, verify) and is recorded as
  ``operator:<os user>``;
* a **person**: ``--as NAME`` (CLI) with a token (``DGATE_TOKEN``), a console
  login (password) or an API bearer token. A wrong, missing, expired or
  revoked credential is :class:`AuthenticationError` (exit 8) and changes
  nothing but the failure count.

Surfaces (CLI, console, API) build :class:`Credentials` and call
:func:`open_session` (or :func:`session_for` on a home the server holds);
they never check roles themselves: actions call :meth:`Session.authorize`,
which is :func:`disclosure_gate.app.authz.require`.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from disclosure_gate.app import authz
from disclosure_gate.clock import Clock
from disclosure_gate.engine import Engine
from disclosure_gate.errors import AuthenticationError, AuthorizationError, HomeError
from disclosure_gate.ledger import store as ledger
from disclosure_gate.store import users
from disclosure_gate.store.home import DB_NAME, Home, open_home, resolve


@dataclass(frozen=True)
class Credentials:
    user: str | None = None
    token: str | None = None
    password: str | None = None
    os_user: str = field(default_factory=getpass.getuser)
    os_uid: int = field(default_factory=os.getuid)


def _noop(_: str) -> None:
    return None


@dataclass
class Session:
    home: Home
    actor: authz.Actor
    notify: Callable[[str], None] = _noop
    progress: Callable[[str, float], None] | None = None
    _keys: ledger.Keys | None = None

    @property
    def engine(self) -> Engine:
        return self.home.engine

    @property
    def keys(self) -> ledger.Keys:
        if self._keys is None:
            self._keys = ledger.load_keys(self.home.path)
        return self._keys

    @property
    def writable(self) -> bool:
        return self.home.writable

    def authorize(self, action: str, facts: authz.Facts | None = None) -> None:
        authz.require(self.actor, action, facts or authz.NO_FACTS)

    def allowed(self, action: str, facts: authz.Facts | None = None) -> bool:
        return authz.decide(self.actor, action, facts or authz.NO_FACTS).allowed

    def event(self, kind: str, fields: Mapping[str, Any]) -> int:
        """Append a ledger event with this session's actor (inside the caller's transaction)."""
        return ledger.append_event(self.engine, kind, fields, self.actor.name)

    def events(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> list[int]:
        return ledger.append_events(self.engine, items, self.actor.name)

    def close(self) -> None:
        self.home.close()


def operator_actor(os_user: str) -> authz.Actor:
    return authz.Actor(name=f"operator:{os_user}", kind="operator")


def owns_home(root: Path, uid: int) -> bool:
    """The home's owner, or root, is the operator."""
    try:
        return uid == 0 or (root / DB_NAME).stat().st_uid == uid
    except OSError:
        return False


def person_actor(user: users.User, token_id: str | None = None) -> authz.Actor:
    return authz.Actor(name=user.name, kind="person", roles=user.role_names, agreements=user.agreements,
                       token_id=token_id)


def authenticate(engine: Engine, root: Path, creds: Credentials) -> authz.Actor:
    """The actor behind ``creds`` (see the module docstring)."""
    if creds.user is None:
        if creds.token or creds.password:
            raise AuthenticationError("a credential was given without a user name: name yourself with --as NAME")
        if not owns_home(root, creds.os_uid):
            raise AuthorizationError("only the account that owns the home may act without --as NAME and a token")
        return operator_actor(creds.os_user)
    users.check_name(creds.user)
    if creds.token:
        user, token_id = users.authenticate_token(engine, creds.user, creds.token)
        return person_actor(user, token_id)
    if creds.password is not None:
        return person_actor(users.authenticate_password(engine, creds.user, creds.password))
    raise AuthenticationError(f"acting as '{creds.user}' needs a token: set DGATE_TOKEN (dgate user token)")


def open_session(home_path: str | Path | None, creds: Credentials, *, write: bool, clock: Clock | None = None,
                 notify: Callable[[str], None] = _noop) -> Session:
    """Open the home (read-only unless ``write``) and authenticate ``creds``."""
    root = resolve(home_path)
    home = open_home(root, write=write, clock=clock, on_wait=notify)
    try:
        actor = authenticate(home.engine, root, creds)
    except BaseException:
        home.close()
        raise
    for line in home.recovered:
        notify(f"recovered: {line}")
    return Session(home, actor, notify)


def session_for(home: Home, actor: authz.Actor, notify: Callable[[str], None] = _noop) -> Session:
    """A session on a home this process already holds (the server), for an already authenticated actor."""
    if not home.path.is_dir():
        raise HomeError(f"no home at {home.path}")
    return Session(home, actor, notify)
