"""C2SP tlog-witness: request format, the witness's rules, the HTTP server, the log's client, the CLI.

Known answers: the example request body of c2sp.org/tlog-witness ("add-checkpoint"),
and the litewitness test log (FiloSottile/torchwood, cmd/litewitness/testdata/
litewitness.txt, made by its gentest/sigsum.go with seed b4e385f4...): its
checkpoints, consistency proofs and the statuses its hurl script expects
(except where the spec now says otherwise: an unknown origin is 404, not 403).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from disclosure_gate.errors import BusyError, DocumentError, InputError, IntegrityError, LimitError
from disclosure_gate.ledger import merkle, note, overseer
from disclosure_gate.ledger.witness import (
    MAX_PROOF_LINES,
    MAX_REQUEST_BYTES,
    SIZE_CONTENT_TYPE,
    STATE_FORMAT,
    LogState,
    StateLock,
    Witness,
    WitnessConflict,
    WitnessRefusal,
    WitnessRequestError,
    WitnessResponseError,
    WitnessUnavailable,
    check_update,
    format_add_checkpoint,
    format_size_conflict,
    logs_by_origin,
    monitoring_path,
    parse_add_checkpoint,
    parse_size_conflict,
)
from disclosure_gate.ledger.witness_net import attach_cosignature, request_cosignature, serving

NOW = 1_700_000_000


def clock() -> float:
    return NOW


# --------------------------------------------------------------------------
# A log built in memory
# --------------------------------------------------------------------------


@dataclass
class Log:
    signer: note.Signer
    salt: bytes = b""
    store: merkle.MemoryNodeStore = field(default_factory=merkle.MemoryNodeStore)
    rng: merkle.CompactRange = field(default_factory=merkle.CompactRange)

    @classmethod
    def new(cls, name: str = "disclosure-gate.example/ledger", salt: bytes = b"") -> Log:
        return cls(note.generate_signer(name), salt)

    @property
    def verifier(self) -> note.Verifier:
        return self.signer.verifier()

    @property
    def vkey(self) -> str:
        return note.verifier_key_string(self.signer)

    def grow_to(self, size: int) -> Log:
        while self.rng.size < size:
            self.store.put_runs(self.rng.append(merkle.leaf_hash(self.salt + b"decision %d" % self.rng.size)))
        return self

    def checkpoint(self, size: int | None = None, signer: note.Signer | None = None) -> str:
        size = self.rng.size if size is None else size
        cp = note.Checkpoint(self.signer.name, size, merkle.root_at(size, self.store))
        return note.sign_checkpoint(cp, signer or self.signer)

    def proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = self.rng.size if new is None else new
        return [] if old in (0, new) else merkle.consistency_proof(old, new, self.store)


@pytest.fixture
def court() -> note.Signer:
    return note.generate_signer("court.example/witness")


@pytest.fixture
def log() -> Log:
    return Log.new()


@pytest.fixture
def witness(court: note.Signer, log: Log, tmp_path: Path) -> Iterator[Witness]:
    w = Witness(court, {log.signer.name: log.verifier}, tmp_path / "state.json", clock=clock)
    yield w
    w.close()


def post(w: Witness, old: int, proof: list[bytes], checkpoint: str) -> tuple[int, str, bytes]:
    return w.add_checkpoint(format_add_checkpoint(old, proof, checkpoint))


# --------------------------------------------------------------------------
# Request and response formats (tlog-witness, "add-checkpoint")
# --------------------------------------------------------------------------

SPEC_BODY = (
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "— example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "— example.com/behind-the-sofa "
    "opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n"
)


def test_spec_example_request_parses_and_formats_back() -> None:
    req = parse_add_checkpoint(SPEC_BODY.encode())
    assert req.old_size == 20852014
    assert [base64.b64encode(h).decode() for h in req.proof] == SPEC_BODY.split("\n")[1:5]
    assert (req.checkpoint.origin, req.checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert req.checkpoint_note == SPEC_BODY.split("\n", 6)[6]
    # "The submitted checkpoint MAY include multiple signatures"
    assert len(note.parse_note(req.checkpoint_note)[1]) == 2
    assert format_add_checkpoint(req.old_size, list(req.proof), req.checkpoint_note) == SPEC_BODY.encode()


def test_old_zero_takes_an_empty_proof(log: Log) -> None:
    cp = log.grow_to(3).checkpoint()
    body = format_add_checkpoint(0, [], cp)
    assert body == b"old 0\n\n" + cp.encode()
    req = parse_add_checkpoint(body)
    assert (req.old_size, req.proof, req.checkpoint_note) == (0, (), cp)


def test_at_most_63_proof_lines(log: Log) -> None:
    cp = log.grow_to(3).checkpoint()
    hashes = [bytes([i]) * 32 for i in range(MAX_PROOF_LINES + 1)]
    assert len(parse_add_checkpoint(format_add_checkpoint(1, hashes[:-1], cp)).proof) == MAX_PROOF_LINES
    too_many = b"old 1\n" + b"".join(base64.b64encode(h) + b"\n" for h in hashes) + b"\n" + cp.encode()
    with pytest.raises(WitnessRequestError, match="63") as exc:
        parse_add_checkpoint(too_many)
    assert exc.value.status == 400
    with pytest.raises(InputError):  # "The client MUST NOT send more than 63 consistency proof lines."
        format_add_checkpoint(1, hashes, cp)


CP = (
    "o.example/log\n1\nKgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— o.example/log "
    + base64.b64encode(bytes(68)).decode()
    + "\n"
)
HASH = "KgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 0\n",  # no blank line, no checkpoint
        ("old 0\n" + CP).encode(),  # no blank line between proof and checkpoint
        ("old 01\n\n" + CP).encode(),  # leading zero
        ("old 00\n\n" + CP).encode(),
        ("old -1\n\n" + CP).encode(),
        ("old +1\n\n" + CP).encode(),
        ("old  1\n\n" + CP).encode(),  # two spaces
        ("old 1 \n\n" + CP).encode(),  # trailing space
        ("Old 1\n\n" + CP).encode(),
        ("old\t1\n\n" + CP).encode(),
        ("old 1\r\n\r\n" + CP).encode(),  # CRLF
        ("old \u0661\n\n" + CP).encode(),  # a non-ASCII digit
        ("old 18446744073709551616\n\n" + CP).encode(),  # 2**64
        ("old " + "9" * 5000 + "\n\n" + CP).encode(),  # beyond int()'s digit limit
        ("\nold 1\n\n" + CP).encode(),
        ("old 1\n" + HASH[:-1] + "\n\n" + CP).encode(),  # unpadded
        ("old 1\n" + HASH.replace("A=", "B=") + "\n\n" + CP).encode(),  # non-canonical trailing bits
        ("old 1\n" + base64.b64encode(bytes(31)).decode() + "\n\n" + CP).encode(),  # 31-byte hash
        ("old 1\n" + base64.b64encode(bytes(33)).decode() + "\n\n" + CP).encode(),  # 33-byte hash
        ("old 1\n" + HASH.replace("K", "-") + "\n\n" + CP).encode(),  # URL-safe alphabet
        ("old 1\n" + HASH + " \n\n" + CP).encode(),
        ("old 1\n\n" + CP.replace("\n1\n", "\n01\n")).encode(),  # checkpoint size with a leading zero
        ("old 1\n\n" + CP.split("\n\n")[0] + "\n").encode(),  # checkpoint without signatures
        ("old 1\n\n" + CP[:-1]).encode(),  # last line without its newline
        ("old 1\n\n\n" + CP).encode(),  # an empty origin line
        b"old 1\n\n\xff" + CP.encode(),  # not UTF-8
        ("old 1\n\n" + CP.replace("o.example", "o\x01example")).encode(),  # control character
    ],
)
def test_malformed_requests_are_400(body: bytes) -> None:
    with pytest.raises(WitnessRequestError) as exc:
        parse_add_checkpoint(body)
    assert exc.value.status == 400
    assert isinstance(exc.value, DocumentError)


def test_oversized_request_is_413() -> None:
    body = ("old 1\n\n" + CP).encode()
    body += b"x" * (MAX_REQUEST_BYTES + 1 - len(body))
    with pytest.raises(WitnessRequestError) as exc:
        parse_add_checkpoint(body)
    assert exc.value.status == 413


def test_format_checks_its_inputs(log: Log) -> None:
    cp = log.grow_to(2).checkpoint()
    for bad_old in (-1, 2**64, True):
        with pytest.raises(InputError):
            format_add_checkpoint(bad_old, [], cp)
    with pytest.raises(InputError):
        format_add_checkpoint(1, [b"short"], cp)
    with pytest.raises(DocumentError):
        format_add_checkpoint(1, [], "not a note\n")
    many = note.sign_note(cp.split("\n\n")[0] + "\n", *[note.generate_signer(f"k{i}") for i in range(100)])
    assert parse_add_checkpoint(format_add_checkpoint(0, [], many)).checkpoint_note == many  # 100 signatures fit...
    long_ext = note.sign_checkpoint(note.Checkpoint("o", 0, merkle.EMPTY_ROOT, ("x" * MAX_REQUEST_BYTES,)), log.signer)
    with pytest.raises(LimitError):  # ...a 16 KiB extension line does not
        format_add_checkpoint(0, [], long_ext)


def test_size_conflict_body() -> None:
    # tlog-witness: "the tree size of the latest cosigned checkpoint in decimal, followed by a newline"
    assert format_size_conflict(0) == b"0\n"
    assert format_size_conflict(20852163) == b"20852163\n"
    assert parse_size_conflict(b"20852163\n") == 20852163
    for bad in (b"", b"5", b"05\n", b"5\n\n", b" 5\n", b"-1\n", b"18446744073709551616\n", b"5\r\n"):
        with pytest.raises(WitnessResponseError):
            parse_size_conflict(bad)


def test_monitoring_path() -> None:
    # tlog-witness "Monitor Retrieval Mechanism": lowercase hex SHA-256 of the origin.
    assert monitoring_path("example.com/behind-the-sofa") == (
        "/" + hashlib.sha256(b"example.com/behind-the-sofa").hexdigest() + "/checkpoint"
    )


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_parser_raises_only_its_own_error_on_random_bytes(body: bytes) -> None:
    with contextlib.suppress(WitnessRequestError):
        parse_add_checkpoint(body)


_VALID = format_add_checkpoint(1, [bytes(32), bytes([1]) * 32], CP)


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_parser_raises_only_its_own_error_on_mutated_bodies(data: st.DataObject) -> None:
    body = bytearray(_VALID)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(body)))
        op = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        byte = data.draw(st.sampled_from([0x0A, 0x20, 0x30, 0x31, 0x3D, 0x2B, 0x2F, 0x41, 0xE2, 0xFF, 0x00]))
        if op == "insert":
            body.insert(pos, byte)
        elif pos < len(body):
            if op == "delete":
                del body[pos]
            else:
                body[pos] = byte
    try:
        req = parse_add_checkpoint(bytes(body))
    except WitnessRequestError:
        return
    assert format_add_checkpoint(req.old_size, list(req.proof), req.checkpoint_note) == bytes(body)


# --------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------


def test_check_update_rules(log: Log) -> None:
    log.grow_to(9)
    at = {n: note.Checkpoint.parse(note.parse_note(log.checkpoint(n))[0]) for n in (0, 4, 6, 9)}
    rec6 = LogState(6, at[6].root)
    check_update(LogState(0, merkle.EMPTY_ROOT), 0, at[9], [])  # the empty tree is consistent with any tree
    check_update(rec6, 6, at[9], log.proof(6, 9))
    check_update(rec6, 6, at[6], [])  # the same checkpoint again
    with pytest.raises(WitnessRefusal) as exc:  # rollback, old size as recorded
        check_update(rec6, 6, at[4], log.proof(4, 6))
    assert exc.value.status == 400
    with pytest.raises(WitnessConflict) as conflict:  # rollback, old size as the checkpoint's
        check_update(rec6, 4, at[4], [])
    assert (conflict.value.status, conflict.value.recorded_size) == (409, 6)
    with pytest.raises(WitnessConflict):
        check_update(rec6, 0, at[9], [])
    for recorded, old, cp, proof in [
        (rec6, 6, at[6], [bytes(32)]),  # equal sizes need an empty proof
        (rec6, 6, note.Checkpoint(at[6].origin, 6, bytes(32)), []),  # fork
        (rec6, 6, at[9], log.proof(4, 9)),  # proof from another size
        (rec6, 6, at[9], [bytes(32), *log.proof(6, 9)[1:]]),  # tampered
        (rec6, 6, at[9], []),  # missing
        (LogState(0, merkle.EMPTY_ROOT), 0, at[9], log.proof(4, 9)),  # old size 0 takes no proof
        (LogState(0, merkle.EMPTY_ROOT), 0, note.Checkpoint(at[0].origin, 0, bytes(32)), []),  # size 0, wrong root
    ]:
        with pytest.raises(WitnessRefusal) as exc:
            check_update(recorded, old, cp, proof)
        assert exc.value.status == 422, exc.value.message


# --------------------------------------------------------------------------
# The litewitness test log (known answers)
# --------------------------------------------------------------------------

LW_ORIGIN = "sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562"
LW_KEY = note.Verifier(LW_ORIGIN, bytes.fromhex("ffdc2d4d98e4124d3feaf788c0c2f9abfd796083d1f0495437f302ec79cf100f"))
LW_CP1 = f"""{LW_ORIGIN}
1
KgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=

