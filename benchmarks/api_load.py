"""Load on the requesting agency's API over loopback (a benchmark: prints figures, asserts only correctness).

    .venv/bin/python benchmarks/api_load.py [--clients 20] [--rows 50000] [--pollers 4] [--polls 300]
                                             [--timeout 900] [--workdir DIR] [--keep]

It builds a home (synthetic persons and an agreement from ``dgate synth``), gives
every client its own recipient token and its own batch (the synthetic request
file with the client's prefix on every request id), starts a real ``dgate serve``
on a free loopback port, and then, at once:

* ``--clients`` clients each ``POST /api/v1/batches`` their batch (``--rows`` rows)
  and poll its status a few times;
* ``--pollers`` threads use the server as people would while it happens: the
  console's front page, ``/log/checkpoint``, a hash tile, ``/api/v1/batches`` and
  ``/api/v1/releases``, ``/healthz``.

Then it checks that every batch was stored exactly once with all its rows (each
client's list holds its one batch; the operator's ``dgate request list`` holds
exactly the clients' batches; submitting again returns the same id), and prints
p50/p95/p99 latencies. Every loop is bounded in count and by ``--timeout``; the
server is stopped and the work folder removed (unless ``--keep``) at the end.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

DGATE = [sys.executable, "-c", "from disclosure_gate.surfaces.cli.main import main; main()"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("DGATE_HOME", "DGATE_TOKEN")}


def dgate(*args: str | Path, home: Path | None = None, timeout: float = 900) -> str:
    argv = [*DGATE, *(["--home", str(home)] if home else []), *[str(a) for a in args]]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=_env())
    if proc.returncode != 0:
        raise SystemExit(f"dgate {' '.join(map(str, args))} failed: {proc.stderr.strip()}")
    return proc.stdout


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


# -- setup --------------------------------------------------------------------------------------------------
def build_home(work: Path, clients: int, rows: int) -> tuple[Path, dict[str, str], list[Path], Path]:
    """The home with one recipient per client; the clients' request files and the manifest."""
    from disclosure_gate.app import agreements, ledger, records, settings, users
    from disclosure_gate.app.session import Credentials, Session, authenticate, open_session, session_for
    from disclosure_gate.store.home import init_home

    data, home = work / "data", work / "home"
    dgate("synth", "--persons", "20000", "--requests", str(rows), "--out", data, "--seed", "7")
    agreement_id = next(line.split(":", 1)[1].strip() for line in (data / "agreement.yaml").read_text().splitlines()
                        if line.startswith("id:"))
    init_home(home)[0].close()
    op = open_session(home, Credentials(), write=True)
    tokens: dict[str, str] = {}
    try:
        admin_token = users.add(op, "admin", ["admin"]).token
        assert admin_token is not None

        def person(name: str, token: str) -> Session:
            return session_for(op.home, authenticate(op.engine, op.home.path, Credentials(user=name, token=token)))

        admin = person("admin", admin_token)
        officer_token = users.add(admin, "officer", ["officer"]).token
        assert officer_token is not None
        officer = person("officer", officer_token)
        records.load(op, data / "persons.csv", data / "addresses.csv")
        agreements.add(officer, data / "agreement.yaml")
        settings.set_(officer, "api_rate_per_minute", "1000000")
        ledger.checkpoint(officer)  # so /log/checkpoint and the tiles have something to serve
        for k in range(clients):
            token = users.add(admin, f"client{k:02d}", ["recipient"], [agreement_id]).token
            assert token is not None
            tokens[f"client{k:02d}"] = token
    finally:
        op.close()
    with (data / "requests.csv").open(newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    files = []
    for k in range(clients):
        path = data / f"requests-{k:02d}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh, quoting=csv.QUOTE_MINIMAL)
            out.writerow(table[0])
            out.writerows([f"C{k:02d}-{r[0]}", *r[1:]] for r in table[1:])
        files.append(path)
    return home, tokens, files, data / "manifest.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, home: Path, log: Path, timeout: float = 120) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("wb")
        self.proc = subprocess.Popen([*DGATE, "--home", str(home), "serve", "--port", str(self.port),
                                      "--insecure-cookies"], stdout=self._log, stderr=subprocess.STDOUT, env=_env())
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"dgate serve did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# -- load ---------------------------------------------------------------------------------------------------
@dataclass
class Results:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    status: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    errors: list[str] = field(default_factory=list)
    submitted: dict[str, tuple[int, str, int]] = field(default_factory=dict)  # client -> (status, id, rows)

    def record(self, kind: str, seconds: float, status: int) -> None:
        with self.lock:
            self.latency[kind].append(seconds)
            self.status[kind][status] += 1


def timed(results: Results, kind: str, call: Callable[[], httpx.Response]) -> httpx.Response | None:
    t = time.perf_counter()
    try:
        r = call()
    except httpx.HTTPError as exc:
        with results.lock:
            results.errors.append(f"{kind}: {type(exc).__name__}")
        return None
    results.record(kind, time.perf_counter() - t, r.status_code)
    return r


def client_run(url: str, name: str, token: str, request: Path, manifest: Path, results: Results, deadline: float,
               start: threading.Event, polls: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=max(1.0, deadline - time.monotonic()), headers=headers) as http:
        start.wait()
        with request.open("rb") as req, manifest.open("rb") as man:
            r = timed(results, "POST /api/v1/batches", lambda: http.post(
                "/api/v1/batches", files={"request": (request.name, req), "manifest": (manifest.name, man)}))
        if r is None:
            return
        body = r.json()
        with results.lock:
            results.submitted[name] = (r.status_code, str(body.get("batch_id", body)), int(body.get("rows", -1)))
        for _ in range(polls):
            if time.monotonic() > deadline or "batch_id" not in body:
                return
            timed(results, "GET /api/v1/batches/{id}", lambda: http.get(f"/api/v1/batches/{body['batch_id']}"))
            time.sleep(0.1)


def poller_run(url: str, token: str, results: Results, deadline: float, start: threading.Event,
               done: threading.Event, polls: int) -> None:
    pages: list[tuple[str, str, dict[str, str]]] = [("GET / (console)", "/", {}), ("GET /healthz", "/healthz", {}),
             ("GET /log/checkpoint", "/log/checkpoint", {}), ("GET /log/tile/0/000", "/log/tile/0/000.p/1", {}),
             ("GET /api/v1/batches", "/api/v1/batches", {"Authorization": f"Bearer {token}"}),
             ("GET /api/v1/releases", "/api/v1/releases", {"Authorization": f"Bearer {token}"})]
    with httpx.Client(base_url=url, timeout=60, follow_redirects=False) as http:
        start.wait()
        for i in range(polls):
            if done.is_set() or time.monotonic() > deadline:
                return
            kind, path, headers = pages[i % len(pages)]
            timed(results, kind, lambda: http.get(path, headers=headers))  # noqa: B023 (called at once)
            time.sleep(0.05)


def run(args: argparse.Namespace, work: Path) -> int:
    t0 = time.perf_counter()
    home, tokens, files, manifest = build_home(work, args.clients, args.rows)
    print(f"setup: {args.clients} recipients, {args.clients} request files of {args.rows:,} rows "
          f"({files[0].stat().st_size / 1e6:.1f} MB each) in {time.perf_counter() - t0:.1f} s", flush=True)
    server = Server(home, work / "serve.log")
    results = Results()
    deadline = time.monotonic() + args.timeout
    start, done = threading.Event(), threading.Event()
    names = sorted(tokens)
    try:
        threads = [threading.Thread(target=client_run, args=(server.url, n, tokens[n], files[i], manifest, results,
                                                             deadline, start, 5)) for i, n in enumerate(names)]
        pollers = [threading.Thread(target=poller_run, args=(server.url, tokens[names[i % len(names)]], results,
                                                             deadline, start, done, args.polls))
                   for i in range(args.pollers)]
        for t in [*threads, *pollers]:
            t.start()
        wall = time.perf_counter()
        start.set()
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()) + 5)
        wall = time.perf_counter() - wall
        done.set()
        for t in pollers:
            t.join(timeout=30)
        problems = check(server.url, tokens, files, manifest, results, args.rows, home)
    finally:
        server.stop()
    report(results, args, wall, problems)
    return 1 if problems else 0


