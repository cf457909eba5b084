"""C2SP signed notes, checkpoints and cosignature/v1.

Known answers come from golang.org/x/mod sumdb/note/note_test.go (BSD-3-Clause,
The Go Authors), from transparency-dev/formats note/note_cosigv1_test.go, and
from the examples in the C2SP specs (signed-note.md, tlog-checkpoint.md,
tlog-cosignature.md).
"""

from __future__ import annotations

import base64

import pytest

from disclosure_gate.errors import DocumentError, InputError, IntegrityError
from disclosure_gate.ledger.merkle import CompactRange, leaf_hash
from disclosure_gate.ledger.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    MAX_SIGNATURES,
    Checkpoint,
    NoteSignature,
    Signer,
    Verifier,
    cosign,
    cosignature_message,
    cosignature_timestamp,
    generate_signer,
    is_valid_key_name,
    key_id,
    open_checkpoint,
    open_note,
    parse_note,
    parse_signer_key,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    signer_key_string,
    verifier_key_string,
    verify_cosignature,
)

# golang.org/x/mod/sumdb/note/note_test.go
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"


def insert_abcd_at_byte(line: str, offset: int) -> str:
    """Go slices these strings by byte; the em dash is three bytes."""
    raw = line.encode()
    return (raw[:offset] + b"ABCD" + raw[offset:]).decode()


@pytest.fixture(scope="module")
def peter() -> Verifier:
    return parse_verifier_key(PETER_VKEY)


@pytest.fixture(scope="module")
def enoch() -> Verifier:
    return parse_verifier_key(ENOCH_VKEY)


# --------------------------------------------------------------------------
# Key strings
# --------------------------------------------------------------------------


def test_go_key_strings_round_trip() -> None:
    signer = parse_signer_key(PETER_SKEY)
    assert signer.name == "PeterNeumann" and signer.key_id() == 0xC74F20A3
    assert signer_key_string(signer) == PETER_SKEY
    assert verifier_key_string(signer) == PETER_VKEY
    verifier = parse_verifier_key(PETER_VKEY)
    assert verifier == signer.verifier()
    assert verifier.key_id == key_id("PeterNeumann", ALG_ED25519, verifier.public_key) == 0xC74F20A3
    assert parse_verifier_key(ENOCH_VKEY).key_id == 0xAF0CFE78
    assert "AYEK" not in repr(signer)  # the seed never shows


def _every_mangling(key: str) -> list[str]:
    """TestNewVerifier/TestNewSigner: every proper substring, and every single-byte increment."""
    out = [key[i:j] for i in range(len(key) + 1) for j in range(i + 1, len(key) + 1) if (i, j) != (0, len(key))]
    out += [key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :] for i in range(len(key))]
    return out


def test_mangled_verifier_keys_are_rejected() -> None:
    for bad in _every_mangling(PETER_VKEY):
        with pytest.raises(DocumentError):
            parse_verifier_key(bad)
    # wrong key length with adjusted key hash; unknown algorithm with adjusted key hash
    for bad in (
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ):
        with pytest.raises(DocumentError):
            parse_verifier_key(bad)


def test_mangled_signer_keys_are_rejected() -> None:
    for bad in _every_mangling(PETER_SKEY):
        with pytest.raises(DocumentError):
            parse_signer_key(bad)


def test_generated_keys_are_self_consistent() -> None:
    signer = generate_signer("EnochRoot")
    again = parse_signer_key(signer_key_string(signer))
    verifier = parse_verifier_key(verifier_key_string(signer))
    assert again.seed() == signer.seed() and verifier == signer.verifier()
    sig = signer.sign(b"hi")
    assert verifier.verify(b"hi", sig)
    assert not verifier.verify(b"hi", bytes([sig[0] ^ 1]) + sig[1:])
    assert not verifier.verify(b"hj", sig)
    assert not verifier.verify(b"hi", sig[:-1])


def test_key_names() -> None:
    for good in ("PeterNeumann", "example.com/log42", "oid/1.3.6.1.4.1"):
        assert is_valid_key_name(good)
    for bad in ("", "a+b", "a b", "a\tb", "a\u00a0b", "a\u2003b", "\udc80"):
        assert not is_valid_key_name(bad)
        with pytest.raises(InputError):
            generate_signer(bad)
    with pytest.raises(InputError):
        Verifier("name", b"\x00" * 31)
    with pytest.raises(InputError):
        Verifier("name", b"\x00" * 32, alg=0x02)
    with pytest.raises(InputError):
        Signer.from_seed("name", b"\x00" * 31)


