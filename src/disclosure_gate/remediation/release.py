"""Release: minimum-necessary packages, two-person approval, crash-safe signed delivery.

* ``prepare`` snapshots the DISCLOSE decisions of a batch's primary run into a
  package. It holds **only** ``request_id`` and the fields the agreement lists
  under ``disclose``: no TIN, no scores, no other columns.
* ``approve`` needs a second person with the approver role. The preparer can
  never approve their own package.
* ``deliver`` builds the folder in a temporary place beside the target. It holds
  the data as CSV and Parquet, ``manifest.json``, and ``manifest.note`` (the
  manifest signed with the ledger's Ed25519 key as a C2SP signed note). The
  folder is renamed into place and ``_COMPLETE`` is written last.
  Delivering again is a no-op.
* Nothing is approved or delivered under an agreement that is not in force
  today (the suspension switch).
* Every step is a ledger event, in the same transaction as the state change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from disclosure_gate.engine import Engine
from disclosure_gate.errors import AuthorizationError, ConflictError, IntegrityError, NotFoundError, StateError
from disclosure_gate.ledger import note
from disclosure_gate.ledger import store as ledger
from disclosure_gate.pipeline.batches import get_batch
from disclosure_gate.pipeline.decide import get_run
from disclosure_gate.pipeline.intake import file_sha256
from disclosure_gate.store.agreements import get_agreement
from disclosure_gate.store.users import require_role

FIELDS_SQL = {  # disclosable field -> SQL over the custodian's last known address row ``ca``
    "last_known_address": "concat_ws(', ', ca.street, ca.city, ca.state || ' ' || ca.zip)",
}
CSV_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
COMPLETE = "_COMPLETE"
_DDL = (
    """CREATE TABLE IF NOT EXISTS packages (
        package_id VARCHAR PRIMARY KEY, batch_id VARCHAR NOT NULL, run_id VARCHAR NOT NULL,
        agreement_id VARCHAR NOT NULL, state VARCHAR NOT NULL, fields VARCHAR NOT NULL, rows BIGINT NOT NULL,
        snapshot_id VARCHAR, prepared_by VARCHAR NOT NULL, prepared_at TIMESTAMP NOT NULL,
        approved_by VARCHAR, approved_at TIMESTAMP, delivered_at TIMESTAMP, manifest_sha256 VARCHAR,
        recalled_at TIMESTAMP, recall_reason VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS package_rows (
        package_id VARCHAR NOT NULL, _row BIGINT NOT NULL, request_id VARCHAR NOT NULL,
        matched_tin VARCHAR, last_known_address VARCHAR)""",
)


@dataclass(frozen=True)
class Package:
    package_id: str
    batch_id: str
    run_id: str
    agreement_id: str
    state: str
    fields: tuple[str, ...]
    rows: int
    prepared_by: str
    approved_by: str | None
    manifest_sha256: str | None


def install(engine: Engine) -> None:
    for ddl in _DDL:
        engine.execute(ddl, label="release schema")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def get_package(engine: Engine, package_id: str) -> Package:
    install(engine)
    row = engine.fetchone("SELECT package_id, batch_id, run_id, agreement_id, state, fields, rows, prepared_by, "
                          "approved_by, manifest_sha256 FROM packages WHERE package_id = ?", [package_id])
    if row is None:
        raise NotFoundError(f"no package '{package_id}'")
    return Package(str(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), tuple(json.loads(row[5])),
                   int(row[6]), str(row[7]), row[8], row[9])


def _require_in_force(engine: Engine, agreement_id: str, what: str) -> None:
    agreement = get_agreement(engine, agreement_id)
    if not agreement.active_on(dt.date.today()):
        since = f", since {agreement.suspended_on}" if agreement.suspended_on else ""
        raise StateError(f"cannot {what}: agreement {agreement_id} is not in force ({agreement.status}{since})")


def prepare(engine: Engine, home: Path, batch_id: str, user: str, *, dry_run: bool = False) -> tuple[Package, bool]:
    """Build a package from the DISCLOSE decisions of the batch's primary run."""
    require_role(home, user, "preparer")
    install(engine)
    run = get_run(engine, batch_id)
    batch = get_batch(engine, batch_id)
    if not batch.agreement_id:
        raise StateError("the batch names no agreement")
    agreement = get_agreement(engine, batch.agreement_id)
    _require_in_force(engine, agreement.id, "prepare a release")
    unknown = [f for f in agreement.disclose if f not in FIELDS_SQL]
    if unknown:
        raise StateError(f"agreement lists fields this version cannot release: {', '.join(unknown)}")
    existing = engine.scalar("SELECT package_id FROM packages WHERE run_id = ? AND state <> 'recalled'",
                             [run.run_id])
    if existing is not None:
        return get_package(engine, str(existing)), False
    cols = ", ".join(f"{FIELDS_SQL[f]} AS {f}" for f in agreement.disclose)
    snap = engine.scalar("SELECT snapshot_id FROM snapshots WHERE is_current")
    package_id = "P" + hashlib.sha256(f"{run.run_id}\n{snap}\n{_now().isoformat()}".encode()).hexdigest()[:15]
    if dry_run:
        n = int(engine.scalar("SELECT count(*) FROM decisions WHERE run_id = ? AND decision = 'DISCLOSE'",
                              [run.run_id]))
        return Package(package_id, batch_id, run.run_id, agreement.id, "planned", agreement.disclose, n, user,
                       None, None), False
    with engine.transaction():
        engine.execute(
            f"INSERT INTO package_rows SELECT ?, d._row, d.request_id, d.matched_tin, {cols} "
            "FROM decisions d JOIN c_address ca ON ca.tin = d.matched_tin AND ca.is_last_known "
            "WHERE d.run_id = ? AND d.decision = 'DISCLOSE' ORDER BY d._row",
            [package_id, run.run_id], label="package rows")
        n = int(engine.scalar("SELECT count(*) FROM package_rows WHERE package_id = ?", [package_id]))
        expected = int(engine.scalar("SELECT count(*) FROM decisions WHERE run_id = ? AND decision = 'DISCLOSE'",
                                     [run.run_id]))
        if n != expected:
            raise IntegrityError(f"{expected - n} DISCLOSE decisions have no last known address in the current "
                                 "snapshot; nothing prepared")
        engine.execute("INSERT INTO packages (package_id, batch_id, run_id, agreement_id, state, fields, rows, "
                       "snapshot_id, prepared_by, prepared_at) VALUES (?, ?, ?, ?, 'prepared', ?, ?, ?, ?, ?)",
                       [package_id, batch_id, run.run_id, agreement.id, json.dumps(list(agreement.disclose)), n,
                        snap, user, _now()], label="package")
        ledger.append_event(engine, "release_prepared", {"package_id": package_id, "batch_id": batch_id,
                                                         "run_id": run.run_id, "rows": n, "by": user})
    return get_package(engine, package_id), True


def approve(engine: Engine, home: Path, package_id: str, user: str, *, dry_run: bool = False) -> Package:
    require_role(home, user, "approver")
    pkg = get_package(engine, package_id)
    if user == pkg.prepared_by:
        raise AuthorizationError("the preparer cannot approve their own package: a second person must")
    if pkg.state == "approved" and pkg.approved_by is not None:
        return pkg
    if pkg.state != "prepared":
        raise StateError(f"package {package_id} is {pkg.state}; only a prepared package can be approved")
    _require_in_force(engine, pkg.agreement_id, "approve")
    if dry_run:
        return pkg
    with engine.transaction():
        engine.execute("UPDATE packages SET state = 'approved', approved_by = ?, approved_at = ? WHERE package_id = ?",
                       [user, _now(), package_id], label="approve")
        ledger.append_event(engine, "release_approved", {"package_id": package_id, "by": user})
    return get_package(engine, package_id)


def neutralise_sql(expr: str) -> str:
    """CSV-injection defence: prefix cells starting with = + - @ tab or CR with a quote."""
    return (f"CASE WHEN left({expr}, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) "
            f"THEN '''' || {expr} ELSE {expr} END")


def _write_data(engine: Engine, pkg: Package, folder: Path) -> None:
    cols = ["request_id", *pkg.fields]
    plain = ", ".join(cols)
    safe = ", ".join(f"{neutralise_sql(c)} AS {c}" for c in cols)
    src = f"FROM package_rows WHERE package_id = '{pkg.package_id}' ORDER BY _row"
    engine.execute(f"COPY (SELECT {safe} {src}) TO '{(folder / 'data.csv').as_posix()}' (FORMAT csv, HEADER true)",
                   label="package csv")
    engine.execute(f"COPY (SELECT {plain} {src}) TO '{(folder / 'data.parquet').as_posix()}' (FORMAT parquet)",
                   label="package parquet")


def build_manifest(engine: Engine, pkg: Package, folder: Path, keys: ledger.Keys) -> str:
    agreement = get_agreement(engine, pkg.agreement_id)
    run = engine.fetchone("SELECT policy_id, policy_sha256, as_of FROM runs WHERE run_id = ?", [pkg.run_id])
    assert run is not None
    last = engine.scalar("SELECT max(lr.first_idx + d._row) FROM decisions d JOIN ledger_runs lr USING (run_id) "
                         "JOIN package_rows p ON p.request_id = d.request_id WHERE p.package_id = ? AND d.run_id = ?",
                         [pkg.package_id, pkg.run_id])
    cp = ledger.checkpoint_covering(engine, int(last)) if last is not None else ledger.latest_checkpoint(engine)
    if cp is None:
        cp = ledger.make_checkpoint(engine, keys)
    body = {
        "package_id": pkg.package_id, "agreement_id": agreement.id, "recipient": agreement.recipient,
        "statutory_authority": agreement.statutory_authority, "batch_id": pkg.batch_id, "run_id": pkg.run_id,
        "policy": f"{run[0]}@sha256:{run[1]}", "decided_on": str(run[2]), "fields": ["request_id", *pkg.fields],
        "rows": pkg.rows, "prepared_by": pkg.prepared_by, "approved_by": pkg.approved_by,
        "files": {name: file_sha256(folder / name) for name in ("data.csv", "data.parquet")},
        "ledger": {"origin": keys.origin, "checkpoint": cp.note, "covers_entries_below": cp.size},
    }
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def deliver(engine: Engine, package_id: str, out: Path, keys: ledger.Keys, *,
            dry_run: bool = False) -> tuple[Path, bool]:
    """Write the package folder at ``out``; idempotent. Returns (folder, written)."""
    pkg = get_package(engine, package_id)
    out = Path(out)
    marker = out / COMPLETE
    if pkg.state == "delivered" and marker.exists() and marker.read_text().strip() == pkg.manifest_sha256:
        return out, False
    if pkg.state not in ("approved", "delivered"):
        raise StateError(f"package {package_id} is {pkg.state}: it must be approved by a second person first")
    _require_in_force(engine, pkg.agreement_id, "deliver")
    if out.exists():
        if not marker.exists() and _partial_of(out, package_id):
            shutil.rmtree(out)  # our own delivery, interrupted before the marker: redo it
        else:
            raise ConflictError(f"{out} exists and is not this package: choose a new folder")
    if dry_run:
        return out, False
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.partial")
    tmp.mkdir()
    try:
        _write_data(engine, pkg, tmp)
        manifest = build_manifest(engine, pkg, tmp, keys)
        (tmp / "manifest.json").write_text(manifest, encoding="utf-8")
        (tmp / "manifest.note").write_text(note.sign_note(manifest, keys.signer), encoding="utf-8")
        sha = hashlib.sha256(manifest.encode()).hexdigest()
        for f in tmp.iterdir():
            with f.open("rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with engine.transaction():
        engine.execute("UPDATE packages SET state = 'delivered', delivered_at = ?, manifest_sha256 = ? "
                       "WHERE package_id = ?", [_now(), sha, package_id], label="deliver")
        ledger.append_event(engine, "release_delivered", {"package_id": package_id, "manifest_sha256": sha,
                                                          "rows": pkg.rows})
    marker.write_text(sha + "\n", encoding="utf-8")  # written last: the folder is complete
    return out, True


def _partial_of(folder: Path, package_id: str) -> bool:
    try:
        return bool(json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("package_id") == package_id)
    except (OSError, ValueError):
        return False


def recall(engine: Engine, package_id: str, reason: str) -> Package:
    pkg = get_package(engine, package_id)
    with engine.transaction():
        engine.execute("UPDATE packages SET state = 'recalled', recalled_at = ?, recall_reason = ? "
                       "WHERE package_id = ?", [_now(), reason, package_id], label="recall")
        ledger.append_event(engine, "release_recalled", {"package_id": package_id, "was": pkg.state})
    return get_package(engine, package_id)


@dataclass(frozen=True)
class VerifiedPackage:
    package_id: str
    rows: int
    fields: tuple[str, ...]
    manifest: dict[str, Any]


def verify_package(folder: Path, verifier: note.Verifier) -> VerifiedPackage:
    """What the recipient runs: completeness marker, signature, file hashes, columns and counts."""
    folder = Path(folder)
    marker = folder / COMPLETE
    if not marker.exists():
        raise IntegrityError(f"{folder} is incomplete: no {COMPLETE} marker")
    try:
        manifest_text = (folder / "manifest.json").read_text(encoding="utf-8")
        signed = (folder / "manifest.note").read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise IntegrityError(f"package file missing: {Path(exc.filename or '').name}") from None
    try:
        opened = note.open_note(signed, [verifier])
    except Exception:
        raise IntegrityError("the manifest signature does not verify with this key") from None
    if opened.text != manifest_text:
        raise IntegrityError("manifest.json differs from the signed manifest")
    if marker.read_text().strip() != hashlib.sha256(manifest_text.encode()).hexdigest():
        raise IntegrityError("the completion marker does not match the manifest")
    manifest = json.loads(manifest_text)
    for name, digest in manifest["files"].items():
        if file_sha256(folder / name) != digest:
            raise IntegrityError(f"{name} does not match the manifest's hash")
    import pyarrow.parquet as pq

    table = pq.read_table(folder / "data.parquet")
    if table.column_names != manifest["fields"] or table.num_rows != manifest["rows"]:
        raise IntegrityError("data.parquet columns or row count differ from the manifest")
    try:
        note.open_checkpoint(manifest["ledger"]["checkpoint"], verifier)
    except Exception:
        raise IntegrityError("the ledger checkpoint in the manifest does not verify") from None
    return VerifiedPackage(manifest["package_id"], int(manifest["rows"]), tuple(manifest["fields"]), manifest)


def delivered_under(engine: Engine, agreement_id: str) -> list[tuple[str, str, int, int, str]]:
    """(package_id, batch_id, rows, persons, delivered_at) for every delivered package of an agreement."""
    install(engine)
    return [(str(r[0]), str(r[1]), int(r[2]), int(r[3]), str(r[4])) for r in engine.fetchall(
        "SELECT p.package_id, p.batch_id, p.rows, count(DISTINCT r.matched_tin), p.delivered_at FROM packages p "
        "JOIN package_rows r USING (package_id) WHERE p.agreement_id = ? AND p.state = 'delivered' "
        "GROUP BY ALL ORDER BY p.delivered_at", [agreement_id], label="delivered")]
