"""Release: minimum-necessary packages, two-person approval, crash-safe signed delivery.

* A package is prepared only from the batch's run under **the policy the
  agreement names at the time of release** (any other run is refused, naming
  both policies). It holds the rows whose *effective* decision is DISCLOSE
  (decided DISCLOSE by policy, or REVIEW resolved DISCLOSE by two reviewers),
  at most one per person, and **only** ``request_id`` plus the fields the
  agreement lists under ``disclose``: no TIN, no scores, no other columns.
* Approval needs a second person; the rules live in :mod:`disclosure_gate.app.authz`.
* Delivery builds the folder in a temporary sibling (``.<name>.<rand>.partial``)
  with ``data.csv`` (formula cells neutralised), ``data.parquet``,
  ``manifest.json`` (every file's hash), ``manifest.note`` (the manifest signed
  as a C2SP note) and ``_COMPLETE`` (the manifest's hash), fsyncs it, renames
  it into place, and only then commits the state and its ledger event. An
  intent file in ``<home>/run/deliveries/`` lets the next write open finish or
  clean what a crash left. A package is delivered once: delivering again to
  the same folder is a no-op; to another folder is refused, naming the first.
* Nothing is approved or delivered under an agreement that is not in force
  today (the suspension switch).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from disclosure_gate.clock import naive_utc, today
from disclosure_gate.engine import Engine
from disclosure_gate.errors import IntegrityError, NotFoundError, StateError
from disclosure_gate.ledger import note
from disclosure_gate.ledger import store as ledger
from disclosure_gate.ledger.digest import digest
from disclosure_gate.pipeline.decide import Run, find_run
from disclosure_gate.pipeline.documents import Agreement
from disclosure_gate.pipeline.intake import file_sha256
from disclosure_gate.pipeline.review import effective_sql
from disclosure_gate.store import files
from disclosure_gate.store.agreements import get_agreement
from disclosure_gate.store.home import Home, recovery_step

ZIP_SQL = ("CASE WHEN regexp_full_match(ca.zip, '[0-9]{9}') THEN left(ca.zip, 5) || '-' || right(ca.zip, 4) "
           "ELSE ca.zip END")
FIELDS_SQL = {  # disclosable field -> SQL over the custodian's last known address row ``ca``
    "last_known_address": f"concat_ws(', ', ca.street, ca.city, ca.state || ' ' || {ZIP_SQL})",
}
COMPLETE = "_COMPLETE"
PACKAGE_FILES = ("data.csv", "data.parquet", "manifest.json", "manifest.note", COMPLETE)
ROWS_DIGEST_COLUMNS = ("_row", "request_id", "matched_tin", "last_known_address", "source")
_COLS = ("package_id, batch_id, run_id, agreement_id, state, fields, rows, prepared_by, prepared_at, approved_by, "
         "approved_at, delivered_at, delivered_to, manifest_sha256, recalled_at, recall_reason, recalled_by")


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
    prepared_at: Any = None
    approved_by: str | None = None
    approved_at: Any = None
    delivered_at: Any = None
    delivered_to: str | None = None
    manifest_sha256: str | None = None
    recalled_at: Any = None
    recall_reason: str | None = None
    recalled_by: str | None = None


def _package(row: tuple[Any, ...]) -> Package:
    return Package(str(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), tuple(json.loads(row[5])),
                   int(row[6]), str(row[7]), *row[8:])


def find_package(engine: Engine, package_id: str) -> Package | None:
    row = engine.fetchone(f"SELECT {_COLS} FROM packages WHERE package_id = ?", [package_id], label="package")
    return None if row is None else _package(row)


def get_package(engine: Engine, package_id: str) -> Package:
    pkg = find_package(engine, package_id)
    if pkg is None:
        raise NotFoundError(f"no package '{package_id}'")
    return pkg


def list_packages(engine: Engine, agreements: frozenset[str] | None = None) -> list[Package]:
    out = [_package(r) for r in engine.fetchall(f"SELECT {_COLS} FROM packages ORDER BY prepared_at, package_id")]
    return [p for p in out if agreements is None or p.agreement_id in agreements]


def require_in_force(engine: Engine, agreement: Agreement, what: str) -> None:
    if not agreement.active_on(today(engine.clock)):
        since = f", since {agreement.suspended_on}" if agreement.suspended_on else ""
        raise StateError(f"cannot {what}: agreement {agreement.id} is not in force ({agreement.status}{since})")


def release_run(engine: Engine, batch_id: str, agreement: Agreement) -> Run:
    """The run a release is prepared from: the batch's run under the agreement's current policy."""
    run = find_run(engine, batch_id, agreement.policy)
    if run is not None:
        return run
    others = sorted({str(r[0]) for r in engine.fetchall("SELECT policy_id FROM runs WHERE batch_id = ?", [batch_id])})
    if not others:
        raise StateError(f"batch '{batch_id}' has not been processed: run 'dgate request process' first")
    raise StateError(f"batch '{batch_id}' was processed only under {', '.join(others)}, but agreement "
                     f"{agreement.id} names policy '{agreement.policy}': a release is prepared only from a run "
                     "under the agreement's policy (run 'dgate request process' under it)")


def candidates_sql() -> str:
    """The rows a package of run ``$run`` takes: effective DISCLOSE, one per person (the earliest)."""
    return (f"SELECT * FROM (SELECT e.*, row_number() OVER (PARTITION BY e.matched_tin ORDER BY e._row) AS k "
            f"FROM ({effective_sql('d.run_id = $run')}) e WHERE e.decision = 'DISCLOSE') WHERE k = 1")


def count_candidates(engine: Engine, run_id: str) -> tuple[int, int]:
    """(rows the package would hold, of which resolved in review)."""
    row = engine.fetchone(f"SELECT count(*), count(*) FILTER (WHERE source = 'review') FROM ({candidates_sql()})",
                          {"run": run_id}, label="package size")
    return (int(row[0]), int(row[1])) if row else (0, 0)


def package_id_for(run_id: str, snapshot: str | None, at: str) -> str:
    return "P" + hashlib.sha256(f"{run_id}\n{snapshot}\n{at}".encode()).hexdigest()[:15]


def insert_package(engine: Engine, package_id: str, run: Run, agreement: Agreement,
                   prepared_by: str) -> tuple[int, str]:
    """Insert the package and its rows. Call inside the transaction with its ledger event. Returns (rows, digest)."""
    cols = ", ".join(f"{FIELDS_SQL[f]} AS {f}" for f in agreement.disclose)
    fields = ", ".join(agreement.disclose)
    engine.execute(
        f"INSERT INTO package_rows (package_id, _row, request_id, matched_tin, {fields}, source) "
        f"SELECT $pkg, c._row, c.request_id, c.matched_tin, {cols}, c.source FROM ({candidates_sql()}) c "
        "JOIN c_address ca ON ca.tin = c.matched_tin AND ca.is_last_known ORDER BY c._row",
        {"pkg": package_id, "run": run.run_id}, label="package rows")
    n = int(engine.scalar("SELECT count(*) FROM package_rows WHERE package_id = ?", [package_id]))
    expected, _ = count_candidates(engine, run.run_id)
    if n != expected:
        raise IntegrityError(f"{expected - n} rows to disclose have no last known address in the current "
                             "snapshot; nothing prepared")
    value = rows_digest(engine, package_id)
    snap = engine.scalar("SELECT snapshot_id FROM snapshots WHERE is_current")
    engine.execute("INSERT INTO packages (package_id, batch_id, run_id, agreement_id, state, fields, rows, "
                   "snapshot_id, prepared_by, prepared_at, rows_digest) "
                   "VALUES (?, ?, ?, ?, 'prepared', ?, ?, ?, ?, ?, ?)",
                   [package_id, run.batch_id, run.run_id, agreement.id, json.dumps(list(agreement.disclose)), n, snap,
                    prepared_by, naive_utc(engine.clock), value], label="package")
    return n, value


def rows_digest(engine: Engine, package_id: str) -> str:
    return digest(engine, "(SELECT * FROM package_rows WHERE package_id = ?)", ROWS_DIGEST_COLUMNS, ["_row"],
                  [package_id])


def resolvers(engine: Engine, run_id: str) -> frozenset[str]:
    """Everyone who resolved review rows that a package of this run holds (for the approval rule)."""
    return frozenset(str(r[0]) for r in engine.fetchall(
        "SELECT DISTINCT reviewer FROM review_resolutions WHERE run_id = ? AND withdrawn_at IS NULL", [run_id]))


# -- delivery ---------------------------------------------------------------------------------
def _write_data(engine: Engine, pkg: Package, folder: Path) -> None:
    cols = ["request_id", *pkg.fields]
    rows = engine.fetchall(f"SELECT {', '.join(cols)} FROM package_rows WHERE package_id = ? ORDER BY _row",
                           [pkg.package_id], label="package data")
    (folder / "data.csv").write_bytes(files.csv_bytes(cols, rows))
    engine.execute(f"COPY (SELECT {', '.join(cols)} FROM package_rows WHERE package_id = ? ORDER BY _row) TO ? "
                   "(FORMAT parquet)", [pkg.package_id, str(folder / "data.parquet")], label="package parquet")


def build_manifest(engine: Engine, pkg: Package, folder: Path, keys: ledger.Keys) -> str:
    agreement = get_agreement(engine, pkg.agreement_id)
    run = engine.fetchone("SELECT policy_id, policy_sha256, as_of FROM runs WHERE run_id = ?", [pkg.run_id])
    if run is None:
        raise IntegrityError(f"package {pkg.package_id}: its run is missing")
    last = engine.scalar("SELECT max(lr.first_idx + p._row) FROM package_rows p JOIN ledger_runs lr ON lr.run_id = ? "
                         "WHERE p.package_id = ?", [pkg.run_id, pkg.package_id])
    cp = ledger.checkpoint_covering(engine, int(last)) if last is not None else ledger.latest_checkpoint(engine)
    if cp is None:
        raise IntegrityError("no signed checkpoint covers this package's decisions: run 'dgate ledger checkpoint'")
    body = {
        "package_id": pkg.package_id, "agreement_id": agreement.id, "recipient": agreement.recipient,
        "statutory_authority": agreement.statutory_authority, "batch_id": pkg.batch_id, "run_id": pkg.run_id,
        "policy": f"{run[0]}@sha256:{run[1]}", "decided_on": str(run[2]), "fields": ["request_id", *pkg.fields],
        "rows": pkg.rows, "prepared_by": pkg.prepared_by, "approved_by": pkg.approved_by,
        "files": {name: file_sha256(folder / name) for name in ("data.csv", "data.parquet")},
        "ledger": {"origin": keys.origin, "checkpoint": cp.note, "covers_entries_below": cp.size},
    }
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def _intent_file(home: Home, package_id: str) -> Path:
    return files.private_dir(home.path / "run" / "deliveries") / f"{package_id}.json"


def build_folder(engine: Engine, home: Home, pkg: Package, out: Path, keys: ledger.Keys) -> str:
    """Build the package folder at ``out`` (crash-safe); returns the manifest's SHA-256. Stores no state."""
    files.atomic_write(_intent_file(home, pkg.package_id), json.dumps({"out": str(out)}))
    files.remove_partials(out)
    with files.atomic_folder(out) as tmp:
        _write_data(engine, pkg, tmp)
        manifest = build_manifest(engine, pkg, tmp, keys)
        (tmp / "manifest.json").write_text(manifest, encoding="utf-8")
        (tmp / "manifest.note").write_text(note.sign_note(manifest, keys.signer), encoding="utf-8")
        sha = hashlib.sha256(manifest.encode()).hexdigest()
        (tmp / COMPLETE).write_text(sha + "\n", encoding="utf-8")  # last: the folder is whole
        files.restrict_tree(tmp)
    return sha


