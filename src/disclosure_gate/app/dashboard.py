"""Read models for the console: what the dashboard, a batch page, the review workspace and the ledger page show.

Nothing here changes state or decides anything: every function authorises its
read with :meth:`Session.authorize` (the one authorisation function) and reads
through the pipeline's own definitions (``review.queue_sql`` and
``review.effective_sql`` for the review queue and effective decisions,
``reporting.funnel`` through :func:`disclosure_gate.app.requests.show` for the
funnel). Sections a role may not see are left out (``None``), never filtered
by hand.

Funnels are cached per process, because a funnel over 1.28 M rows is the
costliest read of a page. The cache is keyed by everything a funnel is computed
from (the batch's runs, its stored facts' digest, its agreement's history), so
a stale funnel is never shown; the counts of rows resolved in review change
with every resolution and are always read fresh.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from disclosure_gate.app import authz, jobs
from disclosure_gate.app import requests as requests_app
from disclosure_gate.app.requests import BatchView, visible_batch
from disclosure_gate.app.session import Session
from disclosure_gate.clock import naive_utc
from disclosure_gate.errors import NotFoundError, UsageError
from disclosure_gate.ledger import store as ledger
from disclosure_gate.pipeline import batches as batches_store
from disclosure_gate.pipeline import decide
from disclosure_gate.pipeline.batches import Batch
from disclosure_gate.pipeline.review import QUEUE_REASONS, effective_sql, queue_filter, queue_sql
from disclosure_gate.remediation import incident as incident_store
from disclosure_gate.remediation import release
from disclosure_gate.store import policies

DECISIONS = ("DISCLOSE", "REVIEW", "DENY")
AGE_BUCKETS = (("today", 0, 0), ("1-7 days", 1, 7), ("8-30 days", 8, 30), ("over 30 days", 31, None))
MAX_PAGE = 500
_CACHE_SIZE = 256


# -- caches ---------------------------------------------------------------------------------------
class _Lru:
    """A small LRU map. Every key holds everything its value is computed from, so a hit is never stale."""

    def __init__(self, size: int) -> None:
        self._data: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Any:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)


_FUNNELS = _Lru(_CACHE_SIZE)
_READS = _Lru(_CACHE_SIZE * 4)


def _cached(key: tuple[Any, ...], compute: Any) -> Any:
    found = _READS.get(key)
    if found is None:
        found = compute()
        _READS.put(key, found)
    return found


def _review_mark(s: Session) -> tuple[Any, ...]:
    """A fingerprint of everything the review queue is computed from besides the (immutable) decisions:
    resolutions are only inserted or withdrawn, runs only added."""
    res = s.engine.fetchone("SELECT count(*), count(withdrawn_at), max(recorded_at), max(withdrawn_at) "
                            "FROM review_resolutions", label="queue mark")
    runs = s.engine.fetchone("SELECT count(*), count(*) FILTER (WHERE is_primary), max(created_at) FROM runs",
                             label="queue mark")
    return (str(s.home.path), res, runs)


def _mark(s: Session, batch: Batch) -> tuple[Any, ...]:
    """Everything besides the runs that a batch's funnel is computed from."""
    facts = s.engine.fetchone("SELECT digest, created_at FROM batch_facts WHERE batch_id = ?", [batch.batch_id],
                              label="funnel key")
    history = s.engine.scalar("SELECT count(*) FROM agreement_history WHERE agreement_id = ?",
                              [batch.agreement_id or ""], label="funnel key")
    return (facts, int(history or 0))


def processing(s: Session) -> frozenset[str]:
    """Batches with a processing job queued or running."""
    rows = s.engine.fetchall("SELECT params FROM jobs WHERE kind = 'process' AND state IN ('queued', 'running')",
                             label="processing jobs")
    out = set()
    for (params,) in rows:
        try:
            out.add(str(json.loads(str(params)).get("batch_id")))
        except ValueError:
            continue
    return frozenset(out)


