"""The ledger as a C2SP tlog-tiles log (c2sp.org/tlog-tiles), read-only, for overseers and witnesses.

Resources (the web surface serves them under ``/log/``):

* ``checkpoint``: the latest signed checkpoint with every cosignature received
  (:func:`checkpoint`). Public.
* ``tile/<L>/<N>[.p/<W>]``: hash tiles (:func:`hash_tile`). Tile ``N`` of level
  ``L`` holds ``MTH(D[(256N + i) * 256**L : (256N + i + 1) * 256**L])`` for
  ``i < W`` (256 when full): the hashes of the perfect subtrees of height
  ``8L`` at indexes ``256N .. 256N + W - 1``. Level 0 is the leaf hashes
  (``ledger_entries.leaf_hash``); level ``L >= 1`` is read from the stored
  interior nodes of tree level ``8L`` (``ledger_tiles`` rows, 256 nodes per
  row, so the stored row ``(8L, N)`` *is* tlog tile ``(L, N)``). Public: hashes
  reveal nothing.
* ``tile/entries/<N>[.p/<W>]``: entry bundles (:func:`entry_bundle`), each
  entry a big-endian uint16 length and the entry's bytes. Decision entries are
  regenerated from the stored decisions (format v2) and, like events, checked
  against their stored leaf hash before they are served. Request ids belong to
  the requesting agency, so bundles need the ``ledger.entries`` action
  (overseers, auditors, officers).

Only what the latest signed checkpoint covers is served: a full tile once the
checkpoint's tree contains all of it, a partial tile of width ``W`` once it
contains its first ``W`` hashes (the prefix of a tile never changes). Anything
else is not found.

Path encoding of ``N`` (tlog-tiles): zero-padded 3-digit elements, all but the
last prefixed with ``x`` (1234067 is ``x001/x234/067``); only the canonical
form (no leading ``x000``) is accepted, so each resource has one URL.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from disclosure_gate.app import ledger as ledger_app
from disclosure_gate.app.session import Session
from disclosure_gate.errors import DgateError, IntegrityError, NotFoundError
from disclosure_gate.ledger import merkle
from disclosure_gate.ledger import store as ledger

TILE_HEIGHT = 8
TILE_WIDTH = 256
MAX_LEVEL = 63
MAX_ENTRY_BYTES = 0xFFFF  # a bundle's length prefix is a uint16

_ELEMENT = re.compile(r"x[0-9]{3}")
_LAST = re.compile(r"[0-9]{3}")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")
_LEVEL = re.compile(r"0|[1-9][0-9]?")


@dataclass(frozen=True)
class TileRef:
    """A parsed tile path. ``level`` None is an entry bundle; ``width`` None is a full tile."""

    level: int | None
    index: int
    width: int | None

    @property
    def full(self) -> bool:
        return self.width is None

    def path(self) -> str:
        return tile_path(self.level, self.index, self.width)


def encode_index(n: int) -> str:
    """``N`` as tlog-tiles path elements: 1234067 -> ``x001/x234/067``."""
    if n < 0:
        raise ValueError("a tile index is not negative")
    text = f"{n % 1000:03d}"
    n //= 1000
    while n > 0:
        text = f"x{n % 1000:03d}/{text}"
        n //= 1000
    return text


def tile_path(level: int | None, index: int, width: int | None = None) -> str:
    """``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]``."""
    head = "entries" if level is None else str(level)
    return f"tile/{head}/{encode_index(index)}" + (f".p/{width}" if width is not None else "")


def parse_tile_path(path: str) -> TileRef:
    """Parse what follows ``tile/``: ``<L>/<N>[.p/<W>]`` or ``entries/<N>[.p/<W>]``. Not found if malformed."""
    bad = NotFoundError(f"no tile 'tile/{path[:200]}': tile paths are tile/<L>/<N>[.p/<W>] or "
                        "tile/entries/<N>[.p/<W>] (c2sp.org/tlog-tiles)")
    parts = path.split("/")
    if len(parts) < 2:
        raise bad
    head, rest = parts[0], parts[1:]
    if head == "entries":
        level = None
    elif _LEVEL.fullmatch(head) and int(head) <= MAX_LEVEL:
        level = int(head)
    else:
        raise bad
    width = None
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        if not _WIDTH.fullmatch(rest[-1]) or int(rest[-1]) >= TILE_WIDTH:
            raise bad
        width = int(rest[-1])
        rest = [*rest[:-2], rest[-2][:-2]]
    if not rest or not _LAST.fullmatch(rest[-1]) or not all(_ELEMENT.fullmatch(e) for e in rest[:-1]):
        raise bad
    if len(rest) > 1 and rest[0] == "x000":  # not canonical: leading zero groups
        raise bad
    index = 0
    for element in rest:
        index = index * 1000 + int(element.lstrip("x"))
    return TileRef(level, index, width)


# -- what the latest checkpoint covers ---------------------------------------------------------------
def checkpoint(s: Session) -> str:
    """The latest signed checkpoint note with its cosignatures (public)."""
    latest = ledger_app.latest(s)
    if latest is None:
        raise NotFoundError("no checkpoint has been signed yet")
    return latest[1]


def covered_size(s: Session) -> int:
    cp = ledger.latest_checkpoint(s.engine)
    return 0 if cp is None else cp.size


def available(size: int, level: int, index: int) -> int:
    """How many hashes of tile ``(level, index)`` a tree of ``size`` entries has (0..256)."""
    nodes = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, nodes - index * TILE_WIDTH))


def _wanted(s: Session, level: int, index: int, width: int | None, what: str) -> int:
    size = covered_size(s)
    have = available(size, level, index)
    want = TILE_WIDTH if width is None else width
    if have < want:
        raise NotFoundError(f"no {what} {tile_path(None if what == 'entry bundle' else level, index, width)}: "
                            f"the latest checkpoint (size {size}) does not cover it")
    return want


# -- hash tiles --------------------------------------------------------------------------------------
def hash_tile(s: Session, level: int, index: int, width: int | None = None) -> bytes:
    """The hash tile ``(level, index)``: ``width`` hashes (256 when None), 32 bytes each. Public."""
    want = _wanted(s, level, index, width, "tile")
    first = index * TILE_WIDTH
    if level == 0:
        rows = s.engine.fetchall("SELECT idx, leaf_hash FROM ledger_entries WHERE idx >= ? AND idx < ? "
                                 "ORDER BY idx", [first, first + want], label="tile")
        if [int(r[0]) for r in rows] != list(range(first, first + want)):
            raise IntegrityError(f"ledger entries {first}..{first + want - 1} are missing or repeated")
        data = b"".join(bytes(r[1]) for r in rows)
    else:
        row = s.engine.fetchone("SELECT width, hashes FROM ledger_tiles WHERE level = ? AND tile = ?",
                                [TILE_HEIGHT * level, index], label="tile")
        if row is None or int(row[0]) < want or len(row[1]) < want * merkle.HASH_SIZE:
            raise IntegrityError(f"stored ledger nodes at tree level {TILE_HEIGHT * level}, tile {index} "
                                 "are missing or short")
        data = bytes(row[1])[: want * merkle.HASH_SIZE]
    if len(data) != want * merkle.HASH_SIZE:
        raise IntegrityError(f"ledger tile ({level}, {index}) holds a hash that is not {merkle.HASH_SIZE} bytes")
    return data


# -- entry bundles ------------------------------------------------------------------------------------
def _entries(s: Session, first: int, end: int) -> list[tuple[int, bytes, bytes]]:
    """``(idx, entry bytes, stored leaf)`` for ``first <= idx < end``; decisions regenerated in one query."""
    where = ("lr.first_idx < $hi AND lr.first_idx + lr.entries > $lo "
             "AND lr.first_idx + d._row >= $lo AND lr.first_idx + d._row < $hi")
    regenerated = ledger.decision_entry_sql(ledger.STORED_DECISIONS, ledger.STORED_COLUMNS, where)
    ipad, opad = ledger.hmac_pads(s.keys.commitment_key)
    rows = s.engine.fetchall(
        f"SELECT e.idx, e.body, e.leaf_hash, g.body FROM ledger_entries e LEFT JOIN ({regenerated}) g "
        "ON g.idx = e.idx WHERE e.idx >= $lo AND e.idx < $hi ORDER BY e.idx",
        {"ipad": ipad, "opad": opad, "lo": first, "hi": end}, label="entry bundle")
    out = []
    for idx, body, leaf, decision in rows:
        text = body if body is not None else decision
        if text is None:
            raise IntegrityError(f"ledger entry {idx}: its decision is missing from storage")
        out.append((int(idx), str(text).encode("utf-8"), bytes(leaf)))
    return out


def entry_bundle(s: Session, index: int, width: int | None = None) -> bytes:
    """Entry bundle ``index``: each entry as a big-endian uint16 length and its bytes (overseers)."""
    s.authorize("log.entries")
    want = _wanted(s, 0, index, width, "entry bundle")
    first = index * TILE_WIDTH
    entries = _entries(s, first, first + want)
    if [e[0] for e in entries] != list(range(first, first + want)):
        raise IntegrityError(f"ledger entries {first}..{first + want - 1} are missing or repeated")
    out = bytearray()
    for idx, data, leaf in entries:
        if merkle.leaf_hash(data) != leaf:
            raise IntegrityError(f"ledger entry {idx} no longer matches its leaf hash")
        if len(data) > MAX_ENTRY_BYTES:
            raise DgateError(f"ledger entry {idx} is {len(data):,} bytes, more than an entry bundle's "
                             f"{MAX_ENTRY_BYTES:,}: fetch it with 'dgate ledger prove' or the entry proof")
        out += struct.pack(">H", len(data)) + data
    return bytes(out)


def parse_bundle(data: bytes) -> list[bytes]:
    """Split an entry bundle into entries (for clients and tests)."""
    out, pos = [], 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise IntegrityError("entry bundle ends inside a length prefix")
        (n,) = struct.unpack(">H", data[pos : pos + 2])
        if pos + 2 + n > len(data):
            raise IntegrityError("entry bundle ends inside an entry")
        out.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    return out
