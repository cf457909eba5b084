"""One schema, versioned: a home written by the first releases (fixture) is migrated and still verifies."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from conftest import run_cli
from disclosure_gate.engine import Engine
from disclosure_gate.errors import HomeError
from disclosure_gate.store import schema
from disclosure_gate.store.home import open_home

FIXTURE = Path(__file__).parent / "fixtures" / "home-v1.tar.xz"


@pytest.fixture
def v1_home(tmp_path) -> Path:
    """A small home made by the first release (schema 1): 300 persons, a processed batch, a delivered
    package, a replay audit, users in config.yaml."""
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / "home"


def test_fixture_is_schema_1(v1_home):
    e = Engine(v1_home / "dgate.duckdb", read_only=True)
    assert schema.version_of(e) == 1
    e.close()


def test_read_only_open_of_an_older_home_is_refused_with_the_way_out(v1_home):
    with pytest.raises(HomeError, match="dgate doctor"):
        open_home(v1_home, write=False)
    r = run_cli("request", "list", home=v1_home)
    assert r.code == 2 and "dgate doctor" in r.stderr


def test_doctor_migrates_and_the_ledger_still_verifies(v1_home):
    r = run_cli("doctor", home=v1_home)
    assert r.code == 0, r.stderr
    assert f"schema version {schema.SCHEMA_VERSION}" in r.stdout
    verified = run_cli("ledger", "verify", home=v1_home)
    assert verified.code == 0, verified.stderr
    assert "predate state events" in verified.stdout
    # Users moved from config.yaml into the database, as ledger events; the file is kept, renamed.
    users = run_cli("user", "list", home=v1_home)
    assert "alice" in users.stdout and "preparer" in users.stdout
    assert not (v1_home / "config.yaml").exists() and (v1_home / "config.yaml.migrated").exists()
    events = run_cli("ledger", "events", "--kind", "role_granted", "--json", home=v1_home)
    assert '"actor": "operator:migration"' in events.stdout
    # Derived tables were rebuilt under today's rules: the unit key the matcher compares exists.
    e = Engine(v1_home / "dgate.duckdb", read_only=True)
    assert "a_unit_key" in e.columns("c_address")
    assert "name_present" in e.columns("row_facts") and "n_present" not in e.columns("row_facts")
    assert e.scalar("SELECT count(*) FROM agreement_history") >= 1
    e.close()
    # The migrated home keeps working: a first admin can be added, and the old package is still listed.
    assert run_cli("user", "add", "root-admin", "--role", "admin", home=v1_home).code == 0
    assert "Pc60cba74367caf0" in run_cli("release", "list", home=v1_home).stdout


def test_migrating_twice_is_a_no_op(v1_home):
    h = open_home(v1_home, write=True)
    assert schema.migrate(h.engine, h.path) == []
    h.close()


def test_a_newer_home_is_refused(tmp_path):
    assert run_cli("init", home=tmp_path / "h").code == 0
    e = Engine(tmp_path / "h" / "dgate.duckdb")
    e.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    e.close()
    r = run_cli("request", "list", home=tmp_path / "h")
    assert r.code == 2 and "newer" in r.stderr


def test_every_table_is_created_by_the_schema_module():
    """DDL lives in store/schema.py only (derived tables are built by their stage)."""
    src = Path(__file__).parents[1] / "src" / "disclosure_gate"
    offenders = []
    for path in src.rglob("*.py"):
        if path.name == "schema.py":
            continue
        text = path.read_text()
        if "CREATE TABLE IF NOT EXISTS" in text or ("ALTER TABLE" in text and "ADD COLUMN" in text):
            offenders.append(str(path.relative_to(src)))
    allowed = {"pipeline/facts.py", "pipeline/batches.py", "pipeline/standardize/fold.py", "pipeline/intake.py",
               "app/audits.py"}  # the facts contract's DDL; temporary staging tables only
    assert set(offenders) <= allowed, offenders
