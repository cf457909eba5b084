"""People: accounts, credentials, and that every act of a person needs a valid token.

* bootstrap and user management through the CLI (the first admin, tokens, revocation, roles);
* tokens: 256 random bits, stored only as a hash, expiry (an injected clock), revocation, lockout;
* passwords: Argon2id, set by their owner only;
* every command of the Typer app that is a person's act (an action the operator may not perform,
  per ``authz.ACTIONS``) refuses the operator (exit 6), a missing token (exit 8) and a wrong token
  (exit 8), and then the home is unchanged but for the failure counters;
* every act of a person is a ledger event naming that person.

Commands run in-process through the real Typer app (``test_review.dgate``), a few as real
subprocesses (``run_cli``) to check the entry point itself.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import io
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest
import typer

from apphelp import make_people
from conftest import CliResult, run_cli
from disclosure_gate.app import authz, users
from disclosure_gate.app.session import Credentials, authenticate
from disclosure_gate.clock import FixedClock
from disclosure_gate.errors import AuthenticationError, UsageError
from disclosure_gate.store import users as user_store
from disclosure_gate.store.home import DB_NAME, init_home, open_home
from disclosure_gate.surfaces.cli.main import app
from test_review import dgate, write_review_data

TOKEN_RE = re.compile(r"dgt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
PEOPLE = {"officer": "officer", "rev1": "reviewer", "rev2": "reviewer", "alice": "preparer", "bob": "approver",
          "auditor": "auditor", "olga": "overseer"}


def last_line(r: CliResult) -> str:
    return r.stdout.rstrip("\n").splitlines()[-1]


def wrong_secret(token: str) -> str:
    """The same token id with another (well-formed) secret."""
    m = TOKEN_RE.fullmatch(token)
    assert m is not None
    secret = m.group(2)
    return f"dgt_{m.group(1)}_{('B' if secret[0] == 'A' else 'A') + secret[1:]}"


# -- state of a home ----------------------------------------------------------------------------------
COUNTERS = ("failed_logins", "locked_until")


def state(home: Path) -> dict[str, Any]:
    """Every table's row count and content digest (users without the failure counters), the ledger size,
    and the bytes of every other file of the home."""
    h = open_home(home, write=False)
    try:
        e = h.engine
        tables = [str(r[0]) for r in e.fetchall(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_type = 'BASE TABLE' ORDER BY 1")]
        out: dict[str, Any] = {"ledger_size": e.scalar("SELECT count(*) FROM ledger_entries")}
        for t in tables:
            cols = "* EXCLUDE (" + ", ".join(COUNTERS) + ")" if t == "users" else "*"
            out[t] = e.fetchone(f"SELECT count(*), bit_xor(hash(t)) FROM (SELECT {cols} FROM {t}) t")
    finally:
        h.close()
    for f in sorted(home.rglob("*")):
        if f.is_file() and not f.name.startswith(DB_NAME):
            out[f"file:{f.relative_to(home)}"] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]


def counters(home: Path, name: str) -> tuple[int, dt.datetime | None]:
    h = open_home(home, write=False)
    try:
        row = h.engine.fetchone("SELECT failed_logins, locked_until FROM users WHERE name = ?", [name])
        assert row is not None
        return int(row[0]), row[1]
    finally:
        h.close()


# -- bootstrap and user management (CLI) --------------------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised home (init builds the reference tables: seconds); tests copy it."""
    home = tmp_path_factory.mktemp("template") / "home"
    init_home(home)[0].close()
    return home


@pytest.fixture
def fresh(tmp_path: Path, template: Path) -> Path:
    """A new home with no user yet (a copy of the template)."""
    home = tmp_path / "home"
    shutil.copytree(template, home)
    return home


def test_bootstrap_the_operator_adds_the_first_admin_and_only_the_first(fresh: Path) -> None:
    home = fresh
    not_admin = dgate(home, "user", "add", "ada", "--role", "officer")
    assert not_admin.code == 64 and "admin" in not_admin.stderr
    first = run_cli("user", "add", "ada", "--role", "admin", home=home)  # the real entry point
    assert first.code == 0, first.stderr
    token = last_line(first)
    assert TOKEN_RE.fullmatch(token), "the token is alone on the last line"
    assert token not in first.stderr
    # Now the home has an admin: the operator manages nobody.
    for role in ("admin", "reviewer"):
        again = dgate(home, "user", "add", "eve", "--role", role)
        assert again.code == 6, again.stderr
    assert run_cli("user", "add", "eve", "--role", "admin", home=home).code == 6
    # The admin adds people; each gets a first token, alone on the last line.
    added = dgate(home, "user", "add", "rita", "--role", "reviewer", who="ada", token=token)
    assert added.code == 0, added.stderr
    assert TOKEN_RE.fullmatch(last_line(added))
    listed = json.loads(dgate(home, "user", "list", "--json").stdout)
    assert sorted(u["user"]["name"] for u in listed) == ["ada", "rita"]
    assert token not in json.dumps(listed)


