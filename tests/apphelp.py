"""Test helpers on the app layer: homes, the operator, people with tokens, a small world."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from disclosure_gate.app import agreements, records, requests, users
from disclosure_gate.app.requests import ProcessResult
from disclosure_gate.app.session import Credentials, Session, authenticate, open_session, session_for
from disclosure_gate.store.home import init_home

ROLES_OF = {"admin": "admin", "officer": "officer", "rev1": "reviewer", "rev2": "reviewer", "preparer": "preparer",
            "approver": "approver", "auditor": "auditor", "overseer": "overseer"}


def operator(home: Path, *, write: bool = True) -> Session:
    return open_session(home, Credentials(os_user="tester", os_uid=os.getuid()), write=write)


@dataclass
class People:
    """Sessions and tokens of the people of a home, all on one open operator session."""

    op: Session
    tokens: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Session:
        return session_for(self.op.home, authenticate(self.op.engine, self.op.home.path,
                                                      Credentials(user=name, token=self.tokens[name])))

    def close(self) -> None:
        self.op.close()


def make_people(home: Path, roles: dict[str, str] | None = None) -> People:
    """Bootstrap an admin, then add every other person (name -> role) with a token."""
    if not (home / "dgate.duckdb").exists():
        init_home(home)[0].close()
    op = operator(home)
    people = People(op)
    res = users.add(op, "admin", ["admin"])
    assert res.token is not None
    people.tokens["admin"] = res.token
    for name, role in (roles or ROLES_OF).items():
        if name == "admin":
            continue
        added = users.add(people["admin"], name, [role])
        assert added.token is not None
        people.tokens[name] = added.token
    return people


def load_world(people: People, persons: Path, addresses: Path, agreement: Path) -> None:
    records.load(people.op, persons, addresses)
    agreements.add(people["officer"], agreement)


def submit_and_process(people: People, request_file: Path, manifest: Path, policy: str | None = None,
                       as_of: dt.date | None = None) -> ProcessResult:
    bid = requests.submit(people.op, request_file, manifest).batch.batch_id
    return requests.process(people.op, bid, policy, as_of)
