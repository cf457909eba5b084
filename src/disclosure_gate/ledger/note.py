"""C2SP signed notes (Ed25519), tlog checkpoints and ``cosignature/v1``.

Formats implemented (texts read from the C2SP/C2SP repository):

* **Signed note** (c2sp.org/signed-note): a UTF-8 text ending in ``\\n``, a blank
  line, then one or more lines ``— <key name> <base64(key ID || signature)>``
  (U+2014 em dash, space). No ASCII control characters other than newline.
  Key names are non-empty, without Unicode spaces or ``+``. Key ID =
  ``SHA-256(name || 0x0A || type || public key)[:4]`` as a big-endian uint32;
  type ``0x01`` is Ed25519 over the note text. Verifiers MUST ignore unknown
  keys (a known key is the (name, key ID) pair), MUST verify known ones and
  MUST reject a note no known key verified. Like Go's
  ``golang.org/x/mod/sumdb/note`` we reject a note with more than 100
  signature lines, and reject the whole note if a known key's signature fails.
* **Key strings** (as ``sumdb/note``): signer ``PRIVATE+KEY+<name>+<hex id>+
  base64(0x01 || 32-byte seed)``; verifier ``<name>+<hex id>+base64(type ||
  32-byte public key)``.
* **Checkpoint** (c2sp.org/tlog-checkpoint): note text ``<origin>\\n<size>\\n
  <base64 root>\\n`` plus optional non-empty extension lines; size is ASCII
  decimal without leading zeros; the root is the 32-byte RFC 6962 tree hash.
* **Cosignature v1, Ed25519** (c2sp.org/tlog-cosignature): a note signature
  whose key ID uses type byte ``0x04`` and whose signature is the
  ``timestamped_signature`` ``u64 big-endian timestamp || 64-byte Ed25519
  signature`` over ``"cosignature/v1\\ntime <timestamp>\\n" + checkpoint text``
  (timestamp in POSIX seconds, decimal without leading zeros, at most
  2**63 - 1). Meaning: "as of that time, the largest consistent tree head the
  cosigner has seen for this origin has this root".

Errors: a note, key string or checkpoint that does not parse raises
:class:`~disclosure_gate.errors.DocumentError`; a signature that fails, or a
note with no verifiable signature, raises
:class:`~disclosure_gate.errors.IntegrityError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from disclosure_gate.errors import DocumentError, InputError, IntegrityError

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "MAX_SIGNATURES",
    "Checkpoint",
    "NoteSignature",
    "OpenedNote",
    "Signer",
    "Verifier",
    "cosign",
    "cosignature_message",
    "cosignature_timestamp",
    "generate_signer",
    "is_valid_key_name",
    "key_id",
    "open_checkpoint",
    "open_note",
    "parse_note",
    "parse_signer_key",
    "parse_verifier_key",
    "sign_checkpoint",
    "sign_note",
    "signer_key_string",
    "verifier_key_string",
    "verify_cosignature",
]

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 100
MAX_TIMESTAMP = 2**63 - 1

_SIG_PREFIX = "\u2014 "
_COSIG_HEADER = "cosignature/v1\n"
_HEX_ID = re.compile(r"[0-9a-fA-F]{8}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_ED25519_SIG = 64
_COSIG_SIG = 8 + _ED25519_SIG


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _b64decode(text: str) -> bytes:
    """Strict standard base64: alphabet, padding and canonical form are all checked."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise DocumentError("invalid base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise DocumentError("non-canonical base64")
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _check_note_chars(text: str) -> None:
    """Valid UTF-8 (no lone surrogates) and no ASCII control character but newline."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DocumentError("malformed note: not valid UTF-8") from exc
    for ch in text:
        if ch < " " and ch != "\n":
            raise DocumentError("malformed note: control character")


def is_valid_key_name(name: str) -> bool:
    """Non-empty, valid UTF-8, no Unicode space and no ``+`` (signed-note §Format)."""
    if not name or "+" in name or any(ch.isspace() for ch in name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def key_id(name: str, alg: int, public_key: bytes) -> int:
    """``SHA-256(name || 0x0A || alg || public_key)[:4]`` as a big-endian uint32."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


# --------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------


