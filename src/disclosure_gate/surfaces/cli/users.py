"""``dgate user``, ``dgate policy``, ``dgate settings``."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from disclosure_gate.app import policies, settings, users
from disclosure_gate.errors import UsageError
from disclosure_gate.surfaces.cli.common import (
    AsOpt,
    DryRunOpt,
    HomeOpt,
    JsonOpt,
    dry_or,
    io,
    parse_date,
    root,
    session,
)

user_app = typer.Typer(help="People: accounts, roles, tokens, passwords.", no_args_is_help=True)
policy_app = typer.Typer(help="Policy versions (Cedar).", no_args_is_help=True)
settings_app = typer.Typer(help="The home's settings: agency name, contact point, processing mode, API limits.",
                           no_args_is_help=True)
NameArg = Annotated[str, typer.Argument(metavar="NAME")]


@user_app.command("add")
def user_add(name: NameArg, roles: Annotated[list[str], typer.Option("--role", help="admin, officer, reviewer, "
                                                                     "preparer, approver, auditor, overseer, "
                                                                     "recipient (repeatable)")],
             agreement: Annotated[list[str] | None, typer.Option("--agreement", help="for --role recipient: the "
                                                                 "agreement(s) it acts under")] = None,
             home: HomeOpt = None, as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Add a user (or grant roles). A new user's first token is printed alone on the last line, once."""
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: users.plan_add(s, name, roles, agreement or [])):
            return
        res = users.add(s, name, roles, agreement or [])
    io().line(f"{name}: {', '.join(r + (':' + a if a else '') for r, a in res.user.roles)}"
              + ("" if res.created else f" (granted: {', '.join(res.granted) or 'nothing new'})"))
    if res.token is not None:
        io().note(f"token {res.token_id} for {name} (shown once; keep it secret):")
        io().plain(res.token)


@user_app.command("token")
def user_token(name: NameArg, expires: Annotated[str | None, typer.Option("--expires", help="YYYY-MM-DD "
                                                                          "(default: in 90 days)")] = None,
               label: Annotated[str, typer.Option("--label", help="what the token is for")] = "token",
               home: HomeOpt = None, as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Issue a token (admins for anyone, everyone for themself); printed alone on the last line, once."""
    day = parse_date(expires, "--expires")
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: users.plan_token(s, name, day, label)):
            return
        token_id, token = users.token(s, name, day, label)
    io().note(f"token {token_id} for {name} (shown once; keep it secret):")
    io().plain(token)


@user_app.command("revoke")
def user_revoke(name: NameArg, token_id: Annotated[str | None, typer.Option("--token", help="one token id "
                                                                            "(default: every token)")] = None,
                role: Annotated[str | None, typer.Option("--role", help="revoke this role instead")] = None,
                home: HomeOpt = None, as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Revoke a user's tokens (or one token, or a role)."""
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: users.plan_revoke(s, name, token_id, role)):
            return
        n = users.revoke(s, name, token_id, role)
    io().line(f"Revoked the {role} role of {name}" if role else f"Revoked {n} token{'s' if n != 1 else ''} of {name}")


@user_app.command("password")
def user_password(name: NameArg, password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the "
                                                                             "password from standard input")] = False,
                  home: HomeOpt = None, as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Set your console password (a prompt, or --password-stdin)."""
    if password_stdin:
        given = root().get("stdin")
        password = (given if given is not None else sys.stdin.readline()).split("\n", 1)[0].rstrip("\r")
    elif sys.stdin.isatty():
        password = getpass.getpass("new password: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the two passwords differ")
    else:
        raise UsageError("no terminal to prompt on: use --password-stdin")
    with session(home, as_user or name, write=not dry_run) as s:
        if dry_or(dry_run, lambda: users.plan_password(s, name, password)):
            return
        users.set_password(s, name, password)
    io().line(f"Password set for {name}")


@user_app.command("list")
def user_list(home: HomeOpt = None, as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """List users, roles and tokens (never the tokens themselves)."""
    with session(home, as_user, write=False) as s:
        found = users.list_(s)
    if as_json:
        io().json([{"user": u, "tokens": t} for u, t in found])
        return
    io().table(("user", "roles", "tokens (id: expires)", "password", "created by"),
               [(u.name, ", ".join(r + (f":{a}" if a else "") for r, a in u.roles),
                 ", ".join(f"{t.token_id}: {'revoked' if t.revoked_at else (t.expires_at or 'never')}" for t in tokens),
                 "set" if u.has_password else "-", u.created_by) for u, tokens in found])


@policy_app.command("add")
def policy_add(file: Path, policy_id: Annotated[str, typer.Option("--id", help="the new version's id")],
               home: HomeOpt = None, as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Register a policy version (validated against the fact schema); a ledger event."""
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: policies.plan_add(s, file, policy_id)):
            return
        pol, new = policies.add(s, file, policy_id)
    io().line(f"policy {pol.id}: {len(pol.reason_codes)} reason codes" + ("" if new else " (already registered)"))
    io().plain(pol.label)


@policy_app.command("list")
def policy_list(home: HomeOpt = None, as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """List built-in and registered policies with their content hashes."""
    with session(home, as_user, write=False) as s:
        found = policies.list_(s)
    if as_json:
        io().json(found)
        return
    io().table(("id", "sha256", "source"), [(p.id, p.sha256, p.source + (" (UNSAFE)" if p.unsafe else ""))
                                            for p in found])


@settings_app.command("show")
def settings_show(home: HomeOpt = None, as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """Show every setting."""
    with session(home, as_user, write=False) as s:
        values = settings.show(s)
    if as_json:
        io().json(values)
        return
    io().table(("setting", "value"), list(values.items()))


@settings_app.command("set")
def settings_set(key: Annotated[str, typer.Argument(metavar="KEY")],
                 value: Annotated[str, typer.Argument(metavar="VALUE")], home: HomeOpt = None,
                 as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Set a setting (a ledger event)."""
    with session(home, as_user, write=not dry_run) as s:
        if dry_or(dry_run, lambda: settings.plan_set(s, key, value)):
            return
        settings.set_(s, key, value)
    io().line(f"{key} set")