def check(url: str, tokens: dict[str, str], files: list[Path], manifest: Path, results: Results, rows: int,
          home: Path) -> list[str]:
    """Every batch stored once with all its rows; nothing lost; resubmission is idempotent."""
    problems = [f"client error: {e}" for e in results.errors]
    names = sorted(tokens)
    with httpx.Client(base_url=url, timeout=300) as http:
        for i, name in enumerate(names):
            got = results.submitted.get(name)
            if got is None or got[0] != 201 or got[2] != rows:
                problems.append(f"{name}: submission answered {got}")
                continue
            listed = http.get("/api/v1/batches", headers={"Authorization": f"Bearer {tokens[name]}"}).json()
            mine = [(b["batch_id"], b["rows"]) for b in listed.get("batches", []) if b["batch_id"] == got[1]]
            if mine != [(got[1], rows)]:  # the clients share one agreement: each sees all its batches
                problems.append(f"{name}: its list holds {mine} for its batch, expected [({got[1]}, {rows})]")
            if i == 0:
                with files[i].open("rb") as req, manifest.open("rb") as man:
                    again = http.post("/api/v1/batches", headers={"Authorization": f"Bearer {tokens[name]}"},
                                      files={"request": (files[i].name, req), "manifest": (manifest.name, man)})
                if again.status_code != 200 or again.json().get("batch_id") != got[1]:
                    problems.append(f"{name}: resubmission answered {again.status_code} {again.text[:200]}")
    stored = json.loads(dgate("request", "list", "--json", home=home))
    ids = [b["batch"]["batch_id"] for b in stored]
    expected = sorted(v[1] for v in results.submitted.values())
    if sorted(ids) != expected or len(set(ids)) != len(ids):
        problems.append(f"the home holds {len(ids)} batches ({len(set(ids))} distinct), expected {len(expected)}")
    if any(int(b["batch"]["rows"]) != rows for b in stored):
        problems.append("a stored batch does not hold all its rows")
    return problems


