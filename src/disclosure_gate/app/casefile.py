"""A review case side by side: the request as received, the record(s) on file, field by field.

The request row is standardized with the pipeline's own builders (one
definition of a name or an address), the person on file is the one the row
matched (or, failing that, the holder of the requested TIN, or the candidates
at the requested address), and each field is classed as the matcher sees it:
exact, typo, nickname, missing or different. TINs are shown masked.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from disclosure_gate.engine import Engine
from disclosure_gate.pipeline import match
from disclosure_gate.pipeline.batches import Batch
from disclosure_gate.pipeline.decide import Run
from disclosure_gate.pipeline.review import Case, queue_sql
from disclosure_gate.pipeline.standardize import address, names, tin

REQUEST_FIELDS = ("first_name", "middle_name", "last_name", "name_suffix", "tin", "dob", "address", "street", "city",
                  "state", "zip", "case_reference")


def _std_request_sql(batch: Batch) -> str:
    src = "(SELECT * FROM req_rows WHERE batch_id = $batch AND _row = $row)"
    if batch.address_style == "free":
        addr = address.address_sql(src, key_cols=["_row"], free_text="address")
    else:
        addr = address.address_sql(src, key_cols=["_row"], street="street", city="city", state="state", zip="zip")
    named = names.names_sql(src, ["_row"], first="first_name", last="last_name", suffix="name_suffix",
                            extra=(*tin.tin_columns("s.tin"), f"{match.dob_expr('s.dob')} AS r_dob"))
    return f"SELECT n.*, a.* EXCLUDE (_row) FROM ({named}) n JOIN ({addr}) a USING (_row)"


def mask_tin(value: object) -> str | None:
    digits = "".join(ch for ch in str(value or "") if ch.isdigit())
    return f"***-**-{digits[-4:]}" if len(digits) >= 4 else (None if not digits else "***")


def _verdict(r: dict[str, Any], p: dict[str, Any], kind: str) -> str:
    a, b = r.get(kind), p.get(kind)
    if a in (None, "") or b in (None, ""):
        return "missing"
    return "exact" if a == b else "different"


def _compare(engine: Engine, req: dict[str, Any], person: dict[str, Any] | None,
             addr: dict[str, Any] | None) -> list[tuple[str, Any, Any, str]]:
    """(field, requested, on file, verdict) rows."""
    out: list[tuple[str, Any, Any, str]] = []
    p = person or {}
    first = engine.fetchone(
        "SELECT CASE WHEN $a IS NULL OR $b IS NULL THEN 'missing' WHEN $a = $b THEN 'exact' "
        "WHEN list_has_any($ka, $kb) THEN 'nickname' WHEN jaro_winkler_similarity($a, $b) >= 0.9 THEN 'typo' "
        "ELSE 'different' END, CASE WHEN $la IS NULL OR $lb IS NULL THEN 'missing' WHEN $la = $lb THEN 'exact' "
        "WHEN list_has_any($pa, $pb) THEN 'typo' WHEN jaro_winkler_similarity($la, $lb) >= 0.92 THEN 'typo' "
        "ELSE 'different' END",
        {"a": req.get("n_first"), "b": p.get("n_first"), "ka": req.get("n_first_keys") or [],
         "kb": p.get("n_first_keys") or [], "la": req.get("n_last"), "lb": p.get("n_last"),
         "pa": req.get("n_parts") or [], "pb": p.get("n_parts") or []}, label="case compare") or ("missing",) * 2
    out.append(("first name", req.get("first_name"), p.get("first_name"), str(first[0])))
    out.append(("last name", req.get("last_name"), p.get("last_name"), str(first[1])))
    out.append(("suffix", req.get("n_suffix"), p.get("n_suffix"), _verdict(req, p, "n_suffix")))
    dob = "missing" if not req.get("r_dob") or not p.get("dob") else ("exact" if req["r_dob"] == p["dob"] else (
        "typo" if sum(x != y for x, y in zip(str(req["r_dob"]), str(p["dob"]), strict=True)) == 1 else "different"))
    out.append(("date of birth", req.get("r_dob"), p.get("dob"), dob))
    t = "missing" if not req.get("t_digits") or not p.get("tin") else (
        "exact" if req["t_digits"] == p["tin"] else "different")
    out.append(("TIN", mask_tin(req.get("t_digits")), mask_tin(p.get("tin")), t))
    a = addr or {}
    street = "missing" if not req.get("a_street_key") or not a.get("a_street_key") else (
        "exact" if req["a_street_key"] == a["a_street_key"] else "typo" if req.get("a_street_name") and
        a.get("a_street_name") and engine.scalar("SELECT damerau_levenshtein(?, ?) <= 2",
                                                 [req["a_street_name"], a["a_street_name"]]) else "different")
    out.append(("number", req.get("a_number"), a.get("a_number"), _verdict(req, a, "a_number")))
    out.append(("street", req.get("a_street_key"), a.get("a_street_key"), street))
    unit = ("exact" if (req.get("a_unit_key") or "") == (a.get("a_unit_key") or "") else
            "missing" if not req.get("a_unit_key") or not a.get("a_unit_key") else "different")
    out.append(("unit", req.get("a_unit_key"), a.get("a_unit_key"), unit))
    out.append(("ZIP", req.get("a_zip5"), a.get("a_zip5"), _verdict(req, a, "a_zip5")))
    out.append(("city", req.get("a_city"), a.get("a_city"), _verdict(req, a, "a_city")))
    out.append(("state", req.get("a_state"), a.get("a_state"), _verdict(req, a, "a_state")))
    return out


def same_address(engine: Engine, batch_id: str, run_id: str, request_id: str, *, pending_only: bool) -> list[str]:
    """Other requests of the batch at the same standardized address (kind, ZIP, number, street), from the
    address keys stored with the facts (one indexed look-up, not a re-standardization of the batch)."""
    params: dict[str, Any] = {"batch": batch_id, "rid": request_id}
    pending = ""
    if pending_only:
        pending = f"AND f.request_id IN (SELECT q.request_id FROM ({queue_sql()}) q WHERE q.run_id = $run)"
        params |= {"run": run_id, "now": engine.clock.now().replace(tzinfo=None)}
    rows = engine.fetchall(
        "SELECT f.request_id FROM row_facts f JOIN row_facts me ON me.batch_id = f.batch_id "
        "AND me.address_key = f.address_key WHERE f.batch_id = $batch AND me.request_id = $rid "
        f"{pending} ORDER BY f._row", params, label="same address")
    return [str(r[0]) for r in rows]


def build(engine: Engine, batch: Batch, run: Run, case: Case, *, blind: bool) -> Any:
    from disclosure_gate.app.review import CaseView, FieldComparison

    raw = engine.fetch_dicts(f"SELECT {', '.join(REQUEST_FIELDS)}, raw FROM req_rows WHERE batch_id = ? AND _row = ?",
                             [batch.batch_id, case.row], label="case request")[0]
    received = json.loads(raw.pop("raw")) if raw.get("raw") else None
    facts = engine.fetch_dicts("SELECT * EXCLUDE (batch_id, snapshot_id, _row, request_id, matched_tin) FROM row_facts "
                               "WHERE batch_id = ? AND _row = ?", [batch.batch_id, case.row], label="case facts")
    fact = facts[0] if facts else {}
    stored = fact.pop("std", None)
    fact.pop("address_key", None)
    if stored:  # standardized when the batch was processed
        std = [json.loads(stored)]
        for key in ("r_dob",):
            if std[0].get(key):
                std[0][key] = dt.date.fromisoformat(str(std[0][key])[:10])
    else:  # facts from before the standardized fields were kept (a migrated home)
        std = engine.fetch_dicts(_std_request_sql(batch), {"batch": batch.batch_id, "row": case.row},
                                 label="case standardize")
    req = {**raw, **(std[0] if std else {})}
    matched = engine.scalar("SELECT matched_tin FROM decisions WHERE run_id = ? AND _row = ?", [run.run_id, case.row])
    tin_key = matched or req.get("t_digits")
    person = None
    addresses: list[dict[str, Any]] = []
    if tin_key:
        people = engine.fetch_dicts("SELECT * FROM c_person WHERE tin = ?", [tin_key], label="case person")
        person = people[0] if people else None
        addresses = engine.fetch_dicts(
            "SELECT street, city, state, zip, valid_from, valid_to, is_last_known, a_kind, a_number, a_street_name, "
            "a_street_key, a_unit_key, a_zip5, a_city, a_state FROM c_address WHERE tin = ? "
            "ORDER BY is_last_known DESC, valid_from DESC NULLS LAST", [tin_key], label="case addresses")
    best = next((a for a in addresses if a.get("a_street_key") == req.get("a_street_key")
                 and a.get("a_number") == req.get("a_number")), addresses[0] if addresses else None)
    comparisons = [FieldComparison(f, None if v is None else str(v), None if w is None else str(w),
                                   "hidden" if blind else verdict)
                   for f, v, w, verdict in _compare(engine, req, person, best)]
    record = None
    if person is not None:
        record = {k: person.get(k) for k in ("first_name", "middle_name", "last_name", "name_suffix", "dob")}
        record["tin"] = mask_tin(person.get("tin"))
        record["protected"] = bool(person.get("protected"))
    shown_addresses = [{k: a[k] for k in ("street", "city", "state", "zip", "valid_from", "valid_to", "is_last_known")}
                       for a in addresses]
    request = {k: raw.get(k) for k in REQUEST_FIELDS if raw.get(k) not in (None, "")}
    if "tin" in request:
        request["tin"] = mask_tin(request["tin"])
    others = [r for r in same_address(engine, batch.batch_id, run.run_id, case.request_id, pending_only=False)
              if r != case.request_id]
    return CaseView(batch.batch_id, case.request_id, run, () if blind else case.reasons, case.decision,
                    case.reviewers, request, received, record, shown_addresses, comparisons,
                    {} if blind else {k: v for k, v in fact.items() if k not in ("path", "addr_usable")},
                    others, blind)
