"""Releases: prepare (preparer), approve (a second person), deliver, verify, recall."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from disclosure_gate.app import authz
from disclosure_gate.app.plans import Plan
from disclosure_gate.app.session import Session
from disclosure_gate.clock import iso_utc
from disclosure_gate.errors import ConflictError, NotFoundError, StateError, UsageError
from disclosure_gate.ledger import note
from disclosure_gate.ledger import store as ledger
from disclosure_gate.pipeline import batches
from disclosure_gate.pipeline.decide import Run
from disclosure_gate.pipeline.documents import Agreement
from disclosure_gate.remediation import release
from disclosure_gate.remediation.release import FIELDS_SQL, Package, VerifiedPackage
from disclosure_gate.store.agreements import get_agreement


def visible_package(s: Session, package_id: str) -> Package:
    pkg = release.find_package(s.engine, package_id)
    visible = authz.scope(s.actor)
    if pkg is None or (visible is not None and pkg.agreement_id not in visible):
        raise NotFoundError(f"no package '{package_id}'")
    return pkg


# -- prepare ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PrepareResult:
    package: Package
    created: bool
    from_review: int = 0


def _check_prepare(s: Session, batch_id: str) -> tuple[Agreement, Run, Package | None]:
    s.authorize("release.prepare")
    batch = batches.get_batch(s.engine, batch_id)
    if not batch.agreement_id:
        raise StateError("the batch names no agreement")
    agreement = get_agreement(s.engine, batch.agreement_id)
    release.require_in_force(s.engine, agreement, "prepare a release")
    unknown = [f for f in agreement.disclose if f not in FIELDS_SQL]
    if unknown:
        raise StateError(f"agreement lists fields this version cannot release: {', '.join(unknown)}")
    run = release.release_run(s.engine, batch_id, agreement)
    existing = s.engine.scalar("SELECT package_id FROM packages WHERE run_id = ? AND state <> 'recalled' "
                               "ORDER BY prepared_at DESC LIMIT 1", [run.run_id])
    return agreement, run, None if existing is None else release.get_package(s.engine, str(existing))


def plan_prepare(s: Session, batch_id: str) -> Plan:
    agreement, run, existing = _check_prepare(s, batch_id)
    if existing is not None:
        return Plan("release.prepare", f"package {existing.package_id} already holds this batch", noop=True)
    n, reviewed = release.count_candidates(s.engine, run.run_id)
    return Plan("release.prepare", f"prepare a package of {n:,} rows of {batch_id} under {run.policy_label}",
                (f"{reviewed:,} of them resolved DISCLOSE by two reviewers",
                 f"fields: request_id, {', '.join(agreement.disclose)}"), data={"rows": n})


def prepare(s: Session, batch_id: str) -> PrepareResult:
    agreement, run, existing = _check_prepare(s, batch_id)
    if existing is not None:
        return PrepareResult(existing, False)
    _, reviewed = release.count_candidates(s.engine, run.run_id)
    package_id = release.package_id_for(run.run_id, s.engine.scalar("SELECT snapshot_id FROM snapshots "
                                                                    "WHERE is_current"), iso_utc(s.engine.clock.now()))
    with s.engine.transaction():
        n, digest = release.insert_package(s.engine, package_id, run, agreement, s.actor.name)
        s.event("release_prepared", {"package_id": package_id, "batch_id": batch_id, "run_id": run.run_id,
                                     "policy": run.policy_label, "rows": n, "fields": list(agreement.disclose),
                                     "from_review": reviewed, "rows_digest": digest})
    return PrepareResult(release.get_package(s.engine, package_id), True, reviewed)


# -- approve ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ApproveResult:
    package: Package
    already: bool


def _check_approve(s: Session, package_id: str) -> Package:
    pkg = release.get_package(s.engine, package_id)
    s.authorize("release.approve", authz.Facts(package_preparer=pkg.prepared_by,
                                               package_resolvers=release.resolvers(s.engine, pkg.run_id)))
    if pkg.approved_by is not None:
        return pkg
    if pkg.state != "prepared":
        raise StateError(f"package {package_id} is {pkg.state}; only a prepared package can be approved")
    release.require_in_force(s.engine, get_agreement(s.engine, pkg.agreement_id), "approve")
    return pkg


def plan_approve(s: Session, package_id: str) -> Plan:
    pkg = _check_approve(s, package_id)
    if pkg.approved_by is not None:
        return Plan("release.approve", f"package {package_id} was already approved by {pkg.approved_by} at "
                    f"{iso_utc(pkg.approved_at)}", noop=True)
    return Plan("release.approve", f"approve package {package_id} ({pkg.rows:,} rows, prepared by {pkg.prepared_by})")


def approve(s: Session, package_id: str) -> ApproveResult:
    pkg = _check_approve(s, package_id)
    if pkg.approved_by is not None:
        return ApproveResult(pkg, True)
    with s.engine.transaction():
        s.engine.execute("UPDATE packages SET state = 'approved', approved_by = ?, approved_at = ? "
                         "WHERE package_id = ? AND state = 'prepared'",
                         [s.actor.name, s.engine.clock.now().replace(tzinfo=None), package_id], label="approve")
        s.event("release_approved", {"package_id": package_id, "prepared_by": pkg.prepared_by})
    return ApproveResult(release.get_package(s.engine, package_id), False)


# -- deliver ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeliverResult:
    package: Package
    folder: Path
    written: bool


def _check_deliver(s: Session, package_id: str, out: Path) -> tuple[Package, bool]:
    """(package, already delivered to ``out``)."""
    s.authorize("release.deliver")
    pkg = release.get_package(s.engine, package_id)
    out = Path(out).absolute()
    if pkg.delivered_to is not None:
        if Path(pkg.delivered_to) == out:
            return pkg, True
        raise ConflictError(f"package {package_id} was already delivered, to {pkg.delivered_to}: a package is "
                            "delivered once")
    if pkg.state != "approved":
        raise StateError(f"package {package_id} is {pkg.state}: it must be approved by a second person first")
    release.require_in_force(s.engine, get_agreement(s.engine, pkg.agreement_id), "deliver")
    if not out.parent.is_dir():
        raise UsageError(f"the folder {out.parent} does not exist: create it first")
    pending = release.pending_delivery(s.home, package_id)
    if pending is not None and pending.absolute() != out and pending.exists() \
            and release.adopt_folder(pending, package_id, s.keys.signer.verifier()) is not None:
        raise ConflictError(f"an interrupted delivery of package {package_id} left a complete folder at {pending}: "
                            "deliver to that folder to finish it (a package is delivered once)")
    if out.exists() and release.adopt_folder(out, package_id, s.keys.signer.verifier()) is None:
        raise ConflictError(f"{out} exists and is not this package: choose a new folder")
    return pkg, False


def plan_deliver(s: Session, package_id: str, out: Path) -> Plan:
    pkg, done = _check_deliver(s, package_id, out)
    if done:
        return Plan("release.deliver", f"package {package_id} is already delivered at {pkg.delivered_to}", noop=True)
    return Plan("release.deliver", f"deliver package {package_id} ({pkg.rows:,} rows) to {Path(out).absolute()}",
                ("data.csv, data.parquet, manifest.json, manifest.note, _COMPLETE",))


def deliver(s: Session, package_id: str, out: Path) -> DeliverResult:
    """Build the signed folder (crash-safe), then commit the delivery and its event. Once per package."""
    pkg, done = _check_deliver(s, package_id, out)
    out = Path(out).absolute()
    if done:
        return DeliverResult(pkg, out, False)
    verifier = s.keys.signer.verifier()
    sha = release.adopt_folder(out, package_id, verifier) if out.exists() else None
    if sha is None:
        ledger.make_checkpoint(s.engine, s.keys)
        sha = release.build_folder(s.engine, s.home, pkg, out, s.keys)
    with s.engine.transaction():
        s.engine.execute("UPDATE packages SET state = 'delivered', delivered_at = ?, delivered_to = ?, "
                         "delivered_by = ?, manifest_sha256 = ? WHERE package_id = ?",
                         [s.engine.clock.now().replace(tzinfo=None), str(out), s.actor.name, sha, package_id],
                         label="deliver")
        s.event("release_delivered", {"package_id": package_id, "manifest_sha256": sha, "folder": str(out),
                                      "rows": pkg.rows})
    release.finish_delivery(s.home, package_id)
    return DeliverResult(release.get_package(s.engine, package_id), out, True)


# -- recall, look at, verify -----------------------------------------------------------------------
def _check_recall(s: Session, package_id: str, reason: str) -> Package:
    s.authorize("release.recall")
    if not reason.strip():
        raise UsageError("--reason is required")
    pkg = release.get_package(s.engine, package_id)
    if pkg.state == "recalled":
        raise StateError(f"package {package_id} was already recalled at {iso_utc(pkg.recalled_at)} by "
                         f"{pkg.recalled_by or 'an earlier version'}: {pkg.recall_reason}")
    return pkg


def plan_recall(s: Session, package_id: str, reason: str) -> Plan:
    pkg = _check_recall(s, package_id, reason)
    return Plan("release.recall", f"record the recall of package {package_id} ({pkg.state}, {pkg.rows:,} rows)")


def recall(s: Session, package_id: str, reason: str) -> Package:
    pkg = _check_recall(s, package_id, reason)
    with s.engine.transaction():
        s.engine.execute("UPDATE packages SET state = 'recalled', recalled_at = ?, recall_reason = ?, recalled_by = ? "
                         "WHERE package_id = ?", [s.engine.clock.now().replace(tzinfo=None), reason.strip(),
                                                  s.actor.name, package_id], label="recall")
        s.event("release_recalled", {"package_id": package_id, "was": pkg.state, "reason": reason.strip()})
    return release.get_package(s.engine, package_id)


def list_(s: Session) -> list[Package]:
    s.authorize("release.view")
    return release.list_packages(s.engine, authz.scope(s.actor))


def show(s: Session, package_id: str) -> Package:
    s.authorize("release.view")
    return visible_package(s, package_id)


def verify(folder: Path, verifier: note.Verifier) -> VerifiedPackage:
    """The recipient's check: needs no home, only the agency's public key."""
    return release.verify_package(folder, verifier)
