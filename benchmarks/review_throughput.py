"""Review throughput: the queue, one case, and a group resolution of 1,000 rows, on a big home.

    .venv/bin/python -m benchmarks.review_throughput                      # moderate: a few minutes on 2 cores
    .venv/bin/python -m benchmarks.review_throughput --persons 20000000 --requests 1280000   # full scale

At full scale (20 M persons x 1.28 M requests, the 2025 incident's size) about 7% of the rows are REVIEW:
about 90,000 rows in the queue. ``--batches K`` submits K copies of the request file as K batches (request
ids suffixed), which multiplies the queue without a bigger custodian: ``--persons 2000000 --requests 128000
--batches 10`` also puts about 90,000 rows in the queue.

It generates the data once with ``disclosure_gate.synth.generate`` into ``--out`` (reused by later runs),
builds a fresh home (records, agreement, people: an admin, an officer, two reviewers), submits and
processes the batch(es) under 6103i2, then measures, through the application layer each surface calls:

* ``app.review.queue``       the review list (grouped by batch and reason), every call;
* ``app.review.cases``       the list of cases, oldest first (``review list --cases``, 50 rows);
* ``app.review.show``        one case side by side (a ledger event each: a write);
* ``app.review.resolve``     a group of ``--group`` rows (1,000): the first reviewer, then the second;
* a baseline from the same run: ``SELECT count(*) FROM decisions`` and the same count of REVIEW rows.

It prints p50 and p95 of each, with the targets of the issue: list and show within 200 ms with 90,000
rows in the queue; a group resolution of 1,000 rows under 2 s. No assertions: figures only.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from disclosure_gate import synth
from disclosure_gate.app import agreements, records, requests, review, users
from disclosure_gate.app.session import Credentials, Session, authenticate, open_session, session_for
from disclosure_gate.store.home import init_home


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p95) in milliseconds (nearest rank)."""
    s = sorted(samples)
    p95 = s[max(0, math.ceil(0.95 * len(s)) - 1)]
    return statistics.median(s) * 1000, p95 * 1000


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def person(op: Session, name: str, token: str) -> Session:
    return session_for(op.home, authenticate(op.engine, op.home.path, Credentials(user=name, token=token)))