def _is_package_folder(folder: Path) -> bool:
    """A folder made by :func:`build_folder` (its files, nothing else), whatever its state."""
    try:
        return {p.name for p in folder.iterdir()} <= set(PACKAGE_FILES)
    except OSError:
        return False


def adopt_folder(out: Path, package_id: str, verifier: note.Verifier) -> str | None:
    """The manifest SHA-256 of a complete, valid folder of this package at ``out`` (a crash after the rename)."""
    try:
        v = verify_package(out, verifier)
    except (IntegrityError, NotFoundError):
        return None
    if v.package_id != package_id:
        return None
    return hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()


def pending_delivery(home: Home, package_id: str) -> Path | None:
    """The folder an interrupted delivery of this package was writing, if any."""
    intent = home.path / "run" / "deliveries" / f"{package_id}.json"
    try:
        return Path(json.loads(intent.read_text(encoding="utf-8"))["out"])
    except (OSError, ValueError, KeyError):
        return None


def finish_delivery(home: Home, package_id: str) -> None:
    _intent_file(home, package_id).unlink(missing_ok=True)


@recovery_step
def _recover_deliveries(home: Home, apply: bool) -> list[str]:
    """A delivery interrupted by a crash: remove its partial folder; a folder it finished is left for the
    next ``release deliver`` to the same place, which adopts it."""
    folder = home.path / "run" / "deliveries"
    done: list[str] = []
    if not folder.is_dir():
        return done
    for intent in sorted(folder.glob("*.json")):
        try:
            out = Path(json.loads(intent.read_text(encoding="utf-8"))["out"])
        except (OSError, ValueError, KeyError):
            if apply:
                intent.unlink(missing_ok=True)
            continue
        for p in files.remove_partials(out) if apply else files.partials_of(out):
            done.append(f"partial delivery folder {p} (package data): removed")
        pkg = find_package(home.engine, intent.stem)
        unrecorded = pkg is not None and pkg.delivered_at is None and out.exists() and _is_package_folder(out)
        if unrecorded:  # built, never recorded: package data that did not leave; the next deliver rebuilds it
            if apply:
                shutil.rmtree(out, ignore_errors=True)
            done.append(f"package folder {out}, whose delivery was never recorded: removed")
        if apply:
            intent.unlink(missing_ok=True)
    return done


