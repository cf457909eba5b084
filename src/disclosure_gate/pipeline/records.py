"""Custodian records: the agency's own persons and addresses.

``dgate records load`` reads both files, validates them, standardizes names and
addresses once (so requests are cheap), and swaps the new snapshot in
atomically: the old tables stay in place until one transaction renames the new
ones over them. The snapshot id is the SHA-256 of both files' hashes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from disclosure_gate.engine import Engine
from disclosure_gate.pipeline import match
from disclosure_gate.pipeline.intake import TableIntake, TableSpec, load_table, require_all, require_rows
from disclosure_gate.pipeline.standardize import address, names

PERSONS_SPEC = TableSpec(
    label="persons file",
    required=("tin", "first_name", "last_name", "dob", "protected"),
    optional=("middle_name", "name_suffix"),
    key="tin",
)
ADDRESSES_SPEC = TableSpec(
    label="addresses file",
    required=("tin", "street", "city", "state", "zip", "valid_from", "valid_to"),
)

TRUE_WORDS = ("TRUE", "T", "1", "YES", "Y")
FALSE_WORDS = ("FALSE", "F", "0", "NO", "N")
DATE_RE = r"^\s*\d{4}-\d{2}-\d{2}\s*$"


@dataclass(frozen=True)
class SnapshotResult:
    snapshot_id: str
    persons: int
    addresses: int
    unchanged: bool
    dry_run: bool = False


def snapshot_id(persons_sha: str, addresses_sha: str) -> str:
    return hashlib.sha256(f"{persons_sha}\n{addresses_sha}".encode()).hexdigest()


def current_snapshot(engine: Engine) -> str | None:
    value = engine.scalar("SELECT snapshot_id FROM snapshots WHERE is_current")
    return None if value is None else str(value)


def _date_bad(col: str) -> str:
    """True when ``col`` is neither blank nor a valid YYYY-MM-DD date."""
    blank = f"({col} IS NULL OR trim({col}) = '')"
    return (f"NOT ({blank} OR (regexp_matches({col}, '{DATE_RE}') "
            f"AND TRY_CAST(trim({col}) AS DATE) IS NOT NULL))")


def _validate_persons(engine: Engine, t: TableIntake) -> None:
    words = ", ".join(f"'{w}'" for w in TRUE_WORDS + FALSE_WORDS)
    require_all(engine, t, [
        ("NOT regexp_full_match(trim(tin), '[0-9]{9}')", "tin", "tin must be exactly 9 digits"),
        (_date_bad("dob"), "dob", "dob must be YYYY-MM-DD or empty"),
        (f"upper(trim(coalesce(protected, ''))) NOT IN ({words})", "protected", "protected must be true or false"),
    ])


def _validate_addresses(engine: Engine, t: TableIntake, persons: str) -> None:
    require_all(engine, t, [
        ("NOT regexp_full_match(trim(tin), '[0-9]{9}')", "tin", "tin must be exactly 9 digits"),
        ("NOT regexp_full_match(trim(coalesce(zip, '')), '[0-9]{5}(-?[0-9]{4})?')", "zip",
         "zip must be 5 or 9 digits"),
        (_date_bad("valid_from"), "valid_from", "valid_from must be YYYY-MM-DD or empty"),
        (_date_bad("valid_to"), "valid_to", "valid_to must be YYYY-MM-DD or empty"),
    ])
    require_rows(engine, t, f"trim(tin) NOT IN (SELECT trim(tin) FROM {persons})", column="tin",
                 message="tin is not in the persons file")


def person_sql(raw: str) -> str:
    """Standardized persons from the raw intake table."""
    true_words = ", ".join(f"'{w}'" for w in TRUE_WORDS)
    extra = ("trim(s.tin) AS tin", "s.first_name", "s.middle_name", "s.last_name", "s.name_suffix",
             "TRY_CAST(nullif(trim(s.dob), '') AS DATE) AS dob",
             f"upper(trim(s.protected)) IN ({true_words}) AS protected")
    return names.names_sql(raw, [], first="first_name", last="last_name", suffix="name_suffix", extra=extra)


def address_rows_sql(raw: str) -> str:
    """Standardized addresses, each flagged ``is_last_known``: the current address (empty
    ``valid_to``), or else the one with the latest ``valid_from``."""
    std = address.address_sql(raw, key_cols=["_row"], street="street", city="city",
                              state="state", zip="zip")
    return (
        "SELECT *, row_number() OVER (PARTITION BY tin ORDER BY valid_to IS NULL DESC, "
        "valid_from DESC NULLS LAST, addr_id DESC) = 1 AS is_last_known FROM ("
        "SELECT r._row AS addr_id, trim(r.tin) AS tin, r.street, r.city, r.state, r.zip, "
        "TRY_CAST(nullif(trim(r.valid_from), '') AS DATE) AS valid_from, "
        "TRY_CAST(nullif(trim(r.valid_to), '') AS DATE) AS valid_to, s.* EXCLUDE (_row) "
        f"FROM {raw} r JOIN ({std}) s USING (_row))"
    )


def load_records(engine: Engine, persons_path: Path, addresses_path: Path, *, dry_run: bool = False,
                 on_swap: Callable[[Engine, SnapshotResult], None] | None = None) -> SnapshotResult:
    """Validate, standardize and atomically install a custodian snapshot.

    ``on_swap`` runs inside the swapping transaction (the ledger event).
    """
    try:
        p = load_table(engine, persons_path, PERSONS_SPEC, "stg_persons_raw")
        a = load_table(engine, addresses_path, ADDRESSES_SPEC, "stg_addresses_raw")
        _validate_persons(engine, p)
        _validate_addresses(engine, a, "stg_persons_raw")
        sid = snapshot_id(p.sha256, a.sha256)
        if current_snapshot(engine) == sid or dry_run:
            return SnapshotResult(sid, p.rows, a.rows, unchanged=current_snapshot(engine) == sid,
                                  dry_run=dry_run)
        engine.execute(f"CREATE OR REPLACE TABLE stg_person AS {person_sql('stg_persons_raw')}",
                       label="standardize persons")
        engine.execute(
            f"CREATE OR REPLACE TABLE stg_address AS {address_rows_sql('stg_addresses_raw')}",
            label="standardize addresses")
        with engine.transaction():
            engine.execute("DROP TABLE IF EXISTS c_person", label="swap")
            engine.execute("DROP TABLE IF EXISTS c_address", label="swap")
            engine.execute("ALTER TABLE stg_person RENAME TO c_person", label="swap")
            engine.execute("ALTER TABLE stg_address RENAME TO c_address", label="swap")
            engine.execute(match.STREET_NAMES_SQL, label="street names")
            engine.execute("UPDATE snapshots SET is_current = false", label="snapshot")
            engine.execute(
                "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?, ?, true)",
                [sid, p.sha256, a.sha256, p.rows, a.rows, dt.datetime.now(dt.UTC)],
                label="snapshot")
            result = SnapshotResult(sid, p.rows, a.rows, unchanged=False)
            if on_swap is not None:
                on_swap(engine, result)
        return result
    finally:
        for t in ("stg_persons_raw", "stg_addresses_raw", "stg_person", "stg_address"):
            engine.execute(f"DROP TABLE IF EXISTS {t}", label="cleanup")
