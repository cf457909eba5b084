"""Docs as tests: every CLI command, reason code and error code is documented."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from disclosure_gate import errors
from disclosure_gate.pipeline import policy
from disclosure_gate.surfaces.cli.main import app

DOCS = Path(__file__).resolve().parents[1] / "docs"


def command_paths() -> list[str]:
    root = typer.main.get_command(app)
    paths: list[str] = []

    def walk(cmd, prefix):
        sub = getattr(cmd, "commands", None)
        if sub:
            for name, child in sub.items():
                walk(child, [*prefix, name])
        else:
            paths.append(" ".join(prefix))
    walk(root, [])
    return paths


def test_every_cli_command_is_documented():
    text = (DOCS / "cli.md").read_text()
    headings = set(re.findall(r"^### `dgate ([^`]+)`", text, re.M))
    paths = command_paths()
    assert len(paths) >= 10
    missing = [p for p in paths if p not in headings]
    assert not missing, f"undocumented commands: {missing}"
    stale = headings - set(paths)
    assert not stale, f"documented commands that do not exist: {stale}"


def test_every_reason_code_is_documented():
    text = (DOCS / "policy.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z_0-9]+)` \|", text, re.M))
    codes = set(policy.all_reason_codes())
    assert codes <= documented, f"undocumented reason codes: {codes - documented}"
    assert documented <= codes, f"documented codes no policy emits: {documented - codes}"


def test_every_error_code_is_in_the_hierarchy_docstring():
    doc = errors.__doc__ or ""
    for cls in errors.ALL_ERRORS:
        assert cls.__name__ in doc and cls.code in doc, cls
    assert len({c.code for c in errors.ALL_ERRORS}) == len(errors.ALL_ERRORS)


def test_formats_doc_covers_every_input():
    text = (DOCS / "formats.md").read_text()
    for heading in ("Persons", "Addresses", "Agreement", "Manifest", "Request file", "Decisions export",
                    "Truth file"):
        assert re.search(rf"^## {heading}", text, re.M), heading


def test_roles_and_duties_table_matches_the_authorisation_function():
    from disclosure_gate.app import authz

    text = (DOCS / "operations.md").read_text()
    for action, doc, who, operator in authz.roles_table():
        row = f"| `{action}` | {doc} | {who} | {'yes' if operator else 'no'} |"
        assert row in text, row


def test_every_error_code_and_exit_code_is_in_the_cli_reference():
    text = (DOCS / "cli.md").read_text()
    for cls in errors.ALL_ERRORS:
        assert cls.code in text or cls.code[:3] + "xx" in text, cls
        assert f"| {cls.exit_code} |" in text, cls