— {LW_ORIGIN} UgIom7fPZTqpxWWhyjWduBvTvGVqsokMbqTArsQilegKoFBJQjUFAmQ0+YeSPM3wfUQMFSzVnnNuWRTYrajXpNUbIQY=
"""
LW_CP3 = f"""{LW_ORIGIN}
3
RcCI1Nk56ZcSmIEfIn0SleqtV7uvrlXNccFx595Iwl0=

— {LW_ORIGIN} UgIom2VbtIcdFbwFAy1n7s6IkAxIY6J/GQOTuZF2ORV39d75cbAj2aQYwyJre36kezNobZs4SUUdrcawfAB8WVrx6go=
"""
LW_CP5 = f"""{LW_ORIGIN}
5
QrtXrQZCCvpIgsSmOsah7HdICzMLLyDfxToMql9WTjY=

— {LW_ORIGIN} UgIomw/EOJmWi0i1FQsOj+etB7F8IccFam/jgd6wzRns4QPVmyEZtdvl1U2KEmLOZ/ASRcWJi0tW90dJWAShei7sDww=
"""
LW_PROOF_1_3 = ["KgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "KgIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]
LW_PROOF_1_5 = [
    "KgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    "+fUDV+k970B4I3uKrqJM4aP1lloPZP8mvr2Z4wRw2LI=",
    "KgQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
]
LW_PROOF_3_5 = [
    "KgIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    "KgMAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    "wgiIFdZfYNv6WU1OllBKsWnLYIS/DBMqt8Uh/S4OukE=",
    "KgQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
]


def lw_body(old: int, proof: list[str], checkpoint: str) -> bytes:
    return ("".join([f"old {old}\n", *(p + "\n" for p in proof), "\n", checkpoint])).encode()


def test_litewitness_vectors_match_our_merkle_and_note() -> None:
    assert note.verifier_key_string(LW_KEY).startswith(LW_ORIGIN + "+5202289b+")
    tree = Log(note.generate_signer("unused"))
    for i in range(5):
        tree.store.put_runs(tree.rng.append(bytes([42, i]) + bytes(30)))  # gentest's leaf hashes {42, i}
    for old, new, proof in [(1, 3, LW_PROOF_1_3), (1, 5, LW_PROOF_1_5), (3, 5, LW_PROOF_3_5)]:
        assert [base64.b64encode(h).decode() for h in tree.proof(old, new)] == proof
    for cp in (LW_CP1, LW_CP3, LW_CP5):
        parsed = note.open_checkpoint(cp, LW_KEY)
        assert parsed.root == merkle.root_at(parsed.size, tree.store)


def test_litewitness_script(court: note.Signer, tmp_path: Path) -> None:
    """The requests of litewitness.txt's add-checkpoint.hurl, in order, with its expected statuses."""
    w = Witness(court, {LW_ORIGIN: [LW_KEY]}, tmp_path / "state.json", clock=clock)
    flipped = LW_CP3.replace("6go=\n", "6gk=\n")  # a trusted key's signature that fails (canonical base64)
    script = [
        (lw_body(0, [], LW_CP1), 200),
        (lw_body(1, LW_PROOF_1_3, LW_CP3.replace("6go=\n", "6gx=\n")), 400),  # non-canonical base64: malformed
        (lw_body(1, LW_PROOF_1_3, flipped), 403),
        (lw_body(1, LW_PROOF_1_3, LW_CP3.replace("e562\n", "e563\n")), 404),  # litewitness: 403; spec: 404
        (lw_body(1, [], LW_CP3), 422),
        (lw_body(1, [LW_PROOF_1_3[0], "KgIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABA="], LW_CP3), 422),
        (lw_body(1, LW_PROOF_1_3, LW_CP3), 200),
        (lw_body(1, LW_PROOF_1_5, LW_CP5), 409),
        (lw_body(3, LW_PROOF_3_5, LW_CP5), 200),
        (lw_body(0, [], LW_CP5), 409),
    ]
    with w:
        for pos, (body, want) in enumerate(script):
            status, content_type, out = w.add_checkpoint(body)
            assert status == want, (pos, out)
            if status == 200:
                cp = parse_add_checkpoint(body).checkpoint_note
                assert out.decode().startswith("— court.example/witness ") and out.endswith(b"\n")
                assert note.verify_cosignature(cp + out.decode(), w.verifier, log_verifier=LW_KEY) == NOW
            if status == 409:
                assert content_type == SIZE_CONTENT_TYPE
        assert (status, out) == (409, b"5\n")
        assert w.add_checkpoint(lw_body(1, LW_PROOF_1_5, LW_CP5))[2] == b"5\n"
        assert w.recorded(LW_ORIGIN) == LogState(5, base64.b64decode("QrtXrQZCCvpIgsSmOsah7HdICzMLLyDfxToMql9WTjY="))


