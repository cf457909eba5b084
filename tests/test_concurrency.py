"""Two ``dgate`` processes on one home, and a full disk.

The first process is paused (tests/crashpoint.py) inside the write transaction of ``records load`` (after the
new snapshot was swapped in, before the commit). A second process with a short ``DGATE_WAIT`` fails with
exit 11 naming the holder; with a long one it waits and succeeds once the first is killed. The killed
transaction never lands, and the ledger verifies.

Disk full: ``ulimit -f`` (RLIMIT_FSIZE) in a shell wrapper makes writes past the limit fail with EFBIG
(Python ignores SIGXFSZ), which is how a file that no longer fits fails; the database of a read-only command
is not written, so only the output file hits the limit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from conftest import CliResult, kill9, run_cli, run_until_paused
from test_state_verify import World, build_world

SWAP = "disclosure_gate.pipeline.records:swap"
DOCUMENTED_EXITS = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 64}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("conc"), incident=False, suspend=False)


@pytest.fixture
def copy(world: World, tmp_path: Path) -> World:
    home = tmp_path / "home"
    shutil.copytree(world.home, home)
    return World(tmp_path, home, world.paths, world.tokens, world.batch, world.package, world.delivered, world.audit)


def query(home: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(home / "dgate.duckdb"), read_only=True)
    try:
        return [tuple(r) for r in con.execute(sql).fetchall()]
    finally:
        con.close()


def snapshot_files(w: World) -> tuple[Path, Path]:
    persons, addresses = w.root / "persons2.csv", w.root / "addresses2.csv"
    persons.write_text(w.paths["persons"].read_text() + "123400099,ZOE,,QUINN,,1999-09-09,false\n")
    addresses.write_text(w.paths["addresses"].read_text() + "123400099,99 QUAIL RD,SPRINGFIELD,IL,62704,2010-01-01,\n")
    return persons, addresses


def paused_in_transaction(w: World) -> tuple[subprocess.Popen[str], int]:
    """Start ``records load`` and pause it inside its write transaction; returns (process, its pid)."""
    persons, addresses = snapshot_files(w)
    marker = w.root / "paused"
    proc = run_until_paused(SWAP, "after", marker, "records", "load", "--persons", persons, "--addresses", addresses,
                            home=w.home)
    return proc, int(marker.read_text())


def current_snapshot(home: Path) -> list[tuple[object, ...]]:
    return query(home, "SELECT snapshot_id, persons FROM snapshots WHERE is_current")


def test_a_second_process_fails_with_exit_11_naming_the_holder(copy: World) -> None:
    before = current_snapshot(copy.home)
    proc, pid = paused_in_transaction(copy)
    try:
        read = run_cli("request", "list", home=copy.home, env={"DGATE_WAIT": "1"})
        write = run_cli("settings", "set", "contact", "elsewhere", "--as", "officer", home=copy.home,
                        token=copy.tokens["officer"], env={"DGATE_WAIT": "1"})
    finally:
        kill9(proc)
    for r in (read, write):
        assert r.code == 11, (r.code, r.stdout, r.stderr)
        assert "error[DG910]" in r.stderr and "in use by another dgate process" in r.stderr, r.stderr
        assert f"pid {pid}" in r.stderr, f"the message does not name the holder (pid {pid}): {r.stderr}"
        assert "Traceback" not in r.stderr
    # The killed transaction never landed; nothing is corrupted.
    assert current_snapshot(copy.home) == before
    assert run_cli("ledger", "verify", home=copy.home).code == 0
    assert run_cli("doctor", home=copy.home).code == 0
    assert query(copy.home, "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'stg%'") == []
    assert query(copy.home, "SELECT value FROM settings WHERE key = 'contact'") != [("elsewhere",)]


def test_a_second_process_waits_and_succeeds_after_the_first_is_killed(copy: World) -> None:
    proc, pid = paused_in_transaction(copy)
    env = {k: v for k, v in os.environ.items() if k not in ("DGATE_HOME", "DGATE_TOKEN")} | {
        "DGATE_WAIT": "300", "DGATE_TOKEN": copy.tokens["officer"], "COLUMNS": "200"}
    argv = [sys.executable, "-c", "from disclosure_gate.surfaces.cli.main import main; main()", "--home",
            str(copy.home), "settings", "set", "contact", "Disclosure Office, 3 Main St", "--as", "officer"]
    waiter = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert waiter.stderr is not None
        told = ""
        while "waiting" not in told:  # it says it waits, and for whom, before we release the home
            line = waiter.stderr.readline()
            assert line, f"the second process ended without waiting: {told}"
            told += line
        assert f"pid {pid}" in told, told
    finally:
        kill9(proc)
    out, err = waiter.communicate()
    assert waiter.returncode == 0, (waiter.returncode, out, told + err)
    assert query(copy.home, "SELECT value FROM settings WHERE key = 'contact'") == [("Disclosure Office, 3 Main St",)]
    r = run_cli("ledger", "verify", home=copy.home)
    assert r.code == 0, r.stderr


# -- disk full -------------------------------------------------------------------------------------------------------
def run_limited(blocks: int, *args: str | os.PathLike[str], home: Path) -> CliResult:
    """``dgate ARGS`` with RLIMIT_FSIZE set to ``blocks`` (dash: 512-byte blocks)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DGATE_HOME", "DGATE_TOKEN")} | {"COLUMNS": "200"}
    argv = ["sh", "-c", f'ulimit -f {blocks}; exec "$@"', "sh", sys.executable, "-c",
            "from disclosure_gate.surfaces.cli.main import main; main()", "--home", str(home), *map(str, args)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def limit_bytes() -> int:
    r = subprocess.run(["sh", "-c", "ulimit -f 1; exec python3 -c 'import resource; "
                        "print(resource.getrlimit(resource.RLIMIT_FSIZE)[0])'"], capture_output=True, text=True,
                       check=True)
    return int(r.stdout)


@pytest.mark.parametrize("name, args", [
    ("d.csv", ("decisions", "export", "{batch}", "--out", "{out}")),
    ("d.parquet", ("decisions", "export", "{batch}", "--out", "{out}")),
    ("proof.json", ("ledger", "prove", "{batch}", "R1", "--out", "{out}")),
])
def test_a_write_that_does_not_fit_fails_cleanly(world: World, tmp_path: Path, name: str,
                                                 args: tuple[str, ...]) -> None:
    full, limited = tmp_path / "full", tmp_path / "limited"
    full.mkdir()
    limited.mkdir()
    fill = {"batch": world.batch}
    ok = run_cli(*(a.format(out=full / name, **fill) for a in args), home=world.home)
    assert ok.code == 0, ok.stderr
    assert (full / name).stat().st_size > limit_bytes(), "the output fits under the limit: the test would prove nothing"

    r = run_limited(1, *(a.format(out=limited / name, **fill) for a in args), home=world.home)
    assert r.code != 0, "the write past RLIMIT_FSIZE did not fail"
    assert r.code == 12, (r.code, r.stderr)  # a write that does not fit is the documented disk-full exit
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert r.stderr.startswith("error[DG920]"), r.stderr
    assert list(limited.iterdir()) == [], f"a half-written output was left: {list(limited.iterdir())}"
