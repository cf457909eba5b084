"""Confidentiality at rest: whatever the umask, the home and every folder dgate writes are 0700, the
database and every file it writes 0600 (docs/cli.md, "Files written"); ``init`` refuses a home inside a
folder anyone may write to without the sticky bit.

The main flow runs the real ``dgate`` under ``umask 022`` (a shell wrapper), from ``init`` to an incident;
a second flow runs the application layer in this process under ``umask 022`` (no surface to narrow it).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from apphelp import operator
from conftest import CliResult
from disclosure_gate.app import requests
from test_state_verify import DEFAULT_ROWS, Req, build_world, write_world

UMASK_WRAPPER = ["sh", "-c", 'umask 022; exec "$@"', "sh"]


def run_022(*args: str | os.PathLike[str], home: Path | None = None, token: str | None = None) -> CliResult:
    """``conftest.run_cli``, but the process starts with umask 022 (as a careless service account would)."""
    base = {k: v for k, v in os.environ.items() if k not in ("DGATE_HOME", "DGATE_TOKEN")}
    env = base | {"COLUMNS": "200"} | ({"DGATE_TOKEN": token} if token else {})
    argv = [*UMASK_WRAPPER, sys.executable, "-c", "from disclosure_gate.surfaces.cli.main import main; main()"]
    if home is not None:
        argv += ["--home", str(home)]
    argv += [str(a) for a in args]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.lstat().st_mode)


def loose(root: Path) -> list[str]:
    """Every folder under ``root`` (itself included) that is not 0700 and every file that is not 0600."""
    bad = []
    for p in [root, *sorted(root.rglob("*"))]:
        want = 0o700 if p.is_dir() else 0o600
        if mode(p) != want:
            bad.append(f"{p.relative_to(root.parent)}: {oct(mode(p))}, want {oct(want)}")
    return bad


@dataclass
class Flow:
    root: Path
    home: Path
    out: Path
    tokens: dict[str, str] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)  # every file or folder dgate wrote outside the home

    def ok(self, *args: str | os.PathLike[str], who: str | None = None) -> CliResult:
        extra = ("--as", who) if who else ()
        r = run_022(*args, *extra, home=self.home, token=self.tokens.get(who) if who else None)
        assert r.code == 0, (args, r.stdout, r.stderr)
        return r


def test_the_wrapper_really_sets_umask_022() -> None:
    r = subprocess.run([*UMASK_WRAPPER, sys.executable, "-c", "import os; print(os.umask(0))"],
                       capture_output=True, text=True, check=True)
    assert r.stdout.strip() == str(0o022)


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Flow:
    root = tmp_path_factory.mktemp("conf")
    paths = write_world(root / "data", DEFAULT_ROWS)
    out = root / "out"
    out.mkdir()
    f = Flow(root, root / "home", out)
    f.ok("init")
    f.tokens["admin"] = f.ok("user", "add", "admin", "--role", "admin").stdout.strip().splitlines()[-1]
    for name, role in (("officer", "officer"), ("alice", "preparer"), ("bob", "approver"), ("auditor", "auditor")):
        f.tokens[name] = f.ok("user", "add", name, "--role", role, who="admin").stdout.strip().splitlines()[-1]
    f.ok("policy", "add", paths["policy"], "--id", "weak-v1", who="officer")
    f.ok("records", "load", "--persons", paths["persons"], "--addresses", paths["addresses"])
    f.ok("agreement", "add", paths["agreement"], who="officer")
    f.ok("settings", "set", "agency_name", "Internal Revenue Service", who="officer")
    f.ok("settings", "set", "contact", "Disclosure Office, 1 Main St, Washington DC", who="officer")
    batch = f.ok("request", "submit", paths["requests"], "--manifest", paths["manifest"]).stdout.strip()
    f.ok("request", "process", batch)
    package = f.ok("release", "prepare", batch, who="alice").stdout.strip().splitlines()[-1]
    f.ok("release", "approve", package, who="bob")
    f.ok("release", "deliver", package, "--out", out / "pkg", who="alice")
    f.ok("decisions", "export", batch, "--out", out / "decisions.csv")
    f.ok("decisions", "export", batch, "--out", out / "decisions.parquet")
    f.ok("ledger", "checkpoint", "--out", out / "checkpoint.txt")
    f.ok("ledger", "prove", batch, "R1", "--out", out / "proof.json")
    f.ok("ledger", "consistency", "--from", "0", "--out", out / "consistency.json")
    f.ok("verify", "witness-key", "court.example/w", "--out", out / "witness.key")
    audit = f.ok("audit", "replay", "--policy", "6103i2", who="auditor").stdout.strip().splitlines()[-1]
    incident = f.ok("incident", "open", "--from-audit", audit, who="auditor").stdout.strip().splitlines()[-1]
    f.written = [out / "pkg", out / "decisions.csv", out / "decisions.parquet", out / "checkpoint.txt",
                 out / "proof.json", out / "consistency.json", out / "witness.key"]
    assert (f.home / "incidents" / incident / "letters.pdf").is_file()
    return f


def test_home_and_everything_in_it_is_owner_only(flow: Flow) -> None:
    for sub in ("keys", "incidents", "tmp", "run"):
        assert (flow.home / sub).is_dir()
    assert (flow.home / "dgate.duckdb").is_file()
    assert list((flow.home / "incidents").iterdir()), "no incident documents to check"
    assert not loose(flow.home), loose(flow.home)


def test_every_file_written_outside_the_home_is_owner_only(flow: Flow) -> None:
    for p in flow.written:
        assert p.exists(), p
        assert not loose(p), loose(p)
    assert sorted(p.name for p in (flow.out / "pkg").iterdir()) == ["_COMPLETE", "data.csv", "data.parquet",
                                                                     "manifest.json", "manifest.note"]
    # Nothing else (no temporary file) was left in the outbox.
    assert sorted(p.name for p in flow.out.iterdir()) == sorted(p.name for p in flow.written)


def test_a_write_open_tightens_what_was_loosened(flow: Flow, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(flow.home, home)
    incident = next((home / "incidents").iterdir())
    loosened = [home, home / "keys", home / "tmp", home / "run", home / "incidents", incident]
    for d in loosened:
        d.chmod(0o755)
    for f in (home / "dgate.duckdb", home / "keys" / "ledger.skey", home / "keys" / "commitment.key",
              incident / "letters.pdf"):
        f.chmod(0o644)
    r = run_022("doctor", home=home)
    assert r.code == 0, r.stderr
    assert not loose(home), loose(home)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_application_layer_files_are_owner_only_whatever_the_umask(umask_022: None, tmp_path: Path) -> None:
    """No surface narrows the umask here: every writer must set the modes itself."""
    rows = (*DEFAULT_ROWS, Req("R6", 6, on_file=False))
    w = build_world(tmp_path, rows, suspend=False)
    op = operator(w.home)
    try:
        requests.export(op, w.batch, tmp_path / "out" / "d.csv")
        requests.export(op, w.batch, tmp_path / "out" / "d.parquet")
    finally:
        op.close()
    assert w.delivered is not None and w.incident
    assert not loose(w.home), loose(w.home)
    assert not loose(tmp_path / "out" / "pkg1"), loose(tmp_path / "out" / "pkg1")
    assert [f"{p.name}: {oct(mode(p))}" for p in (tmp_path / "out").iterdir()
            if p.is_file() and mode(p) != 0o600] == []


# -- where a home may be created ----------------------------------------------------------------------------------
def test_init_refuses_a_home_inside_a_world_writable_folder(tmp_path: Path) -> None:
    ww = tmp_path / "ww"
    ww.mkdir()
    ww.chmod(0o777)
    r = run_022("init", home=ww / "home")
    assert r.code == 2, (r.code, r.stdout, r.stderr)
    assert "sticky" in r.stderr and str(ww) in r.stderr
    assert list(ww.iterdir()) == []  # nothing half-created
    deeper = run_022("init", home=ww / "a" / "b" / "home")
    assert deeper.code == 2 and list(ww.iterdir()) == []


def test_init_accepts_a_home_inside_a_sticky_world_writable_folder(tmp_path: Path) -> None:
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    r = run_022("init", home=sticky / "home")
    assert r.code == 0, (r.code, r.stdout, r.stderr)
    assert mode(sticky / "home") == 0o700 and mode(sticky / "home" / "dgate.duckdb") == 0o600
    assert not loose(sticky / "home"), loose(sticky / "home")
