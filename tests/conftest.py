from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

from disclosure_gate.engine import Engine

# No timed assertions: Hypothesis's per-example deadline is one, so it is off everywhere. On CI (CI set) the
# examples are derandomized, so a red run is reproducible from the commit alone; locally they stay random.
settings.register_profile("dev", deadline=None, print_blob=True)
settings.register_profile("ci", parent=settings.get_profile("dev"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str | os.PathLike[str], home: Path | None = None, timeout: float = 600,
            token: str | None = None, env: dict[str, str] | None = None, stdin: str | None = None) -> CliResult:
    """Run the real ``dgate`` entry point in a subprocess (``token``: DGATE_TOKEN for ``--as``)."""
    base = {k: v for k, v in os.environ.items() if k not in ("DGATE_HOME", "DGATE_TOKEN")}
    env = base | {"COLUMNS": "200"} | (env or {}) | ({"DGATE_TOKEN": token} if token else {})
    argv = [sys.executable, "-c", "from disclosure_gate.surfaces.cli.main import main; main()"]
    if home is not None:
        argv += ["--home", str(home)]
    argv += [str(a) for a in args]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, input=stdin)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


STAFF = {"officer": "officer", "auditor": "auditor", "rev1": "reviewer", "rev2": "reviewer", "alice": "preparer",
         "bob": "approver", "olga": "overseer"}


def cli_people(home: Path, people: dict[str, str] | None = None) -> dict[str, str]:
    """Bootstrap an admin through the CLI, then add each person (name -> role). Returns name -> token."""
    r = run_cli("user", "add", "admin", "--role", "admin", home=home)
    assert r.code == 0, r.stderr
    tokens = {"admin": r.stdout.strip().splitlines()[-1]}
    for name, role in (people or STAFF).items():
        r = run_cli("user", "add", name, "--role", role, "--as", "admin", home=home, token=tokens["admin"])
        assert r.code == 0, r.stderr
        tokens[name] = r.stdout.strip().splitlines()[-1]
    return tokens


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def engine():
    e = Engine()
    yield e
    e.close()


def run_until_paused(target: str, when: str, marker: Path, *args: str | os.PathLike[str], home: Path,
                     env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.Popen[str]:
    """Start ``dgate ARGS`` with a pause at ``target`` (tests/crashpoint.py); return once it is paused."""
    import time

    argv = [sys.executable, str(Path(__file__).parent / "crashpoint.py"), target, when, str(marker), "--",
            "--home", str(home), *[str(a) for a in args]]
    full_env = {k: v for k, v in os.environ.items() if k != "DGATE_HOME"} | (env or {})
    proc = subprocess.Popen(argv, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            proc.communicate()
            pytest.fail(f"dgate ended before reaching {target}: {err}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            pytest.fail(f"dgate did not reach {target}")
        time.sleep(0.05)
    return proc


def kill9(proc: subprocess.Popen[str]) -> None:
    import signal

    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