class Signer:
    """An Ed25519 private key with a key name.

    The same key can sign plain notes (type ``0x01``, e.g. a log's checkpoint)
    or cosignatures (type ``0x04``, a witness); the type only changes the key
    ID and the signed message. C2SP asks a cosigner operator to use distinct
    keys per cosigner, and not to reuse a log key as a witness key.
    """

    __slots__ = ("_key", "name", "public_key")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not is_valid_key_name(name):
            raise InputError("invalid key name: it must be non-empty, without spaces or '+'")
        self.name = name
        self._key = private_key
        self.public_key = _raw_public(private_key.public_key())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Signer:
        if len(seed) != 32:
            raise InputError(f"Ed25519 seed is {len(seed)} bytes, expected 32")
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    def seed(self) -> bytes:
        """The 32-byte private seed. Secret: keep it out of logs and the ledger."""
        return self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def key_id(self, alg: int = ALG_ED25519) -> int:
        return key_id(self.name, alg, self.public_key)

    def sign(self, message: bytes) -> bytes:
        """Raw 64-byte Ed25519 signature (RFC 8032, deterministic)."""
        return self._key.sign(message)

    def verifier(self, alg: int = ALG_ED25519) -> Verifier:
        return Verifier(self.name, self.public_key, alg)

    def __repr__(self) -> str:  # never show the seed
        return f"Signer({self.name!r}, key_id={self.key_id():08x})"