def test_tokens_are_issued_by_an_admin_or_by_the_user_themself(fresh: Path) -> None:
    home = fresh
    admin = last_line(dgate(home, "user", "add", "ada", "--role", "admin"))
    rita = last_line(dgate(home, "user", "add", "rita", "--role", "reviewer", who="ada", token=admin))
    ravi = last_line(dgate(home, "user", "add", "ravi", "--role", "reviewer", who="ada", token=admin))
    by_admin = dgate(home, "user", "token", "rita", "--label", "laptop", who="ada", token=admin)
    assert by_admin.code == 0 and TOKEN_RE.fullmatch(last_line(by_admin))
    by_self = dgate(home, "user", "token", "rita", who="rita", token=rita)
    assert by_self.code == 0 and TOKEN_RE.fullmatch(last_line(by_self))
    assert len({rita, last_line(by_admin), last_line(by_self)}) == 3
    # Each new token works.
    for t in (last_line(by_admin), last_line(by_self)):
        assert dgate(home, "review", "list", who="rita", token=t).code == 0
    # Nobody else issues a token for rita.
    assert dgate(home, "user", "token", "rita", who="ravi", token=ravi).code == 6
    # An expiry in the past or too far away is a usage error.
    for day in ("2000-01-01", "2999-01-01", "2026-02-30"):
        assert dgate(home, "user", "token", "rita", "--expires", day, who="ada", token=admin).code == 64


def test_revoke_every_token_one_token_or_a_role(fresh: Path) -> None:
    home = fresh
    admin = last_line(dgate(home, "user", "add", "ada", "--role", "admin"))
    rita = last_line(dgate(home, "user", "add", "rita", "--role", "reviewer", who="ada", token=admin))
    rita2 = last_line(dgate(home, "user", "token", "rita", who="rita", token=rita))
    ravi = last_line(dgate(home, "user", "add", "ravi", "--role", "reviewer", who="ada", token=admin))
    ravi2 = last_line(dgate(home, "user", "token", "ravi", who="ravi", token=ravi))
    # One token.
    m = TOKEN_RE.fullmatch(ravi)
    assert m is not None
    assert dgate(home, "user", "revoke", "ravi", "--token", m.group(1), who="ravi", token=ravi2).code == 6
    assert dgate(home, "user", "revoke", "ravi", "--token", m.group(1), who="ada", token=admin).code == 0
    gone = dgate(home, "review", "list", who="ravi", token=ravi)
    assert gone.code == 8 and "revoked" in gone.stderr
    assert dgate(home, "review", "list", who="ravi", token=ravi2).code == 0
    # Every token.
    r = dgate(home, "user", "revoke", "rita", who="ada", token=admin)
    assert r.code == 0 and "Revoked 2 tokens" in r.stdout
    for t in (rita, rita2):
        assert dgate(home, "review", "list", who="rita", token=t).code == 8
    # A role: the token still authenticates, the role is gone.
    assert dgate(home, "user", "revoke", "ravi", "--role", "reviewer", who="ada", token=admin).code == 0
    assert dgate(home, "review", "list", who="ravi", token=ravi2).code == 6
    kinds = [(e["kind"], e["actor"]) for e in json.loads(dgate(home, "ledger", "events", "--json").stdout)]
    assert ("token_revoked", "ada") in kinds and ("role_revoked", "ada") in kinds


