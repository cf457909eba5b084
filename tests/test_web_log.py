"""The ledger served as C2SP tlog-tiles under /log/, checked by an independent client.

The client below uses only ``hashlib`` (RFC 6962 hashing written out here) and
the spec's definitions: it fetches the checkpoint and the tiles its size
requires, recomputes the root and inclusion proofs from tiles, and compares.
The project's own ``merkle`` module checks the same proofs a second time.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from apphelp import make_people, submit_and_process
from conftest import run_cli
from disclosure_gate.app import agreements, authz, records, tlog, users
from disclosure_gate.app.session import Credentials, open_session
from disclosure_gate.errors import AuthorizationError, NotFoundError
from disclosure_gate.ledger import merkle, note
from disclosure_gate.ledger import store as ledger
from disclosure_gate.store.home import init_home
from test_web_api import MINI, Server, bearer, error_of

# -- an independent tlog-tiles client (RFC 6962 + c2sp.org/tlog-tiles) ------------------------------------


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def node(left: bytes, right: bytes) -> bytes:
    return sha(b"\x01" + left + right)


def mth(hashes: list[bytes]) -> bytes:
    """RFC 6962 MTH over already-hashed leaves."""
    if not hashes:
        return sha(b"")
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return node(mth(hashes[:k]), mth(hashes[k:]))


def index_path(n: int) -> str:
    """tlog-tiles: 1234067 -> x001/x234/067 (written out again here, not the project's)."""
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.insert(0, f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(groups)


class TileClient:
    """Fetches only what a checkpoint of ``size`` entries requires; computes subtree hashes from tiles."""

    def __init__(self, fetch: Callable[[str], bytes], size: int) -> None:
        self.fetch, self.size, self.fetched = fetch, size, set[str]()
        self._tiles: dict[tuple[int, int], list[bytes]] = {}

    def tile(self, level: int, index: int) -> list[bytes]:
        if (level, index) not in self._tiles:
            width = min(256, (self.size >> (8 * level)) - 256 * index)
            assert width > 0, (level, index)
            path = f"tile/{level}/{index_path(index)}" + ("" if width == 256 else f".p/{width}")
            data = self.fetch(path)
            self.fetched.add(path)
            assert len(data) == 32 * width, (path, len(data))
            self._tiles[(level, index)] = [data[i:i + 32] for i in range(0, len(data), 32)]
        return self._tiles[(level, index)]

    def subtree(self, height: int, index: int) -> bytes:
        """The hash of the perfect subtree of ``height`` at ``index``, from the tile level just below it."""
        level, rest = divmod(height, 8)
        first = index << rest
        hashes = self.tile(level, first // 256)[first % 256: first % 256 + (1 << rest)]
        assert len(hashes) == 1 << rest
        return mth(hashes)

    def root(self) -> bytes:
        """MTH of the whole tree: its perfect subtrees left to right, folded from the right."""
        parts, start = [], 0
        for height in range(self.size.bit_length() - 1, -1, -1):
            if self.size >> height & 1:
                parts.append(self.subtree(height, start >> height))
                start += 1 << height
        acc = parts[-1]
        for h in reversed(parts[:-1]):
            acc = node(h, acc)
        return acc

    def get_node(self, level: int, index: int) -> bytes:  # merkle.NodeStore
        return self.subtree(level, index)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2, written out."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def open_checkpoint(text: str, vkey: str) -> tuple[str, int, bytes]:
    cp = note.open_checkpoint(text, note.parse_verifier_key(vkey))
    body = text.split("\n\n", 1)[0].split("\n")
    assert (body[0], int(body[1]), base64.b64decode(body[2])) == (cp.origin, cp.size, cp.root)
    return cp.origin, cp.size, cp.root


# -- a home served by dgate serve ---------------------------------------------------------------------
@dataclass
class Log:
    root: Path
    home: Path
    server: Server
    http: httpx.Client
    tokens: dict[str, str]
    vkey: str

    def get(self, path: str, who: str | None = None, **headers: str) -> httpx.Response:
        return self.http.get(path, headers={**bearer(self.tokens[who] if who else None), **headers})

    def fetch(self, path: str) -> bytes:
        r = self.get("/log/" + path)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["content-type"] == "application/octet-stream"
        return r.content

    def checkpoint(self) -> tuple[str, int, bytes, str]:
        r = self.get("/log/checkpoint")
        assert r.status_code == 200 and r.headers["content-type"] == "text/plain; charset=utf-8"
        return (*open_checkpoint(r.text, self.vkey), r.text)


def many_requests(path: Path, n: int) -> Path:
    """``n`` rows cycling the mini request rows, with unique request ids."""
    with (MINI / "requests.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(rows[0])
        for i in range(n):
            out.writerow([f"Q{i}", *rows[1 + i % (len(rows) - 1)][1:]])
    return path


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Log]:
    root = tmp_path_factory.mktemp("log")
    home = root / "home"
    people = make_people(home)
    try:
        records.load(people.op, MINI / "persons.csv", MINI / "addresses.csv")
        agreements.add(people["officer"], MINI / "agreement.yaml")
        rec = users.add(people["admin"], "rec1", ["recipient"], ["AGR-1"]).token
        assert rec is not None
        submit_and_process(people, many_requests(root / "many.csv", 600), MINI / "manifest.yaml")
        tokens = {**people.tokens, "rec1": rec}
        vkey = people.op.keys.verifier_key
    finally:
        people.close()
    server = Server(home, root / "serve.log")
    client = httpx.Client(base_url=server.url, timeout=60)
    try:
        yield Log(root, home, server, client, tokens, vkey)
    finally:
        client.close()
        server.stop()


def test_checkpoint_is_served_signed_and_short_lived(log: Log) -> None:
    origin, size, _, _ = log.checkpoint()
    assert size > 600 and origin.startswith("disclosure-gate.local/")
    r = log.get("/log/checkpoint")
    assert r.headers["cache-control"] == "public, max-age=5"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_an_independent_client_recomputes_the_root_from_tiles(log: Log) -> None:
    _, size, root, _ = log.checkpoint()
    client = TileClient(log.fetch, size)
    assert client.root() == root
    assert any(p.startswith("tile/1/") for p in client.fetched), client.fetched  # a level-1 tile was used
    # level 1 holds the MTH of each full level-0 tile
    for i, h in enumerate(client.tile(1, 0)):
        assert h == mth(client.tile(0, i))
    # the project's merkle module agrees, reading nodes from the same tiles
    assert merkle.root_at(size, client) == root


def test_inclusion_proofs_built_from_tiles_verify(log: Log) -> None:
    _, size, root, _ = log.checkpoint()
    client = TileClient(log.fetch, size)
    bundles: dict[int, list[bytes]] = {}
    for idx in (0, 1, 255, 256, 300, 511, size - 1):
        proof = merkle.inclusion_proof(idx, size, client)
        n, pos = divmod(idx, 256)
        if n not in bundles:
            width = min(256, size - 256 * n)
            path = f"tile/entries/{index_path(n)}" + ("" if width == 256 else f".p/{width}")
            r = log.get("/log/" + path, "overseer", **{"Accept-Encoding": "gzip"})
            assert r.status_code == 200 and r.headers["content-encoding"] == "gzip", r.text
            bundles[n] = tlog.parse_bundle(r.content)
            assert len(bundles[n]) == width
        entry = bundles[n][pos]
        leaf = sha(b"\x00" + entry)
        assert leaf == client.tile(0, n)[pos]
        assert json.loads(entry)["idx"] == idx
        assert verify_inclusion(leaf, idx, size, proof, root), idx
        merkle.verify_inclusion(leaf, idx, size, proof, root)
        assert not verify_inclusion(leaf, idx, size, proof, sha(b"other"))


def test_entry_bundles_are_for_overseers_only(log: Log) -> None:
    path = "/log/tile/entries/000"
    r = log.get(path)
    assert r.status_code == 401 and error_of(r)["code"] == "DG510"
    for who in ("rec1", "rev1", "preparer"):
        r = log.get(path, who)
        assert r.status_code == 403 and error_of(r)["code"] == "DG500", who
    r = log.get(path, "overseer")
    assert r.status_code == 200 and r.headers["cache-control"].startswith("private")
    entries = tlog.parse_bundle(r.content)
    assert len(entries) == 256
    kinds = {json.loads(e)["type"] for e in entries}
    assert kinds == {"event", "decision"}
    assert all(b'"subject"' in e for e in entries if b'"type":"decision"' in e)


def test_hash_tiles_are_public_with_cache_headers(log: Log) -> None:
    _, size, _, _ = log.checkpoint()
    full = log.get("/log/tile/0/000")
    assert full.status_code == 200 and len(full.content) == 8192
    assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
    width = size % 256
    partial = log.get(f"/log/tile/0/{index_path(size // 256)}.p/{width}")
    assert partial.status_code == 200 and len(partial.content) == 32 * width
    assert partial.headers["cache-control"] == "public, max-age=60"
    # a narrower prefix of a partial tile is the prefix of its bytes
    assert log.get(f"/log/tile/0/{index_path(size // 256)}.p/1").content == partial.content[:32]
    # level 1 is the MTH of each full level-0 tile
    level1 = log.get("/log/tile/1/000.p/2").content
    halves = [log.get(f"/log/tile/0/00{i}").content for i in (0, 1)]
    assert level1 == b"".join(mth([t[j:j + 32] for j in range(0, 8192, 32)]) for t in halves)


@pytest.mark.parametrize("path", [
    "tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/01", "tile/0/x000/001", "tile/0/1", "tile/0/0000",
    "tile/64/000", "tile/01/000", "tile/x/000", "tile/0/001.p", "tile/0", "tile/entries", "tile/0/x001",
    "tile/0/999", "tile/3/000.p/1", "tile/0/x001/000",
])
def test_malformed_or_uncovered_tiles_are_404(log: Log, path: str) -> None:
    r = log.get("/log/" + path, "overseer")
    assert r.status_code == 404 and error_of(r)["code"] == "DG301", (path, r.text)


def test_only_what_a_checkpoint_covers_is_served(log: Log) -> None:
    _, size, _, _ = log.checkpoint()
    n, width = divmod(size, 256)
    beyond = f"/log/tile/0/{index_path(n)}.p/{width + 1}"
    r = run_cli("settings", "set", "agency_name", "Internal Revenue Service", "--as", "officer", home=log.home,
                token=log.tokens["officer"])
    assert r.code == 0, r.stderr  # one more entry, not yet checkpointed
    assert log.get(beyond).status_code == 404
    assert log.get(f"/log/tile/entries/{index_path(n)}.p/{width + 1}", "overseer").status_code == 404
    r = run_cli("ledger", "checkpoint", "--as", "officer", home=log.home, token=log.tokens["officer"])
    assert r.code == 0, r.stderr
    assert log.checkpoint()[1] == size + 1
    assert log.get(beyond).status_code == 200
    entries = tlog.parse_bundle(log.get(f"/log/tile/entries/{index_path(n)}.p/{width + 1}", "overseer").content)
    assert json.loads(entries[-1])["kind"] == "setting_changed"


# -- the spec's example tree (70,000 entries), in process -------------------------------------------------
def test_tile_paths_round_trip() -> None:
    assert tlog.encode_index(1234067) == "x001/x234/067" == index_path(1234067)
    for n in (0, 7, 999, 1000, 1001, 999_999, 1_000_000, 1234067, 2**40):
        assert tlog.parse_tile_path(f"3/{tlog.encode_index(n)}") == tlog.TileRef(3, n, None)
        assert tlog.parse_tile_path(f"entries/{tlog.encode_index(n)}.p/7") == tlog.TileRef(None, n, 7)
        assert tlog.tile_path(2, n, 5) == f"tile/2/{index_path(n)}.p/5"


def test_spec_example_of_70000_entries(tmp_path: Path) -> None:
    """c2sp.org/tlog-tiles: size 70,000 is 273 full level-0 tiles, a partial one of width 112, one full
    level-1 tile, a partial level-1 tile of width 17 and a partial level-2 tile of width 1."""
    home = tmp_path / "home"
    init_home(home)[0].close()
    s = open_session(home, Credentials(os_user="tester", os_uid=os.getuid()), write=True)
    try:
        base = ledger.size(s.engine)
        events = [("test_event", {"n": i}) for i in range(70_000 - base)]
        for i in range(0, len(events), 10_000):
            ledger.append_events(s.engine, events[i:i + 10_000], "operator:tester")
        cp = ledger.make_checkpoint(s.engine, s.keys)
        assert cp.size == 70_000
        assert [tlog.available(cp.size, lvl, n) for lvl, n in ((0, 272), (0, 273), (0, 274), (1, 0), (1, 1),
                                                               (2, 0), (3, 0))] == [256, 112, 0, 256, 17, 1, 0]

        def fetch(path: str) -> bytes:
            ref = tlog.parse_tile_path(path.removeprefix("tile/"))
            assert ref.level is not None
            return tlog.hash_tile(s, ref.level, ref.index, ref.width)

        client = TileClient(fetch, cp.size)
        assert client.root() == cp.root
        assert client.fetched == {"tile/2/000.p/1", "tile/1/001.p/17", "tile/0/273.p/112"}
        leaves = [bytes(r[0]) for r in s.engine.fetchall("SELECT leaf_hash FROM ledger_entries ORDER BY idx")]
        level1 = [mth(leaves[i * 256:(i + 1) * 256]) for i in range(273)]
        assert client.tile(1, 0) == level1[:256] and client.tile(1, 1) == level1[256:273]
        assert client.tile(2, 0) == [mth(leaves[:65536])]
        for idx in (0, 65535, 65536, 69999):
            proof = merkle.inclusion_proof(idx, cp.size, client)
            assert verify_inclusion(leaves[idx], idx, cp.size, proof, cp.root)
        with pytest.raises(NotFoundError):
            tlog.hash_tile(s, 1, 1)  # not full
        with pytest.raises(NotFoundError):
            tlog.hash_tile(s, 0, 273, 113)
        with pytest.raises(AuthorizationError):  # entry bundles are an overseer's, not the operator's
            tlog.entry_bundle(s, 273, 112)
        s.actor = authz.Actor(name="ig", kind="person", roles=frozenset({"overseer"}))
        bundle = tlog.parse_bundle(tlog.entry_bundle(s, 273, 112))
        assert [json.loads(e)["idx"] for e in bundle] == list(range(69888, 70000))
    finally:
        s.close()
