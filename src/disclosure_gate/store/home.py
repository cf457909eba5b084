"""The home folder: one embedded DuckDB database plus keys, incidents and scratch space.

``dgate init`` creates it (idempotent); every other command opens an existing
home and refuses, with :class:`HomeError`, to create one implicitly.

Confidentiality at rest: the home and every folder in it are 0700, the
database and every file 0600, whatever the umask (the process umask is set to
077 by the surfaces, and permissions are tightened again on every write open).
``init`` refuses a home inside a world-writable folder without the sticky bit.

Opening:

* ``open_home(path, write=False)`` opens the database **read-only**: it changes
  no byte of the home (``--dry-run`` and every read command use it);
* ``open_home(path, write=True)`` migrates an older schema, tightens
  permissions and cleans what a crash left (``recover``).

One process writes a DuckDB file at a time. A second process waits for the
home, printing who holds it, for up to ``DGATE_WAIT`` seconds (default 30),
then fails with :class:`BusyError` (exit 11). While ``dgate serve`` runs, the
CLI hands its commands to the server instead (see ``surfaces.cli.forward``).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from disclosure_gate.clock import Clock, SystemClock, iso_utc
from disclosure_gate.engine import Engine
from disclosure_gate.errors import BusyError, HomeError
from disclosure_gate.store import files, schema

DB_NAME = "dgate.duckdb"
#: DuckDB's memory cap. It spills to disk beyond it, which keeps peak RSS under the
#: 8 GB target at 20 M persons. Override with DGATE_MEMORY_LIMIT (e.g. "12GB").
DEFAULT_MEMORY_LIMIT = "5GB"
DEFAULT_HOME = "./dgate-home"
DEFAULT_WAIT_SECONDS = 30.0
SUBDIRS = ("keys", "incidents", "tmp", "run")


@dataclass
class Home:
    path: Path
    engine: Engine
    writable: bool
    recovered: list[str] = field(default_factory=list)

    @property
    def db_path(self) -> Path:
        return self.path / DB_NAME

    @property
    def clock(self) -> Clock:
        return self.engine.clock

    def close(self) -> None:
        self.engine.close()


def resolve(path: str | Path | None) -> Path:
    raw = path if path is not None else os.environ.get("DGATE_HOME") or DEFAULT_HOME
    return Path(raw).expanduser().absolute()


def _unsafe_parent(folder: Path) -> Path | None:
    """The nearest existing ancestor that anyone may write to without the sticky bit, if any."""
    for parent in [folder, *folder.parents]:
        if not parent.exists():
            continue
        mode = parent.stat().st_mode
        if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
            return parent
    return None


def _tighten(root: Path) -> None:
    """Owner-only, whatever happened since: 0700 for the home and every folder in it, 0600 for every file
    (the database, keys, incident documents...). Symbolic links are not followed."""
    try:
        os.chmod(root, files.DIR_MODE)
        for folder, dirs, names in os.walk(root, followlinks=False):
            for d in dirs:
                p = Path(folder) / d
                if not p.is_symlink():
                    os.chmod(p, files.DIR_MODE)
            for n in names:
                p = Path(folder) / n
                if not p.is_symlink() and p.is_file():
                    os.chmod(p, files.FILE_MODE)
    except OSError as exc:
        raise HomeError(f"cannot restrict the permissions of {root}: {exc.strerror}") from None


def _memory_limit() -> str:
    return os.environ.get("DGATE_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)


def _wait_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("DGATE_WAIT", DEFAULT_WAIT_SECONDS)))
    except ValueError:
        return DEFAULT_WAIT_SECONDS


def connect(root: Path, *, read_only: bool, clock: Clock | None = None,
            on_wait: Callable[[str], None] | None = None) -> Engine:
    """Open the database, waiting (up to ``DGATE_WAIT`` s) while another process holds it."""
    deadline = time.monotonic() + _wait_seconds()
    told = False
    while True:
        try:
            return Engine(root / DB_NAME, memory_limit=_memory_limit(), read_only=read_only,
                          temp_directory=root / "tmp", clock=clock)
        except BusyError as exc:
            if time.monotonic() >= deadline:
                raise BusyError(f"{exc.message}; gave up after {_wait_seconds():.0f} s "
                                "(set DGATE_WAIT to wait longer)") from None
            if on_wait is not None and not told:
                on_wait(f"waiting: {exc.message}...")
                told = True
            time.sleep(0.2)


def check_location(root: Path) -> None:
    """A new home: not inside a folder anyone may write to without the sticky bit; empty if it exists."""
    if root.exists() and not root.is_dir():
        raise HomeError(f"{root} exists and is not a folder")
    unsafe = _unsafe_parent(root.parent)
    if unsafe is not None:
        raise HomeError(f"{unsafe} may be written by anyone and has no sticky bit: other users could "
                        "replace the home; choose a private folder")
    if root.exists() and any(root.iterdir()):
        leftovers = {p.name for p in root.iterdir()} - set(SUBDIRS)
        if leftovers:
            raise HomeError(f"{root} is not empty and holds no disclosure-gate database")


def init_home(path: str | Path | None, *, clock: Clock | None = None,
              on_wait: Callable[[str], None] | None = None) -> tuple[Home, bool]:
    """Create (or open for writing) a home. Returns (home, created)."""
    root = resolve(path)
    if root.exists() and not root.is_dir():
        raise HomeError(f"{root} exists and is not a folder")
    created = not (root / DB_NAME).exists()
    existed = root.exists()
    if created:
        check_location(root)
    try:
        files.private_dir(root, parents=True)
        for sub in SUBDIRS:
            files.private_dir(root / sub)
    except HomeError:
        raise
    except Exception as exc:
        raise HomeError(f"cannot create home {root}: {exc}") from None
    clock = clock or SystemClock()
    try:
        engine = connect(root, read_only=False, clock=clock, on_wait=on_wait)
        if not created and schema.version_of(engine) is None and not engine.scalar(
                "SELECT count(*) FROM duckdb_tables()"):
            created = True  # an init killed before the schema was written: finish it
        if created:
            schema.create(engine, iso_utc(clock.now()))
    except BaseException:
        if created:  # never leave a half-created home behind
            if not existed:
                shutil.rmtree(root, ignore_errors=True)
            else:
                for name in (DB_NAME, DB_NAME + ".wal"):
                    (root / name).unlink(missing_ok=True)
        raise
    from disclosure_gate.ledger import store as ledger

    ledger.ensure_keys(root)
    _tighten(root)
    home = Home(root, engine, writable=True)
    if not created:
        schema.migrate(engine, root)
        home.recovered = recover(home)
    from disclosure_gate.pipeline import reference

    reference.ensure(engine)
    return home, created


def open_home(path: str | Path | None, *, write: bool = False, clock: Clock | None = None,
              on_wait: Callable[[str], None] | None = None) -> Home:
    root = resolve(path)
    if not (root / DB_NAME).is_file():
        raise HomeError(f"no disclosure-gate home at {root}: run 'dgate init' first "
                        "(or pass --home / set DGATE_HOME)")
    engine = connect(root, read_only=not write, clock=clock, on_wait=on_wait)
    try:
        if not write:
            schema.check_readable(engine)
            return Home(root, engine, writable=False)
        _tighten(root)
        for sub in SUBDIRS:
            files.private_dir(root / sub)
        schema.migrate(engine, root)
        home = Home(root, engine, writable=True)
        from disclosure_gate.pipeline import records, reference

        reference.ensure(engine)
        records.rederive(engine)
        home.recovered = recover(home)
        return home
    except BaseException:
        engine.close()
        raise


# -- crash recovery ----------------------------------------------------------------------
RecoveryStep = Callable[[Home, bool], list[str]]
_RECOVERY: list[RecoveryStep] = []


def recovery_step(fn: RecoveryStep) -> RecoveryStep:
    """Register ``fn(home, apply)``: it finds (and when ``apply``, finishes or removes) what a crash left."""
    _RECOVERY.append(fn)
    return fn


@recovery_step
def _drop_staging(home: Home, apply: bool) -> list[str]:
    """Staging tables of an interrupted load hold raw personal data: drop them."""
    names = [str(r[0]) for r in home.engine.fetchall(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'stg\\_%' ESCAPE '\\' AND NOT temporary",
        label="recovery")]
    for name in names if apply else ():
        home.engine.execute(f"DROP TABLE IF EXISTS {schema_ident(name)}", label="recovery")
    return [f"staging table {n} left by an interrupted command (raw personal data): dropped" for n in names]


@recovery_step
def _clean_tmp(home: Home, apply: bool) -> list[str]:
    tmp = home.path / "tmp"
    gone = []
    if tmp.is_dir():
        for p in tmp.iterdir():
            if apply and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            elif apply:
                p.unlink(missing_ok=True)
            gone.append(p.name)
    return [f"{len(gone)} scratch files of an interrupted command: removed"] if gone else []


def schema_ident(name: str) -> str:
    from disclosure_gate.engine import sql

    return sql.ident(name)


def recover(home: Home, apply: bool = True) -> list[str]:
    """Run every registered recovery step; returns what was (or, without ``apply``, would be) done."""
    # Steps registered by other modules (release, incident) are imported here so they always run.
    from disclosure_gate.remediation import incident, release  # noqa: F401

    done: list[str] = []
    for step in _RECOVERY:
        done.extend(step(home, apply))
    return done


def now_naive(home: Home) -> dt.datetime:
    return home.clock.now().astimezone(dt.UTC).replace(tzinfo=None)
