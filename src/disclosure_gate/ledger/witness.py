"""C2SP tlog-witness: the ``add-checkpoint`` protocol, a witness that speaks it, and the log's client.

Specs implemented (texts read from the C2SP/C2SP repository, commit 5ba5ee8):

* **c2sp.org/tlog-witness**, section "HTTP Interface" / "add-checkpoint":
  ``POST <submission prefix>/add-checkpoint`` with a body of an ``old <size>``
  line, zero to 63 base64 consistency-proof lines, an empty line and a signed
  checkpoint; every line ends in U+000A; sizes are ASCII decimal without
  leading zeroes. Answers, in the order the spec lists the checks:

  ====  ======================================================================
  404   the checkpoint's origin is not a log this witness follows
  403   no signature from a trusted key for the origin, or a trusted key's
        signature fails to verify
  400   the old size is larger than the checkpoint size (and, here, any
        malformed body: the spec defines the body grammar but no status for
        breaking it; 400 is what the reference witnesses answer)
  409   the old size is not the size of the latest checkpoint cosigned for
        the origin (0 if none): body ``<recorded size>\\n``, Content-Type
        ``text/x.tlog.size``
  422   a size-0 checkpoint without the empty-tree root; a non-empty proof
        with old size 0; a proof that does not verify; same size, other root
  200   the cosignature line(s), ``— <name> <base64>\\n`` each
  ====  ======================================================================

  The witness persists the new checkpoint before answering, and the check of
  the old size and the update of the record are one atomic step (the spec's
  rollback race, steps 1-6). Section "Monitor Retrieval Mechanism": ``GET
  <monitoring prefix>/<hex SHA-256 of the origin>/checkpoint`` serves the
  latest cosigned checkpoint with the log signatures that verified and the
  witness's cosignature (404 if none).
* **c2sp.org/tlog-cosignature**, "Format" and "Ed25519 signed message":
  ``cosignature/v1`` lines (key ID type 0x04) with a non-zero POSIX timestamp
  (tlog-witness: "the timestamp MUST NOT be zero"), made by
  :mod:`disclosure_gate.ledger.note`.
* **c2sp.org/tlog-checkpoint** and **c2sp.org/signed-note**: parsing and
  signature rules, again from :mod:`~disclosure_gate.ledger.note`.

Not implemented: the OPTIONAL ``sign-subtree`` call and ML-DSA-44
cosignatures (the spec says witnesses SHOULD use them; this project's keys
are Ed25519, and ML-DSA is not in the ``cryptography`` package it uses).

Limits: a request body is at most :data:`MAX_REQUEST_BYTES` (16 KiB, as the
transparency-dev witness; litewitness takes 10 KiB); larger bodies get 413.

The witness's state is a JSON file (per origin: the latest cosigned size, its
root hash and the cosigned checkpoint), replaced atomically with
:func:`~disclosure_gate.store.files.atomic_write`, read at start, and guarded
by an exclusive ``flock`` on ``<state>.lock`` for the witness's lifetime, so
two processes can never interleave updates (which would allow a rollback).
A state file that does not parse stops the witness: starting over from an
empty state would let a log roll back.

The HTTP server and the log's client (:func:`request_cosignature`) are in
:mod:`disclosure_gate.ledger.witness_net`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from disclosure_gate.errors import (
    BusyError,
    DgateError,
    DocumentError,
    InputError,
    IntegrityError,
    LimitError,
)
from disclosure_gate.ledger import merkle, note
from disclosure_gate.store.files import atomic_write, translate_os_error

if TYPE_CHECKING:  # pragma: no cover
    pass

__all__ = [
    "ADD_CHECKPOINT_PATH",
    "EMPTY_STATE",
    "MAX_PROOF_LINES",
    "MAX_REQUEST_BYTES",
    "MAX_RESPONSE_BYTES",
    "SIZE_CONTENT_TYPE",
    "STATE_FORMAT",
    "TEXT_CONTENT_TYPE",
    "AddCheckpointRequest",
    "LogState",
    "StateLock",
    "Witness",
    "WitnessConflict",
    "WitnessRefusal",
    "WitnessRequestError",
    "WitnessResponseError",
    "WitnessUnavailable",
    "check_update",
    "format_add_checkpoint",
    "format_size_conflict",
    "logs_by_origin",
    "monitoring_path",
    "parse_add_checkpoint",
    "parse_size_conflict",
]

ADD_CHECKPOINT_PATH = "/add-checkpoint"
#: tlog-witness: "The client MUST NOT send more than 63 consistency proof lines."
MAX_PROOF_LINES = 63
#: Largest request body the witness reads (and the client sends).
MAX_REQUEST_BYTES = 16 * 1024
#: Largest response body the client reads.
MAX_RESPONSE_BYTES = 64 * 1024
#: tlog-witness: the 409 response "MUST have a Content-Type of text/x.tlog.size".
SIZE_CONTENT_TYPE = "text/x.tlog.size"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
STATE_FORMAT = "dgate-witness-state/1"
MAX_SIZE = 2**64 - 1

_SIZE = re.compile(rb"0|[1-9][0-9]{0,19}")  # ASCII decimal, no leading zeroes (tlog-witness, old size line)
_HASH_B64 = re.compile(rb"[A-Za-z0-9+/]{43}=")  # a 32-byte hash in standard padded base64
_ORIGIN_HASH = re.compile(r"/([0-9a-f]{64})/checkpoint")
_SIG_PREFIX = "\u2014 "
_DRAIN_LIMIT = 1024 * 1024  # a refused body up to this size is read before answering; larger ones close


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class WitnessRequestError(DocumentError):
    """An ``add-checkpoint`` body that breaks the grammar or the limits (HTTP 400, or 413 when too large)."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class WitnessRefusal(IntegrityError):
    """The witness refuses to cosign; ``status`` is the tlog-witness HTTP status (400, 403, 404, 409, 413, 422).

    Raised by :func:`check_update` and :meth:`Witness.update` on the witness
    side, and by :func:`~disclosure_gate.ledger.witness_net.request_cosignature` when a witness answers so.
    """

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class WitnessConflict(WitnessRefusal):
    """409: the old size is not the witness's; ``recorded_size`` is the size it last cosigned.

    The log should retry with ``old_size=recorded_size`` and a consistency
    proof from that size (or give up if its own tree is smaller: the witness
    has seen a larger tree head for this origin).
    """

    def __init__(self, message: str, *, recorded_size: int) -> None:
        super().__init__(message, status=409)
        self.recorded_size = recorded_size