def test_nobody_changes_their_own_roles_and_the_last_admin_keeps_admin(fresh: Path) -> None:
    home = fresh
    ada = last_line(dgate(home, "user", "add", "ada", "--role", "admin"))
    for args in (("user", "add", "ada", "--role", "officer"), ("user", "add", "ada", "--role", "reviewer"),
                 ("user", "revoke", "ada", "--role", "admin")):
        r = dgate(home, *args, who="ada", token=ada)
        assert r.code == 6, (args, r.stderr)
    roles = json.loads(dgate(home, "user", "list", "--json").stdout)[0]["user"]["roles"]
    assert roles == [["admin", ""]]
    # A second admin may take the first admin's role; then the remaining admin cannot drop their own.
    bea = last_line(dgate(home, "user", "add", "bea", "--role", "admin", who="ada", token=ada))
    assert dgate(home, "user", "add", "bea", "--role", "officer", who="bea", token=bea).code == 6
    assert dgate(home, "user", "revoke", "ada", "--role", "admin", who="bea", token=bea).code == 0
    assert dgate(home, "user", "add", "cy", "--role", "officer", who="ada", token=ada).code == 6
    last = dgate(home, "user", "revoke", "bea", "--role", "admin", who="bea", token=bea)
    assert last.code in (4, 6), last.stderr
    assert dgate(home, "user", "add", "cy", "--role", "officer", who="bea", token=bea).code == 0
    # The operator cannot step in either once an admin exists (no re-bootstrap).
    assert dgate(home, "user", "add", "ada", "--role", "admin").code == 6


# -- tokens ---------------------------------------------------------------------------------------------
def test_tokens_are_256_random_bits_stored_only_as_a_hash(fresh: Path) -> None:
    home = fresh
    admin = last_line(dgate(home, "user", "add", "ada", "--role", "admin"))
    tokens = [admin] + [last_line(dgate(home, "user", "token", "ada", who="ada", token=admin)) for _ in range(3)]
    for t in tokens:
        m = TOKEN_RE.fullmatch(t)
        assert m is not None, t
        assert len(base64.urlsafe_b64decode(m.group(2) + "=")) == 32  # 256 bits
    assert len({TOKEN_RE.fullmatch(t).group(2) for t in tokens}) == len(tokens)  # type: ignore[union-attr]
    blob = b"".join(f.read_bytes() for f in home.rglob("*") if f.is_file())
    for t in tokens:
        secret = TOKEN_RE.fullmatch(t).group(2)  # type: ignore[union-attr]
        assert secret.encode() not in blob and t.encode() not in blob
    h = open_home(home, write=False)
    try:
        stored: dict[str, str] = dict(h.engine.fetchall("SELECT token_id, token_hash FROM tokens"))
    finally:
        h.close()
    for t in tokens:
        m = TOKEN_RE.fullmatch(t)
        assert m is not None
        assert stored[m.group(1)] == hashlib.sha256(m.group(2).encode()).hexdigest()


def test_expired_tokens_are_refused(fresh: Path) -> None:
    people = make_people(fresh, {"rev1": "reviewer"})
    try:
        op = people.op
        start = op.engine.clock.now()
        clock = FixedClock(start)
        op.engine.clock = clock
        today = start.date()
        # An expiry in the past (or today) cannot be set.
        with pytest.raises(UsageError, match="--expires"):
            users.token(people["admin"], "rev1", today, "past")
        _, short = users.token(people["admin"], "rev1", today + dt.timedelta(days=10), "short")
        creds = Credentials(user="rev1", token=short)
        assert authenticate(op.engine, op.home.path, creds).name == "rev1"
        clock.advance(dt.timedelta(days=11))
        with pytest.raises(AuthenticationError, match="expired"):
            authenticate(op.engine, op.home.path, creds)
        # The 90-day first token still works; after 90 days it expires too.
        first = Credentials(user="rev1", token=people.tokens["rev1"])
        assert authenticate(op.engine, op.home.path, first).name == "rev1"
        clock.advance(dt.timedelta(days=80))
        with pytest.raises(AuthenticationError, match="expired"):
            authenticate(op.engine, op.home.path, first)
    finally:
        people.close()


def test_a_wrong_or_missing_token_is_refused_and_changes_nothing(fresh: Path) -> None:
    home = fresh
    admin = last_line(dgate(home, "user", "add", "ada", "--role", "admin"))
    other = last_line(dgate(home, "user", "add", "rita", "--role", "reviewer", who="ada", token=admin))
    before = state(home)
    attempts = [wrong_secret(admin), other, "dgt_x", "dgt_000000000000_" + "A" * 43, admin + "x"]
    for bad in attempts:
        r = dgate(home, "user", "add", "mallory", "--role", "admin", who="ada", token=bad)
        assert r.code == 8, (bad, r.stderr)
        assert "authentication failed" in r.stderr or "locked" in r.stderr
    missing = dgate(home, "user", "add", "mallory", "--role", "admin", who="ada")
    assert missing.code == 8 and "DGATE_TOKEN" in missing.stderr
    # A token without --as is not a person: the command runs as the operator, who may not do it.
    assert dgate(home, "settings", "set", "agency_name", "X", token=admin).code == 6
    assert diff(before, state(home)) == []
    assert counters(home, "ada")[0] == len(attempts)
    # The real entry point, with DGATE_TOKEN in the environment: the same.
    assert run_cli("user", "add", "mallory", "--role", "admin", "--as", "rita", home=home, token=admin,
                   stdin="").code == 8
    assert run_cli("user", "add", "mallory", "--role", "admin", "--as", "rita", home=home, stdin="").code == 8
    assert diff(before, state(home)) == []


