"""The requesting agency's API, against a real ``dgate serve`` on 127.0.0.1, with an HTTP client.

The home is built through the app layer, then the server holds it: staff act
through the CLI (which forwards to the server), the requesting agency through
``/api/v1`` with recipient tokens.
"""

from __future__ import annotations

import concurrent.futures
import io
import os
import re
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from apphelp import People, load_world, make_people
from conftest import CliResult, run_cli
from disclosure_gate.app import agreements, users
from disclosure_gate.engine import Engine
from disclosure_gate.pipeline.intake import MAX_FIELD_BYTES

MINI = Path(__file__).parent / "fixtures" / "mini"
API = "/api/v1"
AGREEMENT_2 = (MINI / "agreement.yaml").read_text().replace("id: AGR-1", "id: AGR-2").replace(
    "Example Agency", "Other Agency")


# -- a real server -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``dgate serve --insecure-cookies`` on a free loopback port, as a subprocess; :meth:`stop` ends it."""

    def __init__(self, home: Path, log: Path, timeout: float = 90) -> None:
        self.home, self.port = home, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in ("DGATE_HOME", "DGATE_TOKEN")}
        argv = [sys.executable, "-c", "from disclosure_gate.surfaces.cli.main import main; main()", "--home",
                str(home), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--insecure-cookies"]
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(argv, stdout=self._out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.stop()
                pytest.fail(f"dgate serve ended: {log.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"dgate serve did not answer: {log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def error_of(r: httpx.Response) -> dict[str, object]:
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "status", "message"}, body
    assert body["error"]["status"] == r.status_code
    return dict(body["error"])


def eventually_empty(folder: Path, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while any(folder.iterdir()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def files_of(request: Path, manifest: Path) -> dict[str, tuple[str, bytes]]:
    return {"request": (request.name, request.read_bytes()), "manifest": (manifest.name, manifest.read_bytes())}


# -- the world --------------------------------------------------------------------------------------
@dataclass
class World:
    root: Path
    home: Path
    server: Server
    http: httpx.Client
    tokens: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)

    def cli(self, *args: str | os.PathLike[str], who: str | None = None) -> CliResult:
        if who is None:
            return run_cli(*args, home=self.home)
        return run_cli(*args, "--as", who, home=self.home, token=self.tokens[who])

    def ok(self, *args: str | os.PathLike[str], who: str | None = None) -> CliResult:
        r = self.cli(*args, who=who)
        assert r.code == 0, (args, r.stdout, r.stderr)
        return r

    def submit(self, who: str, request: Path, manifest: Path) -> httpx.Response:
        return self.http.post(f"{API}/batches", files=files_of(request, manifest), headers=bearer(self.tokens[who]))

    def get(self, path: str, who: str | None) -> httpx.Response:
        return self.http.get(path, headers=bearer(self.tokens.get(who or "", who)))

    def setting(self, key: str, value: str) -> None:
        self.ok("settings", "set", key, value, who="officer")


def _recipients(people: People) -> dict[str, str]:
    out = {}
    for name, agreement in (("rec1", "AGR-1"), ("rec3", "AGR-1")):
        token = users.add(people["admin"], name, ["recipient"], [agreement]).token
        assert token is not None
        out[name] = token
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("api")
    home = root / "home"
    (root / "agr2.yaml").write_text(AGREEMENT_2)
    people = make_people(home)
    try:
        load_world(people, MINI / "persons.csv", MINI / "addresses.csv", MINI / "agreement.yaml")
        agreements.add(people["officer"], root / "agr2.yaml")
        tokens = {**people.tokens, **_recipients(people)}
    finally:
        people.close()
    server = Server(home, root / "serve.log")
    client = httpx.Client(base_url=server.url, timeout=120)
    try:
        w = World(root, home, server, client, tokens)
        # a recipient added through the CLI, forwarded to the running server
        r = w.ok("user", "add", "rec2", "--role", "recipient", "--agreement", "AGR-2", who="admin")
        w.tokens["rec2"] = r.stdout.strip().splitlines()[-1]
        (root / "ledger.pub").write_text(w.ok("ledger", "key").stdout)
        yield w
    finally:
        client.close()
        server.stop()


@pytest.fixture(scope="module")
def delivered(world: World) -> World:
    """A batch submitted over the API, processed, prepared, approved and delivered by people (CLI)."""
    w = world
    r = w.submit("rec1", MINI / "requests.csv", MINI / "manifest.yaml")
    assert r.status_code == 201, r.text
    assert r.json()["rows"] == 12 and r.json()["created"] is True
    batch = r.json()["batch_id"]
    assert r.headers["location"] == f"{API}/batches/{batch}"
    w.ids["batch"] = batch
    status = w.get(f"{API}/batches/{batch}", "rec1")
    assert status.status_code == 200 and status.json()["status"] == "submitted"
    assert status.json()["funnel"] is None
    w.ids["submitted_view"] = status.text
    w.ok("request", "process", batch, who="officer")
    package = w.ok("release", "prepare", batch, who="preparer").stdout.strip().splitlines()[-1]
    w.ok("release", "approve", package, who="approver")
    (w.root / "delivered").mkdir()
    w.ok("release", "deliver", package, "--out", w.root / "delivered" / "pkg", who="preparer")
    w.ids["package"] = package
    return w


# -- authentication and scope -----------------------------------------------------------------------
ENDPOINTS = [("GET", f"{API}/batches"), ("GET", f"{API}/batches/B0000000000000000"), ("GET", f"{API}/releases"),
             ("GET", f"{API}/releases/P0000000000000000"), ("GET", f"{API}/releases/P0000000000000000/package"),
             ("POST", f"{API}/batches")]


def test_unauthenticated_is_401_and_staff_tokens_are_403(world: World) -> None:
    for method, path in ENDPOINTS:
        for headers in ({}, {"Authorization": "Bearer dgt_wrong"}, {"Authorization": "Basic YTpi"}):
            r = world.http.request(method, path, headers=headers)
            assert r.status_code == 401, (method, path, r.text)
            assert error_of(r)["code"] == "DG510"
            assert r.headers["www-authenticate"].startswith("Bearer")
        r = world.http.request(method, path, headers=bearer(world.tokens["officer"]))
        assert r.status_code == 403 and error_of(r)["code"] == "DG500", r.text


def test_submit_is_idempotent_and_status_has_no_custodian_data(delivered: World) -> None:
    w = delivered
    again = w.submit("rec1", MINI / "requests.csv", MINI / "manifest.yaml")
    assert again.status_code == 200 and again.json() == {"batch_id": w.ids["batch"], "rows": 12, "created": False}
    # the same content through the CLI is the same batch
    assert w.ok("request", "submit", MINI / "requests.csv", "--manifest", MINI / "manifest.yaml").stdout.strip() \
        == w.ids["batch"]
    r = w.get(f"{API}/batches/{w.ids['batch']}", "rec1")
    assert r.status_code == 200
    view = r.json()
    assert view["status"] == "processed" and view["agreement"] == "AGR-1" and view["rows"] == 12
    assert view["funnel"]["requested"] == 12 and view["funnel"]["disclose"] == 2
    assert view["funnel"]["disclose"] + view["funnel"]["review"] + view["funnel"]["deny"] == 12
    assert view["decided"]["policy"].startswith("6103i2@sha256:") and view["decided"]["request_lawful"] is True
    assert set(view) == {"batch_id", "agreement", "rows", "status", "submitted_at", "received_at", "decided",
                         "funnel"}
    custodian = [*(MINI / "persons.csv").read_text().split("\n")[1].split(",")[:4],
                 *(MINI / "addresses.csv").read_text().split("\n")[1].split(",")[1:5]]
    requested = ["García", "123-45-6789", "Main Street", "Protected", "R1", "Springfield", "SPRINGFIELD"]
    for text in (r.text, w.ids["submitted_view"], w.get(f"{API}/batches", "rec1").text):
        for value in [*custodian, *requested]:
            if value and len(value) > 3:
                assert value not in text, value
    listed = w.get(f"{API}/batches", "rec1").json()["batches"]
    assert [(b["batch_id"], b["status"]) for b in listed] == [(w.ids["batch"], "processed")]


def test_package_download_verifies_with_release_verify(delivered: World) -> None:
    w = delivered
    package = w.ids["package"]
    releases = w.get(f"{API}/releases", "rec1").json()["releases"]
    assert [p["package_id"] for p in releases] == [package]
    assert releases[0]["state"] == "delivered" and releases[0]["rows"] == 2
    assert releases[0]["fields"] == ["request_id", "last_known_address"]
    assert releases[0]["package_url"] == f"{API}/releases/{package}/package"
    assert w.get(f"{API}/releases/{package}", "rec1").json() == releases[0]
    r = w.get(releases[0]["package_url"], "rec1")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/gzip"
    assert f'filename="{package}.tar.gz"' in r.headers["content-disposition"]
    assert r.headers["x-manifest-sha256"] == releases[0]["manifest_sha256"]
    with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
        names = sorted(m.name for m in tar.getmembers())
        assert names == sorted([package] + [f"{package}/{n}" for n in
                                            ("_COMPLETE", "data.csv", "data.parquet", "manifest.json",
                                             "manifest.note")])
        out = w.root / "downloaded"
        tar.extractall(out, filter="data")
    assert (out / package / "data.csv").read_bytes() == (w.root / "delivered" / "pkg" / "data.csv").read_bytes()
    verified = run_cli("release", "verify", out / package, "--key", w.root / "ledger.pub")
    assert verified.code == 0 and "OK" in verified.stdout, verified.stderr
    # the same archive every time (reproducible)
    assert w.get(releases[0]["package_url"], "rec1").content == r.content
    # nothing is left in the home's scratch folders (removed once the response is sent)
    assert eventually_empty(w.home / "tmp" / "downloads") and eventually_empty(w.home / "tmp" / "uploads")


def test_a_tampered_delivered_copy_is_not_sent(delivered: World) -> None:
    w = delivered
    data = w.root / "delivered" / "pkg" / "data.csv"
    original = data.read_bytes()
    try:
        data.write_bytes(original.replace(b"SPRINGFIELD", b"SPRINGFIELX", 1))
        r = w.get(f"{API}/releases/{w.ids['package']}/package", "rec1")
        assert r.status_code == 422 and error_of(r)["code"] == "DG600"
        assert str(w.root) not in r.text
    finally:
        data.write_bytes(original)
    assert w.get(f"{API}/releases/{w.ids['package']}/package", "rec1").status_code == 200


def test_another_recipient_sees_nothing(delivered: World) -> None:
    w = delivered
    batch, package = w.ids["batch"], w.ids["package"]
    for path, unknown in ((f"{API}/batches/{batch}", f"{API}/batches/B0123456789abcde"),
                          (f"{API}/releases/{package}", f"{API}/releases/P0123456789abcde"),
                          (f"{API}/releases/{package}/package", f"{API}/releases/P0123456789abcde/package")):
        theirs, none = w.get(path, "rec2"), w.get(unknown, "rec2")
        assert theirs.status_code == none.status_code == 404
        assert error_of(theirs)["code"] == error_of(none)["code"] == "DG301"
        # the message for someone else's object is the message for an object that does not exist
        pattern = re.compile(r"[BP][0-9a-f]{15}")
        assert pattern.sub("ID", str(error_of(theirs)["message"])) == pattern.sub("ID", str(error_of(none)["message"]))
    assert w.get(f"{API}/releases", "rec2").json() == {"releases": []}
    assert w.get(f"{API}/batches", "rec2").json() == {"batches": []}
    r = w.submit("rec2", MINI / "requests.csv", MINI / "manifest.yaml")
    assert r.status_code == 404 and error_of(r) == {"code": "DG301", "status": 404,
                                                     "message": "no agreement 'AGR-1' in this home"}
    unknown = w.root / "m-unknown.yaml"
    unknown.write_text((MINI / "manifest.yaml").read_text().replace("AGR-1", "AGR-404"))
    r = w.submit("rec2", MINI / "requests.csv", unknown)
    assert r.status_code == 404 and error_of(r)["message"] == "no agreement 'AGR-404' in this home"


# -- bad input: the same error over HTTP as on the CLI -----------------------------------------------
HEADER = "request_id,first_name,last_name,tin,address\n"
GOOD = "R1,Ann,Smith,123-45-6789,\"1 Main St, Springfield, IL 62704\"\n"
MANIFEST = (MINI / "manifest.yaml").read_text()
ML = HEADER + 'R1,Ann,"Smi\nth",,x\n'

REQUEST_CASES: list[tuple[str, bytes]] = [
    ("r.txt", (HEADER + GOOD).encode()),
    ("r.csv", b""),
    ("r.csv", HEADER.encode()),
    ("r.csv", b"request_id,first_name,address\nR1,A,x\n"),
    ("r.csv", b"request_id,first_name,last_name\nR1,A,B\n"),
    ("r.csv", b"request_id,first_name,last_name,address,street,city,state,zip\nR1,A,B,x,,,,\n"),
    ("r.csv", b"request_id,first_name,last_name,street,city,state\nR1,A,B,x,y,z\n"),
    ("r.csv", (HEADER + GOOD + 'R2,Bo,"Jones,,x\nR3,C,D,,x\n').encode()),
    ("r.csv", (HEADER + GOOD + "R2,Bo,Jones,,x,extra\n").encode()),
    ("r.csv", (HEADER + GOOD + "R2,Bo\n").encode()),
    ("r.csv", (HEADER + GOOD).encode() + b"R2,Bo,Gar\xe7ia,,x\n"),
    ("r.csv", (HEADER + GOOD).encode() + b"R2,Bo,Ga\x00r,,x\n"),
    ("r.csv", (HEADER + GOOD + "R2,Bo,Jones,," + "x" * (MAX_FIELD_BYTES + 1) + "\n").encode()),
    ("r.csv", (HEADER + GOOD + "R3,C,D,,x\nR1,Bo,Jones,,x\n").encode()),
    ("r.csv", (HEADER + GOOD + " ,C,D,,x\n").encode()),
    ("r.csv", b"\xff\xfeheader\n"),
    ("r.csv", b"request_id,first_name,last_name,last_name,address\nR1,A,B,C,x\n"),
    ("r.csv", (HEADER + GOOD).replace("\n", "\r").encode()),
    ("r.csv", (HEADER + GOOD + "\nR2,Bo,Jones,,x\n").encode()),
    ("r.csv", (ML + 'R2,"B\no",Jones,,x\n ,C,D,,x\n').encode()),
    ("r.csv", (HEADER + GOOD + '"R\u202e2",Bo,Jones,,x\n').encode()),
    ("r.csv", (HEADER + GOOD + 'R2,Jo"hn,Doe,,x\n').encode()),
    ("r.parquet", b"PAR1 this is not parquet"),
]
MANIFEST_CASES: list[str] = [
    "agreement: [unclosed\n", "- a list\n- not a mapping\n", "", "\x00",
    MANIFEST + "official: X\n",
    MANIFEST.replace("submitted_at: 2026-06-01", "submitted_at: 2025-02-30"),
    MANIFEST.replace("submitted_at: 2026-06-01\n", ""),
    MANIFEST + "purpose: " + "[" * 5000 + "]" * 5000 + "\n",
    MANIFEST.replace("agreement: AGR-1\n", ""),
]


def _parquet(path: Path, **columns: pa.Array) -> bytes:
    base = {"request_id": pa.array(["R1", "R2"]), "first_name": pa.array(["A", "B"]),
            "last_name": pa.array(["C", "D"]), "address": pa.array(["x", "y"])}
    pq.write_table(pa.table({**base, **columns}), path)
    return path.read_bytes()


def _parity(w: World, folder: Path, name: str, data: bytes, manifest: str) -> None:
    folder.mkdir()
    req, man = folder / name, folder / "m.yaml"
    req.write_bytes(data)
    man.write_bytes(manifest.encode("utf-8"))
    cli = w.cli("request", "submit", req, "--manifest", man, who="rec1")
    http = w.submit("rec1", req, man)
    assert cli.code != 0 and http.status_code >= 400, (cli.stderr, http.text)
    line = next(ln for ln in cli.stderr.splitlines() if ln.startswith("error["))
    code, message = re.fullmatch(r"error\[(DG\d+)\]: (.*)", line).groups()  # type: ignore[union-attr]
    err = error_of(http)
    assert err["code"] == code, (cli.stderr, http.text)
    assert err["message"] == message.replace(str(folder) + "/", ""), (cli.stderr, http.text)
    assert http.status_code == {"3": 422, "4": 404, "64": 400, "6": 403}[str(cli.code)]


@pytest.mark.parametrize("case", range(len(REQUEST_CASES)))
def test_bad_request_files_give_the_cli_error_over_http(world: World, tmp_path: Path, case: int) -> None:
    name, data = REQUEST_CASES[case]
    _parity(world, tmp_path / "in", name, data, MANIFEST)


@pytest.mark.parametrize("case", range(len(MANIFEST_CASES)))
def test_bad_manifests_give_the_cli_error_over_http(world: World, tmp_path: Path, case: int) -> None:
    if case == len(MANIFEST_CASES) - 1:  # no agreement: the CLI refuses the recipient (403), the API explains
        r = world.submit("rec1", MINI / "requests.csv", _write(tmp_path / "m.yaml", MANIFEST_CASES[case]))
        assert r.status_code == 422 and error_of(r)["code"] == "DG206" and "m.yaml" in r.text
        return
    _parity(world, tmp_path / "in", "r.csv", (HEADER + GOOD).encode(), MANIFEST_CASES[case])


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("column, array", [
    ("last_name", pa.array([b"\xff\xfe", b"x"], pa.binary())),
    ("address", pa.array([["a"], ["b"]])),
])
def test_bad_parquet_gives_the_cli_error_over_http(world: World, tmp_path: Path, column: str,
                                                  array: pa.Array) -> None:
    _parity(world, tmp_path / "in", "r.parquet", _parquet(tmp_path / "src.parquet", **{column: array}), MANIFEST)


def test_parquet_is_accepted(world: World, tmp_path: Path) -> None:
    path = tmp_path / "ok.parquet"
    _parquet(path, request_id=pa.array(["P1", "P2"]))
    manifest = _write(tmp_path / "m.yaml", MANIFEST.replace("2026-06-01", "2026-06-06"))
    assert world.cli("request", "submit", path, "--manifest", manifest, "--dry-run", who="rec1").code == 0
    r = world.submit("rec1", path, manifest)
    assert r.status_code == 201 and r.json()["rows"] == 2, r.text


def test_form_errors_are_400_in_the_one_shape(world: World) -> None:
    w, h = world, bearer(world.tokens["rec1"])
    req, man = (MINI / "requests.csv").read_bytes(), (MINI / "manifest.yaml").read_bytes()
    cases = [
        dict(content=b"request_id\n", headers={**h, "Content-Type": "text/csv"}),
        dict(files={"request": ("r.csv", req)}, headers=h),
        dict(files={"manifest": ("m.yaml", man)}, headers=h),
        dict(files={"request": ("r.csv", req), "manifest": ("m.yaml", man), "extra": ("x", b"x")}, headers=h),
        dict(files=[("request", ("r.csv", req)), ("request", ("r.csv", req)), ("manifest", ("m.yaml", man))],
             headers=h),
        dict(content=b"--b\r\nContent-Disposition: form-data; name=\"request\"; filename=\"r.csv\"\r\n\r\nx",
             headers={**h, "Content-Type": "multipart/form-data; boundary=b"}),
    ]
    for kwargs in cases:
        r = w.http.post(f"{API}/batches", **kwargs)  # type: ignore[arg-type]
        assert r.status_code == 400, (kwargs.get("files"), r.text)
        assert error_of(r)["code"] == "DG110"
    assert eventually_empty(w.home / "tmp" / "uploads")


def test_unknown_routes_and_methods_use_the_error_shape(world: World) -> None:
    r = world.get(f"{API}/nothing-here", "rec1")
    assert r.status_code == 404 and error_of(r)["code"] == "DG301"
    r = world.http.delete(f"{API}/batches", headers=bearer(world.tokens["rec1"]))
    assert r.status_code == 405 and error_of(r)["code"] == "DG110"


def test_openapi_documents_the_api_routes_only(world: World) -> None:
    r = world.http.get(f"{API}/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {f"{API}/batches", f"{API}/batches/{{batch_id}}", f"{API}/releases",
                                 f"{API}/releases/{{package_id}}", f"{API}/releases/{{package_id}}/package"}
    post = doc["paths"][f"{API}/batches"]["post"]
    form = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(form["required"]) == {"request", "manifest"}
    assert {"201", "200", "401", "404", "413", "422", "429"} <= set(post["responses"])
    assert "recipientToken" in doc["components"]["securitySchemes"]
    assert doc["components"]["securitySchemes"]["recipientToken"]["scheme"].lower() == "bearer"


def test_concurrent_identical_submissions_store_one_batch(world: World) -> None:
    manifest = _write(world.root / "m-concurrent.yaml", MANIFEST.replace("2026-06-01", "2026-06-03"))

    def post(_: int) -> httpx.Response:
        return world.submit("rec1", MINI / "requests.csv", manifest)

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(post, range(6)))
    assert sorted(r.status_code for r in answers) == [200] * 5 + [201]
    assert len({r.json()["batch_id"] for r in answers}) == 1


# -- limits -------------------------------------------------------------------------------------------
def test_body_size_limit_is_413(world: World) -> None:
    w = world
    big = _write(w.root / "big.csv", HEADER + "".join(f"R{i},Ann,Smith,,x\n" for i in range(400)))
    w.setting("api_max_bytes", "2000")
    try:
        r = w.submit("rec1", big, MINI / "manifest.yaml")
        assert r.status_code == 413 and error_of(r)["code"] == "DG700" and "api_max_bytes" in r.text

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while streaming
            body = (b"--b\r\nContent-Disposition: form-data; name=\"request\"; filename=\"big.csv\"\r\n\r\n"
                    + big.read_bytes() + b"\r\n--b--\r\n")
            for i in range(0, len(body), 512):
                yield body[i:i + 512]

        r = w.http.post(f"{API}/batches", content=chunks(),
                        headers={**bearer(w.tokens["rec1"]), "Content-Type": "multipart/form-data; boundary=b"})
        assert r.status_code == 413 and error_of(r)["code"] == "DG700"
    finally:
        w.setting("api_max_bytes", "1073741824")
    assert eventually_empty(w.home / "tmp" / "uploads")


def test_row_limit_is_413_and_counts_records_not_lines(world: World) -> None:
    w = world
    multiline = _write(w.root / "multiline.csv", HEADER + "".join(
        f'M{i},Ann,"Smi\nth",,"1 Main St\nSpringfield IL"\n' for i in range(5)))
    manifest = _write(w.root / "m-rows.yaml", MANIFEST.replace("2026-06-01", "2026-06-04"))
    w.setting("api_max_rows", "5")
    try:
        r = w.submit("rec1", MINI / "requests.csv", manifest)
        assert r.status_code == 413 and error_of(r)["code"] == "DG700"
        assert "12 rows" in r.text and "api_max_rows" in r.text and "requests.csv" in r.text
        ok = w.submit("rec1", multiline, manifest)  # 16 lines, 5 records
        assert ok.status_code == 201, ok.text
        assert ok.json()["rows"] == 5
    finally:
        w.setting("api_max_rows", "2000000")


def test_rate_limit_is_429_with_retry_after(world: World) -> None:
    w = world
    w.setting("api_rate_per_minute", "3")
    try:
        answers = [w.get(f"{API}/batches", "rec3") for _ in range(4)]
        assert [r.status_code for r in answers[:3]] == [200, 200, 200]
        r = answers[3]
        assert r.status_code == 429 and error_of(r)["code"] == "DG700"
        assert 1 <= int(r.headers["retry-after"]) <= 20
        assert "api_rate_per_minute" in r.text
        # per token: another recipient still has its budget
        assert w.get(f"{API}/batches", "rec2").status_code == 200
    finally:
        w.setting("api_rate_per_minute", "120")


# -- processing: manual and automatic ---------------------------------------------------------------------
def test_automatic_processing_runs_as_system_auto_process(delivered: World) -> None:
    w = delivered
    manifest = _write(w.root / "m-auto.yaml", MANIFEST.replace("2026-06-01", "2026-06-02"))
    w.setting("processing", "automatic")
    try:
        r = w.submit("rec1", MINI / "requests.csv", manifest)
        assert r.status_code == 201, r.text
        batch = r.json()["batch_id"]
        seen = set()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            status = w.get(f"{API}/batches/{batch}", "rec1").json()["status"]
            seen.add(status)
            if status == "processed":
                break
            time.sleep(0.2)
        assert status == "processed", seen
        assert seen <= {"submitted", "processing", "processed"}
    finally:
        w.setting("processing", "manual")
    w.ids["auto_batch"] = batch
    events = w.ok("ledger", "events", "--kind", "facts_stored", "--json", who="overseer").stdout
    assert "system:auto-process" in events and batch in events
    # manual again: a new batch stays submitted
    manual = _write(w.root / "m-manual.yaml", MANIFEST.replace("2026-06-01", "2026-06-05"))
    r = w.submit("rec1", MINI / "requests.csv", manual)
    assert r.status_code == 201
    time.sleep(1.0)
    assert w.get(f"{API}/batches/{r.json()['batch_id']}", "rec1").json()["status"] == "submitted"


def test_a_recalled_package_is_listed_but_not_served(delivered: World) -> None:
    w = delivered
    w.ok("release", "recall", w.ids["package"], "--reason", "sent in error", who="officer")
    listed = w.get(f"{API}/releases", "rec1").json()["releases"]
    assert listed[0]["state"] == "recalled" and listed[0]["recall_reason"] == "sent in error"
    r = w.get(f"{API}/releases/{w.ids['package']}/package", "rec1")
    assert r.status_code == 409 and error_of(r)["code"] == "DG300" and "recalled" in r.text


def test_who_started_processing_is_recorded(delivered: World) -> None:
    """Last: stops the server to read the home. Manual runs name the officer; automatic ones the system."""
    w = delivered
    assert "auto_batch" in w.ids, "runs after the automatic-processing test"
    w.server.stop()
    engine = Engine(w.home / "dgate.duckdb", read_only=True)
    try:
        runs = dict(engine.fetchall("SELECT batch_id, started_by FROM runs"))
        jobs = engine.fetchall("SELECT kind, params, started_by, state FROM jobs")
    finally:
        engine.close()
    assert runs[w.ids["batch"]] == "officer"
    assert runs[w.ids["auto_batch"]] == "system:auto-process"
    assert [(k, s, st) for k, p, s, st in jobs if w.ids["auto_batch"] in p] == [
        ("process", "system:auto-process", "done")]
