"""The requesting agency's API, app layer: uploads, the recipient's read models, automatic processing.

The web surface (:mod:`disclosure_gate.surfaces.web.api`) parses HTTP and
calls these functions; they hold the rules.

Who may use the API
    A user with the ``recipient`` role, bound to one or more agreements
    (``dgate user add NAME --role recipient --agreement ID``). The API scopes
    everything to those agreements (:func:`agreements_of`), even for a person
    who also holds a staff role: a batch or package under another agreement is
    *not found*, never *forbidden*, so ids do not leak. Staff tokens are
    refused (403): staff use the CLI and the console.

Uploads
    The multipart body is streamed by the surface into a private folder
    (:func:`upload_folder`, ``<home>/tmp/uploads/<random>/``, 0700, removed
    after the request; a crash leaves it to the home's recovery, which empties
    ``tmp/``). Only the extension of the client's file name is kept (intake
    chooses the reader by it); the name itself is used only in messages.
    :func:`submit_upload` validates exactly like ``dgate request submit`` (the
    same app-layer action) and rewrites the temporary paths in any error
    message back to the uploaded file names.

    Each submission stages into a temporary table of its own connection, so
    uploads (and CLI submissions forwarded to the server) run in parallel.

Processing
    The setting ``processing`` chooses: ``manual`` (an officer or the operator
    runs ``dgate request process``) or ``automatic``: a background job
    (:mod:`disclosure_gate.app.jobs`) started right after submission as
    :data:`AUTO_ACTOR`, an operator-kind actor, so the job's and the run's
    ``started_by`` say ``system:auto-process``. Automatic jobs run one at a time
    (:data:`_PROCESS_SLOTS`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from disclosure_gate.app import authz, jobs, requests
from disclosure_gate.app.session import Session
from disclosure_gate.clock import iso_utc
from disclosure_gate.errors import (
    AuthorizationError,
    DgateError,
    DocumentError,
    InputError,
    IntegrityError,
    LimitError,
    NotFoundError,
    StateError,
)
from disclosure_gate.pipeline import batches, decide
from disclosure_gate.pipeline.documents import load_manifest
from disclosure_gate.pipeline.intake import table_format
from disclosure_gate.remediation import release
from disclosure_gate.remediation.release import Package
from disclosure_gate.store import files, settings
from disclosure_gate.store.home import Home

AUTO_ACTOR = authz.Actor(name="system:auto-process", kind="operator")
RECIPIENT = "recipient"
TABLE_SUFFIXES = (".csv", ".parquet")
MANIFEST_NAME = "manifest.yaml"

_AUTO_LOCK = threading.Lock()  # check-then-start of an automatic job
_PROCESS_SLOTS = threading.BoundedSemaphore(1)  # automatic jobs run one at a time


# -- who may use the API ---------------------------------------------------------------------
def agreements_of(actor: authz.Actor) -> frozenset[str]:
    """The agreements a recipient acts under; refuses anyone who is not a bound recipient (403)."""
    authz.require(actor, "release.receive")
    if not actor.agreements:
        raise AuthorizationError(f"the requesting agency's API is for recipients: user '{actor.name}' "
                                 "has no recipient role bound to an agreement")
    return actor.agreements


@dataclass(frozen=True)
class Limits:
    max_rows: int
    max_bytes: int
    rate_per_minute: int


def limits(s: Session) -> Limits:
    """The API limits of this home (settings ``api_max_rows``, ``api_max_bytes``, ``api_rate_per_minute``)."""
    e = s.engine
    return Limits(settings.get_int(e, "api_max_rows"), settings.get_int(e, "api_max_bytes"),
                  settings.get_int(e, "api_rate_per_minute"))


# -- uploads ---------------------------------------------------------------------------------------
@dataclass
class Upload:
    """An uploaded request file and manifest in a private folder. Names are the client's, for messages."""

    folder: Path
    request: Path
    manifest: Path
    request_name: str
    manifest_name: str
    request_lines: int = 0  # newline characters in the request file: a bound on its rows (CSV)


STALE_SECONDS = 3600.0