# --------------------------------------------------------------------------
# The Witness class
# --------------------------------------------------------------------------


def test_witness_follows_a_log_and_refuses_the_rest(witness: Witness, log: Log, court: note.Signer) -> None:
    assert witness.recorded(log.signer.name) is None
    status, _, out = post(witness, 0, [], log.grow_to(0).checkpoint())  # the empty tree
    assert status == 200 and witness.recorded(log.signer.name) == LogState(0, merkle.EMPTY_ROOT)
    cp4 = log.grow_to(4).checkpoint()
    assert post(witness, 0, [], cp4)[0] == 200
    cp11 = log.grow_to(11).checkpoint()
    status, _, out = post(witness, 4, log.proof(4), cp11)
    assert status == 200
    cosigned = attach_cosignature(cp11, out.decode())
    assert note.verify_cosignature(cosigned, court.verifier(note.ALG_COSIGNATURE_V1), log_verifier=log.verifier) == NOW

    other = Log.new("other.example/log").grow_to(3)
    assert post(witness, 0, [], other.checkpoint())[0] == 404
    impostor = note.generate_signer(log.signer.name)  # same name, another key
    assert post(witness, 11, log.proof(11, 11), log.checkpoint(signer=impostor))[0] == 403
    assert post(witness, 11, [], log.checkpoint(4))[0] == 400  # rollback
    assert post(witness, 4, [], log.checkpoint(4)) == (409, SIZE_CONTENT_TYPE, b"11\n")
    fork = Log(log.signer, salt=b"fork").grow_to(11)
    assert post(witness, 11, [], fork.checkpoint())[0] == 422
    log.grow_to(20)
    assert post(witness, 11, [bytes(32)] * len(log.proof(11)), log.checkpoint())[0] == 422
    assert witness.recorded(log.signer.name) == LogState(11, merkle.root_at(11, log.store))
    assert post(witness, 11, log.proof(11), log.checkpoint())[0] == 200


