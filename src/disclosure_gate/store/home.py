"""The home folder: one embedded DuckDB database plus configuration and keys.

``dgate init`` creates it (idempotent); every other command opens an existing
home and refuses, with :class:`HomeError`, to create one implicitly.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from disclosure_gate.engine import Engine
from disclosure_gate.errors import HomeError

DB_NAME = "dgate.duckdb"
#: DuckDB's memory cap. It spills to disk beyond it, which keeps peak RSS under the
#: 8 GB target at 20 M persons. Override with DGATE_MEMORY_LIMIT (e.g. "12GB").
DEFAULT_MEMORY_LIMIT = "5GB"
SCHEMA_VERSION = 1
DEFAULT_HOME = "./dgate-home"

_DDL = [
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    """CREATE TABLE IF NOT EXISTS snapshots (
        snapshot_id VARCHAR PRIMARY KEY, persons_sha256 VARCHAR, addresses_sha256 VARCHAR,
        persons BIGINT, addresses BIGINT, loaded_at TIMESTAMP, is_current BOOLEAN)""",
    """CREATE TABLE IF NOT EXISTS agreements (
        id VARCHAR PRIMARY KEY, body VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
        added_at TIMESTAMP NOT NULL, status VARCHAR NOT NULL, suspended_on DATE,
        suspension_reason VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS batches (
        batch_id VARCHAR PRIMARY KEY, agreement_id VARCHAR, manifest VARCHAR NOT NULL,
        manifest_sha256 VARCHAR NOT NULL, request_sha256 VARCHAR NOT NULL, request_file VARCHAR,
        rows BIGINT NOT NULL, address_style VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS req_rows (
        batch_id VARCHAR, _row BIGINT, request_id VARCHAR, first_name VARCHAR,
        middle_name VARCHAR, last_name VARCHAR, name_suffix VARCHAR, tin VARCHAR, dob VARCHAR,
        case_reference VARCHAR, address VARCHAR, street VARCHAR, city VARCHAR, state VARCHAR,
        zip VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id VARCHAR PRIMARY KEY, batch_id VARCHAR NOT NULL, policy_id VARCHAR NOT NULL,
        policy_sha256 VARCHAR NOT NULL, as_of DATE NOT NULL, snapshot_id VARCHAR,
        created_at TIMESTAMP NOT NULL, rows BIGINT NOT NULL, is_primary BOOLEAN NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS decisions (
        run_id VARCHAR, _row BIGINT, request_id VARCHAR, decision VARCHAR, reasons VARCHAR,
        match_basis VARCHAR, matched_tin VARCHAR)""",
    "ALTER TABLE decisions ADD COLUMN IF NOT EXISTS matched_tin VARCHAR",
    """CREATE TABLE IF NOT EXISTS policies (
        id VARCHAR PRIMARY KEY, sha256 VARCHAR NOT NULL, body VARCHAR NOT NULL,
        added_at TIMESTAMP NOT NULL)""",
]


@dataclass
class Home:
    path: Path
    engine: Engine

    @property
    def db_path(self) -> Path:
        return self.path / DB_NAME

    def close(self) -> None:
        self.engine.close()


def resolve(path: str | Path | None) -> Path:
    raw = path if path is not None else os.environ.get("DGATE_HOME") or DEFAULT_HOME
    return Path(raw).expanduser().resolve()


def init_home(path: str | Path | None) -> tuple[Home, bool]:
    """Create (or open) a home. Returns (home, created)."""
    root = resolve(path)
    created = not (root / DB_NAME).exists()
    if root.exists() and not root.is_dir():
        raise HomeError(f"{root} exists and is not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HomeError(f"cannot create home {root}: {exc.strerror}") from None
    engine = _engine(root)
    for ddl in _DDL:
        engine.execute(ddl, label="schema")
    if created:
        engine.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?), ('created_at', ?)",
                       [str(SCHEMA_VERSION), dt.datetime.now(dt.UTC).isoformat()], label="meta")
    home = Home(root, engine)
    _install_reference(home)
    return home, created


def open_home(path: str | Path | None) -> Home:
    root = resolve(path)
    if not (root / DB_NAME).is_file():
        raise HomeError(f"no disclosure-gate home at {root}: run 'dgate init' first "
                        "(or pass --home / set DGATE_HOME)")
    engine = _engine(root)
    for ddl in _DDL:  # forward-compatible: new tables appear on open
        engine.execute(ddl, label="schema")
    return Home(root, engine)


def _engine(root: Path) -> Engine:
    tmp = root / "tmp"
    engine = Engine(root / DB_NAME, memory_limit=os.environ.get("DGATE_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT))
    engine.execute(f"SET temp_directory = '{tmp.as_posix()}'", label="temp dir")
    return engine


def _install_reference(home: Home) -> None:
    from disclosure_gate.pipeline.standardize import address, names

    if not home.engine.table_exists("ref_zip"):
        address.install_reference_tables(home.engine)
    if not home.engine.table_exists("ref_first_keys"):
        names.install_name_tables(home.engine)
