"""The home itself: create it, and put it right (migrate, recover, tighten) with ``dgate doctor``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from disclosure_gate.ledger import store as ledger
from disclosure_gate.store import schema, users
from disclosure_gate.store.home import init_home, open_home


@dataclass(frozen=True)
class InitResult:
    path: Path
    created: bool
    origin: str
    needs_admin: bool
    recovered: list[str] = field(default_factory=list)


def plan_init(path: str | Path | None) -> str:
    """What ``init`` would do (it touches nothing)."""
    from disclosure_gate.store.home import DB_NAME, check_location, resolve

    root = resolve(path)
    if (root / DB_NAME).is_file():
        return f"[dry run] a home exists at {root}: nothing to create (an older schema would be migrated)"
    check_location(root)
    return f"[dry run] would create a home at {root} (database, reference tables, ledger keys)"


def init(path: str | Path | None, notify: Callable[[str], None] | None = None) -> InitResult:
    h, created = init_home(path, on_wait=notify)
    try:
        keys = ledger.load_keys(h.path)
        return InitResult(h.path, created, keys.origin, users.count_admins(h.engine) == 0, h.recovered)
    finally:
        h.close()


@dataclass(frozen=True)
class DoctorResult:
    schema_version: int
    lines: list[str]


def doctor(path: str | Path | None, notify: Callable[[str], None] | None = None, *,
           dry_run: bool = False) -> DoctorResult:
    """Open for writing: that migrates, rebuilds derived tables, recovers crash leftovers, tightens modes.

    With ``dry_run`` the home is opened read-only and the leftovers are only listed."""
    if dry_run:
        from disclosure_gate.engine import Engine
        from disclosure_gate.store.home import DB_NAME, Home, recover, resolve

        root = resolve(path)
        if not (root / DB_NAME).is_file():
            from disclosure_gate.errors import HomeError

            raise HomeError(f"no disclosure-gate home at {root}")
        engine = Engine(root / DB_NAME, read_only=True)
        try:
            version = schema.version_of(engine) or 0
            lines = ([f"[dry run] would migrate schema {version} to {schema.SCHEMA_VERSION}"]
                     if version < schema.SCHEMA_VERSION else [])
            lines += [f"[dry run] {x.replace(': removed', '').replace(': dropped', '')} would be removed"
                      for x in recover(Home(root, engine, writable=False), apply=False)]
            return DoctorResult(version, lines or ["[dry run] nothing to do"])
        finally:
            engine.close()
    h = open_home(path, write=True, on_wait=notify)
    try:
        lines = [f"recovered: {x}" for x in h.recovered] or ["nothing to recover"]
        version = schema.version_of(h.engine) or 0
        return DoctorResult(version, lines)
    finally:
        h.close()