def batch_view(s: Session, batch_id: str, busy: frozenset[str] | None = None) -> BatchView:
    """:func:`disclosure_gate.app.requests.show`, with the funnel cached (the review counts read fresh)."""
    s.authorize("request.view")
    batch = visible_batch(s, batch_id)
    busy = processing(s) if busy is None else busy
    runs = decide.runs_of(s.engine, batch_id)
    key = (str(s.home.path), batch_id, tuple(r.run_id for r in runs), _mark(s, batch))
    view: BatchView | None = _FUNNELS.get(key)
    if view is None:
        view = requests_app.show(s, batch_id, busy)
        _FUNNELS.put(key, view)
        return view
    funnel = view.funnel
    if view.primary is not None and funnel is not None:
        run_id = view.primary.run_id

        def resolved() -> tuple[Any, ...]:
            return s.engine.fetchone(
                "SELECT count(*) FILTER (WHERE source = 'review' AND decision = 'DISCLOSE'), "
                "count(*) FILTER (WHERE source = 'review' AND decision = 'DENY') "
                f"FROM ({effective_sql('d.run_id = $run AND d.decision = $review')})",
                {"run": run_id, "review": "REVIEW"}, label="funnel review") or (0, 0)

        row = _cached(("resolved", run_id, _review_mark(s)), resolved)
        funnel = dataclasses.replace(funnel, resolved_disclose=int(row[0]), resolved_deny=int(row[1]))
    status = "processed" if view.primary else ("processing" if batch_id in busy else "submitted")
    return dataclasses.replace(view, funnel=funnel, status=status)


def batch_views(s: Session, limit: int = 10) -> list[BatchView]:
    """The latest ``limit`` batches this actor may see, newest first, with their funnels."""
    s.authorize("request.view")
    found = batches_store.list_batches(s.engine, authz.scope(s.actor))
    busy = processing(s)
    latest = sorted(found, key=lambda b: b.created_at, reverse=True)[:limit]
    return [batch_view(s, b.batch_id, busy) for b in latest]


# -- decisions, row by row ------------------------------------------------------------------------
@dataclass(frozen=True)
class DecisionRow:
    request_id: str
    decision: str  # the policy's
    reasons: tuple[str, ...]
    match_basis: str | None
    effective: str  # after review
    source: str  # policy | review | pending
    reviewers: tuple[str, ...]


@dataclass(frozen=True)
class DecisionsPage:
    batch_id: str
    policy: str
    rows: list[DecisionRow]
    total: int
    limit: int
    offset: int
    decision: str | None
    reason: str | None


def decisions(s: Session, batch_id: str, *, decision: str | None = None, reason: str | None = None,
              limit: int = 50, offset: int = 0) -> DecisionsPage:
    """One page of a batch's decisions (no custodian data: what ``decisions export`` writes)."""
    s.authorize("decisions.export")
    run = requests_app.get_run(s, batch_id, None)
    if decision is not None and decision not in DECISIONS:
        raise UsageError(f"decision is one of {', '.join(DECISIONS)}")
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise UsageError(f"a page holds 1 to {MAX_PAGE} rows from offset 0")
    where = ["d.run_id = $run"]
    params: dict[str, Any] = {"run": run.run_id}
    if decision:
        where.append("d.decision = $decision")
        params["decision"] = decision
    if reason:
        # one reason among the ';'-separated codes (a code holds no ';')
        where.append("contains(';' || d.reasons || ';', ';' || $reason || ';')")
        params["reason"] = reason
    cond = " AND ".join(where)
    total = int(_cached(("decisions", str(s.home.path), run.run_id, decision, reason), lambda: s.engine.scalar(
        f"SELECT count(*) FROM decisions d WHERE {cond}", params, label="decisions") or 0))
    page = [int(r[0]) for r in s.engine.fetchall(
        f"SELECT d._row FROM decisions d WHERE {cond} ORDER BY d._row LIMIT $lim OFFSET $off",
        params | {"lim": limit, "off": offset}, label="decisions page")]
    rows = s.engine.fetchall(
        f"SELECT e.request_id, e.policy_decision, e.reasons, e.match_basis, e.decision, e.source, e.reviewers "
        f"FROM ({effective_sql('d.run_id = $run AND list_contains($rows, d._row)')}) e ORDER BY e._row",
        {"run": run.run_id, "rows": page}, label="decisions page") if page else []
    out = [DecisionRow(str(r[0]), str(r[1]), tuple(x for x in str(r[2] or "").split(";") if x),
                       None if r[3] is None else str(r[3]), str(r[4]), str(r[5]), tuple(r[6] or ()))
           for r in rows]
    return DecisionsPage(batch_id, run.policy_label, out, total, limit, offset, decision, reason)


