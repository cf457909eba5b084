"""The engine seam: errors never carry data values; busy and disk-full are named; SQL text is bound or quoted."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from disclosure_gate.engine import Engine, sql
from disclosure_gate.engine.compute import DuckDBCompute, Step
from disclosure_gate.engine.dialect import DUCKDB
from disclosure_gate.errors import BusyError, EngineError


def test_a_failed_cast_names_the_statement_not_the_value(engine):
    engine.execute("CREATE TABLE t (v VARCHAR)")
    engine.execute("INSERT INTO t VALUES ('123-45-6789 JOHN DOE')")
    with pytest.raises(EngineError) as exc:
        engine.execute("SELECT CAST(v AS INTEGER) FROM t", label="convert")
    assert "convert" in exc.value.message
    assert "6789" not in exc.value.message and "JOHN" not in exc.value.message


def test_a_constraint_error_does_not_echo_the_key(engine):
    engine.execute("CREATE TABLE k (tin VARCHAR PRIMARY KEY)")
    engine.execute("INSERT INTO k VALUES ('912561234')")
    with pytest.raises(EngineError) as exc:
        engine.execute("INSERT INTO k VALUES ('912561234')", label="store")
    assert "912561234" not in exc.value.message


def test_a_second_process_lock_is_busy_with_its_pid(tmp_path):
    import subprocess
    import sys

    db = tmp_path / "x.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb,sys,time; c=duckdb.connect({str(db)!r}); "
                               "print('ok', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        with pytest.raises(BusyError) as exc:
            Engine(db)
        assert f"pid {holder.pid}" in exc.value.message
    finally:
        holder.kill()
        holder.communicate()


def test_transactions_roll_back_on_error_and_nest(engine):
    engine.execute("CREATE TABLE n (v INTEGER)")
    with pytest.raises(ValueError), engine.transaction():
        engine.execute("INSERT INTO n VALUES (1)")
        with engine.transaction():
            engine.execute("INSERT INTO n VALUES (2)")
        raise ValueError
    assert engine.scalar("SELECT count(*) FROM n") == 0


def test_cursor_has_its_own_temp_tables_and_shares_committed_state(tmp_path):
    e = Engine(tmp_path / "y.duckdb")
    e.execute("CREATE TABLE shared AS SELECT 1 AS v")
    c = DuckDBCompute(e)
    c.run(Step("p_tmp", "SELECT v + 1 AS w FROM shared", "step"))
    assert c.scalar("SELECT w FROM p_tmp", label="q") == 2
    assert not e.table_exists("p_tmp")
    c.close()
    e.close()


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=40))
def test_literal_round_trips_through_the_database(value):
    e = Engine()
    assert e.scalar(f"SELECT {sql.literal(value)}") == value
    e.close()


def test_literal_refuses_control_characters_and_ident_refuses_anything_odd():
    with pytest.raises(ValueError):
        sql.literal("a\nb")
    for bad in ("a b", "x;DROP", "", "1abc", 'a"b'):
        with pytest.raises(ValueError):
            sql.ident(bad)
    assert sql.literal(dt.date(2025, 2, 28)) == "DATE '2025-02-28'"
    assert sql.ident("ok_1") == '"ok_1"'


def test_the_dialect_spells_duckdb_functions():
    assert DUCKDB.jaro_winkler("a", "b") == "jaro_winkler_similarity(a, b)"
    assert DUCKDB.create_temp("t", "SELECT 1") == "CREATE OR REPLACE TEMP TABLE t AS SELECT 1"
