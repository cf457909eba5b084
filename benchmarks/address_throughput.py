"""Throughput of the SQL address standardizer (prints rows/s; no assertions).

    .venv/bin/python benchmarks/address_throughput.py [--free N] [--structured N] [--threads T]

Synthetic addresses are generated inside DuckDB from real ZIP/city/state triples
(``ref_zip``) with varied spellings: suffixes and directionals spelled out or
abbreviated, units as ``#4``/``Apt 4``/``Suite 4``, ZIP or ZIP+4, PO boxes, rural
routes, placeholders. Generation time is excluded from the timing.
"""

from __future__ import annotations

import argparse
import os
import time

from disclosure_gate.engine import Engine
from disclosure_gate.pipeline.standardize import address

_GEN = """
CREATE OR REPLACE TABLE {name} AS
WITH z AS (SELECT row_number() OVER () AS zi, zip5, state, city FROM ref_zip WHERE active),
nz AS (SELECT count(*) AS n FROM z),
g AS (
  SELECT i,
    (hash(i) % 9999 + 1)::VARCHAR AS num,
    ['MAIN', 'OAK', 'MAPLE', 'MARTIN LUTHER KING JR', 'FIFTH', '5TH', 'WASHINGTON', 'PARK',
     'LAKE SHORE', 'OCEAN VIEW', 'ELM', 'SAINT CHARLES', 'PINE', 'CEDAR', 'HIGHLAND',
     'SUNSET', 'RIVER', 'MILL', 'CHURCH', 'COUNTY RD 12'][(hash(i * 7) % 20 + 1)::BIGINT] AS street,
    ['Street', 'St', 'ST.', 'Avenue', 'Ave', 'Rd', 'Road', 'Blvd', 'Drive', 'Dr', 'Ln', 'Court',
     'Way', 'Pl', 'Terrace', 'Cir', 'Pkwy', 'Hwy', '', 'Lane'][(hash(i * 11) % 20 + 1)::BIGINT] AS suf,
    ['', '', '', 'N', 'North', 'S.', 'E', 'West', 'NW', ''][(hash(i * 13) % 10 + 1)::BIGINT] AS dir,
    ['', '', '', '', ' #4', ' Apt 12', ' Apartment 3B', ' Unit 7', ' Ste 100', ' APT. 2'][
        (hash(i * 17) % 10 + 1)::BIGINT] AS unit,
    (hash(i * 19) % 100)::INT AS form,
    ((hash(i * 23) % (SELECT n FROM nz)) + 1)::BIGINT AS zi
  FROM range({n}) t(i))
SELECT i AS id, {select}
FROM g JOIN z USING (zi)
"""

_FREE = """CASE
  WHEN form < 3 THEN ['UNKNOWN', 'N/A', 'Don''t Care 12345', 'Failed to Provide', '00000'][form + 1]
  WHEN form < 8 THEN 'PO Box ' || num || ', ' || city || ', ' || state || ' ' || zip5
  WHEN form < 10 THEN 'RR ' || (form % 5 + 1) || ' Box ' || num || ' ' || city || ' ' || state || ' ' || zip5
  WHEN form < 40 THEN concat_ws(' ', num, dir, street, suf) || unit || ', ' || city || ', ' || state || ' '
                      || zip5 || '-' || lpad((hash(form) % 9999)::VARCHAR, 4, '0')
  WHEN form < 70 THEN lower(concat_ws(' ', num, dir, street, suf) || unit || ' ' || city || ' ' || state
                      || ' ' || zip5)
  WHEN form < 90 THEN concat_ws(' ', num, dir, street, suf) || unit || ', ' || city || ' ' || state || ' '
                      || zip5
  ELSE concat_ws(' ', num, dir, street, suf) || unit || ' ' || city || ' ' || state END AS address"""

_STRUCT = """CASE WHEN form < 2 THEN 'UNKNOWN' WHEN form < 6 THEN 'PO BOX ' || num
  ELSE concat_ws(' ', num, dir, street, suf) || unit END AS street,
  city, state, CASE WHEN form % 3 = 0 THEN zip5 || '-1234' ELSE zip5 END AS zip"""


def _run(engine: Engine, label: str, sql: str, n: int) -> None:
    """Time ``CREATE TABLE AS`` of the statement (how records/match consume it), then print a
    few rates of the result. Do not aggregate directly over address_sql: see its docstring."""
    t0, c0 = time.perf_counter(), time.process_time()
    engine.execute(f"CREATE OR REPLACE TEMP TABLE bench_out AS {sql}", label=label)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"{label:>10}: {n:>11,} rows in {dt:7.2f} s  = {n / dt:>11,.0f} rows/s "
          f"(CPU {cpu:.1f} s = {cpu / n * 1e6:.2f} us/row; load avg {os.getloadavg()[0]:.1f})", flush=True)
    row = engine.fetchone("SELECT count(*), avg(a_sufficient::INT), avg(a_placeholder::INT), "
                          "avg((a_kind IS NULL)::INT) FROM bench_out")
    assert row is not None and row[0] == n
    print(f"{'':>10}  sufficient {row[1]:.3f}  placeholder {row[2]:.3f}  unparsed {row[3]:.3f}", flush=True)
    engine.execute("DROP TABLE bench_out", label="drop")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--free", type=int, default=1_300_000)
    ap.add_argument("--structured", type=int, default=30_000_000)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    engine = Engine(threads=args.threads)
    address.install_reference_tables(engine)
    if args.free:
        engine.execute(_GEN.format(name="bench_free", n=args.free, select=_FREE), label="gen")
        _run(engine, "free_text", address.address_sql("bench_free", key_cols=["id"], free_text="address"),
             args.free)
    if args.structured:
        engine.execute("DROP TABLE IF EXISTS bench_free", label="drop")
        engine.execute(_GEN.format(name="bench_struct", n=args.structured, select=_STRUCT), label="gen")
        _run(engine, "structured", address.address_sql(
            "bench_struct", key_cols=["id"], street="street", city="city", state="state", zip="zip"),
            args.structured)


if __name__ == "__main__":
    main()