# -- review ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BacklogRow:
    reason: str
    rows: int
    by_age: tuple[int, ...]  # one count per AGE_BUCKETS entry
    awaiting_second: int


def review_backlog(s: Session, batch_id: str | None = None) -> list[BacklogRow]:
    """Pending review rows by reason and age (a row with two reasons counts under each)."""
    s.authorize("review.view")
    if batch_id:
        visible_batch(s, batch_id)
    now = naive_utc(s.engine.clock)
    key = ("backlog", batch_id, now.date(), _review_mark(s))
    result: list[BacklogRow] = _cached(key, lambda: _backlog(s, batch_id, now))
    return result


def _backlog(s: Session, batch_id: str | None, now: dt.datetime) -> list[BacklogRow]:
    where, params = queue_filter(batch_id, None)
    params["now"] = now
    buckets = []
    for _, lo, hi in AGE_BUCKETS:
        cond = f"age >= {int(lo)}" + (f" AND age <= {int(hi)}" if hi is not None else "")
        buckets.append(f"count(*) FILTER (WHERE {cond})")
    rows = s.engine.fetchall(
        f"SELECT reason, count(*), {', '.join(buckets)}, count(*) FILTER (WHERE votes > 0) FROM ("
        f"SELECT {QUEUE_REASONS} AS reason, date_diff('day', q.created_at, $now) AS age, len(q.reviewers) AS votes "
        f"FROM ({queue_sql()}) q WHERE {where}) GROUP BY reason ORDER BY 2 DESC, 1", params, label="review backlog")
    n = len(AGE_BUCKETS)
    return [BacklogRow(str(r[0]), int(r[1]), tuple(int(x) for x in r[2:2 + n]), int(r[2 + n])) for r in rows]


@dataclass(frozen=True)
class Progress:
    pending: int  # REVIEW rows not yet resolved (in the filter)
    awaiting_second: int  # of which one reviewer already resolved DISCLOSE
    for_me: int  # of which this reviewer has not yet resolved
    mine_today: int  # resolutions this reviewer recorded today (UTC)
    mine_total: int


def review_progress(s: Session, batch_id: str | None = None, reason: str | None = None) -> Progress:
    """The counters a reviewer works against."""
    s.authorize("review.view")
    if batch_id:
        visible_batch(s, batch_id)
    now = naive_utc(s.engine.clock)
    key = ("progress", batch_id, reason, s.actor.name, now.date(), _review_mark(s))
    result: Progress = _cached(key, lambda: _progress(s, batch_id, reason, now))
    return result


