"""Request batches: a request file plus its manifest, validated, folded and stored once.

The batch id is derived from the content (the request file's and the
manifest's SHA-256), so submitting the same content twice returns the same
batch and stores nothing new.

Names and addresses are Unicode-folded at intake (:mod:`.standardize.fold`:
NFKC, confusable skeletons, invisible characters removed) before anything
compares or counts them; a row that needed folding keeps its text as received
in ``req_rows.raw`` (for the reviewer) and carries the ``hidden`` and ``mixed``
flags the policy sees as ``hidden_characters`` and ``mixed_script``.

:func:`stage` validates everything into a temporary table and touches no
stored state (``--dry-run`` stops there); :func:`store` writes the batch in
one transaction, with its ``batch_submitted`` ledger event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from disclosure_gate.clock import naive_utc
from disclosure_gate.engine import Engine
from disclosure_gate.errors import NotFoundError
from disclosure_gate.ledger.digest import digest
from disclosure_gate.pipeline.documents import Manifest, load_manifest
from disclosure_gate.pipeline.intake import TableSpec, load_table
from disclosure_gate.pipeline.standardize import fold

REQUEST_SPEC = TableSpec(
    label="request file",
    required=("request_id", "first_name", "last_name"),
    optional=("middle_name", "name_suffix", "tin", "dob", "case_reference"),
    key="request_id",
    groups=(("address",), ("street", "city", "state", "zip")),
)
REQUEST_COLUMNS = ("request_id", "first_name", "middle_name", "last_name", "name_suffix", "tin", "dob",
                   "case_reference", "address", "street", "city", "state", "zip")
#: The columns folded before any comparison: names and addresses.
TEXT_COLUMNS = ("first_name", "middle_name", "last_name", "name_suffix", "address", "street", "city", "state")
STAGING = "stg_request"
ROWS_DIGEST_COLUMNS = ("_row", *REQUEST_COLUMNS, "hidden", "mixed")


@dataclass(frozen=True)
class Batch:
    batch_id: str
    agreement_id: str | None
    manifest: Manifest
    rows: int
    address_style: str
    created_at: dt.datetime
    submitted_by: str | None = None
    request_file: str | None = None


@dataclass(frozen=True)
class Staged:
    """A validated, folded request file in temp table :data:`STAGING`, not yet stored."""

    batch: Batch
    manifest_sha256: str
    request_sha256: str
    ignored_columns: tuple[str, ...]
    folded_values: int
    existing: Batch | None


def batch_id_for(request_sha: str, manifest_sha: str) -> str:
    return "B" + hashlib.sha256(f"{request_sha}\n{manifest_sha}".encode()).hexdigest()[:15]


def fold_staging(engine: Engine, table: str) -> int:
    """Keep what was received (rows that needed folding only), then fold names and addresses in place."""
    present = [c for c in TEXT_COLUMNS if c in engine.columns(table)]
    needs = " OR ".join(f"coalesce({fold.needs_folding_sql(c)}, false)" for c in present)
    struct = ", ".join(f"{c} := {c}" for c in present)
    engine.execute(f"ALTER TABLE {table} ADD COLUMN raw VARCHAR", label="fold")
    engine.execute(f"UPDATE {table} SET raw = to_json(struct_pack({struct}))::VARCHAR WHERE {needs}", label="fold")
    return fold.fold_table(engine, table, present, hidden_col="hidden", mixed_col="mixed")


def stage(engine: Engine, request_file: Path, manifest_file: Path, submitted_by: str) -> Staged:
    """Validate and fold the request into :data:`STAGING`. Raises an InputError naming file/line/column."""
    manifest, manifest_sha = load_manifest(manifest_file)
    intake = load_table(engine, request_file, REQUEST_SPEC, STAGING)
    try:
        folded = fold_staging(engine, STAGING)
    except BaseException:
        drop_staging(engine)
        raise
    bid = batch_id_for(intake.sha256, manifest_sha)
    style = "free" if intake.group == ("address",) else "structured"
    batch = Batch(bid, manifest.agreement, manifest, intake.rows, style, naive_utc(engine.clock), submitted_by,
                  Path(request_file).name)
    return Staged(batch, manifest_sha, intake.sha256, intake.ignored_columns, folded, find_batch(engine, bid))


def drop_staging(engine: Engine) -> None:
    engine.execute(f"DROP TABLE IF EXISTS {STAGING}", label="cleanup")


def rows_digest(engine: Engine, batch_id: str) -> str:
    return digest(engine, "(SELECT * FROM req_rows WHERE batch_id = ?)", ROWS_DIGEST_COLUMNS, ["_row"], [batch_id])


def store(engine: Engine, staged: Staged) -> str:
    """Insert the staged batch. Call inside the transaction that also appends its ledger event.

    Returns the digest of the stored rows (for the event)."""
    b = staged.batch
    cols = ", ".join(REQUEST_COLUMNS)
    engine.execute(
        f"INSERT INTO req_rows (batch_id, _row, {cols}, hidden, mixed, raw) SELECT ?, _row, {cols}, "
        f"coalesce(hidden, false), coalesce(mixed, false), raw FROM {STAGING} ORDER BY _row",
        [b.batch_id], label="store request rows")
    engine.execute(
        "INSERT INTO batches (batch_id, agreement_id, manifest, manifest_sha256, request_sha256, request_file, rows, "
        "address_style, created_at, submitted_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [b.batch_id, b.agreement_id, b.manifest.to_json(), staged.manifest_sha256, staged.request_sha256,
         b.request_file, b.rows, b.address_style, b.created_at, b.submitted_by], label="store batch")
    return rows_digest(engine, b.batch_id)


_BATCH_COLS = "batch_id, agreement_id, manifest, rows, address_style, created_at, submitted_by, request_file"


def _batch(row: tuple[Any, ...]) -> Batch:
    return Batch(str(row[0]), None if row[1] is None else str(row[1]), Manifest.from_json(str(row[2])),
                 int(row[3]), str(row[4]), row[5], None if row[6] is None else str(row[6]),
                 None if row[7] is None else str(row[7]))


def find_batch(engine: Engine, batch_id: str) -> Batch | None:
    row = engine.fetchone(f"SELECT {_BATCH_COLS} FROM batches WHERE batch_id = ?", [batch_id], label="find batch")
    return None if row is None else _batch(row)


def get_batch(engine: Engine, batch_id: str) -> Batch:
    batch = find_batch(engine, batch_id)
    if batch is None:
        raise NotFoundError(f"no batch '{batch_id}' in this home")
    return batch


def list_batches(engine: Engine, agreements: frozenset[str] | None = None) -> list[Batch]:
    """Every batch, oldest first; only those under ``agreements`` when given (a recipient's view)."""
    rows = engine.fetchall(f"SELECT {_BATCH_COLS} FROM batches ORDER BY created_at, batch_id", label="batches")
    out = [_batch(r) for r in rows]
    return [b for b in out if agreements is None or (b.agreement_id or "") in agreements]