# --------------------------------------------------------------------------
# Notes: TestSign / TestOpen
# --------------------------------------------------------------------------


def test_sign_matches_go_byte_for_byte() -> None:
    signer = parse_signer_key(PETER_SKEY)
    assert sign_note(TEXT, signer) == TEXT + "\n" + PETER_SIG
    with pytest.raises(DocumentError):
        sign_note("abc", signer)  # text must end in a newline
    with pytest.raises(DocumentError):
        sign_note("a\x01b\n", signer)
    with pytest.raises(InputError):
        sign_note(TEXT)


def test_open_one_known_one_unknown(peter: Verifier, enoch: Verifier) -> None:
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, [peter]) == (TEXT, ["PeterNeumann"])
    assert open_note(note, [peter, enoch]) == (TEXT, ["PeterNeumann", "EnochRoot"])
    assert open_note(note.encode(), [enoch]).verified == ["EnochRoot"]  # Enoch's signature is a KAT too
    with pytest.raises(IntegrityError, match="no verifiable signatures"):
        open_note(note, [])


def test_ambiguous_verifier_list(peter: Verifier, enoch: Verifier) -> None:
    with pytest.raises(InputError, match="ambiguous"):
        open_note(TEXT + "\n" + ENOCH_SIG, [enoch, peter, enoch])
    assert open_note(TEXT + "\n" + PETER_SIG, [enoch, peter, enoch]).verified == ["PeterNeumann"]


def test_too_many_signatures(peter: Verifier) -> None:
    for verifiers in ([peter], []):
        with pytest.raises(DocumentError):
            open_note(TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1), verifiers)
    assert open_note(TEXT + "\n" + PETER_SIG * MAX_SIGNATURES, [peter]).verified == ["PeterNeumann"]


def test_invalid_signature_from_known_key(peter: Verifier) -> None:
    with pytest.raises(IntegrityError, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        open_note(TEXT + "\n" + insert_abcd_at_byte(PETER_SIG, 60), [peter])
    with pytest.raises(IntegrityError):  # one byte of the text changed
        open_note(TEXT.replace("answer", "answEr") + "\n" + PETER_SIG, [peter])


def test_duplicates_count_once(peter: Verifier) -> None:
    note = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + insert_abcd_at_byte(ENOCH_SIG, 60)
    assert open_note(note, [peter]).verified == ["PeterNeumann"]
    assert len(parse_note(note)[1]) == 5


@pytest.mark.parametrize(
    "msg",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name")[:-1],
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG.replace("— ", "- "),
        TEXT + "\n" + PETER_SIG.replace("=\n", "\n"),  # missing base64 padding
        TEXT + "\n" + "— PeterNeumann AAAAAA==\n",  # shorter than key ID + 1 byte
        TEXT + "\n" + "— PeterNeumann\n",
        "\udc80" + TEXT + "\n" + PETER_SIG,
    ],
    ids=range(11),
)
def test_malformed_notes(msg: str, peter: Verifier) -> None:
    with pytest.raises(DocumentError):
        open_note(msg, [peter])


def test_invalid_utf8_bytes(peter: Verifier) -> None:
    with pytest.raises(DocumentError):
        open_note(b"\xff" + (TEXT + "\n" + PETER_SIG).encode(), [peter])


def test_unknown_name_or_key_id_is_ignored(peter: Verifier) -> None:
    for sig in (PETER_SIG.replace("PeterNeumann", "CarmenSandiego"), PETER_SIG.replace("x08g", "xxxx")):
        with pytest.raises(IntegrityError, match="no verifiable"):
            open_note(TEXT + "\n" + sig, [peter])


def test_spec_example_note_parses() -> None:
    # c2sp.org/signed-note: the text may contain empty lines; the last one splits off the signatures.
    note = (
        "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n"
        "— quasimodo.example/salvatore "
        "NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
    )
    text, sigs = parse_note(note)
    assert text.endswith("raggio di sole:\n\ned è subito sera.\n")
    assert [(s.name, s.key_id, len(s.signature)) for s in sigs] == [("quasimodo.example/salvatore", 0x367BA04B, 64)]
    assert sigs[0].line() == note.split("\n\n")[-1]