def _progress(s: Session, batch_id: str | None, reason: str | None, now: dt.datetime) -> Progress:
    where, params = queue_filter(batch_id, reason)
    params.update({"now": now, "me": s.actor.name})
    row = s.engine.fetchone(
        "SELECT count(*), count(*) FILTER (WHERE len(q.reviewers) > 0), "
        "count(*) FILTER (WHERE NOT list_contains(q.reviewers, $me)) "
        f"FROM ({queue_sql()}) q WHERE {where}", params, label="review progress") or (0, 0, 0)
    mine = s.engine.fetchone(
        "SELECT count(*) FILTER (WHERE recorded_at >= $day), count(*) FROM review_resolutions "
        "WHERE reviewer = $me AND withdrawn_at IS NULL",
        {"me": s.actor.name, "day": dt.datetime.combine(now.date(), dt.time())}, label="review progress") or (0, 0)
    return Progress(int(row[0]), int(row[1]), int(row[2]), int(mine[0]), int(mine[1]))


def my_vote(s: Session, batch_id: str, request_id: str) -> dict[str, str | None]:
    """This reviewer's live resolution of a row (or None) and the row's effective decision: how a browser
    whose page changed while it was sending a resolution learns whether it arrived."""
    s.authorize("review.view")
    run = requests_app.get_run(s, batch_id, None)
    mine = s.engine.scalar("SELECT decision FROM review_resolutions WHERE run_id = ? AND request_id = ? AND "
                           "reviewer = ? AND withdrawn_at IS NULL ORDER BY recorded_at DESC LIMIT 1",
                           [run.run_id, request_id, s.actor.name], label="my vote")
    now = s.engine.scalar(f"SELECT decision FROM ({effective_sql('d.run_id = $run AND d.request_id = $rid')})",
                          {"run": run.run_id, "rid": request_id}, label="my vote")
    if now is None:
        raise NotFoundError(f"no request '{request_id}' in this batch's run")
    return {"mine": None if mine is None else str(mine), "effective": str(now)}


def pending_among(s: Session, batch_id: str, request_ids: list[str]) -> list[str]:
    """Which of ``request_ids`` (of one batch) are still pending review, in batch order."""
    s.authorize("review.view")
    visible_batch(s, batch_id)
    if not request_ids:
        return []
    rows = s.engine.fetchall(
        f"SELECT q.request_id FROM ({queue_sql()}) q WHERE q.batch_id = $batch AND list_contains($ids, q.request_id) "
        "ORDER BY q._row", {"now": naive_utc(s.engine.clock), "batch": batch_id, "ids": list(request_ids)},
        label="pending group")
    return [str(r[0]) for r in rows]


def awaits_me(s: Session, batch_id: str, request_id: str) -> bool:
    """Whether a case is pending review without this reviewer's vote (the console claims only such cases)."""
    s.authorize("review.view")
    visible_batch(s, batch_id)
    return bool(s.engine.scalar(
        f"SELECT count(*) FROM ({queue_sql()}) q WHERE q.batch_id = $batch AND q.request_id = $rid "
        "AND NOT list_contains(q.reviewers, $me)",
        {"now": naive_utc(s.engine.clock), "batch": batch_id, "rid": request_id, "me": s.actor.name},
        label="case awaits"))


def policy_sources(s: Session, policy_id: str, codes: tuple[str, ...]) -> dict[str, str]:
    """The Cedar text of each policy (by its ``@id``) among ``codes``: the policies that fired."""
    s.authorize("policy.view")
    pol = policies.get(s.engine, policy_id)
    return {c: text for c, text in split_policies(pol.text).items() if c in codes}


