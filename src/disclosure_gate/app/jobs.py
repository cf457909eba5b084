"""Background jobs: long work (processing, verification, audits, incident documents) off the request path.

A job runs an app-layer action in a thread, on its own session (its own
database connection), as the person or system that started it; its state
(queued, running, done, failed), progress and result are rows of ``jobs``, so a
page that polls it survives a reload. Who started a job is recorded with it,
and the action itself records its ledger events as usual.

Jobs live as long as the server: a job found ``running`` when a server starts
was interrupted and is marked failed (``recover_interrupted``).
"""

from __future__ import annotations

import json
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from disclosure_gate.app.session import Session
from disclosure_gate.clock import naive_utc
from disclosure_gate.engine import Engine
from disclosure_gate.errors import DgateError, NotFoundError

KINDS = ("process", "verify", "replay", "incident")


@dataclass(frozen=True)
class Job:
    job_id: str
    kind: str
    params: dict[str, Any]
    state: str
    progress: float
    message: str | None
    started_by: str
    started_at: Any
    finished_at: Any
    result: dict[str, Any] | None
    error: str | None

    @property
    def done(self) -> bool:
        return self.state in ("done", "failed")


def _job(r: tuple[Any, ...]) -> Job:
    return Job(str(r[0]), str(r[1]), json.loads(r[2]), str(r[3]), float(r[4]), r[5], str(r[6]), r[7], r[8],
               json.loads(r[9]) if r[9] else None, r[10])


_COLS = "job_id, kind, params, state, progress, message, started_by, started_at, finished_at, result, error"


def get(engine: Engine, job_id: str) -> Job:
    row = engine.fetchone(f"SELECT {_COLS} FROM jobs WHERE job_id = ?", [job_id], label="job")
    if row is None:
        raise NotFoundError(f"no job '{job_id}'")
    return _job(row)


def recent(engine: Engine, limit: int = 20) -> list[Job]:
    return [_job(r) for r in engine.fetchall(f"SELECT {_COLS} FROM jobs ORDER BY started_at DESC LIMIT ?", [limit])]


def _update(engine: Engine, job_id: str, **values: Any) -> None:
    sets = ", ".join(f"{k} = ?" for k in values)
    with engine.transaction():
        engine.execute(f"UPDATE jobs SET {sets} WHERE job_id = ?", [*values.values(), job_id], label="job")


def start(make_session: Callable[[], Session], kind: str, params: dict[str, Any],
          work: Callable[[Session], dict[str, Any]]) -> str:
    """Record a job and run ``work(session)`` in a thread; returns the job id at once."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind}")
    s = make_session()
    job_id = "J" + uuid.uuid4().hex[:15]
    try:
        with s.engine.transaction():
            s.engine.execute("INSERT INTO jobs (job_id, kind, params, state, progress, started_by, started_at) "
                             "VALUES (?, ?, ?, 'queued', 0, ?, ?)",
                             [job_id, kind, json.dumps(params, default=str), s.actor.name, naive_utc(s.engine.clock)],
                             label="job")
    except BaseException:
        s.close()
        raise

    def run() -> None:
        try:
            _update(s.engine, job_id, state="running")

            def progress(stage: str, fraction: float) -> None:
                _update(s.engine, job_id, progress=round(min(max(fraction, 0.0), 1.0), 3), message=stage)

            s.progress = progress
            result = work(s)
            _update(s.engine, job_id, state="done", progress=1.0, finished_at=naive_utc(s.engine.clock),
                    result=json.dumps(result, default=str))
        except DgateError as exc:
            _update(s.engine, job_id, state="failed", finished_at=naive_utc(s.engine.clock),
                    error=f"{exc.code}: {exc.message}")
        except Exception as exc:  # a bug: recorded without a traceback's values
            _update(s.engine, job_id, state="failed", finished_at=naive_utc(s.engine.clock),
                    error=f"internal error: {type(exc).__name__}")
            traceback.clear_frames(exc.__traceback__) if exc.__traceback__ else None
        finally:
            s.close()

    threading.Thread(target=run, name=f"dgate-job-{job_id}", daemon=True).start()
    return job_id


def recover_interrupted(engine: Engine) -> int:
    """Jobs left running by a server that stopped are failed (their actions' transactions rolled back)."""
    n = int(engine.scalar("SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')") or 0)
    if n:
        with engine.transaction():
            engine.execute("UPDATE jobs SET state = 'failed', error = 'interrupted: the server stopped', "
                           "finished_at = ? WHERE state IN ('queued', 'running')", [naive_utc(engine.clock)])
    return n