class WitnessResponseError(IntegrityError):
    """The witness answered 200 (or 409) with something that does not verify or parse."""


class WitnessUnavailable(DgateError):
    """The witness could not be reached, timed out, or answered with a status the spec does not define."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------
# Request and response bodies (tlog-witness, "add-checkpoint")
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddCheckpointRequest:
    """A parsed ``add-checkpoint`` body: old size, consistency proof, signed checkpoint note."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint_note: str
    checkpoint: note.Checkpoint


def _parse_hash_line(line: bytes, pos: int) -> bytes:
    # "Each consistency proof line MUST encode a single hash in base64" (RFC 4648 §4, padded).
    if not _HASH_B64.fullmatch(line):
        raise WitnessRequestError(f"consistency proof line {pos} is not one base64 SHA-256 hash")
    raw = base64.b64decode(line, validate=True)
    if base64.b64encode(raw) != line:
        raise WitnessRequestError(f"consistency proof line {pos} is not canonical base64")
    return raw


def parse_add_checkpoint(body: bytes) -> AddCheckpointRequest:
    """Parse an ``add-checkpoint`` request body strictly; raise :class:`WitnessRequestError` only.

    tlog-witness, "add-checkpoint": "an old size line, zero or more consistency
    proof lines, and an empty line, followed by a checkpoint"; the old size is
    ``old`` + one space + ASCII decimal without leading zeroes; at most 63
    proof lines. The checkpoint must be a syntactically valid signed note
    (c2sp.org/signed-note) whose text is a checkpoint (c2sp.org/tlog-checkpoint);
    its signatures are checked later, by the witness, against the log's keys.
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        raise WitnessRequestError("request body must be bytes")
    body = bytes(body)
    if len(body) > MAX_REQUEST_BYTES:
        raise WitnessRequestError(f"request body exceeds {MAX_REQUEST_BYTES} bytes", status=413)
    # The header lines are never empty, so the first blank line ends them; the
    # checkpoint note has its own blank line before its signatures.
    head, sep, rest = body.partition(b"\n\n")
    if not sep:
        raise WitnessRequestError("no empty line between the consistency proof and the checkpoint")
    lines = head.split(b"\n")
    if not lines[0].startswith(b"old "):
        raise WitnessRequestError("the body must start with an 'old <size>' line")
    size_text = lines[0][4:]
    if not _SIZE.fullmatch(size_text):
        raise WitnessRequestError("old size must be an ASCII decimal without leading zeroes")
    old_size = int(size_text)
    if old_size > MAX_SIZE:
        raise WitnessRequestError("old size is out of range")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise WitnessRequestError(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = tuple(_parse_hash_line(line, pos) for pos, line in enumerate(lines[1:], start=1))
    try:
        text = rest.decode("utf-8")
        note_text, _ = note.parse_note(text)
        checkpoint = note.Checkpoint.parse(note_text)
    except UnicodeDecodeError:
        raise WitnessRequestError("the checkpoint is not valid UTF-8") from None
    except DgateError as exc:
        raise WitnessRequestError(f"malformed checkpoint: {exc.message}") from None
    return AddCheckpointRequest(old_size, proof, text, checkpoint)


def _as_note_text(checkpoint_note: str | bytes) -> str:
    if isinstance(checkpoint_note, bytes):
        try:
            return checkpoint_note.decode("utf-8")
        except UnicodeDecodeError:
            raise DocumentError("checkpoint note is not valid UTF-8") from None
    return checkpoint_note


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], checkpoint_note: str | bytes) -> bytes:
    """The ``add-checkpoint`` body for a signed checkpoint note (tlog-witness, "add-checkpoint")."""
    if isinstance(old_size, bool) or not isinstance(old_size, int) or not 0 <= old_size <= MAX_SIZE:
        raise InputError(f"old size {old_size!r} is not a tree size")
    if len(proof) > MAX_PROOF_LINES:
        raise InputError(f"a consistency proof has at most {MAX_PROOF_LINES} hashes, got {len(proof)}")
    for pos, h in enumerate(proof):
        if not isinstance(h, bytes) or len(h) != merkle.HASH_SIZE:
            raise InputError(f"consistency proof hash {pos} is not {merkle.HASH_SIZE} bytes")
    text = _as_note_text(checkpoint_note)
    note_text, _ = note.parse_note(text)
    note.Checkpoint.parse(note_text)
    lines = [f"old {old_size}\n"] + [base64.b64encode(h).decode("ascii") + "\n" for h in proof]
    body = ("".join(lines) + "\n" + text).encode("utf-8")
    if len(body) > MAX_REQUEST_BYTES:
        raise LimitError(f"the add-checkpoint request would be {len(body)} bytes; witnesses take {MAX_REQUEST_BYTES}")
    return body


def format_size_conflict(size: int) -> bytes:
    """409 body: "the tree size of the latest cosigned checkpoint in decimal, followed by a newline"."""
    return f"{size}\n".encode("ascii")


def parse_size_conflict(body: bytes) -> int:
    """Parse a ``text/x.tlog.size`` body; raise :class:`WitnessResponseError` if it is not ``<decimal>\\n``."""
    if not body.endswith(b"\n") or not _SIZE.fullmatch(body[:-1]) or int(body[:-1]) > MAX_SIZE:
        raise WitnessResponseError("the witness's 409 body is not a tree size followed by a newline")
    return int(body[:-1])


def monitoring_path(origin: str) -> str:
    """``/<origin hash>/checkpoint`` (tlog-witness, "Monitor Retrieval Mechanism"): lowercase hex SHA-256."""
    return f"/{hashlib.sha256(origin.encode('utf-8')).hexdigest()}/checkpoint"


# --------------------------------------------------------------------------
# The rules (shared with the offline ``dgate-verify cosign``)
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogState:
    """What a witness records per log: the latest cosigned tree size and root."""

    size: int
    root: bytes


EMPTY_STATE = LogState(0, merkle.EMPTY_ROOT)


def check_update(recorded: LogState, old_size: int, checkpoint: note.Checkpoint, proof: Sequence[bytes]) -> None:
    """Raise :class:`WitnessRefusal` unless ``checkpoint`` may be cosigned after ``recorded``.

    ``checkpoint``'s signature must already be verified. The checks follow
    tlog-witness "add-checkpoint" in its order: old size not above the
    checkpoint size (400); old size equal to the recorded one (409); a size-0
    checkpoint has the empty-tree root (422); old size 0 takes an empty proof
    (422); equal sizes need equal roots (422, a fork); otherwise the RFC 6962
    consistency proof from ``recorded`` must verify (422). A smaller checkpoint
    (a rollback) fails the first or the second check.
    """
    if old_size > checkpoint.size:
        raise WitnessRefusal(
            f"the checkpoint (size {checkpoint.size}) is smaller than the old size {old_size}", status=400
        )
    if old_size != recorded.size:
        raise WitnessConflict(
            f"old size {old_size} is not the size {recorded.size} this witness last cosigned",
            recorded_size=recorded.size,
        )
    if checkpoint.size == 0 and not hmac.compare_digest(checkpoint.root, merkle.EMPTY_ROOT):
        raise WitnessRefusal("a checkpoint of size 0 must have the root hash of the empty tree", status=422)
    if old_size == 0:
        # "the empty tree is consistent with any tree, so no proof is necessary"
        if proof:
            raise WitnessRefusal("the consistency proof must be empty when the old size is 0", status=422)
        return
    if old_size == checkpoint.size and not hmac.compare_digest(checkpoint.root, recorded.root):
        raise WitnessRefusal(
            f"a different root hash for size {old_size} than the one already cosigned (a fork)", status=422
        )
    try:
        merkle.verify_consistency(old_size, checkpoint.size, list(proof), recorded.root, checkpoint.root)
    except (IntegrityError, InputError) as exc:
        raise WitnessRefusal(f"the consistency proof does not verify: {exc.message}", status=422) from None


# --------------------------------------------------------------------------
# State file and its lock
# --------------------------------------------------------------------------


class StateLock:
    """An exclusive, non-blocking ``flock`` on ``<state>.lock``; :class:`~disclosure_gate.errors.BusyError` if held.

    The state file itself is replaced on every write (a new inode), so the
    lock lives in a sibling file that is never replaced. On platforms without
    ``fcntl`` only the in-process lock of :class:`Witness` remains.
    """

    def __init__(self, state_file: Path) -> None:
        self.path = Path(state_file).with_name(Path(state_file).name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fd is not None:
            raise BusyError(f"{self.path} is already locked by this process")
        if sys.platform == "win32":  # pragma: no cover
            return
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise translate_os_error(exc, str(self.path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise BusyError(f"another witness process holds {self.path}") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass(frozen=True, slots=True)
class _Record:
    size: int
    root: bytes
    checkpoint: str | None = None  # the cosigned checkpoint served to monitors
    stamp: int | None = None  # timestamp of that cosignature

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"size": self.size, "root": base64.b64encode(self.root).decode("ascii")}
        if self.checkpoint is not None:
            out["checkpoint"] = self.checkpoint
        if self.stamp is not None:
            out["time"] = self.stamp
        return out


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _record_from_json(origin: str, value: object, path: Path) -> _Record:
    def bad(why: str) -> DocumentError:
        return DocumentError(f"witness state for log {origin!r}: {why}", file=path)

    if not isinstance(value, dict):
        raise bad("expected an object")
    size, root_text = value.get("size"), value.get("root")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SIZE:
        raise bad("size must be a tree size")
    if not isinstance(root_text, str):
        raise bad("root must be base64")
    try:
        root = base64.b64decode(root_text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise bad("root must be base64") from None
    if len(root) != merkle.HASH_SIZE:
        raise bad("root must be a 32-byte hash")
    if size == 0 and root != merkle.EMPTY_ROOT:
        raise bad("size 0 must have the empty-tree root")
    cosigned = value.get("checkpoint")
    if cosigned is not None:
        if not isinstance(cosigned, str):
            raise bad("checkpoint must be a signed note")
        try:
            cp = note.Checkpoint.parse(note.parse_note(cosigned)[0])
        except DgateError:
            raise bad("checkpoint must be a signed note") from None
        if (cp.origin, cp.size, cp.root) != (origin, size, root):
            raise bad("the stored checkpoint does not match the recorded size and root")
    stamp = value.get("time")
    if stamp is not None and not _is_int(stamp):
        raise bad("time must be an integer")
    return _Record(size, root, cosigned, stamp)


def _load_state(path: Path) -> dict[str, _Record] | None:
    """The records in ``path``, or None if there is no such file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(f"cannot read the witness state: {exc.strerror or type(exc).__name__}", file=path) from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DocumentError("the witness state is not valid JSON", file=path) from None
    if not isinstance(data, dict) or data.get("format") != STATE_FORMAT or not isinstance(data.get("logs"), dict):
        raise DocumentError(f"not a witness state file (format {STATE_FORMAT!r})", file=path)
    return {origin: _record_from_json(origin, value, path) for origin, value in data["logs"].items()}