def split_policies(text: str) -> dict[str, str]:
    """``@id("CODE")`` -> the policy's text, up to its closing ``;``. Comments between policies are dropped."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith('@id("') and line.endswith('")'):
            code = line[5:-2]
            body = [lines[i]]
            i += 1
            while i < len(lines):
                body.append(lines[i])
                if lines[i].rstrip().endswith(";"):
                    break
                i += 1
            out.setdefault(code, "\n".join(body))
        i += 1
    return out


# -- releases, agreements, alerts -----------------------------------------------------------------
@dataclass(frozen=True)
class Alert:
    level: str  # danger | warning
    text: str
    link: str  # a console path


@dataclass(frozen=True)
class Dashboard:
    batches: list[BatchView] | None
    backlog: list[BacklogRow] | None
    awaiting_approval: list[release.Package] | None
    agreements: list[tuple[Any, int]] | None  # (agreement, packages out under it)
    checkpoint: ledger.SignedCheckpoint | None
    checkpoint_at: dt.datetime | None
    cosignatures: list[tuple[str, Any]]
    witnesses: list[dict[str, Any]] | None
    alerts: list[Alert] = field(default_factory=list)
    jobs: list[jobs.Job] | None = None


def _out_under(s: Session, agreement_id: str) -> int:
    """Packages delivered under an agreement and not recalled: what is still out."""
    return sum(1 for p in release.delivered_under(s.engine, agreement_id) if p.recalled_at is None)


def overview(s: Session) -> Dashboard:
    """Everything the dashboard shows, each section only for roles allowed to see it."""
    batches = batch_views(s) if s.allowed("request.view") else None
    backlog = review_backlog(s) if s.allowed("review.view") else None
    awaiting = None
    if s.allowed("release.view"):
        visible = authz.scope(s.actor)
        awaiting = [p for p in release.list_packages(s.engine, visible) if p.state == "prepared"]
    agreements = None
    alerts: list[Alert] = []
    if s.allowed("agreement.view"):
        from disclosure_gate.app import agreements as agreements_app

        agreements = [(a, _out_under(s, a.id)) for a in agreements_app.list_(s)]
        for a, out in agreements:
            if a.status != "active" and out:
                alerts.append(Alert("danger", f"agreement {a.id} is {a.status} and {out} delivered package"
                                    f"{'s are' if out != 1 else ' is'} still out (not recalled)",
                                    f"/agreements/{a.id}"))
    if s.allowed("incident.view"):
        for inc in incident_store.list_incidents(s.engine):
            if inc.status == "open":
                alerts.append(Alert("warning", f"incident {inc.incident_id} is open: {inc.records:,} records, "
                                    f"{inc.persons:,} persons; the recall is not yet certified",
                                    f"/incidents/{inc.incident_id}"))
    from disclosure_gate.app import ledger as ledger_app

    latest = ledger_app.latest(s)  # public: the log serves it to anyone
    cp = latest[0] if latest else None
    cp_at = None
    cosigs: list[tuple[str, Any]] = []
    if cp is not None:
        cp_at = s.engine.scalar("SELECT created_at FROM ledger_checkpoints WHERE size = ?", [cp.size])
        cosigs = [(str(r[0]), r[1]) for r in s.engine.fetchall(
            "SELECT witness, received_at FROM cosignatures WHERE size = ? ORDER BY witness", [cp.size])]
    witnesses = None
    if s.allowed("ledger.view"):
        witnesses = ledger_app.witnesses(s)
        for w in witnesses:
            if w.get("last_error"):
                alerts.append(Alert("danger", f"witness {w['name']} refused or did not answer: {w['last_error']}",
                                    "/ledger"))
    running = recent_jobs(s, 10) if s.allowed("jobs.view") else None
    return Dashboard(batches, backlog, awaiting, agreements, cp, cp_at, cosigs, witnesses, alerts, running)


# -- the ledger ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckpointRow:
    size: int
    created_at: Any
    note: str
    cosigned_by: tuple[str, ...]


@dataclass(frozen=True)
class LedgerOverview:
    size: int
    checkpoints: list[CheckpointRow]
    checkpoint_count: int
    witnesses: list[dict[str, Any]]
    origin: str
    verifier_key: str


def ledger_overview(s: Session, limit: int = 10) -> LedgerOverview:
    s.authorize("ledger.view")
    from disclosure_gate.app import ledger as ledger_app

    rows = s.engine.fetchall(
        "SELECT c.size, c.created_at, c.note, list(w.witness ORDER BY w.witness) FILTER (WHERE w.witness IS NOT NULL) "
        "FROM ledger_checkpoints c LEFT JOIN cosignatures w ON w.size = c.size GROUP BY ALL "
        "ORDER BY c.size DESC LIMIT ?", [limit], label="checkpoints")
    count = int(s.engine.scalar("SELECT count(*) FROM ledger_checkpoints") or 0)
    return LedgerOverview(ledger.size(s.engine), [CheckpointRow(int(r[0]), r[1], str(r[2]), tuple(r[3] or ()))
                                                  for r in rows], count, ledger_app.witnesses(s), s.keys.origin,
                          ledger_app.key(s))


# -- jobs -------------------------------------------------------------------------------------------
def recent_jobs(s: Session, limit: int = 20) -> list[jobs.Job]:
    s.authorize("jobs.view")
    return jobs.recent(s.engine, limit)


def job(s: Session, job_id: str) -> jobs.Job:
    s.authorize("jobs.view")
    if not job_id.startswith("J") or not job_id[1:].isalnum() or len(job_id) > 32:
        raise NotFoundError(f"no job '{job_id}'")
    return jobs.get(s.engine, job_id)


def incident_files(s: Session, incident_id: str) -> tuple[Any, list[tuple[str, int]]]:
    """An incident and the documents in its folder (name, bytes); the folder is the home's, named by the store."""
    from disclosure_gate.app import incidents as incidents_app

    view = incidents_app.status(s, incident_id)  # authorises incident.view
    folder = view.incident.folder
    found = []
    for name in INCIDENT_FILES:
        p = folder / name
        if p.is_file():
            found.append((name, p.stat().st_size))
    return view, found


