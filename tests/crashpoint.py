"""Run ``dgate`` with a pause injected from the test side, so a test can SIGKILL it at a step boundary.

Usage: ``python tests/crashpoint.py MODULE:FUNCTION before|after MARKER -- DGATE ARGS...``. When the
function is called (before it runs, or after it returns), the process writes its pid to MARKER and
sleeps; the test then kills it with SIGKILL. Nothing in the production code knows about this.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path
from typing import Any


def main() -> None:
    target, when, marker = sys.argv[1:4]
    argv = sys.argv[sys.argv.index("--") + 1:]
    module_name, name = target.rsplit(":", 1)
    module = importlib.import_module(module_name)
    original = getattr(module, name)

    def pause() -> None:
        Path(marker).write_text(str(os.getpid()))
        time.sleep(600)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if when == "before":
            pause()
        result = original(*args, **kwargs)
        if when == "after":
            pause()
        return result

    setattr(module, name, wrapped)
    sys.argv = ["dgate", *argv]
    from disclosure_gate.surfaces.cli.main import main as dgate

    dgate()


if __name__ == "__main__":
    main()
