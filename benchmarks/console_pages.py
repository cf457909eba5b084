"""Console page times: p50 and p95 per page on a big home, through a real ``dgate serve``.

    .venv/bin/python -m benchmarks.console_pages                       # 400 k persons x 256 k requests
    .venv/bin/python -m benchmarks.console_pages --persons 2000000 --requests 1280000   # full scale, ~90 k in review

It builds the home once (synthetic data, the people with console passwords, the agreement, the batch decided
under 6103i2) into ``--home`` (reused by later runs with the same size), starts ``dgate serve`` on a free
loopback port, signs in as each role, requests every main page ``--n`` times, and prints p50/p95 per page next
to the baseline recorded below. The target is p95 <= 200 ms per page. No assertions: figures only.

The review case page is :func:`disclosure_gate.app.review.show`, which records a ledger event and claims the
case each time; it is timed on the oldest pending cases in turn.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from disclosure_gate import synth
from disclosure_gate.app import agreements, records, requests, users
from disclosure_gate.app.session import Credentials, authenticate, open_session, session_for
from disclosure_gate.store.home import init_home

PEOPLE = {"bench-admin": "admin", "officer": "officer", "rev1": "reviewer", "rev2": "reviewer",
          "preparer": "preparer", "approver": "approver", "auditor": "auditor", "overseer": "overseer"}
TARGET_MS = 200.0
#: p50 / p95 in ms measured on the 2-core development machine at the default size (400 k x 256 k, 17,925 in
#: review), n=20, with case views read from the standardized fields stored at processing. Update them with the
#: figures of a run you trust.
BASELINE: dict[str, tuple[float, float]] = {
    "dashboard (officer)": (20, 23), "dashboard (reviewer)": (20, 22), "batches": (9, 12),
    "batch: funnel + decisions": (21, 23), "batch: REVIEW rows, page 100": (29, 34),
    "batch: one reason (htmx part)": (25, 28), "review queue": (24, 32), "review progress (htmx part)": (9, 12),
    "review next (redirect)": (19, 23), "review case (show + claim)": (84, 97), "releases": (11, 11),
    "agreements": (8, 12), "agreement": (10, 11), "ledger": (13, 15), "accounting": (20, 24), "audits": (17, 22),
    "jobs": (8, 13),
}


def build(home: Path, work: Path, persons: int, rows: int, password: str) -> None:
    data = work / f"synth-{persons}-{rows}"
    if not (data / "truth.csv").exists():
        print(f"generating {persons:,} persons and {rows:,} requests...", flush=True)
        synth.generate(data, persons=persons, requests=rows, seed=2025, fmt="parquet")
    h, _ = init_home(home)
    from disclosure_gate.ledger import store as ledger

    ledger.ensure_keys(h.path)
    h.close()
    op = open_session(home, Credentials(os_user="bench", os_uid=os.getuid()), write=True)
    try:
        tokens: dict[str, str] = {}
        admin = None
        for name, role in PEOPLE.items():
            res = users.add(admin or op, name, [role])
            assert res.token is not None
            tokens[name] = res.token
            me = session_for(op.home, authenticate(op.engine, op.home.path, Credentials(user=name, token=res.token)))
            if admin is None:
                admin = me
            users.set_password(me, name, password)
        print("loading records...", flush=True)
        t = time.perf_counter()
        records.load(op, data / "persons.parquet", data / "addresses.parquet")
        officer = session_for(op.home, authenticate(op.engine, op.home.path,
                                                    Credentials(user="officer", token=tokens["officer"])))
        agreements.add(officer, data / "agreement.yaml")
        batch = requests.submit(op, data / "requests.parquet", data / "manifest.yaml").batch.batch_id
        print(f"  loaded in {time.perf_counter() - t:.0f} s; processing batch {batch}...", flush=True)
        t = time.perf_counter()
        res = requests.process(op, batch)
        print(f"  processed in {time.perf_counter() - t:.0f} s: {res.funnel.review:,} rows in review", flush=True)
    finally:
        op.close()
    (home / "bench-password").write_text(password)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sign_in(base: str, name: str, password: str) -> httpx.Client:
    c = httpx.Client(base_url=base, headers={"accept": "text/html"}, timeout=120)
    page = c.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    r = c.post("/login", data={"username": name, "password": password, "csrf_token": token.group(1)})
    assert r.status_code == 303, r.text[:300]
    return c


def timed(c: httpx.Client, path: str, n: int, paths: list[str] | None = None) -> list[float]:
    out = []
    for i in range(n):
        url = paths[i % len(paths)] if paths else path
        t = time.perf_counter()
        r = c.get(url)
        out.append((time.perf_counter() - t) * 1000)
        assert r.status_code in (200, 303), (url, r.status_code, r.text[:300])
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=400_000)
    ap.add_argument("--requests", type=int, default=256_000)
    ap.add_argument("--n", type=int, default=20, help="requests per page")
    ap.add_argument("--home", type=Path, default=None, help="default: bench-out/console-PERSONS-REQUESTS/home")
    ap.add_argument("--work", type=Path, default=Path("bench-out"), help="where synthetic data is kept")
    ap.add_argument("--case-n", type=int, default=None, help="review case pages to time (default: --n); each one "
                    "is a recorded view and a claim")
    args = ap.parse_args()
    root = args.work / f"console-{args.persons}-{args.requests}"
    home = args.home or root / "home"
    if not (home / "bench-password").exists():
        if home.exists() and any(home.iterdir()):
            sys.exit(f"{home} exists but was not finished by this benchmark: remove it first")
        build(home, args.work, args.persons, args.requests, "bench-" + secrets.token_urlsafe(12))
    password = (home / "bench-password").read_text()

    port = free_port()
    log = (root / "server.log").open("w") if root.exists() else open(os.devnull, "w")  # noqa: SIM115
    env = {k: v for k, v in os.environ.items() if k not in ("DGATE_HOME", "DGATE_TOKEN")}
    server = subprocess.Popen([sys.executable, "-c", "from disclosure_gate.surfaces.cli.main import main; main()",
                               "--home", str(home), "serve", "--insecure-cookies", "--port", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    clients: list[httpx.Client] = []
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit("the server did not start")
            time.sleep(0.2)
        officer, rev1, overseer, preparer = (sign_in(base, n, password) for n in
                                             ("officer", "rev1", "overseer", "preparer"))
        clients += [officer, rev1, overseer, preparer]
        batches = re.findall(r'href="/batches/(B[0-9a-f]+)"', officer.get("/batches").text)
        batch = batches[0]
        cases = re.findall(r'href="(/review/case/[^"]+)"', rev1.get("/review").text)
        cases = [c.replace("&amp;", "&") for c in cases]
        plan: list[tuple[str, httpx.Client, str, list[str] | None]] = [
            ("dashboard (officer)", officer, "/", None),
            ("dashboard (reviewer)", rev1, "/", None),
            ("batches", officer, "/batches", None),
            ("batch: funnel + decisions", officer, f"/batches/{batch}", None),
            ("batch: REVIEW rows, page 100", officer, f"/batches/{batch}?decision=REVIEW&page=100", None),
            ("batch: one reason (htmx part)", officer, f"/batches/{batch}?reason=UNIT_MISMATCH", None),
            ("review queue", rev1, "/review", None),
            ("review progress (htmx part)", rev1, "/review/progress", None),
            ("review next (redirect)", rev1, "/review/next", None),
            ("review case (show + claim)", rev1, "", cases[: max(1, args.n)]),
            ("releases", preparer, "/releases", None),
            ("agreements", officer, "/agreements", None),
            ("agreement", officer, "/agreements/" + re.findall(r'href="/agreements/([^"]+)"',
                                                                 officer.get("/agreements").text)[0], None),
            ("ledger", overseer, "/ledger", None),
            ("accounting", overseer, "/accounting", None),
            ("audits", overseer, "/audits", None),
            ("jobs", officer, "/jobs", None),
        ]
        print(f"\n{'page':34} {'p50 ms':>8} {'p95 ms':>8}   {'baseline p50/p95':>18}  target p95 <= {TARGET_MS:.0f} ms")
        for label, client, path, paths in plan:
            if label.endswith("(htmx part)"):
                client.headers["hx-request"] = "true"
                client.headers["hx-target"] = "decisions"
            n = args.n if paths is None or args.case_n is None else args.case_n
            if n <= 0:
                continue
            timed(client, path, 1, paths)  # warm up (first look at a run fills the funnel cache)
            times = timed(client, path, n, paths)
            client.headers.pop("hx-request", None)
            client.headers.pop("hx-target", None)
            p50, p95 = statistics.median(times), pct(times, 0.95)
            base_fig = BASELINE.get(label)
            ref = f"{base_fig[0]:.0f} / {base_fig[1]:.0f}" if base_fig else "-"
            flag = "" if p95 <= TARGET_MS else "  over target"
            print(f"{label:34} {p50:8.1f} {p95:8.1f}   {ref:>18}{flag}", flush=True)
    finally:
        for c in clients:
            c.close()
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


if __name__ == "__main__":
    main()