def test_witness_update_api_raises(witness: Witness, log: Log) -> None:
    line = witness.update(log.grow_to(5).checkpoint(), 0, [])
    assert line.startswith("— court.example/witness ")
    with pytest.raises(WitnessConflict) as exc:
        witness.update(log.grow_to(9).checkpoint(), 2, log.proof(2))
    assert exc.value.recorded_size == 5
    assert witness.update(log.checkpoint(), exc.value.recorded_size, log.proof(exc.value.recorded_size))


def test_timestamps_never_go_back_and_are_never_zero(court: note.Signer, log: Log, tmp_path: Path) -> None:
    readings = iter([NOW, NOW - 500, 0])
    with Witness(court, {log.signer.name: log.verifier}, tmp_path / "s.json", clock=lambda: next(readings)) as w:
        cp = log.grow_to(3).checkpoint()
        assert note.verify_cosignature(cp + post(w, 0, [], cp)[2].decode(), w.verifier) == NOW
        cp = log.grow_to(5).checkpoint()
        assert note.verify_cosignature(cp + post(w, 3, log.proof(3), cp)[2].decode(), w.verifier) == NOW
        status, _, out = post(w, 5, [], cp)  # a clock at 0 gives no cosignature at all
        assert (status, out) == (500, b"internal error (DG000)\n")
        assert w.recorded(log.signer.name) == LogState(5, merkle.root_at(5, log.store))


