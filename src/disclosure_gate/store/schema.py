"""The state store's schema, all of it, and its versioned chain of migrations.

``SCHEMA_VERSION`` is written in ``meta`` and read on every open:

* a home at the current version opens as is;
* an older home is migrated, step by step in one transaction per step, when it
  is opened for writing (a read-only open of an older home is refused with a
  message saying how to migrate it: ``dgate doctor``);
* a newer home (written by a later disclosure-gate) is refused.

Besides these tables, two kinds of *derived* tables are built by their stage
and rebuilt when missing: reference data (``ref_*``: USPS abbreviations, ZIP
codes, nicknames) and the standardized custodian snapshot (``c_person``,
``c_address``, ``c_street_names``, built by ``records load``).

Version history
    1. The schema of the first releases (ledger entry format v2).
    2. People (users, roles, tokens, sessions), agreement history, review
       resolutions and claims, settings, jobs, witnesses and cosignatures;
       the facts contract's column names in ``row_facts``; Unicode folding flags
       in ``req_rows``; actors on every state change; ``c_address.a_unit_key``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml

from disclosure_gate.engine import Engine
from disclosure_gate.errors import HomeError
from disclosure_gate.pipeline.facts import row_facts_ddl

SCHEMA_VERSION = 2

TABLES: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    """CREATE TABLE IF NOT EXISTS settings (
        key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL, set_by VARCHAR NOT NULL, set_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS snapshots (
        snapshot_id VARCHAR PRIMARY KEY, persons_sha256 VARCHAR, addresses_sha256 VARCHAR,
        persons BIGINT, addresses BIGINT, loaded_at TIMESTAMP, is_current BOOLEAN, loaded_by VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS agreements (
        id VARCHAR PRIMARY KEY, body VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
        added_at TIMESTAMP NOT NULL, status VARCHAR NOT NULL, suspended_on DATE,
        suspension_reason VARCHAR, policy VARCHAR, added_by VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS agreement_history (
        agreement_id VARCHAR NOT NULL, seq INTEGER NOT NULL, kind VARCHAR NOT NULL, effective DATE,
        reason VARCHAR, reference VARCHAR, policy VARCHAR, actor VARCHAR NOT NULL, recorded_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS batches (
        batch_id VARCHAR PRIMARY KEY, agreement_id VARCHAR, manifest VARCHAR NOT NULL,
        manifest_sha256 VARCHAR NOT NULL, request_sha256 VARCHAR NOT NULL, request_file VARCHAR,
        rows BIGINT NOT NULL, address_style VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
        submitted_by VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS req_rows (
        batch_id VARCHAR, _row BIGINT, request_id VARCHAR, first_name VARCHAR,
        middle_name VARCHAR, last_name VARCHAR, name_suffix VARCHAR, tin VARCHAR, dob VARCHAR,
        case_reference VARCHAR, address VARCHAR, street VARCHAR, city VARCHAR, state VARCHAR,
        zip VARCHAR, hidden BOOLEAN, mixed BOOLEAN, raw VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id VARCHAR PRIMARY KEY, batch_id VARCHAR NOT NULL, policy_id VARCHAR NOT NULL,
        policy_sha256 VARCHAR NOT NULL, as_of DATE NOT NULL, snapshot_id VARCHAR,
        created_at TIMESTAMP NOT NULL, rows BIGINT NOT NULL, is_primary BOOLEAN NOT NULL, started_by VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS decisions (
        run_id VARCHAR, _row BIGINT, request_id VARCHAR, decision VARCHAR, reasons VARCHAR,
        match_basis VARCHAR, matched_tin VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS policies (
        id VARCHAR PRIMARY KEY, sha256 VARCHAR NOT NULL, body VARCHAR NOT NULL,
        added_at TIMESTAMP NOT NULL, added_by VARCHAR)""",
    row_facts_ddl(),
    """CREATE TABLE IF NOT EXISTS batch_facts (
        batch_id VARCHAR, snapshot_id VARCHAR, inspected BOOLEAN, created_at TIMESTAMP, seed BOOLEAN,
        digest VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS ledger_entries (
        idx BIGINT NOT NULL, kind VARCHAR NOT NULL, body VARCHAR, leaf_hash BLOB NOT NULL,
        run_id VARCHAR, created_at TIMESTAMP NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS ledger_runs (run_id VARCHAR NOT NULL, first_idx BIGINT NOT NULL, "
    "entries BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ledger_tiles (level INTEGER NOT NULL, tile BIGINT NOT NULL, "
    "width INTEGER NOT NULL, hashes BLOB NOT NULL)",
    """CREATE TABLE IF NOT EXISTS ledger_checkpoints (
        size BIGINT PRIMARY KEY, root BLOB NOT NULL, note VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS witnesses (
        name VARCHAR PRIMARY KEY, url VARCHAR NOT NULL, vkey VARCHAR NOT NULL, added_by VARCHAR NOT NULL,
        added_at TIMESTAMP NOT NULL, last_size BIGINT, last_error VARCHAR, last_error_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS cosignatures (
        size BIGINT NOT NULL, witness VARCHAR NOT NULL, line VARCHAR NOT NULL, received_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS packages (
        package_id VARCHAR PRIMARY KEY, batch_id VARCHAR NOT NULL, run_id VARCHAR NOT NULL,
        agreement_id VARCHAR NOT NULL, state VARCHAR NOT NULL, fields VARCHAR NOT NULL, rows BIGINT NOT NULL,
        snapshot_id VARCHAR, prepared_by VARCHAR NOT NULL, prepared_at TIMESTAMP NOT NULL,
        approved_by VARCHAR, approved_at TIMESTAMP, delivered_at TIMESTAMP, manifest_sha256 VARCHAR,
        recalled_at TIMESTAMP, recall_reason VARCHAR, delivered_to VARCHAR, delivered_by VARCHAR,
        recalled_by VARCHAR, rows_digest VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS package_rows (
        package_id VARCHAR NOT NULL, _row BIGINT NOT NULL, request_id VARCHAR NOT NULL,
        matched_tin VARCHAR, last_known_address VARCHAR, source VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS audits (
        audit_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
        policy VARCHAR NOT NULL, params VARCHAR NOT NULL, checked BIGINT NOT NULL, disclosures BIGINT NOT NULL,
        flagged BIGINT NOT NULL, court_count BIGINT, agency_count BIGINT, review_count BIGINT,
        run_by VARCHAR, digest VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS audit_findings (
        audit_id VARCHAR NOT NULL, batch_id VARCHAR NOT NULL, run_id VARCHAR, request_id VARCHAR NOT NULL,
        matched_tin VARCHAR, old_decision VARCHAR, new_decision VARCHAR NOT NULL, new_reasons VARCHAR NOT NULL,
        decided_on DATE, delivered BOOLEAN NOT NULL, package_id VARCHAR, finding VARCHAR, _row BIGINT)""",
    """CREATE TABLE IF NOT EXISTS finding_reviews (
        audit_id VARCHAR NOT NULL, request_id VARCHAR NOT NULL, batch_id VARCHAR NOT NULL,
        verdict VARCHAR NOT NULL, reason VARCHAR NOT NULL, reviewer VARCHAR NOT NULL,
        recorded_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS incidents (
        incident_id VARCHAR PRIMARY KEY, audit_id VARCHAR NOT NULL, opened_at TIMESTAMP NOT NULL,
        status VARCHAR NOT NULL, records BIGINT NOT NULL, persons BIGINT NOT NULL, folder VARCHAR NOT NULL,
        certified_on DATE, opened_by VARCHAR, certified_by VARCHAR, certified_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS incident_findings (
        incident_id VARCHAR NOT NULL, audit_id VARCHAR NOT NULL, batch_id VARCHAR NOT NULL,
        request_id VARCHAR NOT NULL, matched_tin VARCHAR, package_id VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS users (
        name VARCHAR PRIMARY KEY, created_at TIMESTAMP NOT NULL, created_by VARCHAR NOT NULL,
        password_hash VARCHAR, disabled BOOLEAN NOT NULL DEFAULT false,
        failed_logins INTEGER NOT NULL DEFAULT 0, locked_until TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS user_roles (
        name VARCHAR NOT NULL, role VARCHAR NOT NULL, agreement_id VARCHAR NOT NULL DEFAULT '',
        granted_by VARCHAR NOT NULL, granted_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS tokens (
        token_id VARCHAR PRIMARY KEY, user_name VARCHAR NOT NULL, label VARCHAR NOT NULL,
        token_hash VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL, created_by VARCHAR NOT NULL,
        expires_at TIMESTAMP, revoked_at TIMESTAMP, revoked_by VARCHAR, last_used_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS web_sessions (
        session_hash VARCHAR PRIMARY KEY, user_name VARCHAR NOT NULL, csrf VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL, last_seen TIMESTAMP NOT NULL, ended_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS review_resolutions (
        run_id VARCHAR NOT NULL, batch_id VARCHAR NOT NULL, _row BIGINT NOT NULL, request_id VARCHAR NOT NULL,
        reviewer VARCHAR NOT NULL, decision VARCHAR NOT NULL, reason VARCHAR NOT NULL, recorded_at TIMESTAMP NOT NULL,
        group_id VARCHAR, withdrawn_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS review_claims (
        run_id VARCHAR NOT NULL, _row BIGINT NOT NULL, reviewer VARCHAR NOT NULL,
        claimed_at TIMESTAMP NOT NULL, expires_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS jobs (
        job_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, params VARCHAR NOT NULL, state VARCHAR NOT NULL,
        progress DOUBLE NOT NULL DEFAULT 0, message VARCHAR, started_by VARCHAR NOT NULL,
        started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, result VARCHAR, error VARCHAR)""",
)


def _columns(engine: Engine, table: str) -> set[str]:
    return set(engine.columns(table))


def _add_column(engine: Engine, table: str, column: str, sql_type: str) -> None:
    if engine.table_exists(table) and column not in _columns(engine, table):
        engine.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}", label="migrate")


def _migrate_1_to_2(engine: Engine, home: Path) -> None:
    """People, history, review; facts contract names; folding flags; actors."""
    renames = {"n_present": "name_present", "a_present": "address_present",
               "a_placeholder": "address_placeholder", "a_sufficient": "address_sufficient",
               "a_consistent": "address_consistent", "t_present": "tin_given", "t_valid": "tin_valid",
               "a_zip_like": "seed_zip_like"}
    if engine.table_exists("row_facts"):
        have = _columns(engine, "row_facts")
        for old, new in renames.items():
            if old in have:
                engine.execute(f"ALTER TABLE row_facts RENAME COLUMN {old} TO {new}", label="migrate")
        for column in ("hidden_characters", "mixed_script", "directional_match"):
            # Rows decided before folding existed were never checked: record that as unknown (NULL),
            # which the facts contract reads at its fail-closed default.
            _add_column(engine, "row_facts", column, "BOOLEAN")
        for column in ("address_key", "std"):
            _add_column(engine, "row_facts", column, "VARCHAR")
    for table, column, sql_type in (
            ("snapshots", "loaded_by", "VARCHAR"), ("agreements", "policy", "VARCHAR"),
            ("agreements", "added_by", "VARCHAR"), ("batches", "submitted_by", "VARCHAR"),
            ("req_rows", "hidden", "BOOLEAN"), ("req_rows", "mixed", "BOOLEAN"), ("req_rows", "raw", "VARCHAR"),
            ("runs", "started_by", "VARCHAR"), ("policies", "added_by", "VARCHAR"),
            ("batch_facts", "digest", "VARCHAR"),
            ("packages", "delivered_to", "VARCHAR"), ("packages", "delivered_by", "VARCHAR"),
            ("packages", "recalled_by", "VARCHAR"), ("packages", "rows_digest", "VARCHAR"),
            ("package_rows", "source", "VARCHAR"), ("audits", "review_count", "BIGINT"),
            ("audits", "run_by", "VARCHAR"), ("audits", "digest", "VARCHAR"),
            ("audit_findings", "finding", "VARCHAR"), ("audit_findings", "_row", "BIGINT"),
            ("incidents", "opened_by", "VARCHAR"), ("incidents", "certified_by", "VARCHAR"),
            ("incidents", "certified_at", "TIMESTAMP")):
        _add_column(engine, table, column, sql_type)
    for ddl in TABLES:
        engine.execute(ddl, label="migrate")
    legacy = "operator:legacy"
    engine.execute("UPDATE agreements SET policy = coalesce(policy, json_extract_string(body, '$.policy'), '6103i2'), "
                   "added_by = coalesce(added_by, ?)", [legacy], label="migrate")
    engine.execute(
        "INSERT INTO agreement_history SELECT id, 1, 'added', CAST(added_at AS DATE), NULL, NULL, policy, "
        "added_by, added_at FROM agreements WHERE id NOT IN (SELECT agreement_id FROM agreement_history)",
        label="migrate")
    engine.execute(
        "INSERT INTO agreement_history SELECT id, 2, status, suspended_on, suspension_reason, NULL, NULL, ?, "
        "added_at FROM agreements WHERE status <> 'active' AND id NOT IN "
        "(SELECT agreement_id FROM agreement_history WHERE seq = 2)", [legacy], label="migrate")
    engine.execute("UPDATE audit_findings SET finding = coalesce(finding, 'unlawful')", label="migrate")
    engine.execute("UPDATE package_rows SET source = coalesce(source, 'policy')", label="migrate")
    engine.execute("UPDATE req_rows SET hidden = coalesce(hidden, false), mixed = coalesce(mixed, false)",
                   label="migrate")
    if engine.table_exists("row_facts") and "duplicate" in _columns(engine, "row_facts"):
        # A decision-time fact now (decided per policy, on the first pass's outcome), not a stored one.
        engine.execute("ALTER TABLE row_facts DROP COLUMN duplicate", label="migrate")
    engine.execute("INSERT OR REPLACE INTO meta VALUES ('migrated_at', CAST(now()::TIMESTAMP AS VARCHAR))",
                   label="migrate")
    _import_legacy_users(engine, home)


def _import_legacy_users(engine: Engine, home: Path) -> None:
    """Users and roles from the first releases' ``config.yaml`` become accounts without credentials.

    An admin issues them tokens (``dgate user token``). The file is kept, renamed, for the record.
    """
    config = home / "config.yaml"
    if not config.is_file():
        return
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError):
        raise HomeError(f"{config}: cannot read the legacy users file to migrate it") from None
    users = data.get("users") if isinstance(data, dict) else None
    events: list[tuple[str, dict[str, object]]] = []
    for name, roles in (users or {}).items():
        roles = [roles] if isinstance(roles, str) else list(roles or [])
        engine.execute("INSERT INTO users (name, created_at, created_by) SELECT ?, now()::TIMESTAMP, "
                       "'operator:migration' WHERE NOT EXISTS (SELECT 1 FROM users WHERE name = ?)",
                       [str(name), str(name)], label="migrate users")
        events.append(("user_added", {"user": str(name)}))
        for role in roles:
            engine.execute("INSERT INTO user_roles VALUES (?, ?, '', 'operator:migration', now()::TIMESTAMP)",
                           [str(name), str(role)], label="migrate users")
            events.append(("role_granted", {"user": str(name), "role": str(role), "agreement": ""}))
    engine.execute("INSERT OR REPLACE INTO meta VALUES ('legacy_users', ?)",
                   [json.dumps(sorted(str(n) for n in (users or {})))], label="migrate users")
    if events:
        from disclosure_gate.ledger import store as ledger

        ledger.append_events(engine, events, "operator:migration")
    _AFTER_COMMIT.append(lambda: config.rename(home / "config.yaml.migrated"))


MIGRATIONS: dict[int, Callable[[Engine, Path], None]] = {1: _migrate_1_to_2}
_AFTER_COMMIT: list[Callable[[], object]] = []  # file moves a migration step makes once its transaction commits


def version_of(engine: Engine) -> int | None:
    if not engine.table_exists("meta"):
        return None
    value = engine.scalar("SELECT value FROM meta WHERE key = 'schema_version'", label="schema version")
    try:
        return int(value) if value is not None else None
    except ValueError:
        raise HomeError("the home's schema version is unreadable") from None


def create(engine: Engine, created_at: str) -> None:
    """A new home: every table, at the current version."""
    with engine.transaction():
        for ddl in TABLES:
            engine.execute(ddl, label="schema")
        engine.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?), ('created_at', ?)",
                       [str(SCHEMA_VERSION), created_at], label="schema")


def check_readable(engine: Engine) -> None:
    v = version_of(engine)
    if v is None:
        raise HomeError("this folder's database is not a disclosure-gate home")
    if v > SCHEMA_VERSION:
        raise HomeError(f"the home was written by a newer disclosure-gate (schema {v}, this one knows "
                        f"{SCHEMA_VERSION}): upgrade disclosure-gate")
    if v < SCHEMA_VERSION:
        raise HomeError(f"the home has schema version {v} and needs migrating to {SCHEMA_VERSION}: "
                        "run 'dgate doctor' (or any command that writes)")


def migrate(engine: Engine, home: Path) -> list[int]:
    """Bring a home opened for writing to :data:`SCHEMA_VERSION`; returns the versions migrated from."""
    v = version_of(engine)
    if v is None:
        raise HomeError("this folder's database is not a disclosure-gate home")
    if v > SCHEMA_VERSION:
        check_readable(engine)
    done: list[int] = []
    while v < SCHEMA_VERSION:
        step = MIGRATIONS.get(v)
        if step is None:
            raise HomeError(f"no migration from schema version {v}")
        _AFTER_COMMIT.clear()
        with engine.transaction():
            step(engine, home)
            engine.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(v + 1)],
                           label="schema version")
        for action in _AFTER_COMMIT:
            action()
        _AFTER_COMMIT.clear()
        done.append(v)
        v += 1
    _reconcile(engine)
    return done


def _reconcile(engine: Engine) -> None:
    """Columns of the facts contract that a home of the current version may lack (added within a version
    while it was being developed): added, empty, which the contract reads at its fail-closed defaults."""
    from disclosure_gate.pipeline.facts import EXTRA_COLUMNS, ROW_FACTS

    if not engine.table_exists("row_facts"):
        return
    have = _columns(engine, "row_facts")
    wanted = [(f.name, f.sql_type) for f in ROW_FACTS] + list(EXTRA_COLUMNS)
    missing = [(c, t) for c, t in wanted if c not in have]
    if missing:
        with engine.transaction():
            for column, sql_type in missing:
                _add_column(engine, "row_facts", column, sql_type)