# --------------------------------------------------------------------------
# Checkpoints (c2sp.org/tlog-checkpoint)
# --------------------------------------------------------------------------

SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def test_checkpoint_body_round_trip() -> None:
    cp = Checkpoint.parse(SPEC_BODY)
    assert (cp.origin, cp.size, cp.root) == (
        "example.com/behind-the-sofa",
        20852163,
        base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="),
    )
    assert cp.body() == SPEC_BODY
    ext = Checkpoint("o", 0, b"\x00" * 32, ("Timestamp: 1",))
    assert Checkpoint.parse(ext.body()) == ext and ext.body().endswith("\nTimestamp: 1\n")


@pytest.mark.parametrize(
    "body",
    [
        SPEC_BODY[:-1],  # no final newline
        "example.com/log\n20852163\n",  # no root line
        "\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # empty origin
        "o\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # leading zero
        "o\n+1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "o\n 1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "o\n1_0\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "o\n١\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # non-ASCII digit
        "o\n18446744073709551616\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # 2**64
        f"o\n1\n{base64.b64encode(bytes(31)).decode()}\n",  # 31-byte root
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n",  # non-canonical base64
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n",  # empty extension line
    ],
)
def test_malformed_checkpoints(body: str) -> None:
    with pytest.raises(DocumentError):
        Checkpoint.parse(body)


def _log_checkpoint(signer: Signer, size: int = 5) -> tuple[Checkpoint, str]:
    rng = CompactRange()
    for i in range(size):
        rng.append(leaf_hash(b"decision %d" % i))
    cp = Checkpoint("disclosure-gate.example/ledger", rng.size, rng.root())
    return cp, sign_checkpoint(cp, signer)


def test_checkpoint_sign_and_open() -> None:
    log = generate_signer("disclosure-gate.example/ledger")
    cp, note = _log_checkpoint(log)
    assert note.startswith(cp.body() + "\n— disclosure-gate.example/ledger ")
    assert open_checkpoint(note, log.verifier(), origin=cp.origin) == cp
    with pytest.raises(IntegrityError, match="expected"):
        open_checkpoint(note, log.verifier(), origin="another.example/log")
    with pytest.raises(IntegrityError, match="no verifiable"):
        open_checkpoint(note, generate_signer("disclosure-gate.example/ledger").verifier())


@pytest.mark.parametrize(
    ("old", "new"), [("\n5\n", "\n6\n"), ("disclosure-gate.example/ledger\n", "evil.example/ledger\n")]
)
def test_tampered_checkpoint_fails(old: str, new: str) -> None:
    log = generate_signer("disclosure-gate.example/ledger")
    _, note = _log_checkpoint(log)
    with pytest.raises(IntegrityError):
        open_checkpoint(note.replace(old, new, 1), log.verifier())


def test_tampered_root_fails() -> None:
    log = generate_signer("disclosure-gate.example/ledger")
    cp, note = _log_checkpoint(log)
    other = Checkpoint(cp.origin, cp.size, leaf_hash(b"forged"))
    with pytest.raises(IntegrityError):
        open_checkpoint(note.replace(cp.body(), other.body()), log.verifier())


# --------------------------------------------------------------------------
# Cosignatures (c2sp.org/tlog-cosignature, cosignature/v1)
# --------------------------------------------------------------------------