def _dump_state(records: Mapping[str, _Record]) -> str:
    logs = {origin: records[origin].to_json() for origin in sorted(records)}
    return json.dumps({"format": STATE_FORMAT, "logs": logs}, indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------
# The witness
# --------------------------------------------------------------------------


def logs_by_origin(verifiers: Sequence[note.Verifier]) -> dict[str, list[note.Verifier]]:
    """Group log keys by origin: a log's key name is its origin (tlog-checkpoint, "Signatures": SHOULD match)."""
    out: dict[str, list[note.Verifier]] = {}
    for v in verifiers:
        out.setdefault(v.name, []).append(v)
    return out


class _Outcome(NamedTuple):
    status: int
    content_type: str
    body: bytes
    summary: str  # one line for the server's log; never the body


def _text(message: str) -> bytes:
    return (message + "\n").encode("utf-8")


class Witness:
    """A tlog-witness for the logs in ``logs`` (origin → the log's Ed25519 note key or keys).

    ``signer`` is the witness's key; it cosigns with ``cosignature/v1`` (key
    ID type 0x04). ``state_file`` is the JSON state (created if missing; the
    folder must exist). The witness holds ``<state_file>.lock`` until
    :meth:`close`. ``clock`` returns POSIX seconds (default ``time.time``).
    Thread-safe: :meth:`add_checkpoint` may be called from many threads.
    """

    def __init__(
        self,
        signer: note.Signer,
        logs: Mapping[str, note.Verifier | Sequence[note.Verifier]],
        state_file: Path,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._signer = signer
        self._logs = self._check_logs(signer, logs)
        self._path = Path(state_file)
        self._clock: Callable[[], float] = clock or time.time
        self._mutex = threading.Lock()
        self._closed = False
        self._file_lock = StateLock(self._path)
        self._file_lock.acquire()
        try:
            loaded = _load_state(self._path)
            if loaded is None:
                loaded = {}
                atomic_write(self._path, _dump_state(loaded))  # fail now, not on the first request
            self._state: dict[str, _Record] = loaded
        except BaseException:
            self._file_lock.release()
            raise

    @staticmethod
    def _check_logs(
        signer: note.Signer, logs: Mapping[str, note.Verifier | Sequence[note.Verifier]]
    ) -> dict[str, tuple[note.Verifier, ...]]:
        out: dict[str, tuple[note.Verifier, ...]] = {}
        for origin, keys in logs.items():
            verifiers = [keys] if isinstance(keys, note.Verifier) else list(keys)
            if not origin or "\n" in origin or not verifiers:
                raise InputError(f"log {origin!r}: an origin line and at least one key are needed")
            unique: dict[tuple[str, int], note.Verifier] = {}
            for v in verifiers:
                if v.alg != note.ALG_ED25519:
                    raise InputError(f"log key {v.name}+{v.key_id:08x} is not an Ed25519 note key (type 0x01)")
                if v.public_key == signer.public_key:
                    # tlog-cosignature: a cosigner's key must not be shared; never cosign with the log's own key.
                    raise InputError(f"the witness key is the key of log {origin!r}: use a separate witness key")
                if unique.setdefault((v.name, v.key_id), v) != v:
                    raise InputError(f"two different keys named {v.name}+{v.key_id:08x} for log {origin!r}")
            out[origin] = tuple(unique.values())
        if not out:
            raise InputError("a witness must follow at least one log")
        return out

    # -- introspection -----------------------------------------------------

    @property
    def name(self) -> str:
        return self._signer.name

    @property
    def verifier(self) -> note.Verifier:
        """The witness's cosignature/v1 verifier (type 0x04)."""
        return self._signer.verifier(note.ALG_COSIGNATURE_V1)

    @property
    def verifier_key(self) -> str:
        """The witness's public key string, for the logs' and the overseers' configuration."""
        return note.verifier_key_string(self.verifier)

    @property
    def origins(self) -> list[str]:
        return sorted(self._logs)

    def recorded(self, origin: str) -> LogState | None:
        """The latest cosigned (size, root) for ``origin``, or None if it never cosigned one."""
        with self._mutex:
            rec = self._state.get(origin)
        return None if rec is None else LogState(rec.size, rec.root)

    # -- add-checkpoint ----------------------------------------------------

    def update(self, checkpoint_note: str | bytes, old_size: int, proof: Sequence[bytes]) -> str:
        """Check a signed checkpoint against the record, persist it, return the cosignature line.

        Raises :class:`WitnessRefusal` (with the tlog-witness status) when it
        must not be cosigned, :class:`WitnessConflict` with the recorded size
        on 409, and :class:`WitnessRequestError` if the note does not parse.
        """
        return self._update(parse_add_checkpoint(format_add_checkpoint(old_size, proof, checkpoint_note)))

    def _verify_log_signature(self, request: AddCheckpointRequest) -> list[note.NoteSignature]:
        """The log signature lines that verified, or 404 / 403 (tlog-witness, "add-checkpoint")."""
        verifiers = self._logs.get(request.checkpoint.origin)
        if verifiers is None:
            raise WitnessRefusal("unknown log: this witness does not follow the checkpoint's origin", status=404)
        try:
            note.open_note(request.checkpoint_note, verifiers)  # ignores unknown keys, rejects a failing known one
        except IntegrityError:
            raise WitnessRefusal("no valid signature from a key trusted for this log", status=403) from None
        _, sigs = note.parse_note(request.checkpoint_note)
        known = {(v.name, v.key_id) for v in verifiers}
        kept: list[note.NoteSignature] = []
        for sig in sigs:  # open_note verified the first line of each known key; keep exactly those
            ident = (sig.name, sig.key_id)
            if ident in known:
                known.discard(ident)
                kept.append(sig)
        return kept

    def _timestamp(self) -> int:
        stamp = int(self._clock())
        if not 1 <= stamp <= note.MAX_TIMESTAMP:  # tlog-witness: "the timestamp MUST NOT be zero"
            raise DgateError(f"the witness clock reads {stamp}, not a usable cosignature timestamp")
        return stamp

    def _update(self, request: AddCheckpointRequest) -> str:
        log_sigs = self._verify_log_signature(request)
        cp = request.checkpoint
        text, _ = note.parse_note(request.checkpoint_note)
        with self._mutex:  # check and persist atomically (the spec's rollback race)
            if self._closed:
                raise WitnessUnavailable("the witness is shutting down", status=503)
            rec = self._state.get(cp.origin)
            check_update(EMPTY_STATE if rec is None else LogState(rec.size, rec.root), request.old_size, cp,
                         request.proof)
            # Never older than this log's last cosignature: a cosignature says "as of this time, the
            # largest tree I saw is this one", so a clock that steps back must not contradict it.
            last = rec.stamp if rec is not None and rec.stamp is not None else 0
            stamp = max(self._timestamp(), last)
            signature = stamp.to_bytes(8, "big") + self._signer.sign(note.cosignature_message(text, stamp))
            line = note.NoteSignature(self._signer.name, self._signer.key_id(note.ALG_COSIGNATURE_V1),
                                      signature).line()
            cosigned = text + "\n" + "".join(s.line() for s in log_sigs) + line
            state = {**self._state, cp.origin: _Record(cp.size, cp.root, cosigned, stamp)}
            atomic_write(self._path, _dump_state(state))  # "MUST persist the new checkpoint before responding"
            self._state = state
        return line

    def _respond(self, body: bytes) -> _Outcome:
        try:
            request = parse_add_checkpoint(body)
        except WitnessRequestError as exc:
            return _Outcome(exc.status, TEXT_CONTENT_TYPE, _text(exc.message), f"malformed request: {exc.message}")
        cp = request.checkpoint
        # Name the log only if it is one we follow: the origin is otherwise untrusted text.
        who = f"log={cp.origin} size={cp.size} old={request.old_size}" if cp.origin in self._logs else "unknown log"
        try:
            line = self._update(request)
        except WitnessConflict as exc:
            return _Outcome(409, SIZE_CONTENT_TYPE, format_size_conflict(exc.recorded_size),
                            f"{who}: conflict, recorded size {exc.recorded_size}")
        except WitnessRefusal as exc:
            return _Outcome(exc.status, TEXT_CONTENT_TYPE, _text(exc.message), f"{who}: refused: {exc.message}")
        except WitnessUnavailable as exc:
            return _Outcome(503, TEXT_CONTENT_TYPE, _text(exc.message), f"{who}: {exc.message}")
        except DgateError as exc:  # e.g. the state could not be written: no cosignature was returned
            return _Outcome(500, TEXT_CONTENT_TYPE, _text(f"internal error ({exc.code})"),
                            f"{who}: internal error {exc.code}: {exc.message}")
        return _Outcome(200, TEXT_CONTENT_TYPE, line.encode("utf-8"), f"{who}: cosigned")

    def add_checkpoint(self, body: bytes) -> tuple[int, str, bytes]:
        """Answer one ``add-checkpoint`` request body: ``(HTTP status, Content-Type, response body)``."""
        outcome = self._respond(body)
        return outcome.status, outcome.content_type, outcome.body

    # -- monitoring --------------------------------------------------------

    def latest_checkpoint(self, origin_hash: str) -> tuple[int, str, bytes]:
        """``GET /<origin hash>/checkpoint``: the latest cosigned checkpoint, or 404 (tlog-witness, monitoring)."""
        with self._mutex:
            for origin, rec in self._state.items():
                if rec.checkpoint is not None and hashlib.sha256(origin.encode("utf-8")).hexdigest() == origin_hash:
                    return 200, TEXT_CONTENT_TYPE, rec.checkpoint.encode("utf-8")
        return 404, TEXT_CONTENT_TYPE, _text("no checkpoint cosigned for this log")

    # -- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        """Wait for an update in progress, refuse new ones, release the state lock."""
        with self._mutex:
            self._closed = True
            self._file_lock.release()

    def __enter__(self) -> Witness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