def report(results: Results, args: argparse.Namespace, wall: float, problems: list[str]) -> None:
    print(f"\n{args.clients} clients x {args.rows:,} rows, {args.pollers} pollers; submissions done in {wall:.1f} s "
          f"({args.clients * args.rows / wall:,.0f} rows/s)")
    print(f"{'endpoint':34} {'n':>6} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'max ms':>9}  statuses")
    for kind in sorted(results.latency):
        v = results.latency[kind]
        statuses = ", ".join(f"{k}: {n}" for k, n in sorted(results.status[kind].items()))
        print(f"{kind:34} {len(v):>6} {percentile(v, 50) * 1e3:>9.1f} {percentile(v, 95) * 1e3:>9.1f} "
              f"{percentile(v, 99) * 1e3:>9.1f} {max(v) * 1e3:>9.1f}  {statuses}")
    print("\nOK: every batch stored once, with all its rows; resubmission returned the same id" if not problems
          else "\nPROBLEMS:\n  " + "\n  ".join(problems))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--pollers", type=int, default=4, help="threads using the console, log and API GETs")
    ap.add_argument("--polls", type=int, default=300, help="at most this many GETs per poller")
    ap.add_argument("--timeout", type=float, default=900, help="seconds before every loop stops")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work folder (home, data, server log)")
    args = ap.parse_args()
    if not (1 <= args.clients <= 200 and 1 <= args.rows <= 2_000_000 and 0 <= args.pollers <= 50):
        raise SystemExit("--clients 1..200, --rows 1..2,000,000, --pollers 0..50")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="dgate-api-load-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        code = run(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")
    sys.exit(code)


if __name__ == "__main__":
    main()