def _scratch(home: Path, kind: str) -> Path:
    """A new private folder ``<home>/tmp/<kind>/<random>/`` (0700); folders left there over an hour ago
    (a client that went away mid-download, a killed server) are removed first."""
    base = files.private_dir(files.private_dir(Path(home) / "tmp") / kind)
    now = time.time()
    for old in base.iterdir():
        with contextlib.suppress(OSError):
            if now - old.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=kind[0], dir=base))


def upload_folder(home: Path) -> Path:
    """A new private folder ``<home>/tmp/uploads/<random>/`` (0700). The caller removes it."""
    return _scratch(home, "uploads")


def discard(upload_or_folder: Upload | Path) -> None:
    folder = upload_or_folder.folder if isinstance(upload_or_folder, Upload) else upload_or_folder
    shutil.rmtree(folder, ignore_errors=True)


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def display_name(raw: str | None, default: str) -> str:
    """The client's file name for messages only: its last path element, printable, at most 120 characters."""
    text = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in _UNSAFE_NAME.sub("", text) if ch.isprintable()).strip()[:120]
    return text or default


def stored_request_name(display: str) -> str:
    """``request.csv`` or ``request.parquet`` after the client's extension; anything else is refused later
    (by :func:`submit_upload`, in the order ``dgate request submit`` checks)."""
    suffix = Path(display).suffix.lower()
    return "request" + (suffix if suffix in TABLE_SUFFIXES else ".unknown")


def _relabel(exc: DgateError, upload: Upload) -> None:
    """Name the uploaded files, not the temporary ones, in an error (in place: the class and code stay)."""
    pairs = [(str(upload.request), upload.request_name), (str(upload.manifest), upload.manifest_name),
             (str(upload.folder), "(upload)")]

    def fix(text: str) -> str:
        for old, new in pairs:
            text = text.replace(old, new)
        return text

    exc.message = fix(exc.message)
    exc.args = tuple(fix(a) if isinstance(a, str) else a for a in exc.args)
    if isinstance(exc, InputError) and exc.file is not None:
        exc.file = fix(exc.file)


def _rows_bound(upload: Upload) -> int | None:
    """An upper bound on the request file's rows without reading it, or None when unknown."""
    if upload.request.suffix == ".csv":
        return upload.request_lines + 1  # header and data lines; the last may lack its newline
    try:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(upload.request).metadata.num_rows)
    except Exception:  # not readable: intake reports it, in its own words
        return None


@dataclass(frozen=True)
class Submitted:
    batch_id: str
    rows: int
    created: bool
    job_id: str | None = None


def submit_upload(s: Session, upload: Upload, max_rows: int, home: Home | None = None) -> Submitted:
    """Validate and store an uploaded batch as ``dgate request submit`` does; same content, same batch.

    Order: the manifest (as the CLI), then the agreement (one of the recipient's, else not found), then the
    request file's extension and content, then the row limit. With ``processing = automatic`` and ``home``
    given, a job is started for a batch not yet processed.
    """
    mine = agreements_of(s.actor)
    try:
        manifest, _ = load_manifest(upload.manifest)
        if not manifest.agreement:
            raise DocumentError("the manifest names no agreement: batches sent through the API are taken "
                                "under one of your agreements", file=upload.manifest, column="agreement")
        if manifest.agreement not in mine:
            raise NotFoundError(f"no agreement '{manifest.agreement}' in this home")
        table_format(Path(upload.request_name))  # an unknown extension, named as the client named it
        bound = _rows_bound(upload)
        if bound is None or bound > max_rows:
            rows = int(requests.plan_submit(s, upload.request, upload.manifest).data["rows"])
            if rows > max_rows:
                raise LimitError(f"{upload.request_name} has {rows:,} rows; this server takes at most "
                                 f"{max_rows:,} per batch (setting api_max_rows): split the batch")
        result = requests.submit(s, upload.request, upload.manifest)
    except DgateError as exc:
        _relabel(exc, upload)
        raise
    job = None
    with contextlib.suppress(DgateError):  # the batch is stored; a failed start leaves it 'submitted' (resubmit)
        job = start_auto_processing(home, result.batch.batch_id)
    return Submitted(result.batch.batch_id, result.batch.rows, result.created, job)


