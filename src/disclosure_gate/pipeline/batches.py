"""Request batches: a request file plus its manifest, stored once.

The batch id is derived from the content (the request file's and the
manifest's SHA-256), so submitting the same content twice returns the same
batch and stores nothing new. Storage happens in one transaction: a batch is
either wholly stored or absent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from disclosure_gate.engine import Engine
from disclosure_gate.errors import NotFoundError
from disclosure_gate.pipeline.documents import Manifest, load_manifest
from disclosure_gate.pipeline.intake import TableSpec, load_table

REQUEST_SPEC = TableSpec(
    label="request file",
    required=("request_id", "first_name", "last_name"),
    optional=("middle_name", "name_suffix", "tin", "dob", "case_reference"),
    key="request_id",
    groups=(("address",), ("street", "city", "state", "zip")),
)
REQUEST_COLUMNS = ("request_id", "first_name", "middle_name", "last_name", "name_suffix", "tin", "dob",
                   "case_reference", "address", "street", "city", "state", "zip")


@dataclass(frozen=True)
class Batch:
    batch_id: str
    agreement_id: str | None
    manifest: Manifest
    rows: int
    address_style: str
    created_at: dt.datetime


@dataclass(frozen=True)
class SubmitResult:
    batch: Batch
    created: bool
    ignored_columns: tuple[str, ...] = ()


def batch_id_for(request_sha: str, manifest_sha: str) -> str:
    return "B" + hashlib.sha256(f"{request_sha}\n{manifest_sha}".encode()).hexdigest()[:15]


def submit(engine: Engine, request_file: Path, manifest_file: Path, *,
           dry_run: bool = False) -> SubmitResult:
    manifest, manifest_sha = load_manifest(manifest_file)
    staging = "stg_request"
    try:
        intake = load_table(engine, request_file, REQUEST_SPEC, staging)
        bid = batch_id_for(intake.sha256, manifest_sha)
        existing = find_batch(engine, bid)
        if existing is not None:
            return SubmitResult(existing, created=False, ignored_columns=intake.ignored_columns)
        style = "free" if intake.group == ("address",) else "structured"
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        batch = Batch(bid, manifest.agreement, manifest, intake.rows, style, now)
        if dry_run:
            return SubmitResult(batch, created=False, ignored_columns=intake.ignored_columns)
        cols = ", ".join(REQUEST_COLUMNS)
        with engine.transaction():
            engine.execute(
                f"INSERT INTO req_rows (batch_id, _row, {cols}) SELECT ?, _row, {cols} FROM {staging} "
                "ORDER BY _row", [bid], label="store request rows")
            engine.execute(
                "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [bid, manifest.agreement, manifest.to_json(), manifest_sha, intake.sha256,
                 str(Path(request_file).name), intake.rows, style, now], label="store batch")
        return SubmitResult(batch, created=True, ignored_columns=intake.ignored_columns)
    finally:
        engine.execute(f"DROP TABLE IF EXISTS {staging}", label="cleanup")


def find_batch(engine: Engine, batch_id: str) -> Batch | None:
    row = engine.fetchone(
        "SELECT batch_id, agreement_id, manifest, rows, address_style, created_at FROM batches "
        "WHERE batch_id = ?", [batch_id], label="find batch")
    if row is None:
        return None
    return Batch(str(row[0]), row[1], Manifest.from_json(row[2]), int(row[3]), str(row[4]), row[5])


def get_batch(engine: Engine, batch_id: str) -> Batch:
    batch = find_batch(engine, batch_id)
    if batch is None:
        raise NotFoundError(f"no batch '{batch_id}' in this home")
    return batch


def list_batches(engine: Engine) -> list[Batch]:
    ids = [str(r[0]) for r in engine.fetchall("SELECT batch_id FROM batches ORDER BY created_at")]
    return [get_batch(engine, b) for b in ids]