def test_spec_cosignature_example() -> None:
    # tlog-cosignature.md: the witness line of its example carries time 1679315147,
    # which is also the time in the spec's signed-message example.
    line = (
        "— witness.example.com/w1 "
        "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
    )
    log_line = (
        "— example.com/behind-the-sofa "
        "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    )
    text, sigs = parse_note(SPEC_BODY + "\n" + log_line + line)
    assert text == SPEC_BODY
    assert cosignature_timestamp(sigs[1].signature) == 1679315147
    assert cosignature_message(SPEC_BODY, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


def test_formats_cosignature_known_answers() -> None:
    # transparency-dev/formats note/note_cosigv1_test.go
    ok = base64.b64decode(
        "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA=="
    )
    assert cosignature_timestamp(ok[4:]) == 1727964367
    plain = base64.b64decode(
        "eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY="
    )
    with pytest.raises(DocumentError):
        cosignature_timestamp(plain[4:])  # a plain Ed25519 note signature, not a timestamped one
    witness = parse_verifier_key("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2")
    assert witness.alg == ALG_COSIGNATURE_V1 and witness.key_id == 0xDA77ADE7
    with pytest.raises(DocumentError):  # unknown algorithm byte
        parse_verifier_key("rekor.sigstore.dev+12345678+AwEB")


def test_cosign_round_trip() -> None:
    log = generate_signer("disclosure-gate.example/ledger")
    court = generate_signer("court.example/witness")
    court_v = court.verifier(ALG_COSIGNATURE_V1)
    _, note = _log_checkpoint(log)
    cosigned = cosign(note, court, 1_700_000_000, log_verifier=log.verifier())
    assert cosigned.startswith(note)
    assert verify_cosignature(cosigned, court_v, log_verifier=log.verifier()) == 1_700_000_000
    assert open_note(cosigned, [log.verifier(), court_v]).verified == [log.name, court.name]
    assert parse_verifier_key(verifier_key_string(court_v)) == court_v

    # Re-cosigning replaces the witness's line instead of adding a second one.
    again = cosign(cosigned, court, 1_700_000_100)
    assert len(parse_note(again)[1]) == 2
    assert verify_cosignature(again, court_v) == 1_700_000_100

    # The witness key as a plain note key (type 0x01) has another key ID: the line is unknown to it.
    with pytest.raises(IntegrityError, match="no verifiable"):
        open_note(cosigned, [court.verifier()])
    with pytest.raises(InputError):
        verify_cosignature(cosigned, court.verifier())
    with pytest.raises(IntegrityError, match="no verifiable"):  # not cosigned by this witness
        verify_cosignature(note, court_v)


def test_tampered_cosignature_fails() -> None:
    log = generate_signer("disclosure-gate.example/ledger")
    court = generate_signer("court.example/witness")
    court_v = court.verifier(ALG_COSIGNATURE_V1)
    _, note = _log_checkpoint(log)
    cosigned = cosign(note, court, 1_700_000_000)
    with pytest.raises(IntegrityError):  # checkpoint body changed after cosigning
        verify_cosignature(cosigned.replace("\n5\n", "\n6\n", 1), court_v)
    text, sigs = parse_note(cosigned)
    stamped = sigs[1]
    later = (1_700_000_001).to_bytes(8, "big") + stamped.signature[8:]
    forged = text + "\n" + sigs[0].line() + NoteSignature(stamped.name, stamped.key_id, later).line()
    with pytest.raises(IntegrityError):  # timestamp changed: it is covered by the signature
        verify_cosignature(forged, court_v)
    # Correctly signed, but with a timestamp above 2**63 - 1, which the spec forbids.
    too_big = (2**63).to_bytes(8, "big") + court.sign(cosignature_message(text, 2**63))
    forged = text + "\n" + NoteSignature(stamped.name, stamped.key_id, too_big).line()
    with pytest.raises(IntegrityError):
        verify_cosignature(forged, court_v)
    in_range = (2**63 - 1).to_bytes(8, "big") + court.sign(cosignature_message(text, 2**63 - 1))
    in_range_note = text + "\n" + NoteSignature(stamped.name, stamped.key_id, in_range).line()
    assert verify_cosignature(in_range_note, court_v) == 2**63 - 1
    with pytest.raises(IntegrityError):  # log signature required and absent
        verify_cosignature(cosign(note, court, 1), court_v, log_verifier=court.verifier())


def test_cosign_checks_its_inputs() -> None:
    log = generate_signer("disclosure-gate.example/ledger")
    court = generate_signer("court.example/witness")
    _, note = _log_checkpoint(log)
    for stamp in (-1, 2**63):
        with pytest.raises(InputError):
            cosign(note, court, stamp)
    with pytest.raises(IntegrityError):  # wrong log key
        cosign(note, court, 1, log_verifier=court.verifier())
    with pytest.raises(DocumentError):  # not a checkpoint body
        cosign(sign_note(TEXT, log), court, 1)
    crowded = note
    for i in range(MAX_SIGNATURES - 1):
        crowded = cosign(crowded, generate_signer(f"w{i}.example"), 1)
    with pytest.raises(DocumentError):
        cosign(crowded, court, 1)