def copy_requests(src: Path, dst: Path, suffix: str) -> None:
    """The same request rows under other request ids (another batch with the same content otherwise)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(src)
    ids = pc.binary_join_element_wise(table.column("request_id"), suffix, "")
    pq.write_table(table.set_column(table.schema.get_field_index("request_id"), "request_id", ids), dst)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=64_000)
    ap.add_argument("--batches", type=int, default=1, help="copies of the request file, as separate batches")
    ap.add_argument("--group", type=int, default=1_000, help="rows per group resolution")
    ap.add_argument("--repeat", type=int, default=30, help="samples per read measurement")
    ap.add_argument("--out", type=Path, default=Path("bench-out") / "review")
    ap.add_argument("--seed", type=int, default=2025)
    args = ap.parse_args()

    data = args.out / f"data-{args.persons}-{args.requests}-{args.seed}"
    home = args.out / "home"
    t_setup = time.perf_counter()
    if not (data / "truth.csv").exists():
        print(f"... generating {args.persons:,} persons x {args.requests:,} requests into {data}", flush=True)
        synth.generate(data, persons=args.persons, requests=args.requests, seed=args.seed, fmt="parquet",
                       address_style="free")
    shutil.rmtree(home, ignore_errors=True)
    init_home(home)[0].close()
    op = open_session(home, Credentials(os_user="bench", os_uid=os.getuid()), write=True)
    try:
        first = users.add(op, "admin", ["admin"])
        assert first.token is not None
        admin = person(op, "admin", first.token)
        tokens = {name: users.add(admin, name, [role]).token for name, role in
                  (("officer", "officer"), ("rev1", "reviewer"), ("rev2", "reviewer"))}
        s = {name: person(op, name, str(tok)) for name, tok in tokens.items()}
        print("... loading records", flush=True)
        records.load(op, data / "persons.parquet", data / "addresses.parquet")
        agreements.add(s["officer"], data / "agreement.yaml")
        batches: list[str] = []
        for k in range(args.batches):
            source = data / "requests.parquet"
            if k:
                source = args.out / f"requests-copy{k}.parquet"
                copy_requests(data / "requests.parquet", source, f"-c{k}")
            print(f"... submitting and processing batch {k + 1} of {args.batches}", flush=True)
            bid = requests.submit(op, source, data / "manifest.yaml").batch.batch_id
            requests.process(op, bid, "6103i2")
            batches.append(bid)
        setup = time.perf_counter() - t_setup
        e = op.engine
        total = int(e.scalar("SELECT count(*) FROM decisions"))
        in_queue = int(e.scalar("SELECT count(*) FROM decisions WHERE decision = 'REVIEW'"))
        print(f"\nhome: {args.persons:,} persons, {len(batches)} batch(es), {total:,} decisions, "
              f"{in_queue:,} REVIEW rows in the queue (setup {setup:.0f} s)\n", flush=True)

        figures: list[tuple[str, int, float, float, str]] = []

        def measure(name: str, fn: Callable[[], Any], n: int, target: str = "") -> None:
            fn()  # warm
            samples = [timed(fn) for _ in range(n)]
            p50, p95 = percentiles(samples)
            figures.append((name, n, p50, p95, target))
            print(f"  {name:<52} p50 {p50:9.1f} ms  p95 {p95:9.1f} ms  {target}", flush=True)

        rev1, rev2 = s["rev1"], s["rev2"]
        measure("baseline: SELECT count(*) FROM decisions", lambda: e.scalar("SELECT count(*) FROM decisions"),
                args.repeat)
        measure("baseline: count of REVIEW decisions",
                lambda: e.scalar("SELECT count(*) FROM decisions WHERE decision = 'REVIEW'"), args.repeat)
        measure("review list (app.review.queue)", lambda: review.queue(rev1), args.repeat, "<= 200 ms")
        measure("review list BATCH (app.review.queue, one batch)", lambda: review.queue(rev1, batches[0]),
                args.repeat, "<= 200 ms")
        measure("review list --cases (app.review.cases, 50)", lambda: review.cases(rev1, limit=50), args.repeat,
                "<= 200 ms")
        pending = [str(r[0]) for r in e.fetchall(
            "SELECT d.request_id FROM decisions d JOIN runs r USING (run_id) WHERE r.batch_id = ? "
            "AND d.decision = 'REVIEW' ORDER BY d._row", [batches[0]])]
        rng = random.Random(args.seed)
        sample = rng.sample(pending, min(len(pending), args.repeat + 1))
        it = iter(sample)
        measure("review show (app.review.show, a ledger event)", lambda: review.show(rev1, batches[0], next(it)),
                min(args.repeat, len(sample) - 1), "<= 200 ms")

        groups = [pending[i:i + args.group] for i in range(0, len(pending) - args.group + 1, args.group)]
        groups = groups[:5]
        if not groups:
            print(f"  (fewer than {args.group:,} REVIEW rows in the first batch: no group resolution measured; "
                  "use more --requests)", flush=True)
        first_times: list[float] = []
        second_times: list[float] = []
        for g in groups:
            t0 = time.perf_counter()
            review.resolve(rev1, batches[0], g, "DISCLOSE", "bench: first reviewer")
            first_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            res = review.resolve(rev2, batches[0], g, "DISCLOSE", "bench: second reviewer")
            second_times.append(time.perf_counter() - t0)
            assert set(res.effective.values()) == {"DISCLOSE"}
        for label, times in ((f"resolve a group of {args.group:,} (first reviewer)", first_times),
                             (f"resolve a group of {args.group:,} (second reviewer)", second_times)):
            if times:
                p50, p95 = percentiles(times)
                figures.append((label, len(times), p50, p95, "<= 2000 ms"))
                print(f"  {label:<52} p50 {p50:9.1f} ms  p95 {p95:9.1f} ms  <= 2000 ms "
                      f"({len(times)} groups)", flush=True)
        done = sum(len(g) for g in groups)
        measure(f"review list after {done:,} resolutions (x2)", lambda: review.queue(rev1), args.repeat,
                "<= 200 ms")
    finally:
        op.close()

    print(f"\nreview benchmark: {in_queue:,} REVIEW rows in the queue, {total:,} decisions")
    print(f"{'measurement':<56} {'n':>4} {'p50 ms':>10} {'p95 ms':>10}  target")
    for name, n, p50, p95, target in figures:
        print(f"{name:<56} {n:>4} {p50:>10.1f} {p95:>10.1f}  {target}")


if __name__ == "__main__":
    main()
