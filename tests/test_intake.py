"""Bad input: every case names the file, line and column, and leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from disclosure_gate import errors
from disclosure_gate.pipeline import batches
from disclosure_gate.pipeline.intake import MAX_FIELD_BYTES, MAX_ID_CHARS, load_table

try:  # the schema moved from store.home to store.schema
    from disclosure_gate.store.schema import TABLES as _DDL
except ImportError:  # pragma: no cover - older layout
    from disclosure_gate.store.home import _DDL  # type: ignore[attr-defined,no-redef]

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
        batches.stage(engine, bad, manifest, "tester")
    assert not engine.table_exists(batches.STAGING)
    assert engine.scalar("SELECT count(*) FROM batches") == 0
    assert engine.scalar("SELECT count(*) FROM req_rows") == 0
    good = write(tmp_path, "g.csv", HEADER + GOOD)
    first = batches.stage(engine, good, manifest, "tester")
    assert first.existing is None
    with engine.transaction():
        batches.store(engine, first)
    batches.drop_staging(engine)
    again = batches.stage(engine, good, manifest, "tester")
    batches.drop_staging(engine)
    assert again.existing is not None and again.existing.batch_id == first.batch.batch_id
    assert engine.scalar("SELECT count(*) FROM req_rows") == 1


# -- physical line numbers after a quoted field that spans lines --------------------------
ML = HEADER + 'R1,Ann,"Smi\nth\nson",,x\n'  # record 1 takes lines 2-4; the next record starts on line 5


@pytest.mark.parametrize("tail, exc, line, column", [
    # structural errors (the raw scan or DuckDB's rejects table)
    ("R2,Bo\n", errors.TableFormatError, 5, "last_name"),
    ("R2,Bo,Jones,,x,extra\n", errors.TableFormatError, 5, None),
    ("R2,Jo\"nes,B,,x\n", errors.TableFormatError, 5, "first_name"),
    ('R2,Bo,"Jones,,x\nR3,C,D,,x\n', errors.TableFormatError, 5, "last_name"),
    ('R2,Bo,"Jo"nes,,x\n', errors.TableFormatError, 5, "last_name"),
    ("R2,Bo,Jones\r,,x\n", errors.TableFormatError, 5, "last_name"),
    ('R2,"B\no",Jones,,x\nR3,C,D,,x,extra\n', errors.TableFormatError, 7, None),
    ('R2,"B\no",Gar\xe7ia,,x\n', errors.EncodingError, 6, "last_name"),
    ('R2,Bo,"Gar\n\xe7ia",,x\n', errors.EncodingError, 6, "last_name"),
    # value errors (SQL over the loaded rows)
    ("R2,Bo,Jo\x00nes,,x\n", errors.EncodingError, 5, "last_name"),
    ("R2,Bo,Jones,," + "x" * (MAX_FIELD_BYTES + 1) + "\n", errors.FieldError, 5, "address"),
    ("R2,Bo,Jones,,x\nR1,C,D,,x\n", errors.DuplicateKeyError, 6, "request_id"),
    ('R2,"B\no",Jones,,x\n ,C,D,,x\n', errors.FieldError, 7, "request_id"),
    ("R\t2,Bo,Jones,,x\n", errors.FieldError, 5, "request_id"),
])
def test_line_numbers_are_physical_after_multiline_fields(engine, tmp_path, tail, exc, line, column):
    data = (ML + tail).encode("latin-1") if "\xe7" in tail else (ML + tail).encode()
    p = write(tmp_path, "r.csv", data)
    with pytest.raises(exc) as info:
        load(engine, p)
    assert (info.value.line, info.value.column) == (line, column)
    assert not engine.table_exists("t_in")
    for secret in ("Smi", "Jones", "Gar", "nes"):
        assert secret not in str(info.value)


def test_line_numbers_count_line_breaks_in_ignored_columns(engine, tmp_path):
    data = ("request_id,first_name,notes,last_name,address\n"
            'R1,Ann,"a\nb\nc",Smith,x\nR2,Bo,,Jones,x\nR1,Cy,,Doe,x\n')
    with pytest.raises(errors.DuplicateKeyError) as info:
        load(engine, write(tmp_path, "r.csv", data))
    assert info.value.line == 6 and "line 2" in str(info.value)


def test_quote_inside_unquoted_field_is_refused(engine, tmp_path):
    for field, message in (('Jo"hn', "inside an unquoted field"), (' "John"', "inside an unquoted field"),
                           ('"Jo"hn', "after a closing quote")):
        p = write(tmp_path, "r.csv", HEADER + GOOD + f"R2,{field},Doe,,x\n")
        with pytest.raises(errors.TableFormatError, match=message) as info:
            load(engine, p)
        assert (info.value.line, info.value.column) == (3, "first_name")
    # a doubled quote inside a quoted field is fine
    res = load(engine, write(tmp_path, "ok.csv", HEADER + 'R1,"Jo""hn",Doe,,x\n'))
    assert res.rows == 1 and engine.scalar("SELECT first_name FROM t_in") == 'Jo"hn'


def test_cr_line_endings_are_refused_clearly_and_crlf_works(engine, tmp_path):
    for data, line in ((HEADER + GOOD).replace("\n", "\r"), 1), (HEADER + GOOD + "R2,Bo,Jones,,x\rR3,C,D,,x\n", 3):
        with pytest.raises(errors.TableFormatError, match="CR line endings are not supported; use LF or CRLF") as i:
            load(engine, write(tmp_path, "cr.csv", data))
        assert i.value.line == line
    crlf = (HEADER + GOOD).replace("\n", "\r\n") + 'R2,Bo,"Jo\r\nnes",,x\r\nR3,C,"D\ne",,x\r\n'
    res = load(engine, write(tmp_path, "crlf.csv", crlf))
    assert res.rows == 3
    assert engine.fetchall("SELECT last_name FROM t_in ORDER BY _row") == [("Smith",), ("Jo\r\nnes",), ("D\ne",)]
    engine.execute("DROP TABLE t_in")
    with pytest.raises(errors.TableFormatError, match="mixed line endings") as info:
        load(engine, write(tmp_path, "mixed.csv", crlf + "R4,E,F,,x\n"))
    assert info.value.line == 7


def test_field_counts_and_blank_lines_are_exact(engine, tmp_path):
    with pytest.raises(errors.TableFormatError, match="more fields") as info:
        load(engine, write(tmp_path, "r.csv", HEADER + GOOD + "R2,Bo,Jones,,x,\n"))
    assert info.value.line == 3
    with pytest.raises(errors.TableFormatError, match="blank line") as info:
        load(engine, write(tmp_path, "r.csv", HEADER + GOOD + "\nR2,Bo,Jones,,x\n"))
    assert info.value.line == 3
    assert load(engine, write(tmp_path, "r.csv", HEADER + GOOD + "\n\n")).rows == 1


@pytest.mark.parametrize("request_id", ["R\t1", "R\x0b1", "R\x1b1", "R\u202e1", "R\u200b1", "R\ufeff1", "R\u20281",
                                        "R\u00a01", "R" * (MAX_ID_CHARS + 1)])
def test_request_ids_must_be_printable_and_short(engine, tmp_path, request_id):
    p = write(tmp_path, "r.csv", HEADER + GOOD + '"' + request_id + '",Bo,Jones,,x\n')
    with pytest.raises(errors.FieldError) as info:
        load(engine, p)
    assert (info.value.line, info.value.column) == (3, "request_id")
    assert request_id not in str(info.value)


def test_request_ids_may_be_any_printable_text(engine, tmp_path):
    ids = ["É" * MAX_ID_CHARS, "  R 2  ", "子-3", "R4/x@y+z"]
    data = HEADER + "".join(f'"{i}",Bo,Jones,,x\n' for i in ids)
    assert load(engine, write(tmp_path, "r.csv", data)).rows == len(ids)


def test_header_must_be_one_printable_line(engine, tmp_path):
    for header, exc in (('"request_id,first_name\n",last_name,address\n', errors.TableFormatError),
                        ('request_id,first_name,last_name,address,no\ttab\n', errors.FieldError),
                        ('re"quest_id,first_name,last_name,address\n', errors.TableFormatError)):
        with pytest.raises(exc) as info:
            load(engine, write(tmp_path, "r.csv", header + "R1,A,B,x\n"))
        assert info.value.line == 1
    quoted = '"request_id","first_name","last_name","address"\nR1,A,B,x\n'
    assert load(engine, write(tmp_path, "r.csv", b"\xef\xbb\xbf" + quoted.encode())).rows == 1


def _parquet(tmp_path, **columns):
    base = {"request_id": ["A", "B"], "first_name": ["x", "y"], "last_name": ["y", "z"], "address": ["z", "w"]}
    p = tmp_path / "r.parquet"
    pq.write_table(pa.table({**base, **columns}), p)
    return p


@pytest.mark.parametrize("column, array, message", [
    ("last_name", pa.array([b"\xff\xfe", b"x"], pa.binary()), "binary column"),
    ("last_name", pa.array([b"ab", b"cd"], pa.binary(2)), "binary column"),
    ("address", pa.array([["a"], ["b"]]), "nested column"),
    ("address", pa.array([{"s": "a"}, {"s": "b"}]), "nested column"),
    ("address", pa.array([[("k", "v")], [("k", "v")]], pa.map_(pa.string(), pa.string())), "nested column"),
])
def test_parquet_binary_and_nested_columns_are_refused(engine, tmp_path, column, array, message):
    with pytest.raises(errors.TableFormatError, match=message) as info:
        load(engine, _parquet(tmp_path, **{column: array}))
    assert info.value.column == column
    assert not engine.table_exists("t_in")


def test_parquet_scalar_columns_are_read_as_text(engine, tmp_path):
    p = _parquet(tmp_path, request_id=pa.array([1, 2]), dob=pa.array([0, 1], pa.date32()),
                 junk=pa.array([b"\xff", b"\xfe"], pa.binary()), nested=pa.array([[1], [2]]),
                 file_row_number=pa.array([7, 7]))
    res = load(engine, p)
    assert res.ignored_columns == ("junk", "nested", "file_row_number")
    assert engine.fetchall("SELECT request_id, dob, _row FROM t_in ORDER BY _row") == [
        ("1", "1970-01-01", 0), ("2", "1970-01-02", 1)]
    engine.execute("DROP TABLE t_in")
    n = 5000  # many row groups: _row is still the row's position in the file
    pq.write_table(pa.table({"request_id": [f"R{i}" for i in range(n)], "first_name": ["x"] * n,
                             "last_name": ["y"] * n, "address": ["z"] * n}), p, row_group_size=97)
    load(engine, p)
    assert engine.scalar("SELECT count(*) FROM t_in WHERE request_id <> 'R' || _row") == 0


def test_parquet_invalid_utf8_names_the_column(engine, tmp_path):
    offsets = pa.py_buffer(np.array([0, 2, 3], dtype="int32").tobytes())
    bad = pa.Array.from_buffers(pa.string(), 2, [None, offsets, pa.py_buffer(b"\xff\xfex")])
    with pytest.raises(errors.EncodingError) as info:
        load(engine, _parquet(tmp_path, last_name=bad))
    assert info.value.column == "last_name"


def test_parquet_duplicate_and_leaf_names_are_top_level_only(engine, tmp_path):
    p = tmp_path / "r.parquet"
    pq.write_table(pa.Table.from_arrays(
        [pa.array(["A"]), pa.array(["B"]), pa.array(["x"]), pa.array(["y"]), pa.array(["z"])],
        names=["request_id", "request_id", "first_name", "last_name", "address"]), p)
    with pytest.raises(errors.FieldError, match="appears twice"):
        load(engine, p)
    pq.write_table(pa.table({"request_id": ["A"], "s": pa.array([{"first_name": "a", "last_name": "b",
                                                                   "address": "c"}])}), p)
    with pytest.raises(errors.FieldError, match="required column missing") as info:
        load(engine, p)
    assert info.value.column == "first_name"