# -- automatic processing ----------------------------------------------------------------------------
def processing_ids(s: Session) -> frozenset[str]:
    """Batches a background processing job is working on (queued or running)."""
    out = set()
    for (params,) in s.engine.fetchall("SELECT params FROM jobs WHERE kind = 'process' AND state IN "
                                       "('queued', 'running')", label="jobs"):
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            out.add(str(json.loads(str(params)).get("batch_id")))
    return frozenset(out)


def _auto_session(home: Home) -> Session:
    return Session(Home(home.path, home.engine.cursor(), writable=True), AUTO_ACTOR)


def _process_work(batch_id: str) -> Callable[[Session], dict[str, Any]]:
    def work(s: Session) -> dict[str, Any]:
        if s.progress is not None:
            s.progress("waiting for an earlier batch", 0.0)
        with _PROCESS_SLOTS:
            res = requests.process(s, batch_id)
        f = res.funnel
        return {"batch_id": batch_id, "run_id": res.run.run_id, "policy": res.run.policy_id, "created": res.created,
                "disclose": f.disclose, "review": f.review, "deny": f.deny}

    return work


def start_auto_processing(home: Home | None, batch_id: str) -> str | None:
    """Start a processing job as ``system:auto-process`` when the home processes automatically and the batch
    has neither a primary run nor a job at work. Returns the job id, or None."""
    if home is None:
        return None
    probe = _auto_session(home)
    try:
        with _AUTO_LOCK:
            if settings.get(probe.engine, "processing") != "automatic":
                return None
            if any(r.is_primary for r in decide.runs_of(probe.engine, batch_id)):
                return None
            if batch_id in processing_ids(probe):
                return None
            return jobs.start(lambda: _auto_session(home), "process", {"batch_id": batch_id},
                              _process_work(batch_id))
    finally:
        probe.close()


# -- batches ------------------------------------------------------------------------------------------
def _stamp(value: Any) -> str | None:
    if value is None:
        return None
    return iso_utc(value) if isinstance(value, dt.datetime) else str(value)


def _visible_batch(s: Session, batch_id: str) -> batches.Batch:
    batch = batches.find_batch(s.engine, batch_id)
    if batch is None or (batch.agreement_id or "") not in agreements_of(s.actor):
        raise NotFoundError(f"no batch '{batch_id}' in this home")
    return batch


def batch_status(s: Session, batch_id: str) -> dict[str, Any]:
    """A batch's status and funnel counts. Never custodian data: no names, TINs, addresses or row decisions."""
    _visible_batch(s, batch_id)
    view = requests.show(s, batch_id, processing_ids(s))
    b = view.batch
    out: dict[str, Any] = {"batch_id": b.batch_id, "agreement": b.agreement_id, "rows": b.rows,
                           "status": view.status, "submitted_at": b.manifest.submitted_at.isoformat(),
                           "received_at": _stamp(b.created_at), "decided": None, "funnel": None}
    if view.primary is not None:
        out["decided"] = {"policy": view.primary.policy_label, "as_of": view.primary.as_of.isoformat(),
                          "request_lawful": view.lawful}
    if view.funnel is not None:
        f = view.funnel
        out["funnel"] = {"requested": f.requested, "sufficient": f.sufficient,
                         "identity_confirmed": f.identity_confirmed,
                         "address_corroborated": f.address_corroborated, "disclose": f.disclose,
                         "review": f.review, "deny": f.deny, "resolved_disclose": f.resolved_disclose,
                         "resolved_deny": f.resolved_deny}
    return out


def list_batches(s: Session) -> list[dict[str, Any]]:
    mine = agreements_of(s.actor)
    busy = processing_ids(s)
    out = []
    for b, runs in requests.list_(s):
        if (b.agreement_id or "") not in mine:
            continue
        status = "processed" if any(r.is_primary for r in runs) else "processing" if b.batch_id in busy \
            else "submitted"
        out.append({"batch_id": b.batch_id, "agreement": b.agreement_id, "rows": b.rows, "status": status,
                    "submitted_at": b.manifest.submitted_at.isoformat(), "received_at": _stamp(b.created_at)})
    return out