def test_repeated_failures_lock_the_account_even_for_the_right_token(fresh: Path) -> None:
    home = fresh
    admin = last_line(dgate(home, "user", "add", "ada", "--role", "admin"))
    rita = last_line(dgate(home, "user", "add", "rita", "--role", "reviewer", who="ada", token=admin))
    for i in range(user_store.LOCK_AFTER):
        r = dgate(home, "user", "token", "rita", who="rita", token=wrong_secret(rita))
        assert r.code == 8, (i, r.stderr)
    assert counters(home, "rita")[1] is not None
    locked = dgate(home, "user", "token", "rita", who="rita", token=rita)
    assert locked.code == 8 and "locked" in locked.stderr
    assert dgate(home, "review", "list", who="rita", token=rita).code == 8
    # Other accounts are unaffected.
    assert dgate(home, "user", "list", who="ada", token=admin).code == 0


def test_the_lock_passes_and_a_success_resets_the_count(fresh: Path) -> None:
    people = make_people(fresh, {"rev1": "reviewer"})
    try:
        op = people.op
        clock = FixedClock(op.engine.clock.now())
        op.engine.clock = clock
        good = Credentials(user="rev1", token=people.tokens["rev1"])
        bad = Credentials(user="rev1", token=wrong_secret(people.tokens["rev1"]))
        for _ in range(4):
            with pytest.raises(AuthenticationError, match="authentication failed"):
                authenticate(op.engine, op.home.path, bad)
        authenticate(op.engine, op.home.path, good)  # four failures: not locked; a success resets
        for _ in range(5):
            with pytest.raises(AuthenticationError):
                authenticate(op.engine, op.home.path, bad)
        with pytest.raises(AuthenticationError, match="locked"):
            authenticate(op.engine, op.home.path, good)
        clock.advance(dt.timedelta(seconds=59))
        with pytest.raises(AuthenticationError, match="locked"):
            authenticate(op.engine, op.home.path, good)
        clock.advance(dt.timedelta(seconds=2))
        assert authenticate(op.engine, op.home.path, good).name == "rev1"
        assert op.engine.fetchone("SELECT failed_logins, locked_until FROM users WHERE name = 'rev1'") == (0, None)
    finally:
        people.close()


# -- passwords ----------------------------------------------------------------------------------------------
def test_passwords_are_argon2id_and_set_by_their_owner_only(fresh: Path) -> None:
    home = fresh
    admin = last_line(dgate(home, "user", "add", "ada", "--role", "admin"))
    rita = last_line(dgate(home, "user", "add", "rita", "--role", "reviewer", who="ada", token=admin))
    password = "correct horse battery staple"
    assert dgate(home, "user", "password", "rita", "--password-stdin", who="ada", token=admin,
                 stdin=password).code == 6  # not even an admin
    assert dgate(home, "user", "password", "rita", "--password-stdin", who="rita", token=rita,
                 stdin="short").code == 64
    ok = dgate(home, "user", "password", "rita", "--password-stdin", who="rita", token=rita, stdin=password + "\n")
    assert ok.code == 0, ok.stderr
    h = open_home(home, write=True)
    try:
        stored = h.engine.scalar("SELECT password_hash FROM users WHERE name = 'rita'")
        assert str(stored).startswith("$argon2id$") and password not in str(stored)
        assert authenticate(h.engine, home, Credentials(user="rita", password=password)).name == "rita"
        with pytest.raises(AuthenticationError):
            authenticate(h.engine, home, Credentials(user="rita", password=password + "!"))
    finally:
        h.close()
    assert password.encode() not in b"".join(f.read_bytes() for f in home.rglob("*") if f.is_file())
    events = json.loads(dgate(home, "ledger", "events", "--kind", "password_set", "--json").stdout)
    assert [(e["user"], e["actor"]) for e in events] == [("rita", "rita")]
    assert password not in json.dumps(events)