@dataclass(frozen=True, slots=True)
class Verifier:
    """A named Ed25519 public key for one signature type (0x01 note, 0x04 cosignature/v1)."""

    name: str
    public_key: bytes
    alg: int = ALG_ED25519

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise InputError("invalid key name: it must be non-empty, without spaces or '+'")
        if self.alg not in (ALG_ED25519, ALG_COSIGNATURE_V1):
            raise InputError(f"unsupported signature type 0x{self.alg:02x}")
        if len(self.public_key) != 32:
            raise InputError(f"Ed25519 public key is {len(self.public_key)} bytes, expected 32")

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.alg, self.public_key)

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Check a note signature (without its 4-byte key ID) over the note ``text``."""
        if self.alg == ALG_COSIGNATURE_V1:
            if len(signature) != _COSIG_SIG:
                return False
            timestamp = int.from_bytes(signature[:8], "big")
            if timestamp > MAX_TIMESTAMP:
                return False
            message = cosignature_message(text.decode("utf-8"), timestamp)
            signature = signature[8:]
        else:
            if len(signature) != _ED25519_SIG:
                return False
            message = text
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


def generate_signer(name: str) -> Signer:
    """A fresh Ed25519 key named ``name``."""
    return Signer(name, Ed25519PrivateKey.generate())


def signer_key_string(signer: Signer) -> str:
    """``PRIVATE+KEY+<name>+<hex key id>+base64(0x01 || seed)`` (sumdb/note format). Secret."""
    raw = bytes([ALG_ED25519]) + signer.seed()
    return f"PRIVATE+KEY+{signer.name}+{signer.key_id():08x}+{_b64encode(raw)}"


def verifier_key_string(key: Signer | Verifier) -> str:
    """``<name>+<hex key id>+base64(type || public key)``; a Signer gives its type 0x01 key."""
    verifier = key.verifier() if isinstance(key, Signer) else key
    raw = bytes([verifier.alg]) + verifier.public_key
    return f"{verifier.name}+{verifier.key_id:08x}+{_b64encode(raw)}"


def _parse_key_parts(name: str, hex_id: str, key64: str, what: str) -> tuple[int, int, bytes]:
    if not is_valid_key_name(name) or not _HEX_ID.fullmatch(hex_id) or not key64:
        raise DocumentError(f"malformed {what}")
    try:
        raw = _b64decode(key64)
    except DocumentError as exc:
        raise DocumentError(f"malformed {what}") from exc
    if len(raw) != 33:
        raise DocumentError(f"malformed {what}: key material is {len(raw)} bytes, expected 33")
    return int(hex_id, 16), raw[0], raw[1:]


def parse_verifier_key(vkey: str) -> Verifier:
    """Parse a verifier key string (type 0x01 or 0x04) and check its key ID."""
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise DocumentError("malformed verifier key")
    want_id, alg, public = _parse_key_parts(parts[0], parts[1], parts[2], "verifier key")
    if alg not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise DocumentError(f"verifier key has unknown signature type 0x{alg:02x}")
    if key_id(parts[0], alg, public) != want_id:
        raise DocumentError("verifier key ID does not match the key")
    try:
        Ed25519PublicKey.from_public_bytes(public)
    except ValueError as exc:
        raise DocumentError("verifier key is not a valid Ed25519 public key") from exc
    return Verifier(parts[0], public, alg)


def parse_signer_key(skey: str) -> Signer:
    """Parse ``PRIVATE+KEY+...`` and check that the key ID matches the derived public key."""
    parts = skey.split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise DocumentError("malformed signer key")
    want_id, alg, seed = _parse_key_parts(parts[2], parts[3], parts[4], "signer key")
    if alg != ALG_ED25519:
        raise DocumentError(f"signer key has unknown signature type 0x{alg:02x}")
    signer = Signer.from_seed(parts[2], seed)
    if signer.key_id() != want_id:
        raise DocumentError("signer key ID does not match the key")
    return signer


# --------------------------------------------------------------------------
# Notes
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One parsed signature line: key name, key ID, and the signature bytes after the ID."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        blob = self.key_id.to_bytes(4, "big") + self.signature
        return f"{_SIG_PREFIX}{self.name} {_b64encode(blob)}\n"


class OpenedNote(NamedTuple):
    text: str
    verified: list[str]  # names of the keys whose signatures verified, in note order


def _as_text(note: str | bytes) -> str:
    if isinstance(note, bytes):
        try:
            return note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DocumentError("malformed note: not valid UTF-8") from exc
    return note


def parse_note(note: str | bytes) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and signature lines, checking syntax only."""
    msg = _as_text(note)
    _check_note_chars(msg)
    split = msg.rfind("\n\n")
    if split < 0:
        raise DocumentError("malformed note: no blank line before the signatures")
    text, block = msg[: split + 1], msg[split + 2 :]
    if not block or not block.endswith("\n"):
        raise DocumentError("malformed note: signature block must be non-empty and end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise DocumentError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    sigs: list[NoteSignature] = []
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise DocumentError("malformed note: signature line must start with an em dash and a space")
        name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        if not is_valid_key_name(name) or not b64:
            raise DocumentError("malformed note: bad signature line")
        try:
            raw = _b64decode(b64)
        except DocumentError as exc:
            raise DocumentError("malformed note: bad signature encoding") from exc
        if len(raw) < 5:
            raise DocumentError("malformed note: signature too short")
        sigs.append(NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    return text, sigs


def open_note(note: str | bytes, verifiers: Iterable[Verifier]) -> OpenedNote:
    """Verify a signed note against known keys; return its text and the verified key names.

    Signatures from unknown (name, key ID) pairs are ignored. A known key's
    failing signature rejects the note; so does a note that no known key
    signed. Repeated signatures by one key count once.
    """
    text, sigs = parse_note(note)
    known: dict[tuple[str, int], list[Verifier]] = {}
    for v in verifiers:
        known.setdefault((v.name, v.key_id), []).append(v)
    text_bytes = text.encode("utf-8")
    verified: list[str] = []
    seen: set[tuple[str, int]] = set()
    for sig in sigs:
        ident = (sig.name, sig.key_id)
        candidates = known.get(ident)
        if not candidates:
            continue
        if len(candidates) > 1:
            raise InputError(f"ambiguous key {sig.name}+{sig.key_id:08x}: two verifiers share it")
        if ident in seen:
            continue
        seen.add(ident)
        if not candidates[0].verify(text_bytes, sig.signature):
            raise IntegrityError(f"invalid signature for key {sig.name}+{sig.key_id:08x}")
        verified.append(sig.name)
    if not verified:
        raise IntegrityError("note has no verifiable signatures")
    return OpenedNote(text, verified)


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise DocumentError("malformed note: text must end in a newline")
    _check_note_chars(text)


def _assemble(text: str, keep: Sequence[NoteSignature], new: Sequence[NoteSignature]) -> str:
    replaced = {(s.name, s.key_id) for s in new}
    lines = [s.line() for s in keep if (s.name, s.key_id) not in replaced] + [s.line() for s in new]
    if len(lines) > MAX_SIGNATURES:
        raise DocumentError(f"a note may carry at most {MAX_SIGNATURES} signatures")
    return text + "\n" + "".join(lines)


def sign_note(text: str, *signers: Signer) -> str:
    """Sign ``text`` (which must end in a newline) with Ed25519 note signatures (type 0x01)."""
    if not signers:
        raise InputError("sign_note needs at least one signer")
    _check_text(text)
    message = text.encode("utf-8")
    new = [NoteSignature(s.name, s.key_id(ALG_ED25519), s.sign(message)) for s in signers]
    return _assemble(text, [], new)


# --------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tlog-checkpoint note body: origin, tree size, RFC 6962 root, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise DocumentError("checkpoint origin must be one non-empty line")
        if not 0 <= self.size < 2**64:
            raise DocumentError(f"checkpoint size {self.size} is out of range")
        if len(self.root) != 32:
            raise DocumentError(f"checkpoint root is {len(self.root)} bytes, expected 32")
        for ext in self.extensions:
            if not ext or "\n" in ext:
                raise DocumentError("checkpoint extension lines must be single non-empty lines")
        _check_note_chars(self.body())

    def body(self) -> str:
        """The note text: ``origin\\nsize\\nbase64(root)\\n`` then any extension lines."""
        lines = [self.origin, str(self.size), _b64encode(self.root), *self.extensions]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint note text (the part before the signatures)."""
        if not text.endswith("\n"):
            raise DocumentError("checkpoint text must end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise DocumentError("checkpoint needs origin, size and root lines")
        origin, size_text, root_text, *extensions = lines
        if not _DECIMAL.fullmatch(size_text):
            raise DocumentError("checkpoint size must be a decimal without leading zeros")
        try:
            root = _b64decode(root_text)
        except DocumentError as exc:
            raise DocumentError("checkpoint root is not valid base64") from exc
        return cls(origin, int(size_text), root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    """The checkpoint as a signed note, signed by the log key (type 0x01)."""
    return sign_note(checkpoint.body(), signer)


def open_checkpoint(note: str | bytes, log_verifier: Verifier, *, origin: str | None = None) -> Checkpoint:
    """Verify the log's signature on a checkpoint note and parse it.

    Other signatures (e.g. witness cosignatures) are ignored here. If ``origin``
    is given, the checkpoint must name that log.
    """
    opened = open_note(note, [log_verifier])
    checkpoint = Checkpoint.parse(opened.text)
    if origin is not None and checkpoint.origin != origin:
        raise IntegrityError(f"checkpoint is for log {checkpoint.origin!r}, expected {origin!r}")
    return checkpoint


# --------------------------------------------------------------------------
# Cosignatures (tlog-cosignature, cosignature/v1, Ed25519)
# --------------------------------------------------------------------------


def cosignature_message(body: str, timestamp: int) -> bytes:
    """``cosignature/v1\\ntime <timestamp>\\n`` followed by the checkpoint note text."""
    return f"{_COSIG_HEADER}time {timestamp}\n{body}".encode()


def cosignature_timestamp(signature: bytes) -> int:
    """The timestamp of a ``timestamped_signature`` (the bytes after the key ID)."""
    if len(signature) != _COSIG_SIG:
        raise DocumentError(f"cosignature is {len(signature)} bytes, expected {_COSIG_SIG}")
    timestamp = int.from_bytes(signature[:8], "big")
    if timestamp > MAX_TIMESTAMP:
        raise DocumentError("cosignature timestamp exceeds 2**63 - 1")
    return timestamp


def cosign(
    checkpoint_note: str | bytes,
    witness: Signer,
    timestamp: int,
    *,
    log_verifier: Verifier | None = None,
) -> str:
    """Append (or replace) ``witness``'s cosignature/v1 line on a signed checkpoint.

    The caller, acting as witness, must already have checked consistency with
    the largest tree head it has seen for this origin. If ``log_verifier`` is
    given the log's own signature is verified first.
    """
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise InputError(f"cosignature timestamp {timestamp} is out of range")
    if log_verifier is not None:
        open_checkpoint(checkpoint_note, log_verifier)
    text, sigs = parse_note(checkpoint_note)
    Checkpoint.parse(text)
    signature = timestamp.to_bytes(8, "big") + witness.sign(cosignature_message(text, timestamp))
    new = NoteSignature(witness.name, witness.key_id(ALG_COSIGNATURE_V1), signature)
    return _assemble(text, sigs, [new])


def verify_cosignature(
    checkpoint_note: str | bytes,
    witness: Verifier,
    *,
    log_verifier: Verifier | None = None,
) -> int:
    """Verify ``witness``'s cosignature/v1 on a checkpoint; return its timestamp.

    ``witness`` must be a type-0x04 verifier (see :meth:`Signer.verifier`). If
    ``log_verifier`` is given the log's signature must verify too.
    """
    if witness.alg != ALG_COSIGNATURE_V1:
        raise InputError("witness verifier must have signature type 0x04 (cosignature/v1)")
    if log_verifier is not None:
        open_checkpoint(checkpoint_note, log_verifier)
    opened = open_note(checkpoint_note, [witness])  # raises unless the witness line verifies
    Checkpoint.parse(opened.text)
    _, sigs = parse_note(checkpoint_note)
    mine = next(sig for sig in sigs if (sig.name, sig.key_id) == (witness.name, witness.key_id))
    return cosignature_timestamp(mine.signature)