# -- the recipient's check ----------------------------------------------------------------------
@dataclass(frozen=True)
class VerifiedPackage:
    package_id: str
    rows: int
    fields: tuple[str, ...]
    manifest: dict[str, Any]


def verify_package(folder: Path, verifier: note.Verifier) -> VerifiedPackage:
    """What the recipient runs: every file present and listed, signature, hashes, columns and counts."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotFoundError(f"{folder} does not exist")
    present = {p.name for p in folder.iterdir()}
    missing = [n for n in PACKAGE_FILES if n not in present]
    extra = sorted(present - set(PACKAGE_FILES))
    if COMPLETE in missing:
        raise IntegrityError(f"{folder} is incomplete: no {COMPLETE} marker")
    if missing:
        raise IntegrityError(f"package file missing: {', '.join(missing)}")
    if extra:
        raise IntegrityError(f"files that are not part of the package: {', '.join(extra)}")
    manifest_text = (folder / "manifest.json").read_text(encoding="utf-8")
    signed = (folder / "manifest.note").read_text(encoding="utf-8")
    try:
        opened = note.open_note(signed, [verifier])
    except Exception:
        raise IntegrityError("the manifest signature does not verify with this key") from None
    if opened.text != manifest_text:
        raise IntegrityError("manifest.json differs from the signed manifest")
    if (folder / COMPLETE).read_text().strip() != hashlib.sha256(manifest_text.encode()).hexdigest():
        raise IntegrityError("the completion marker does not match the manifest")
    try:
        manifest = json.loads(manifest_text)
        listed = dict(manifest["files"])
    except (ValueError, KeyError, TypeError):
        raise IntegrityError("manifest.json is not a package manifest") from None
    if set(listed) != {"data.csv", "data.parquet"}:
        raise IntegrityError("the manifest does not list exactly the package's data files")
    for name, value in listed.items():
        if file_sha256(folder / name) != value:
            raise IntegrityError(f"{name} does not match the manifest's hash")
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(folder / "data.parquet")
    except Exception:
        raise IntegrityError("data.parquet is not readable") from None
    if table.column_names != manifest["fields"] or table.num_rows != manifest["rows"]:
        raise IntegrityError("data.parquet columns or row count differ from the manifest")
    try:
        note.open_checkpoint(manifest["ledger"]["checkpoint"], verifier)
    except Exception:
        raise IntegrityError("the ledger checkpoint in the manifest does not verify") from None
    return VerifiedPackage(manifest["package_id"], int(manifest["rows"]), tuple(manifest["fields"]), manifest)


@dataclass(frozen=True)
class DeliveredPackage:
    package_id: str
    batch_id: str
    rows: int
    persons: int
    delivered_at: Any
    recalled_at: Any
    recall_reason: str | None


def delivered_under(engine: Engine, agreement_id: str) -> list[DeliveredPackage]:
    """Every package delivered under an agreement, recalled ones included (and marked)."""
    return [DeliveredPackage(str(r[0]), str(r[1]), int(r[2]), int(r[3]), r[4], r[5], r[6]) for r in engine.fetchall(
        "SELECT p.package_id, p.batch_id, p.rows, count(DISTINCT r.matched_tin), p.delivered_at, p.recalled_at, "
        "p.recall_reason FROM packages p JOIN package_rows r USING (package_id) WHERE p.agreement_id = ? "
        "AND p.delivered_at IS NOT NULL GROUP BY ALL ORDER BY p.delivered_at", [agreement_id], label="delivered")]


def remove_folder(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