# -- every person's act needs a valid token ------------------------------------------------------------------
#: Every command of the Typer app -> the authz action it performs (None: no home or no person: tools).
ACTION_OF: dict[str, str | None] = {
    "init": None, "doctor": None, "synth": None, "demo": None, "serve": None, "evaluate": "evaluate",
    "records load": "records.load",
    "agreement add": "agreement.add", "agreement list": "agreement.view", "agreement show": "agreement.view",
    "agreement suspend": "agreement.status", "agreement reinstate": "agreement.status",
    "agreement terminate": "agreement.status", "agreement set-policy": "agreement.policy",
    "request submit": "request.submit", "request list": "request.view", "request show": "request.view",
    "request process": "request.process", "decisions export": "decisions.export",
    "review list": "review.view", "review show": "review.show", "review resolve": "review.resolve",
    "release prepare": "release.prepare", "release approve": "release.approve",
    "release deliver": "release.deliver", "release verify": None, "release list": "release.view",
    "release show": "release.view", "release recall": "release.recall",
    "audit replay": "audit.run", "audit import": "audit.run", "audit show": "audit.view",
    "audit list": "audit.view", "audit findings": "audit.view", "audit review": "audit.review",
    "incident open": "incident.open", "incident status": "incident.view", "incident list": "incident.view",
    "incident certify": "incident.certify",
    "ledger key": "ledger.view", "ledger checkpoint": "ledger.checkpoint", "ledger prove": "ledger.view",
    "ledger consistency": "ledger.view", "ledger verify": "ledger.view", "ledger events": "ledger.entries",
    "ledger witness add": "ledger.witness", "ledger witness list": "ledger.view",
    "accounting person": "accounting.person", "accounting report": "accounting.report",
    "user add": "user.manage", "user token": "user.token", "user revoke": "user.manage",
    "user password": "user.password", "user list": "user.view",
    "policy add": "policy.add", "policy list": "policy.view",
    "settings show": "settings.view", "settings set": "settings.set",
    "verify checkpoint": None, "verify inclusion": None, "verify consistency": None, "verify witness-key": None,
    "verify cosign": None, "verify witness serve": None,
}

#: The issue's list of a person's acts.
WEB_ONLY_ACTS = {"release.receive", "log.entries"}

PERSON_ACTS = {
    "agreement add", "agreement suspend", "agreement reinstate", "agreement terminate", "agreement set-policy",
    "policy add", "user add", "user token", "user revoke", "user password", "review show", "review resolve",
    "review list", "release prepare", "release approve", "release deliver", "release recall", "audit replay",
    "audit import", "audit review", "incident open", "incident certify", "ledger witness add",
    "accounting person", "settings set"}


def typer_commands() -> set[str]:
    def walk(cmd: Any, path: tuple[str, ...]) -> list[str]:
        if isinstance(cmd, click.Group) or hasattr(cmd, "commands"):
            return [p for name, sub in cmd.commands.items() for p in walk(sub, (*path, name))]
        return [" ".join(path)]

    return set(walk(typer.main.get_command(app), ()))


def test_every_command_is_classified_and_the_person_acts_are_the_non_operator_actions() -> None:
    assert typer_commands() == set(ACTION_OF), "classify every new command in ACTION_OF"
    assert {a for a in ACTION_OF.values() if a} <= set(authz.ACTIONS)
    derived = {c for c, a in ACTION_OF.items() if a is not None and not authz.ACTIONS[a].operator}
    assert derived == PERSON_ACTS
    # Every action the operator may not perform is reachable from some command, or is one of the
    # web-only acts: a recipient fetching its packages (API) and an overseer reading entry bundles (/log/).
    person_actions = {a for a, rule in authz.ACTIONS.items() if not rule.operator}
    assert person_actions - {ACTION_OF[c] for c in PERSON_ACTS} == WEB_ONLY_ACTS


