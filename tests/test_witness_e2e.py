"""A witness follows a real home: ``dgate-verify witness serve`` (a subprocess) cosigns every checkpoint the
running ``dgate serve`` publishes, refuses forged, forked and rolled-back ones, and the log serves the
checkpoint with its cosignature at /log/checkpoint."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from apphelp import load_world, make_people
from conftest import CliResult, run_cli
from disclosure_gate.ledger import note, witness_net
from disclosure_gate.ledger import witness as witness_mod
from test_web_api import MINI, Server, free_port

VERIFY = [sys.executable, "-c", "from disclosure_gate.surfaces.verify import main; main()"]
WITNESS_NAME = "court.example/witness"


def dgate_verify(*args: str | os.PathLike[str]) -> CliResult:
    proc = subprocess.run([*VERIFY, *[str(a) for a in args]], capture_output=True, text=True, timeout=120)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


class WitnessProcess:
    """``dgate-verify witness serve`` on a free loopback port; :meth:`stop` sends SIGTERM."""

    def __init__(self, root: Path, key: Path, log_key: Path, state: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stdout, self.stderr = root / "witness.out", root / "witness.err"
        self._out, self._err = self.stdout.open("wb"), self.stderr.open("wb")
        self.proc = subprocess.Popen([*VERIFY, "witness", "serve", "--key", str(key), "--log-key", str(log_key),
                                      "--state", str(state), "--port", str(self.port)],
                                     stdout=self._out, stderr=self._err)
        deadline = time.monotonic() + 60
        while "listening on" not in self.stderr.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the witness did not start: {self.stderr.read_text(errors='replace')}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        self._err.close()


@dataclass
class Setup:
    root: Path
    home: Path
    tokens: dict[str, str]
    ledger_pub: Path
    ledger_skey: str
    witness_vkey: str
    witness: WitnessProcess
    server: Server
    http: httpx.Client

    def ok(self, *args: str | os.PathLike[str], who: str | None = None) -> CliResult:
        r = run_cli(*args, *(("--as", who) if who else ()), home=self.home, token=self.tokens.get(who or ""))
        assert r.code == 0, (args, r.stdout, r.stderr)
        return r

    def served(self) -> str:
        r = self.http.get("/log/checkpoint")
        assert r.status_code == 200, r.text
        return r.text

    def witnessed(self) -> str:
        """What the witness serves as the latest checkpoint it cosigned for this log (tlog-witness monitoring)."""
        origin = self.served().split("\n", 1)[0]
        r = httpx.get(self.witness.url + witness_mod.monitoring_path(origin), timeout=10)
        assert r.status_code == 200, r.text
        return r.text


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("witness")
    home = root / "home"
    people = make_people(home)
    try:
        load_world(people, MINI / "persons.csv", MINI / "addresses.csv", MINI / "agreement.yaml")
        (root / "ledger.pub").write_text(people.op.keys.verifier_key + "\n")
        skey = note.signer_key_string(people.op.keys.signer)
        tokens = dict(people.tokens)
    finally:
        people.close()
    made = dgate_verify("witness-key", WITNESS_NAME, "--out", root / "witness.key")
    assert made.code == 0, made.stderr
    witness_vkey = made.stdout.strip()
    assert oct((root / "witness.key").stat().st_mode & 0o777) == "0o600"
    witness = WitnessProcess(root, root / "witness.key", root / "ledger.pub", root / "witness-state.json")
    try:
        assert (root / "witness.out").read_text().strip() == witness_vkey
        server = Server(home, root / "serve.log")
        client = httpx.Client(base_url=server.url, timeout=60)
        try:
            yield Setup(root, home, tokens, root / "ledger.pub", skey, witness_vkey, witness, server, client)
        finally:
            client.close()
            server.stop()
    finally:
        witness.stop()


def _size(checkpoint_note: str) -> int:
    return int(checkpoint_note.split("\n")[1])


def _cosigned_by_witness(text: str, vkey: str, ledger_pub: Path) -> int:
    return note.verify_cosignature(text, note.parse_verifier_key(vkey),
                                   log_verifier=note.parse_verifier_key(ledger_pub.read_text().strip()))


def test_a_witness_follows_three_checkpoints_and_refuses_forgeries(setup: Setup) -> None:
    s = setup
    added = s.ok("ledger", "witness", "add", s.witness.url, s.witness_vkey, who="officer")
    assert WITNESS_NAME in added.stdout + added.stderr
    first = s.served()
    assert _cosigned_by_witness(first, s.witness_vkey, s.ledger_pub) > 0
    sizes = [_size(first)]
    notes = [first]
    for day in ("2026-06-02", "2026-06-03", "2026-06-04"):
        manifest = s.root / f"manifest-{day}.yaml"
        manifest.write_text((MINI / "manifest.yaml").read_text().replace("2026-06-01", day))
        batch = s.ok("request", "submit", MINI / "requests.csv", "--manifest", manifest).stdout.strip()
        s.ok("request", "process", batch, who="officer")  # signs a checkpoint and sends it to the witness
        text = s.served()
        assert _size(text) > sizes[-1]
        stamp = _cosigned_by_witness(text, s.witness_vkey, s.ledger_pub)
        assert abs(stamp - time.time()) < 600
        # the witness itself now holds exactly this checkpoint as the latest it cosigned
        held = s.witnessed()
        assert held.split("\n\n")[0] == text.split("\n\n")[0]
        sizes.append(_size(text))
        notes.append(text)
    assert len(set(sizes)) == 4
    listed = json.loads(s.ok("ledger", "witness", "list", "--json", who="officer").stdout)
    assert [(w["name"], w["last_size"], w["last_error"]) for w in listed] == [(WITNESS_NAME, sizes[-1], None)]

    # the served note verifies with dgate-verify, and carries the cosignature line
    (s.root / "served.txt").write_text(notes[-1])
    checked = dgate_verify("checkpoint", s.root / "served.txt", "--key", s.ledger_pub)
    assert checked.code == 0 and f"size {sizes[-1]}" in checked.stdout, checked.stderr
    assert f"\u2014 {WITNESS_NAME} " in notes[-1]

    latest = witness_mod.LogState(sizes[-1], note.Checkpoint.parse(notes[-1].split("\n\n")[0] + "\n").root)
    origin = notes[-1].split("\n", 1)[0]

    def ask(note_text: str, old: int, proof: list[bytes] | None = None) -> str:
        return witness_net.request_cosignature(s.witness.url, s.witness_vkey, note_text, old, proof or [],
                                               timeout=10)

    # forged: the same origin, signed by a key that is not the ledger's
    impostor = note.generate_signer(origin)
    forged = note.sign_checkpoint(note.Checkpoint(origin, latest.size + 5, hashlib.sha256(b"x").digest()), impostor)
    with pytest.raises(witness_mod.WitnessRefusal) as refused:
        ask(forged, latest.size)
    assert refused.value.status == 403
    # rolled back: an earlier genuine checkpoint
    with pytest.raises(witness_mod.WitnessRefusal) as refused:
        ask(notes[1], latest.size)
    assert refused.value.status == 400
    with pytest.raises(witness_mod.WitnessConflict) as conflict:
        ask(notes[1], sizes[1])
    assert conflict.value.recorded_size == latest.size
    # a fork signed with the real ledger key (a rewritten history): same size, other root; bigger, bad proof
    signer = note.parse_signer_key(s.ledger_skey)
    fork = note.sign_checkpoint(note.Checkpoint(origin, latest.size, hashlib.sha256(b"fork").digest()), signer)
    with pytest.raises(witness_mod.WitnessRefusal) as refused:
        ask(fork, latest.size)
    assert refused.value.status == 422
    longer = note.sign_checkpoint(note.Checkpoint(origin, latest.size + 1, hashlib.sha256(b"y").digest()), signer)
    with pytest.raises(witness_mod.WitnessRefusal) as refused:
        ask(longer, latest.size, [hashlib.sha256(b"not a proof").digest()])
    assert refused.value.status == 422
    # none of it moved the witness
    assert s.witnessed().split("\n\n")[0] == notes[-1].split("\n\n")[0]

    # an overseer holding the first witnessed checkpoint checks that the latest extends it
    out = s.root / "first-to-latest.json"
    s.ok("ledger", "consistency", "--from", str(sizes[0]), "--out", out, who="overseer")
    assert len(json.loads(out.read_text())["proof"]) > 0
    checked = dgate_verify("consistency", out, "--key", s.ledger_pub)
    assert checked.code == 0 and f"size {sizes[-1]} is consistent with size {sizes[0]}" in checked.stdout


def test_consistency_from_the_empty_tree_is_an_empty_proof(setup: Setup) -> None:
    s = setup
    out = s.root / "from0.json"
    s.ok("ledger", "consistency", "--from", "0", "--out", out, who="officer")
    bundle = json.loads(out.read_text())
    assert bundle["old_size"] == 0 and bundle["proof"] == [] and bundle["old_checkpoint"] is None
    checked = dgate_verify("consistency", out, "--key", s.ledger_pub)
    assert checked.code == 0 and "consistent with size 0" in checked.stdout, checked.stderr
    # a non-empty proof from size 0 is refused
    bundle["proof"] = [hashlib.sha256(b"x").hexdigest()]
    out.write_text(json.dumps(bundle))
    assert dgate_verify("consistency", out, "--key", s.ledger_pub).code == 7
