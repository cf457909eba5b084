from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from disclosure_gate.engine import Engine


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str | os.PathLike[str], home: Path | None = None, timeout: float = 600) -> CliResult:
    """Run the real ``dgate`` entry point in a subprocess."""
    env = {k: v for k, v in os.environ.items() if k != "DGATE_HOME"}
    env["COLUMNS"] = "200"
    argv = [sys.executable, "-c", "from disclosure_gate.surfaces.cli.main import main; main()"]
    if home is not None:
        argv += ["--home", str(home)]
    argv += [str(a) for a in args]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def engine():
    e = Engine()
    yield e
    e.close()
