"""Bad input: every case names the file, line and column, and leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from disclosure_gate import errors
from disclosure_gate.pipeline import batches
from disclosure_gate.pipeline.intake import MAX_FIELD_BYTES, load_table
from disclosure_gate.store.home import _DDL

SPEC = batches.REQUEST_SPEC
HEADER = "request_id,first_name,last_name,tin,address\n"
GOOD = "R1,Ann,Smith,123-45-6789,\"1 Main St, Springfield, IL 62704\"\n"


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


def load(engine, path):
    return load_table(engine, path, SPEC, "t_in")


def test_good_file_with_bom_and_quoted_newline(engine, tmp_path):
    p = write(tmp_path, "r.csv", b"\xef\xbb\xbf" + (HEADER + GOOD + 'R2,Bo,"Jo\nnes",,"2 Oak"\n').encode())
    res = load(engine, p)
    assert res.rows == 2 and res.group == ("address",)
    assert engine.fetchall("SELECT request_id, last_name FROM t_in ORDER BY _row") == [
        ("R1", "Smith"), ("R2", "Jo\nnes")]


@pytest.mark.parametrize("name, data, exc, line, column", [
    ("r.txt", HEADER + GOOD, errors.TableFormatError, None, None),
    ("r.csv", "", errors.EmptyInputError, None, None),
    ("r.csv", HEADER, errors.EmptyInputError, None, None),
    ("r.csv", "request_id,first_name,address\nR1,A,x\n", errors.FieldError, 1, "last_name"),
    ("r.csv", "request_id,first_name,last_name\nR1,A,B\n", errors.FieldError, 1, None),
    ("r.csv", "request_id,first_name,last_name,address,street,city,state,zip\nR1,A,B,x,,,,\n",
     errors.FieldError, 1, None),
    ("r.csv", "request_id,first_name,last_name,street,city,state\nR1,A,B,x,y,z\n", errors.FieldError, 1, "zip"),
    ("r.csv", HEADER + GOOD + 'R2,Bo,"Jones,,x\nR3,C,D,,x\n', errors.TableFormatError, 3, "last_name"),
    ("r.csv", HEADER + GOOD + "R2,Bo,Jones,,x,extra\n", errors.TableFormatError, 3, None),
    ("r.csv", HEADER + GOOD + "R2,Bo\n", errors.TableFormatError, 3, "last_name"),
    ("r.csv", (HEADER + GOOD).encode() + b"R2,Bo,Gar\xe7ia,,x\n", errors.EncodingError, 3, "last_name"),
    ("r.csv", (HEADER + GOOD).encode() + b"R2,Bo,Ga\x00r,,x\n", errors.EncodingError, 3, "last_name"),
    ("r.csv", HEADER + GOOD + "R2,Bo,Jones,," + "x" * (MAX_FIELD_BYTES + 1) + "\n", errors.FieldError, 3,
     "address"),
    ("r.csv", HEADER + GOOD + "R3,C,D,,x\nR1,Bo,Jones,,x\n", errors.DuplicateKeyError, 4, "request_id"),
    ("r.csv", HEADER + GOOD + " ,C,D,,x\n", errors.FieldError, 3, "request_id"),
    ("r.csv", b"\xff\xfeheader\n", errors.EncodingError, 1, None),
    ("r.csv", "request_id,first_name,last_name,last_name,address\nR1,A,B,C,x\n", errors.FieldError, 1,
     "last_name"),
])
def test_bad_input(engine, tmp_path, name, data, exc, line, column):
    p = write(tmp_path, name, data)
    with pytest.raises(exc) as info:
        load(engine, p)
    e = info.value
    assert e.file == str(p)
    assert e.line == line
    assert e.column == column
    assert not engine.table_exists("t_in"), "nothing half-loaded"
    # confidential cell values never appear in the message
    for secret in ("Smith", "Jones", "Gar", "123-45-6789", "Main St"):
        assert secret not in str(e)


def test_line_numbers_account_for_quoted_newlines(engine, tmp_path):
    data = HEADER + 'R1,Ann,"Smi\nth",,x\nR2,Bo,Jones,,x\nR1,C,D,,x\n'
    with pytest.raises(errors.DuplicateKeyError) as info:
        load(engine, write(tmp_path, "r.csv", data))
    assert info.value.line == 5


def test_parquet_input_and_row_numbers(engine, tmp_path):
    p = tmp_path / "r.parquet"
    pq.write_table(pa.table({"request_id": ["A", "B", "A"], "first_name": ["x"] * 3, "last_name": ["y"] * 3,
                             "address": ["z"] * 3, "dob": pa.array([None, None, None], pa.date32())}), p)
    with pytest.raises(errors.DuplicateKeyError) as info:
        load(engine, p)
    assert info.value.line == 3
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(errors.TableFormatError):
        load(engine, bad)


def test_failed_submit_stores_nothing(engine, tmp_path):
    for ddl in _DDL:
        engine.execute(ddl)
    manifest = write(tmp_path, "m.yaml", "agreement: A\nrequesting_official: X\nstatutory_authority: Y\n"
                     "purpose: Z\ntaxable_periods: [2023]\nsubmitted_at: 2026-01-05\n")
    bad = write(tmp_path, "r.csv", HEADER + GOOD + GOOD)
    with pytest.raises(errors.DuplicateKeyError):
        batches.submit(engine, bad, manifest)
    assert engine.scalar("SELECT count(*) FROM batches") == 0
    assert engine.scalar("SELECT count(*) FROM req_rows") == 0
    good = write(tmp_path, "g.csv", HEADER + GOOD)
    first = batches.submit(engine, good, manifest)
    again = batches.submit(engine, good, manifest)
    assert first.created and not again.created
    assert first.batch.batch_id == again.batch.batch_id
    assert engine.scalar("SELECT count(*) FROM req_rows") == 1
