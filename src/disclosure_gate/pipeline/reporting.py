"""Reports on a decided batch: the funnel, the decisions export, and evaluation.

The export carries no custodian data: only the requester's ``request_id``, the
decision, its reasons, the match basis and the policy that made it. Files are
written to a temporary name beside the target and renamed into place.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from disclosure_gate.engine import Engine
from disclosure_gate.errors import InputError
from disclosure_gate.pipeline.decide import Run
from disclosure_gate.pipeline.intake import TableSpec, load_table, table_format

EXPORT_COLUMNS = ("request_id", "decision", "reasons", "match_basis", "policy")


@dataclass(frozen=True)
class Funnel:
    requested: int
    sufficient: int
    identity_confirmed: int
    address_corroborated: int
    disclose: int
    review: int
    deny: int
    reasons: dict[str, int] = field(default_factory=dict)


FUNNEL_SQL = """
SELECT count(*) AS requested,
       count(*) FILTER (WHERE {lawful} AND n_present AND addr_usable AND (NOT t_present OR t_valid))
         AS sufficient,
       count(*) FILTER (WHERE {lawful} AND n_present AND addr_usable AND (NOT t_present OR t_valid)
                        AND identity IN ('confirmed', 'low_confidence')) AS identity_confirmed,
       count(*) FILTER (WHERE {lawful} AND n_present AND addr_usable AND (NOT t_present OR t_valid)
                        AND identity IN ('confirmed', 'low_confidence') AND address_on_file)
         AS address_corroborated
FROM row_facts WHERE batch_id = ?
"""


def funnel(engine: Engine, run: Run, request_lawful: bool) -> Funnel:
    lawful = "true" if request_lawful else "false"
    stages = engine.fetchone(FUNNEL_SQL.format(lawful=lawful), [run.batch_id], label="funnel")
    assert stages is not None
    counts: dict[str, int] = dict(engine.fetchall(
        "SELECT decision, count(*) FROM decisions WHERE run_id = ? GROUP BY decision", [run.run_id],
        label="funnel decisions"))
    reasons: dict[str, int] = dict(engine.fetchall(
        "SELECT reason, count(*) FROM (SELECT unnest(string_split(reasons, ';')) AS reason "
        "FROM decisions WHERE run_id = ? AND reasons <> '') GROUP BY reason ORDER BY 2 DESC, 1",
        [run.run_id], label="funnel reasons"))
    return Funnel(int(stages[0]), int(stages[1]), int(stages[2]), int(stages[3]),
                  int(counts.get("DISCLOSE", 0)), int(counts.get("REVIEW", 0)), int(counts.get("DENY", 0)),
                  {str(k): int(v) for k, v in reasons.items()})


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def atomic_copy(engine: Engine, select_sql: str, out: Path, params: list[object] | None = None) -> Path:
    """COPY a query to ``out`` (CSV or Parquet by extension) via a temp file and rename."""
    out = Path(out)
    fmt = table_format(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    options = "(FORMAT csv, HEADER true)" if fmt == "csv" else "(FORMAT parquet)"
    try:
        engine.execute(f"COPY ({select_sql}) TO {_sql_str(str(tmp))} {options}", params, label="export")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


def export_decisions(engine: Engine, run: Run, out: Path) -> int:
    label = f"{run.policy_id}@sha256:{run.policy_sha256}"
    atomic_copy(engine,
                "SELECT request_id, decision, reasons, match_basis, ? AS policy FROM decisions "
                "WHERE run_id = ? ORDER BY _row", out, [label, run.run_id])
    return run.rows


TRUTH_SPEC = TableSpec(label="truth file", required=("request_id", "expected"),
                       optional=("category", "expected_reason"), key="request_id")


@dataclass(frozen=True)
class Evaluation:
    rows: int
    improper_disclosures: int
    lawful_expected: int
    lawful_disclosed: int
    review: int
    unmatched_truth: int
    by_category: list[tuple[str, str, int, int, int, int]]

    @property
    def recall(self) -> float:
        return self.lawful_disclosed / self.lawful_expected if self.lawful_expected else 1.0

    @property
    def review_rate(self) -> float:
        return self.review / self.rows if self.rows else 0.0


def evaluate(engine: Engine, run: Run, truth: Path) -> Evaluation:
    """Compare a run with a truth file (request_id, expected[, category, expected_reason])."""
    t = load_table(engine, truth, TRUTH_SPEC, "eval_truth")
    try:
        bad = engine.scalar("SELECT min(_row) FROM eval_truth WHERE upper(trim(expected)) NOT IN "
                            "('DISCLOSE', 'DENY', 'REVIEW')")
        if bad is not None:
            raise InputError("expected must be DISCLOSE, DENY or REVIEW", file=t.path,
                             line=int(bad) + 2, column="expected")
        row = engine.fetchone(
            """SELECT count(*),
                      count(*) FILTER (WHERE d.decision = 'DISCLOSE' AND upper(trim(t.expected)) <> 'DISCLOSE'),
                      count(*) FILTER (WHERE upper(trim(t.expected)) = 'DISCLOSE'),
                      count(*) FILTER (WHERE upper(trim(t.expected)) = 'DISCLOSE' AND d.decision = 'DISCLOSE'),
                      count(*) FILTER (WHERE d.decision = 'REVIEW'),
                      count(*) FILTER (WHERE d.request_id IS NULL)
               FROM eval_truth t LEFT JOIN (SELECT * FROM decisions WHERE run_id = ?) d
               ON d.request_id = trim(t.request_id)""", [run.run_id], label="evaluate")
        assert row is not None
        cats = engine.fetchall(
            """SELECT coalesce(t.category, ''), upper(trim(t.expected)), count(*),
                      count(*) FILTER (WHERE d.decision = 'DISCLOSE'),
                      count(*) FILTER (WHERE d.decision = 'REVIEW'),
                      count(*) FILTER (WHERE d.decision = 'DENY')
               FROM eval_truth t LEFT JOIN (SELECT * FROM decisions WHERE run_id = ?) d
               ON d.request_id = trim(t.request_id) GROUP BY ALL ORDER BY 1""",
            [run.run_id], label="evaluate categories")
    finally:
        engine.execute("DROP TABLE IF EXISTS eval_truth")
    return Evaluation(int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5]),
                      [(str(c[0]), str(c[1]), int(c[2]), int(c[3]), int(c[4]), int(c[5])) for c in cats])
