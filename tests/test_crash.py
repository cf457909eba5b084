"""Crash recovery, and bad input that used to crash.

A real ``dgate`` is paused at a step boundary (tests/crashpoint.py) and SIGKILLed; the next
command must finish or remove what it left, and a rerun must do the job exactly once.

One home is built on the application layer: a batch delivered and audited under 6103i2 (unlawful delivered
findings, ready for an incident) and a second batch whose package is approved but not delivered. Every test
works on its own copy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from conftest import CliResult, kill9, run_cli, run_until_paused
from test_state_verify import Req, World, approved_batch, build_world

INCIDENT_RENDER = "disclosure_gate.remediation.incident:render"
RECALL_CSV = "disclosure_gate.remediation.incident_docs:write_recall_csv"
BUILD_FOLDER = "disclosure_gate.remediation.release:build_folder"
WRITE_DATA = "disclosure_gate.remediation.release:_write_data"
RECORDS_BUILD = "disclosure_gate.pipeline.records:build"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("crash")
    w = build_world(root, incident=False, suspend=False)
    _, pkg2 = approved_batch(w, (Req("S1", 6), Req("S2", 7)))  # a second package, approved, not delivered
    w.extra["package2"] = pkg2
    return w


@pytest.fixture
def copy(world: World, tmp_path: Path) -> World:
    """A private copy of the home (and an empty outbox next to it)."""
    home = tmp_path / "home"
    shutil.copytree(world.home, home)
    (tmp_path / "out").mkdir()
    return World(tmp_path, home, world.paths, world.tokens, world.batch, world.package, world.delivered, world.audit,
                 extra=dict(world.extra))


def query(home: Path, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(home / "dgate.duckdb"), read_only=True)
    try:
        return [tuple(r) for r in con.execute(sql, params or []).fetchall()]
    finally:
        con.close()


def events(home: Path, kind: str) -> list[dict[str, object]]:
    return [json.loads(str(r[0])) for r in query(home, "SELECT body FROM ledger_entries WHERE kind = ? ORDER BY idx",
                                                 [kind])]


def pause(w: World, target: str, when: str, *args: str | Path, who: str | None = None) -> subprocess.Popen[str]:
    marker = w.root / f"paused-{target.rsplit(':', 1)[1]}-{when}"
    env = {"DGATE_TOKEN": w.tokens[who]} if who else None
    extra = ("--as", who) if who else ()
    return run_until_paused(target, when, marker, *args, *extra, home=w.home, env=env)


def verify_ok(home: Path) -> None:
    r = run_cli("ledger", "verify", home=home)
    assert r.code == 0, (r.stdout, r.stderr)


def staging_tables(home: Path) -> list[str]:
    return [str(r[0]) for r in query(home, "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'stg%'")]


def new_snapshot_files(w: World) -> tuple[Path, Path]:
    """A different custodian snapshot (one more person), so that ``records load`` really builds."""
    persons, addresses = w.root / "persons2.csv", w.root / "addresses2.csv"
    persons.write_text(w.paths["persons"].read_text() + "123400099,ZOE,,QUINN,,1999-09-09,false\n")
    addresses.write_text(w.paths["addresses"].read_text() + "123400099,99 QUAIL RD,SPRINGFIELD,IL,62704,2010-01-01,\n")
    return persons, addresses


# -- init ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("when", ["before", "after"])
def test_init_killed_around_the_schema_is_finished_by_the_next_init(tmp_path: Path, when: str) -> None:
    """Killed with the database file created but its schema not (yet, or just) written: running ``init``
    again finishes the home (docs: init is idempotent; on a failure nothing is left behind)."""
    home = tmp_path / "home"
    proc = run_until_paused("disclosure_gate.store.schema:create", when, tmp_path / "paused", "init", home=home)
    kill9(proc)
    assert (home / "dgate.duckdb").exists()
    again = run_cli("init", home=home)
    assert again.code == 0, (again.code, again.stdout, again.stderr)
    admin = run_cli("user", "add", "admin", "--role", "admin", home=home)
    assert admin.code == 0, admin.stderr
    verify_ok(home)


# -- records load --------------------------------------------------------------------------------------------
def test_records_load_killed_after_build_doctor_drops_staging(copy: World) -> None:
    persons, addresses = new_snapshot_files(copy)
    proc = pause(copy, RECORDS_BUILD, "after", "records", "load", "--persons", persons, "--addresses", addresses)
    kill9(proc)
    left = staging_tables(copy.home)
    assert {"stg_person", "stg_address"} <= set(left), left  # the crash really left raw personal data behind

    dry = run_cli("doctor", "--dry-run", home=copy.home)
    assert dry.code == 0 and "stg_person" in dry.stdout, (dry.stdout, dry.stderr)
    assert set(staging_tables(copy.home)) == set(left)  # a dry run changes nothing

    doc = run_cli("doctor", home=copy.home)
    assert doc.code == 0, doc.stderr
    assert "staging table stg_person" in doc.stdout and "dropped" in doc.stdout, doc.stdout
    assert staging_tables(copy.home) == []
    verify_ok(copy.home)


def test_records_load_killed_after_build_next_write_command_drops_staging(copy: World) -> None:
    persons, addresses = new_snapshot_files(copy)
    before = query(copy.home, "SELECT snapshot_id FROM snapshots WHERE is_current")
    proc = pause(copy, RECORDS_BUILD, "after", "records", "load", "--persons", persons, "--addresses", addresses)
    kill9(proc)
    assert staging_tables(copy.home)
    assert query(copy.home, "SELECT snapshot_id FROM snapshots WHERE is_current") == before  # nothing installed

    r = copy.cli("settings", "set", "contact", "Disclosure Office, 2 Main St", who="officer")
    assert r.code == 0, r.stderr
    assert staging_tables(copy.home) == []
    again = run_cli("records", "load", "--persons", persons, "--addresses", addresses, home=copy.home)
    assert again.code == 0 and "Loaded snapshot" in again.stdout, again.stderr
    assert staging_tables(copy.home) == []
    verify_ok(copy.home)


# -- incident open ----------------------------------------------------------------------------------------------
def incident_folders(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "incidents").iterdir())


def test_incident_open_killed_after_render_is_cleaned_and_reopened_once(copy: World) -> None:
    proc = pause(copy, INCIDENT_RENDER, "after", "incident", "open", "--from-audit", copy.audit, who="auditor")
    kill9(proc)
    orphans = incident_folders(copy.home)
    assert len(orphans) == 1 and not orphans[0].startswith("."), orphans  # the folder is whole, not committed
    assert query(copy.home, "SELECT count(*) FROM incidents") == [(0,)]

    doc = run_cli("doctor", home=copy.home)
    assert doc.code == 0 and orphans[0] in doc.stdout, doc.stdout
    assert incident_folders(copy.home) == []

    r = copy.cli("incident", "open", "--from-audit", copy.audit, who="auditor")
    assert r.code == 0, r.stderr
    incident_id = r.stdout.strip().splitlines()[-1]
    assert query(copy.home, "SELECT incident_id FROM incidents") == [(incident_id,)]
    assert incident_folders(copy.home) == [incident_id]
    assert len(events(copy.home, "incident_opened")) == 1
    verify_ok(copy.home)


def test_incident_open_killed_after_render_rerun_without_doctor(copy: World) -> None:
    """The rerun itself is the next write open: it removes the orphan and opens exactly one incident."""
    proc = pause(copy, INCIDENT_RENDER, "after", "incident", "open", "--from-audit", copy.audit, who="auditor")
    kill9(proc)
    orphan = incident_folders(copy.home)
    r = copy.cli("incident", "open", "--from-audit", copy.audit, who="auditor")
    assert r.code == 0, r.stderr
    incident_id = r.stdout.strip().splitlines()[-1]
    assert incident_folders(copy.home) == [incident_id] and orphan != [incident_id]
    assert query(copy.home, "SELECT count(*) FROM incidents") == [(1,)]


def test_incident_open_killed_inside_rendering_leaves_no_partial_folder(copy: World) -> None:
    proc = pause(copy, RECALL_CSV, "after", "incident", "open", "--from-audit", copy.audit, who="auditor")
    kill9(proc)
    partial = incident_folders(copy.home)
    assert len(partial) == 1 and partial[0].startswith(".") and partial[0].endswith(".partial"), partial
    assert (copy.home / "incidents" / partial[0] / "recall.csv").is_file()  # it was killed mid-way

    r = copy.cli("incident", "open", "--from-audit", copy.audit, who="auditor")
    assert r.code == 0, r.stderr
    incident_id = r.stdout.strip().splitlines()[-1]
    assert incident_folders(copy.home) == [incident_id]
    assert sorted(p.name for p in (copy.home / "incidents" / incident_id).iterdir()) == [
        "letters.pdf", "recall.csv", "recall.pdf", "report.html", "report.json"]
    verify_ok(copy.home)


# -- release deliver --------------------------------------------------------------------------------------------
def partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


def test_deliver_killed_after_build_folder_is_adopted_once(copy: World) -> None:
    pkg = copy.extra["package2"]
    out = copy.root / "out" / "pkg2"
    proc = pause(copy, BUILD_FOLDER, "after", "release", "deliver", pkg, "--out", out, who="alice")
    kill9(proc)
    assert (out / "_COMPLETE").is_file()  # the folder is complete ...
    assert query(copy.home, "SELECT state FROM packages WHERE package_id = ?", [pkg]) == [("approved",)]  # ... not
    assert not [e for e in events(copy.home, "release_delivered") if e["package_id"] == pkg]  # committed

    r = copy.cli("release", "deliver", pkg, "--out", out, who="alice")
    assert r.code == 0, (r.stdout, r.stderr)
    delivered = [e for e in events(copy.home, "release_delivered") if e["package_id"] == pkg]
    assert len(delivered) == 1 and delivered[0]["folder"] == str(out)
    assert query(copy.home, "SELECT state, delivered_to FROM packages WHERE package_id = ?",
                 [pkg]) == [("delivered", str(out))]
    again = copy.cli("release", "deliver", pkg, "--out", out, who="alice")
    assert again.code == 0 and "Already delivered" in again.stdout
    assert len([e for e in events(copy.home, "release_delivered") if e["package_id"] == pkg]) == 1
    v = run_cli("release", "verify", out, home=copy.home)
    assert v.code == 0 and v.stdout.startswith("OK"), (v.stdout, v.stderr)
    assert partials(copy.root / "out") == []
    verify_ok(copy.home)


def test_deliver_killed_after_build_folder_then_delivered_elsewhere_leaves_no_unrecorded_package(
        copy: World) -> None:
    """After the crash the package is not delivered, so delivering it to another folder is allowed. The
    complete, signed folder the crash left at the first place must then not stay behind unrecorded (a
    crash leaves nothing the next run cannot finish or remove): the second delivery must refuse, naming
    the first folder, or the next open must remove the orphan."""
    pkg = copy.extra["package2"]
    first, second = copy.root / "out" / "pkg2", copy.root / "out" / "pkg2-again"
    proc = pause(copy, BUILD_FOLDER, "after", "release", "deliver", pkg, "--out", first, who="alice")
    kill9(proc)
    r = copy.cli("release", "deliver", pkg, "--out", second, who="alice")
    refused = r.code == 4 and str(first) in r.stderr
    assert r.code == 0 or refused, (r.code, r.stdout, r.stderr)
    run_cli("doctor", home=copy.home)
    recorded = query(copy.home, "SELECT delivered_to FROM packages WHERE package_id = ?", [pkg])[0][0]
    complete = sorted(str(p) for p in (first, second) if (p / "_COMPLETE").exists())
    assert complete in ([], [recorded]), (
        f"complete package folders on disk: {complete}; the ledger records delivery to {recorded}")


def test_deliver_killed_inside_write_data_leaves_no_partial_and_rerun_delivers(copy: World) -> None:
    pkg = copy.extra["package2"]
    out = copy.root / "out" / "pkg2"
    proc = pause(copy, WRITE_DATA, "after", "release", "deliver", pkg, "--out", out, who="alice")
    kill9(proc)
    left = partials(copy.root / "out")
    assert len(left) == 1 and not out.exists(), left
    assert (copy.root / "out" / left[0] / "data.csv").is_file()  # package data, half a folder

    doc = run_cli("doctor", home=copy.home)
    assert doc.code == 0 and "partial delivery folder" in doc.stdout, doc.stdout
    assert partials(copy.root / "out") == [] and not out.exists()

    r = copy.cli("release", "deliver", pkg, "--out", out, who="alice")
    assert r.code == 0, (r.stdout, r.stderr)
    assert len([e for e in events(copy.home, "release_delivered") if e["package_id"] == pkg]) == 1
    v = run_cli("release", "verify", out, home=copy.home)
    assert v.code == 0, (v.stdout, v.stderr)
    assert sorted(p.name for p in (copy.root / "out").iterdir()) == ["pkg2"]
    verify_ok(copy.home)


def test_deliver_killed_inside_write_data_rerun_cleans_up_itself(copy: World) -> None:
    """Without doctor: the rerun's own write open removes the partial folder, then delivers."""
    pkg = copy.extra["package2"]
    out = copy.root / "out" / "pkg2"
    proc = pause(copy, WRITE_DATA, "after", "release", "deliver", pkg, "--out", out, who="alice")
    kill9(proc)
    assert partials(copy.root / "out")
    r = copy.cli("release", "deliver", pkg, "--out", out, who="alice")
    assert r.code == 0, (r.stdout, r.stderr)
    assert sorted(p.name for p in (copy.root / "out").iterdir()) == ["pkg2"]
    assert sorted(p.name for p in out.iterdir()) == ["_COMPLETE", "data.csv", "data.parquet", "manifest.json",
                                                      "manifest.note"]