# -- releases ------------------------------------------------------------------------------------------
def release_view(p: Package) -> dict[str, Any]:
    return {"package_id": p.package_id, "batch_id": p.batch_id, "agreement": p.agreement_id,
            "state": p.state, "rows": p.rows, "fields": ["request_id", *p.fields],
            "delivered_at": _stamp(p.delivered_at), "manifest_sha256": p.manifest_sha256,
            "recalled_at": _stamp(p.recalled_at), "recall_reason": p.recall_reason}


def delivered(s: Session) -> list[Package]:
    """The recipient's delivered packages (recalled ones included, marked), oldest first."""
    mine = agreements_of(s.actor)
    return [p for p in release.list_packages(s.engine, mine) if p.delivered_at is not None]


def delivered_package(s: Session, package_id: str) -> Package:
    pkg = release.find_package(s.engine, package_id)
    if pkg is None or pkg.agreement_id not in agreements_of(s.actor) or pkg.delivered_at is None:
        raise NotFoundError(f"no package '{package_id}'")
    return pkg


PACKAGE_MODE = 0o600


def _copy_delivered(src: Path, dst: Path) -> None:
    files.private_dir(dst)
    for name in release.PACKAGE_FILES:
        fd = os.open(src / name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fin, (dst / name).open("xb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)


def _tar_gz(folder: Path, package_id: str, out: Path, mtime: int) -> None:
    """A reproducible ``.tar.gz`` of ``folder``'s package files under ``<package_id>/``."""
    with out.open("xb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=mtime) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        top = tarfile.TarInfo(package_id)
        top.type, top.mode, top.mtime = tarfile.DIRTYPE, 0o700, mtime
        tar.addfile(top)
        for name in release.PACKAGE_FILES:
            path = folder / name
            info = tarfile.TarInfo(f"{package_id}/{name}")
            info.size, info.mode, info.mtime = path.stat().st_size, PACKAGE_MODE, mtime
            with path.open("rb") as fh:
                tar.addfile(info, fh)


@dataclass(frozen=True)
class Archive:
    path: Path
    filename: str
    package: Package
    manifest_sha256: str


def package_archive(s: Session, package_id: str, work: Path) -> Archive:
    """The delivered package as one ``.tar.gz`` in ``work`` (a private folder the caller removes).

    The files are copied from the folder recorded at delivery, the copy is verified as
    ``dgate release verify`` does (and its manifest must be the one recorded at delivery),
    and only that verified copy is archived. A recalled package is not served.
    """
    pkg = delivered_package(s, package_id)
    if pkg.state == "recalled":
        raise StateError(f"package {package_id} was recalled on {_stamp(pkg.recalled_at)}: it is no longer "
                         "available; destroy every copy as the recall notice says")
    copy = work / package_id
    refused = IntegrityError(f"package {package_id}: the agency's delivered copy is missing or no longer "
                             "verifies, so nothing was sent; ask the agency's disclosure office")
    if pkg.delivered_to is None or pkg.manifest_sha256 is None:
        raise refused
    try:
        _copy_delivered(Path(pkg.delivered_to), copy)
        verified = release.verify_package(copy, s.keys.signer.verifier())
    except (OSError, DgateError):
        raise refused from None
    sha = hashlib.sha256((copy / "manifest.json").read_bytes()).hexdigest()
    if verified.package_id != package_id or sha != pkg.manifest_sha256:
        raise refused
    stamp = pkg.delivered_at
    mtime = int(stamp.replace(tzinfo=dt.UTC).timestamp()) if isinstance(stamp, dt.datetime) else 0
    out = work / f"{package_id}.tar.gz"
    _tar_gz(copy, package_id, out, mtime)
    return Archive(out, out.name, pkg, sha)


@contextlib.contextmanager
def download_folder(home: Path) -> Iterator[Path]:
    """A private scratch folder for one download (removed on error; the caller removes it after sending)."""
    folder = _scratch(home, "downloads")
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