def test_extra_signatures_and_multiple_log_keys(court: note.Signer, tmp_path: Path) -> None:
    log = Log.new().grow_to(3)
    rotated = note.generate_signer(log.signer.name)
    stranger = note.generate_signer("stranger.example")
    with Witness(court, logs_by_origin([log.verifier, rotated.verifier()]), tmp_path / "s.json", clock=clock) as w:
        text = log.checkpoint().split("\n\n")[0] + "\n"
        both = note.sign_note(text, stranger, rotated)  # unknown keys are ignored; the rotated key is trusted
        assert post(w, 0, [], both)[0] == 200
        served = w.latest_checkpoint(hashlib.sha256(log.signer.name.encode()).hexdigest())
        assert served[0] == 200
        # Monitoring: the log signatures the witness verified and its own cosignature, not the stranger's.
        assert note.open_note(served[2], [rotated.verifier(), w.verifier]).verified == [rotated.name, court.name]
        assert "stranger.example" not in served[2].decode()
        assert w.latest_checkpoint("0" * 64)[0] == 404


def test_state_survives_a_restart_and_is_locked(court: note.Signer, log: Log, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    logs = {log.signer.name: log.verifier}
    with Witness(court, logs, state, clock=clock) as w:
        assert post(w, 0, [], log.grow_to(6).checkpoint())[0] == 200
        with pytest.raises(BusyError):  # one process, one witness per state file
            Witness(court, logs, state)
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    data = json.loads(state.read_text())
    assert data["format"] == STATE_FORMAT
    assert data["logs"][log.signer.name]["size"] == 6
    with Witness(court, logs, state, clock=clock) as w:
        assert post(w, 0, [], log.checkpoint(3)) == (409, SIZE_CONTENT_TYPE, b"6\n")
        assert post(w, 6, [], log.checkpoint(6))[0] == 200
    for logs_json in ({"x": {"size": -1}}, {"x": {"size": 0, "root": "AAAA"}}, {"x": {"size": 1, "root": ""}}):
        state.write_text(json.dumps({"format": STATE_FORMAT, "logs": logs_json}))
        with pytest.raises(DocumentError):
            Witness(court, logs, state)
    for corrupt in ("", "{", '{"format": "other", "logs": {}}', "[]"):
        state.write_text(corrupt)
        with pytest.raises(DocumentError):  # never start over from nothing: that would allow a rollback
            Witness(court, logs, state)


def test_configuration_errors(court: note.Signer, log: Log, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with pytest.raises(InputError):
        Witness(court, {}, state)
    with pytest.raises(InputError):  # the witness must not use the log's key
        Witness(log.signer, {log.signer.name: log.verifier}, state)
    with pytest.raises(InputError):  # a cosignature key is not a log key
        Witness(court, {"x": note.generate_signer("x").verifier(note.ALG_COSIGNATURE_V1)}, state)
    with pytest.raises(InputError):
        Witness(court, {log.signer.name: log.verifier}, tmp_path / "missing" / "state.json")


def test_concurrent_requests_cannot_roll_back(witness: Witness, log: Log) -> None:
    """The spec's race: every request claims old size 3; exactly one may win, the rest get 409."""
    assert post(witness, 0, [], log.grow_to(3).checkpoint())[0] == 200
    log.grow_to(40)
    bodies = [format_add_checkpoint(3, log.proof(3, n), log.checkpoint(n)) for n in range(4, 40)]
    results: list[tuple[int, int]] = []
    barrier = threading.Barrier(8)

    def worker(chunk: list[tuple[int, bytes]]) -> None:
        barrier.wait()
        for n, body in chunk:
            results.append((n, witness.add_checkpoint(body)[0]))

    items = list(enumerate(bodies, start=4))
    threads = [threading.Thread(target=worker, args=(items[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [n for n, status in results if status == 200]
    assert len(winners) == 1 and sorted(s for _, s in results) == [200] + [409] * (len(bodies) - 1)
    assert witness.recorded(log.signer.name) == LogState(winners[0], merkle.root_at(winners[0], log.store))


def test_random_bodies_never_break_the_witness(witness: Witness) -> None:
    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=300))
    def check(body: bytes) -> None:
        status, _, _ = witness.add_checkpoint(body)
        assert status == 400

    check()


# --------------------------------------------------------------------------
# HTTP, in process: the details of the endpoint
# --------------------------------------------------------------------------


def raw_request(port: int, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


def test_http_endpoint_details(witness: Witness, log: Log, tmp_path: Path) -> None:
    logfile = tmp_path / "requests.log"
    with logfile.open("w") as sink, serving(witness, log=sink) as server:
        port = server.port
        cp = log.grow_to(2).checkpoint()
        status, ctype, out = raw_request(port, "POST", "/add-checkpoint", format_add_checkpoint(0, [], cp))
        assert status == 200 and ctype.startswith("text/plain") and out.startswith("— ".encode())
        assert raw_request(port, "POST", "/add-checkpoint", format_add_checkpoint(1, [], cp))[:3] == (
            409, SIZE_CONTENT_TYPE, b"2\n")
        assert raw_request(port, "GET", "/add-checkpoint")[0] == 405
        assert raw_request(port, "POST", "/other", b"x")[0] == 404
        assert raw_request(port, "POST", "/add-checkpoint", b"x" * (MAX_REQUEST_BYTES + 1))[0] == 413
        assert raw_request(port, "POST", "/add-checkpoint", b"old 1\n")[0] == 400
        assert raw_request(port, "PUT", "/add-checkpoint", b"")[0] == 501
        status, _, served = raw_request(port, "GET", monitoring_path(log.signer.name))
        assert status == 200 and served.decode().startswith(cp.split("\n\n")[0])
        assert note.verify_cosignature(served, witness.verifier, log_verifier=log.verifier) == NOW
        assert raw_request(port, "GET", monitoring_path("other.example/log"))[0] == 404
        # keep-alive: two requests on one connection
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for _ in range(2):
                conn.request("POST", "/add-checkpoint", body=format_add_checkpoint(2, [], cp))
                resp = conn.getresponse()
                assert resp.status == 200
                resp.read()
        finally:
            conn.close()
        # a request line with terminal escapes is logged escaped
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"GET /\x1b[31m\x7f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 404 ")
    lines = logfile.read_text().splitlines()
    assert len(lines) == 12
    assert not any("\x1b" in line or "\x7f" in line for line in lines)
    assert cp.split("\n")[2] not in logfile.read_text()  # never the body


# --------------------------------------------------------------------------
# The log's client
# --------------------------------------------------------------------------


def test_client_rejects_a_bad_answer(log: Log, court: note.Signer, tmp_path: Path) -> None:
    """A witness that answers 200 with a cosignature from another key, or over another checkpoint."""
    vkey = note.verifier_key_string(court.verifier(note.ALG_COSIGNATURE_V1))
    cp = log.grow_to(3).checkpoint()
    impostor = note.generate_signer(court.name)
    with Witness(impostor, {log.signer.name: log.verifier}, tmp_path / "s.json") as w, serving(w) as server:
        url = f"http://127.0.0.1:{server.port}"
        with pytest.raises(WitnessResponseError):
            request_cosignature(url, vkey, cp, 0, [], timeout=30)
        with pytest.raises(InputError):  # a plain note key is not a cosignature key
            request_cosignature(url, log.vkey, cp, 0, [], timeout=30)
    with pytest.raises(WitnessUnavailable):  # nobody listens there any more
        request_cosignature(url, vkey, cp, 0, [], timeout=30)


# --------------------------------------------------------------------------
# dgate-verify witness serve, as a real process
# --------------------------------------------------------------------------


VERIFY = [sys.executable, "-c", "from disclosure_gate.surfaces.verify import main; main()"]


def run_verify(*args: str | os.PathLike[str], columns: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = columns
    return subprocess.run([*VERIFY, *map(str, args)], capture_output=True, text=True, env=env, timeout=120)


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    url: str
    vkey: str
    stderr: Path

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0
        return self.stderr.read_text()


Serve = Callable[[Path, list[str], Path, str], Served]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """Start ``dgate-verify witness serve`` on a free port; every process is stopped at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(key: Path, log_keys: list[str], state: Path, name: str) -> Served:
        out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        args = [*VERIFY, "witness", "serve", "--key", str(key), "--state", str(state), "--port", "0"]
        for k in log_keys:
            args += ["--log-key", k]
        with out.open("wb") as fo, err.open("wb") as fe:
            proc = subprocess.Popen(args, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL)
        started.append(proc)
        deadline = time.monotonic() + 120
        while "listening on http://" not in err.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"witness did not start: {err.read_text()}")
            time.sleep(0.05)
        url = err.read_text().split("listening on ")[1].split("/ ")[0]
        return Served(proc, url, out.read_text().strip(), err)

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)


def test_witness_serve_end_to_end(serve: Serve, tmp_path: Path) -> None:
    log = Log.new()
    key = tmp_path / "witness.key"
    made = run_verify("witness-key", "court.example/witness", "--out", key)
    assert made.returncode == 0, made.stderr
    vkey_file = tmp_path / "ledger.vkey"
    vkey_file.write_text(log.vkey + "\n")
    other = Log.new("other.example/log")
    state = tmp_path / "witness-state.json"
    w = serve(key, [str(vkey_file), other.vkey], state, "first")
    assert w.vkey == made.stdout.strip()
    witness_v = note.parse_verifier_key(w.vkey)

    def cosign(cp: str, old: int, proof: list[bytes]) -> str:
        line = request_cosignature(w.url, w.vkey, cp, old, proof, timeout=30)
        full = attach_cosignature(cp, line)
        assert note.verify_cosignature(full, witness_v, log_verifier=log.verifier) > 0
        return full

    requests = 0
    # Three successive checkpoints, each with a correct consistency proof from the last cosigned one.
    cp2 = log.grow_to(2).checkpoint()
    cosign(cp2, 0, [])
    cp7 = log.grow_to(7).checkpoint()
    cosign(cp7, 2, log.proof(2))
    cp13 = log.grow_to(13).checkpoint()
    full13 = cosign(cp13, 7, log.proof(7))
    requests += 3
    assert note.open_note(full13, [log.verifier, witness_v]).verified == [log.signer.name, "court.example/witness"]
    other_cp = other.grow_to(4).checkpoint()  # the second --log-key: another log, its own record
    assert note.verify_cosignature(other_cp + request_cosignature(w.url, w.vkey, other_cp, 0, [], timeout=30),
                                   witness_v, log_verifier=other.verifier) > 0
    requests += 1

    def refused(cp: str, old: int, proof: list[bytes]) -> WitnessRefusal:
        nonlocal requests
        requests += 1
        with pytest.raises(WitnessRefusal) as exc:
            request_cosignature(w.url, w.vkey, cp, old, proof, timeout=30)
        assert isinstance(exc.value, IntegrityError)
        return exc.value

    forged = note.generate_signer(log.signer.name)
    assert refused(log.checkpoint(signer=forged), 13, []).status == 403  # wrong log key
    stranger = Log.new("stranger.example/log").grow_to(1)
    assert refused(stranger.checkpoint(), 0, []).status == 404  # a log it does not follow
    assert refused(cp7, 13, []).status == 400  # rollback: smaller than the old size
    rollback = refused(cp7, 7, [])  # rollback with the checkpoint's own size as old size
    assert isinstance(rollback, WitnessConflict) and rollback.recorded_size == 13
    assert refused(Log(log.signer, salt=b"fork").grow_to(13).checkpoint(), 13, []).status == 422  # fork
    log.grow_to(21)
    cp21 = log.checkpoint()
    wrong_old = refused(cp21, 7, log.proof(7))
    assert isinstance(wrong_old, WitnessConflict) and wrong_old.status == 409 and wrong_old.recorded_size == 13
    bad = log.proof(13)
    bad[0] = bytes(32)
    assert refused(cp21, 13, bad).status == 422  # bad proof
    assert refused(cp21, 0, []).status == 409
    # The 409 tells the log what to prove from: retry with it.
    cosign(cp21, wrong_old.recorded_size, log.proof(wrong_old.recorded_size))
    requests += 1

    log_text = w.stop()
    lines = [ln for ln in log_text.splitlines() if "POST /add-checkpoint" in ln]
    assert len(lines) == requests
    assert sum(" 200 " in ln for ln in lines) == 5
    assert base64.b64encode(merkle.root_at(21, log.store)).decode() not in log_text  # bodies are not logged
    assert "stopped" in log_text

    # Restart on the same state file: it still refuses the rollback, and goes on from 21.
    w = serve(key, [str(vkey_file)], state, "second")
    with pytest.raises(WitnessConflict) as exc:
        request_cosignature(w.url, w.vkey, cp13, 13, [], timeout=30)
    assert exc.value.recorded_size == 21
    with pytest.raises(WitnessRefusal) as refusal:
        request_cosignature(w.url, w.vkey, cp13, 21, [], timeout=30)
    assert refusal.value.status == 400
    cp30 = log.grow_to(30).checkpoint()
    cosign(cp30, 21, log.proof(21))
    w.stop()


def test_witness_serve_refuses_a_second_process_on_one_state(serve: Serve, tmp_path: Path) -> None:
    log = Log.new()
    key = tmp_path / "w.key"
    assert run_verify("witness-key", "court.example/w", "--out", key).returncode == 0
    state = tmp_path / "state.json"
    w = serve(key, [log.vkey], state, "one")
    second = run_verify("witness", "serve", "--key", key, "--log-key", log.vkey, "--state", state, "--port", "0")
    assert second.returncode == 11 and "DG910" in second.stderr
    w.stop()


# --------------------------------------------------------------------------
# dgate-verify output: unwrapped keys, no markup
# --------------------------------------------------------------------------


@pytest.mark.parametrize("columns", [None, "40"])
def test_witness_key_prints_a_parseable_key_through_a_pipe(tmp_path: Path, columns: str | None) -> None:
    name = "court-of-appeals.example/oversight/tax-disclosure-witness-2026"
    assert len(name) > 60
    key = tmp_path / "w.key"
    res = run_verify("witness-key", name, "--out", key, columns=columns)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("\n") == 1
    printed = note.parse_verifier_key(res.stdout.strip())
    signer = note.parse_signer_key(key.read_text().strip())
    assert printed == signer.verifier(note.ALG_COSIGNATURE_V1)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    again = run_verify("witness-key", name, "--out", key)
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr
    assert note.parse_signer_key(key.read_text().strip()).seed() == signer.seed()


def test_origins_and_paths_are_text_not_markup(tmp_path: Path) -> None:
    log = Log.new("log.example")
    origin = "evil[/]x[link=https://evil.example/]click[/link][bold]y"
    cp_file = tmp_path / "cp.note"
    cp_file.write_text(note.sign_checkpoint(note.Checkpoint(origin, 1, bytes(32)), log.signer))
    res = run_verify("checkpoint", cp_file, "--key", log.vkey, columns="40")
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"OK: checkpoint of {origin} at size 1, root {'00' * 32}\n"
    missing = tmp_path / "no[/]such[link=https://evil.example/]file.json"
    res = run_verify("inclusion", missing, "--key", log.vkey, columns="40")
    assert res.returncode == 3 and "Traceback" not in res.stderr
    assert str(missing) in res.stderr and res.stderr.count("\n") == 1
    odd = "a\u009b31mb"  # a C1 control (CSI) in an origin is escaped on a terminal line
    cp_file.write_text(note.sign_checkpoint(note.Checkpoint(odd, 1, bytes(32)), log.signer))
    res = run_verify("checkpoint", cp_file, "--key", log.vkey)
    assert res.returncode == 0 and "\u009b" not in res.stdout and "a\\x9b31mb" in res.stdout


# --------------------------------------------------------------------------
# The offline cosign shares the rules and keeps its state format
# --------------------------------------------------------------------------


def consistency_bundle(log: Log, old: int, new: int) -> dict[str, object]:
    return {"old_checkpoint": log.checkpoint(old), "new_checkpoint": log.checkpoint(new),
            "proof": [h.hex() for h in log.proof(old, new)]}


def test_offline_cosign_keeps_working(court: note.Signer, tmp_path: Path) -> None:
    log = Log.new().grow_to(12)
    state = tmp_path / "cosign-state"
    court_v = court.verifier(note.ALG_COSIGNATURE_V1)
    first = overseer.cosign_checkpoint(log.checkpoint(3), log.verifier, court, state, now=NOW)
    assert note.verify_cosignature(first, court_v, log_verifier=log.verifier) == NOW
    assert state.read_text() == log.checkpoint(3)  # the state is still the signed checkpoint note
    with pytest.raises(InputError, match="consistency proof"):
        overseer.cosign_checkpoint(log.checkpoint(8), log.verifier, court, state)
    with pytest.raises(IntegrityError):  # a bundle between other sizes
        overseer.cosign_checkpoint(log.checkpoint(8), log.verifier, court, state, consistency_bundle(log, 4, 8))
    second = overseer.cosign_checkpoint(log.checkpoint(8), log.verifier, court, state, consistency_bundle(log, 3, 8))
    assert note.verify_cosignature(second, court_v) > 0
    with pytest.raises(IntegrityError, match="refusing to cosign"):  # rollback
        overseer.cosign_checkpoint(log.checkpoint(3), log.verifier, court, state)
    with pytest.raises(IntegrityError, match="fork"):
        overseer.cosign_checkpoint(Log(log.signer, salt=b"f").grow_to(8).checkpoint(), log.verifier, court, state)
    assert overseer.cosign_checkpoint(log.checkpoint(8), log.verifier, court, state)  # same one again
    with StateLock(state), pytest.raises(BusyError):
        overseer.cosign_checkpoint(log.checkpoint(8), log.verifier, court, state)

    # And through the CLI, as before.
    key = tmp_path / "court.key"
    key.write_text(note.signer_key_string(court) + "\n")
    cp_file, bundle = tmp_path / "cp12.note", tmp_path / "bundle.json"
    cp_file.write_text(log.checkpoint(12))
    bundle.write_text(json.dumps(consistency_bundle(log, 8, 12)))
    res = run_verify("cosign", cp_file, "--key", log.vkey, "--witness-key", key, "--state", state, "--proof", bundle)
    assert res.returncode == 0, res.stderr
    assert note.verify_cosignature(res.stdout, court_v, log_verifier=log.verifier) > 0
    res = run_verify("cosign", tmp_path / "cp12.note", "--key", log.vkey, "--witness-key", key, "--state", state)
    assert res.returncode == 0  # the same size again needs no proof
    cp_file.write_text(log.checkpoint(8))
    res = run_verify("cosign", cp_file, "--key", log.vkey, "--witness-key", key, "--state", state)
    assert res.returncode == 7 and "refusing to cosign" in res.stderr