# -- bad input that used to crash (exit 70, a traceback) --------------------------------------------------------------
DOCUMENTED_EXITS = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 64}


def clean(r: CliResult) -> None:
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert r.code in DOCUMENTED_EXITS and r.code != 70, (r.code, r.stdout, r.stderr)

@pytest.fixture
def package_copy(world: World, tmp_path: Path) -> tuple[Path, Path]:
    assert world.delivered is not None
    folder = tmp_path / "pkg"
    shutil.copytree(world.delivered, folder)
    key = tmp_path / "agency.pub"
    key.write_text(run_cli("ledger", "key", home=world.home).stdout)
    return folder, key


def test_release_verify_with_the_data_file_deleted(package_copy: tuple[Path, Path]) -> None:
    folder, key = package_copy
    (folder / "data.csv").unlink()
    r = run_cli("release", "verify", folder, "--key", key)
    assert r.code == 7 and "data.csv" in r.stderr and "Traceback" not in r.stderr, (r.code, r.stderr)


def test_release_verify_with_an_extra_file(package_copy: tuple[Path, Path]) -> None:
    folder, key = package_copy
    (folder / "notes.txt").write_text("x")
    r = run_cli("release", "verify", folder, "--key", key)
    assert r.code == 7 and "notes.txt" in r.stderr and "Traceback" not in r.stderr, (r.code, r.stderr)