INCIDENT_FILES = ("report.html", "report.json", "recall.pdf", "recall.csv", "letters.pdf")


# -- audits and incidents ------------------------------------------------------------------------------
def findings_page(s: Session, audit_id: str, finding: str | None = None, limit: int = 200,
                  offset: int = 0) -> tuple[list[Any], int]:
    """One page of an audit's findings (request ids, never custodian data) and how many there are."""
    from disclosure_gate.app import audits as audits_app
    from disclosure_gate.remediation.audit import Finding

    audits_app.show(s, audit_id)  # authorises audit.view; not found is an error
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise UsageError(f"a page holds 1 to {MAX_PAGE} rows from offset 0")
    params = [audit_id, finding, finding]
    total = int(s.engine.scalar("SELECT count(*) FROM audit_findings f WHERE f.audit_id = ? AND (? IS NULL OR "
                                "coalesce(f.finding, 'unlawful') = ?)", params, label="findings") or 0)
    rows = s.engine.fetchall(
        "SELECT f.batch_id, f.request_id, coalesce(f.finding, 'unlawful'), f.new_reasons, f.delivered, f.package_id, "
        "(SELECT verdict FROM finding_reviews v WHERE v.audit_id = f.audit_id AND v.request_id = f.request_id AND "
        " v.batch_id = f.batch_id ORDER BY recorded_at DESC LIMIT 1) FROM audit_findings f WHERE f.audit_id = ? "
        "AND (? IS NULL OR coalesce(f.finding, 'unlawful') = ?) ORDER BY f.batch_id, f.request_id LIMIT ? OFFSET ?",
        [*params, limit, offset], label="findings page")
    return [Finding(str(r[0]), str(r[1]), str(r[2]), tuple(x for x in str(r[3] or "").split(";") if x), bool(r[4]),
                    r[5], r[6]) for r in rows], total


def incident_report(s: Session, incident_id: str) -> dict[str, Any] | None:
    """The incident report's summary (``report.json`` without the request ids and the person references)."""
    view, found = incident_files(s, incident_id)
    if "report.json" not in dict(found):
        return None
    try:
        data = json.loads((view.incident.folder / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    for key in ("request_ids", "persons_notices", "ledger_checkpoint"):
        data.pop(key, None)
    return data
