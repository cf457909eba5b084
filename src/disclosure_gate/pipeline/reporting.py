"""Reports on a decided batch: the funnel, the decisions export, and evaluation against a truth file.

The export carries no custodian data: only the requester's ``request_id``, the
policy's decision and reasons, the match basis, the policy that made it, and
the effective decision after review (with the reviewers). It is written with
the project's one CSV writer (formula cells neutralised) or as Parquet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from disclosure_gate.engine import Engine
from disclosure_gate.pipeline.decide import Run
from disclosure_gate.pipeline.intake import TableSpec, load_table, require_all
from disclosure_gate.pipeline.review import effective_sql
from disclosure_gate.store import exports

EXPORT_COLUMNS = ("request_id", "decision", "reasons", "match_basis", "policy", "final_decision", "resolved_by")


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
    resolved_disclose: int = 0
    resolved_deny: int = 0

    def stages(self) -> list[tuple[str, int]]:
        return [("requested", self.requested), ("sufficient", self.sufficient),
                ("identity confirmed", self.identity_confirmed), ("address corroborated", self.address_corroborated),
                ("DISCLOSE", self.disclose), ("REVIEW", self.review), ("DENY", self.deny)]


FUNNEL_SQL = """
SELECT count(*) AS requested,
       count(*) FILTER (WHERE $lawful AND name_present AND addr_usable AND (NOT tin_given OR tin_valid))
         AS sufficient,
       count(*) FILTER (WHERE $lawful AND name_present AND addr_usable AND (NOT tin_given OR tin_valid)
                        AND identity IN ('confirmed', 'low_confidence')) AS identity_confirmed,
       count(*) FILTER (WHERE $lawful AND name_present AND addr_usable AND (NOT tin_given OR tin_valid)
                        AND identity IN ('confirmed', 'low_confidence') AND address_on_file)
         AS address_corroborated
FROM row_facts WHERE batch_id = $batch
"""


def funnel(engine: Engine, run: Run, request_lawful: bool) -> Funnel:
    stages = engine.fetchone(FUNNEL_SQL, {"lawful": request_lawful, "batch": run.batch_id}, label="funnel")
    assert stages is not None
    counts: dict[str, int] = dict(engine.fetchall(
        "SELECT decision, count(*) FROM decisions WHERE run_id = ? GROUP BY decision", [run.run_id],
        label="funnel decisions"))
    reasons: dict[str, int] = dict(engine.fetchall(
        "SELECT reason, count(*) FROM (SELECT unnest(string_split(reasons, ';')) AS reason "
        "FROM decisions WHERE run_id = ? AND reasons <> '') GROUP BY reason ORDER BY 2 DESC, 1",
        [run.run_id], label="funnel reasons"))
    resolved = engine.fetchone(
        f"SELECT count(*) FILTER (WHERE source = 'review' AND decision = 'DISCLOSE'), "
        f"count(*) FILTER (WHERE source = 'review' AND decision = 'DENY') FROM ({effective_sql('d.run_id = $run')})",
        {"run": run.run_id}, label="funnel review") or (0, 0)
    return Funnel(int(stages[0]), int(stages[1]), int(stages[2]), int(stages[3]),
                  int(counts.get("DISCLOSE", 0)), int(counts.get("REVIEW", 0)), int(counts.get("DENY", 0)),
                  {str(k): int(v) for k, v in reasons.items()}, int(resolved[0]), int(resolved[1]))


def export_sql() -> str:
    """The export's rows for run ``?`` (policy label bound first)."""
    return (f"SELECT e.request_id, e.policy_decision AS decision, e.reasons, e.match_basis, ? AS policy, "
            f"e.decision AS final_decision, array_to_string(e.reviewers, ';') AS resolved_by "
            f"FROM ({effective_sql('d.run_id = ?')}) e ORDER BY e._row")


def export_decisions(engine: Engine, run: Run, out: Path) -> int:
    exports.export_query(engine, EXPORT_COLUMNS, export_sql(), [run.policy_label, run.run_id], out)
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
        require_all(engine, t, [("upper(trim(coalesce(expected, ''))) NOT IN ('DISCLOSE', 'DENY', 'REVIEW')",
                                 "expected", "expected must be DISCLOSE, DENY or REVIEW")])
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


def export_disclosure_log(engine: Engine, run: Run, out: Path) -> Path:
    """A run's decisions as another system's disclosure log (the request columns plus ``disclosed``), for
    ``audit import``: the demo audits the 2025 baseline's disclosures this way."""
    from disclosure_gate.pipeline.batches import REQUEST_COLUMNS

    cols = [c for c in REQUEST_COLUMNS if c not in ("street", "city", "state", "zip")]
    source = (f"SELECT {', '.join('r.' + c for c in cols)}, (d.decision = 'DISCLOSE') AS disclosed FROM req_rows r "
              "JOIN decisions d ON d._row = r._row AND d.run_id = ? WHERE r.batch_id = ? ORDER BY r._row")
    return exports.export_query(engine, [*cols, "disclosed"], source, [run.run_id, run.batch_id], out)