def test_release_verify_on_a_missing_folder(package_copy: tuple[Path, Path], tmp_path: Path) -> None:
    _, key = package_copy
    r = run_cli("release", "verify", tmp_path / "nowhere", "--key", key)
    assert r.code == 4 and "Traceback" not in r.stderr, (r.code, r.stderr)
    assert "does not exist" in r.stderr, r.stderr


def test_decisions_export_into_a_missing_folder_is_refused(world: World, tmp_path: Path) -> None:
    out = tmp_path / "new" / "dir" / "x.csv"
    r = run_cli("decisions", "export", world.batch, "--out", out, home=world.home)
    clean(r)
    assert r.code in (3, 64), (r.code, r.stderr)
    assert "does not exist" in r.stderr
    assert not (tmp_path / "new").exists()


def test_process_of_an_unknown_batch_says_no_batch(world: World) -> None:
    r = run_cli("request", "process", "B0000000000000000", home=world.home)
    assert r.code == 4, (r.code, r.stderr)
    assert "no batch" in r.stderr and "not been processed" not in r.stderr, r.stderr


@pytest.mark.parametrize("args", [
    ("request", "list", "--bogus"),
    ("request", "process"),
    ("user", "add", "zed", "--role", "bogus"),
    ("request", "process", "{batch}", "--as-of", "2025-02-30"),
    ("incident", "certify", "I0", "--destroyed-on", "2025-13-01"),
], ids=["unknown-option", "missing-argument", "bad-role", "impossible-date", "impossible-month"])
def test_usage_errors_exit_64_without_traceback(world: World, args: tuple[str, ...]) -> None:
    r = run_cli(*(a.format(batch=world.batch) for a in args), home=world.home)
    assert r.code == 64, (r.code, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout and "error" in r.stderr


def test_evaluate_reads_a_truth_file(world: World, tmp_path: Path) -> None:
    truth = tmp_path / "truth.csv"
    truth.write_text("request_id,category,expected,expected_reason\nR1,tin_current,DISCLOSE,\n"
                     "R2,not_on_file,DENY,ADDRESS_NOT_ON_FILE\n")
    r = run_cli("evaluate", world.batch, "--truth", truth, "--json", home=world.home)
    clean(r)
    assert r.code == 0, (r.code, r.stderr)
    assert json.loads(r.stdout)["rows"] == 2