@dataclass
class WalkWorld:
    root: Path
    home: Path
    tokens: dict[str, str]
    batch: str
    package: str
    args: dict[str, tuple[tuple[object, ...], str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def walk_world(tmp_path_factory: pytest.TempPathFactory, template: Path) -> WalkWorld:
    """A home with people, records, an agreement, a processed batch with REVIEW rows and a prepared package;
    and, for each person's act, valid arguments and the person who holds the role."""
    from disclosure_gate.app import agreements, records, releases, requests

    root = tmp_path_factory.mktemp("walk")
    data = write_review_data(root / "data")
    shutil.copytree(template, root / "home")
    people = make_people(root / "home", PEOPLE)
    try:
        records.load(people.op, data["persons.csv"], data["addresses.csv"])
        agreements.add(people["officer"], data["agreement.yaml"])
        batch = requests.submit(people.op, data["requests.csv"], data["manifest.yaml"]).batch.batch_id
        requests.process(people.op, batch)
        package = releases.prepare(people["alice"], batch).package.package_id
        tokens = dict(people.tokens)
    finally:
        people.close()
    (root / "policy.cedar").write_text((Path(__file__).parents[1] / "src" / "disclosure_gate" / "policies"
                                        / "6103i2.cedar").read_text())
    (root / "agreement2.yaml").write_text(data["agreement.yaml"].read_text().replace("id: AGR-1", "id: AGR-2"))
    (root / "log.csv").write_text("request_id,first_name,middle_name,last_name,tin,dob,address,disclosed\n"
                                  'L1,Maria,,Garcia,123-45-6789,,"123 N Main St Apt 4, Springfield, IL 62704",true\n')
    (root / "outbox").mkdir()
    vkey = _witness_key(root)
    w = WalkWorld(root, root / "home", tokens, batch, package)
    reason = ("--reason", "because")
    w.args = {
        "agreement add": (("agreement", "add", root / "agreement2.yaml"), "officer"),
        "agreement suspend": (("agreement", "suspend", "AGR-1", *reason), "officer"),
        "agreement reinstate": (("agreement", "reinstate", "AGR-1", *reason), "officer"),
        "agreement terminate": (("agreement", "terminate", "AGR-1", *reason), "officer"),
        "agreement set-policy": (("agreement", "set-policy", "AGR-1", "--policy", "6103i2", *reason), "officer"),
        "policy add": (("policy", "add", root / "policy.cedar", "--id", "local-v2"), "officer"),
        "user add": (("user", "add", "newbie", "--role", "reviewer"), "admin"),
        "user token": (("user", "token", "rev1"), "admin"),
        "user revoke": (("user", "revoke", "rev1"), "admin"),
        "user password": (("user", "password", "rev1", "--password-stdin"), "rev1"),
        "review show": (("review", "show", batch, "R2"), "rev1"),
        "review resolve": (("review", "resolve", batch, "R2", "--decision", "DENY", *reason), "rev1"),
        "review list": (("review", "list"), "rev1"),
        "release prepare": (("release", "prepare", batch), "alice"),
        "release approve": (("release", "approve", package), "bob"),
        "release deliver": (("release", "deliver", package, "--out", root / "outbox" / "p"), "alice"),
        "release recall": (("release", "recall", package, *reason), "officer"),
        "audit replay": (("audit", "replay", "--policy", "6103i2"), "auditor"),
        "audit import": (("audit", "import", root / "log.csv", "--format", "csv"), "auditor"),
        "audit review": (("audit", "review", "A0123456789abcdef", "R2", "--verdict", "unlawful", *reason),
                         "auditor"),
        "incident open": (("incident", "open", "--from-audit", "A0123456789abcdef"), "auditor"),
        "incident certify": (("incident", "certify", "I0123456789abcdef", "--destroyed-on", "2026-01-01"),
                             "auditor"),
        "ledger witness add": (("ledger", "witness", "add", "https://witness.example/", vkey), "officer"),
        "accounting person": (("accounting", "person", "123-45-6789"), "auditor"),
        "settings set": (("settings", "set", "agency_name", "Somebody"), "officer"),
    }
    assert set(w.args) == PERSON_ACTS
    return w


@pytest.mark.parametrize("command", sorted(PERSON_ACTS))
def test_every_person_act_fails_without_a_valid_token(walk_world: WalkWorld, command: str) -> None:
    w = walk_world
    args, who = w.args[command]
    stdin = "a long enough password" if command == "user password" else None
    before = state(w.home)
    failures = counters(w.home, who)[0]
    # (a) the operator (no --as): not a person, not authorised. `user password NAME` acts as NAME by default,
    # so without a token it is refused as an authentication failure instead.
    op = dgate(w.home, *args, stdin=stdin)
    assert op.code == (8 if command == "user password" else 6), (command, op.stdout, op.stderr)
    # (b) --as with no token.
    missing = dgate(w.home, *args, who=who, stdin=stdin)
    assert missing.code == 8, (command, missing.stdout, missing.stderr)
    assert "DGATE_TOKEN" in missing.stderr
    # (c) --as with a wrong token: the right token id with another secret, and another person's token.
    other = w.tokens["olga"]
    for bad in (wrong_secret(w.tokens[who]), other):
        wrong = dgate(w.home, *args, who=who, token=bad, stdin=stdin)
        assert wrong.code == 8, (command, bad, wrong.stdout, wrong.stderr)
    # Nothing changed but the failure counters.
    assert diff(before, state(w.home)) == [], command
    assert counters(w.home, who)[0] >= failures
    assert not (w.root / "outbox" / "p").exists()


def test_the_walk_arguments_are_valid_for_the_right_person(walk_world: WalkWorld) -> None:
    """The refusals above are about credentials, not bad arguments: with a valid token, a dry run of each
    act (where the command has one) passes its checks or fails for a reason of state, never 6 or 8."""
    w = walk_world
    # Fresh tokens (the walk may have locked the accounts): issued through the app layer on a write home.
    from disclosure_gate.app.session import open_session

    s = open_session(w.home, Credentials(), write=True)
    try:
        s.home.engine.execute("UPDATE users SET failed_logins = 0, locked_until = NULL")
        admin = authenticate(s.engine, s.home.path, Credentials(user="admin", token=w.tokens["admin"]))
        from disclosure_gate.app.session import session_for

        a = session_for(s.home, admin)
        fresh = {name: users.token(a, name, None, "walk")[1] for name in {who for _, who in w.args.values()}
                 if name != "admin"}
        fresh["admin"] = w.tokens["admin"]
    finally:
        s.close()
    for command, (args, who) in sorted(w.args.items()):
        if command in ("review show", "review list", "accounting person", "user password"):
            continue  # no --dry-run
        if command == "audit import":
            continue  # its --dry-run fails on the read-only home ("malformed CSV"), whoever runs it
        r = dgate(w.home, *args, "--dry-run", who=who, token=fresh[who])
        assert r.code not in (6, 8), (command, r.stdout, r.stderr)
        assert r.code in (0, 4), (command, r.stdout, r.stderr)


# -- every act of a person is in the ledger with its actor -----------------------------------------------------
@dataclass
class Acted:
    home: Path
    start: int
    expected: list[tuple[str, str]]
    covered: set[str]
    tokens: dict[str, str]
    verified_before_imports: CliResult


@pytest.fixture(scope="module")
def acted(tmp_path_factory: pytest.TempPathFactory, template: Path) -> Acted:
    """Every person's act, done for real by a person with the role, on one home."""
    root = tmp_path_factory.mktemp("acts")
    data = write_review_data(root / "data")
    home = root / "home"
    shutil.copytree(template, home)
    tokens = {"admin": last_line(dgate(home, "user", "add", "admin", "--role", "admin"))}

    def act(who: str, *args: object, stdin: str | None = None) -> CliResult:
        r = dgate(home, *args, who=who, token=tokens[who], stdin=stdin)
        assert r.code == 0, (args, r.stdout, r.stderr)
        return r

    def events() -> list[dict[str, Any]]:
        return list(json.loads(dgate(home, "ledger", "events", "--json", "--limit", "100000").stdout))

    expected: list[tuple[str, str]] = []  # (kind, actor) of every act below, in order
    covered: set[str] = set()  # the commands of PERSON_ACTS done below

    def expect(command: str, who: str, *kinds: str) -> None:
        covered.add(command)
        expected.extend((k, who) for k in kinds)

    start = len(events())
    for name, role in (PEOPLE | {"rev3": "reviewer"}).items():
        tokens[name] = last_line(act("admin", "user", "add", name, "--role", role))
        expect("user add", "admin", "user_added", "role_granted", "token_issued")
    tokens["rev1"] = last_line(act("rev1", "user", "token", "rev1"))
    expect("user token", "rev1", "token_issued")
    act("rev1", "user", "password", "rev1", "--password-stdin", stdin="a long enough password")
    expect("user password", "rev1", "password_set")
    act("admin", "user", "add", "rev3", "--role", "approver")
    expect("user add", "admin", "role_granted")
    act("admin", "user", "revoke", "olga")
    expect("user revoke", "admin", "token_revoked")
    act("officer", "settings", "set", "agency_name", "Internal Revenue Service")
    act("officer", "settings", "set", "contact", "Disclosure Office, 1 Main St, Washington DC 20001")
    expect("settings set", "officer", "setting_changed", "setting_changed")
    act("officer", "agreement", "add", data["agreement.yaml"])
    expect("agreement add", "officer", "agreement_added")
    policy_file = root / "local.cedar"
    policy_file.write_text((Path(__file__).parents[1] / "src" / "disclosure_gate" / "policies"
                            / "6103i2.cedar").read_text())
    act("officer", "policy", "add", policy_file, "--id", "local-v2")
    expect("policy add", "officer", "policy_added")
    act("officer", "ledger", "witness", "add", "http://127.0.0.1:9/", _witness_key(root))
    expect("ledger witness add", "officer", "witness_added")
    assert dgate(home, "records", "load", "--persons", data["persons.csv"], "--addresses",
                 data["addresses.csv"]).code == 0
    batch = dgate(home, "request", "submit", data["requests.csv"], "--manifest", data["manifest.yaml"]).stdout.strip()
    assert dgate(home, "request", "process", batch).code == 0
    act("rev1", "review", "list")  # a read: no event
    covered.add("review list")
    act("rev1", "review", "show", batch, "R2")
    expect("review show", "rev1", "case_viewed")
    act("rev1", "review", "resolve", batch, "R2", "--decision", "DISCLOSE", "--reason", "ok")
    act("rev2", "review", "resolve", batch, "R2", "--decision", "DISCLOSE", "--reason", "ok")
    expect("review resolve", "rev1", "review_resolved")
    expect("review resolve", "rev2", "review_resolved")
    package = last_line(act("alice", "release", "prepare", batch))
    expect("release prepare", "alice", "release_prepared")
    act("bob", "release", "approve", package)
    expect("release approve", "bob", "release_approved")
    (root / "outbox").mkdir()
    act("alice", "release", "deliver", package, "--out", root / "outbox" / "p")
    expect("release deliver", "alice", "release_delivered")
    act("auditor", "accounting", "person", "212-34-5670")
    expect("accounting person", "auditor", "person_looked_up")
    audit = last_line(act("auditor", "audit", "replay", "--policy", "6103i2"))
    expect("audit replay", "auditor", "audit_completed")
    act("auditor", "audit", "review", audit, "R2", "--verdict", "unlawful", "--reason", "unit differs")
    expect("audit review", "auditor", "finding_reviewed")
    verified = dgate(home, "ledger", "verify")
    log = root / "log.csv"
    lines = data["requests.csv"].read_text().splitlines()
    log.write_text(lines[0] + ",disclosed\n" + "".join(line + ",true\n" for line in lines[1:]))
    act("auditor", "audit", "import", log, "--format", "csv")
    expect("audit import", "auditor", "audit_completed")
    incident = last_line(act("auditor", "incident", "open", "--from-audit", audit))
    expect("incident open", "auditor", "incident_opened")
    today = dt.datetime.now(dt.UTC).date().isoformat()
    act("officer", "incident", "certify", incident, "--destroyed-on", today)
    expect("incident certify", "officer", "incident_certified")
    act("officer", "release", "recall", package, "--reason", "court order")
    expect("release recall", "officer", "release_recalled")
    act("officer", "agreement", "suspend", "AGR-1", "--reason", "court order")
    act("officer", "agreement", "reinstate", "AGR-1", "--reason", "order lifted")
    expect("agreement suspend", "officer", "agreement_status")
    expect("agreement reinstate", "officer", "agreement_status")
    act("officer", "agreement", "set-policy", "AGR-1", "--policy", "local-v2", "--reason", "new version")
    expect("agreement set-policy", "officer", "agreement_policy")
    act("officer", "agreement", "terminate", "AGR-1", "--reason", "ended")
    expect("agreement terminate", "officer", "agreement_status")
    return Acted(home, start, expected, covered, tokens, verified)


def test_every_act_of_a_person_is_a_ledger_event_naming_them(acted: Acted) -> None:
    """Each act appends its ledger event(s) with ``actor`` = the person's name (``ledger events --json``)."""
    assert acted.covered == PERSON_ACTS
    events = json.loads(dgate(acted.home, "ledger", "events", "--json", "--limit", "100000").stdout)
    expected, tokens = acted.expected, acted.tokens
    found = [(e["kind"], e["actor"]) for e in events[acted.start:]]
    persons = [(k, a) for k, a in found if not str(a).startswith("operator:")]
    # Every act above is in the ledger, in order, naming its person (the operator's pipeline events are
    # interleaved, and some acts append more than the one event named here).
    it = iter(persons)
    missing = [x for x in expected if not any(x == y for y in it)]
    assert missing == [], (missing, persons)
    assert {a for _, a in persons} <= set(tokens)


def test_the_ledger_verifies_after_every_kind_of_act(acted: Acted) -> None:
    """``ledger verify`` checks the stored state against the events: green before the audits of imported
    logs, and green after every act."""
    assert acted.verified_before_imports.code == 0, acted.verified_before_imports.stderr
    r = dgate(acted.home, "ledger", "verify")
    assert r.code == 0, r.stderr


def _witness_key(root: Path) -> str:
    with contextlib.redirect_stdout(io.StringIO()) as printed:  # dgate-verify prints to sys.stdout itself
        assert dgate(root, "verify", "witness-key", "witness.example/w", "--out", root / "w.key").code == 0
    return printed.getvalue().strip()
