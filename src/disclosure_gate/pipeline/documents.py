"""Agreements and request manifests: YAML documents with a strict, typed schema.

Parsing uses ``yaml.compose`` so every error names the file, the line and the
field. Agreements are strict: unknown or missing fields are errors. Manifests
are strict about unknown fields and the ``submitted_at`` date, but the four
statutory request elements (requesting official, statutory authority, purpose,
taxable periods) may be absent or blank: that is a *decision*
(``REQUEST_ELEMENT_MISSING``), not a parse error, so it is recorded and every
row is denied with the reason.

These files come from another agency's systems, so every value is bounded (see
docs/formats.md): the file is at most :data:`MAX_DOCUMENT_BYTES`, nesting at
most :data:`MAX_DEPTH` levels, lists at most :data:`MAX_LIST_ITEMS` items,
text at most :data:`MAX_TEXT_CHARS` printable characters on one line, ids
:data:`ID_PATTERN`, dates within :data:`MIN_DATE`..:data:`MAX_DATE`, numbers
within their field's range. Aliases (``*name``) and explicit tags other than
``!!str`` are refused. Every problem, including an impossible date such as
``2025-02-30``, is a :class:`DocumentError` naming the file, line and field.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from disclosure_gate.errors import DocumentError, InputError

AGREEMENT_STATUSES = ("active", "suspended", "terminated")
#: Fields an agreement may list under ``disclose``; release packages carry only these.
DISCLOSABLE_FIELDS = ("last_known_address",)
DEFAULT_POLICY = "6103i2"
DEFAULT_LOOKBACK_YEARS = 6
DEFAULT_SHARED_ADDRESS_THRESHOLD = 25

#: Bounds on every value of an agreement or manifest (documented in docs/formats.md).
MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_DEPTH = 20
MAX_LIST_ITEMS = 1000
MAX_TEXT_CHARS = 1000
MAX_ID_CHARS = 128
#: Ids (an agreement's ``id``, a manifest's ``agreement``): ASCII letters, digits and ``-_.:/@+``.
ID_PATTERN = re.compile(rf"[A-Za-z0-9._:/@+-]{{1,{MAX_ID_CHARS}}}")
MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2999, 12, 31)
LOOKBACK_YEARS_RANGE = (0, 100)
SHARED_ADDRESS_THRESHOLD_RANGE = (1, 1_000_000)

_AGREEMENT_REQUIRED = ("id", "recipient", "statutory_authority", "purposes", "disclose",
                       "valid_from", "valid_to", "status")
_AGREEMENT_OPTIONAL = ("suspended_on", "suspension_reason", "policy", "lookback_years",
                       "shared_address_threshold")
_MANIFEST_FIELDS = ("agreement", "requesting_official", "statutory_authority", "purpose",
                    "taxable_periods", "submitted_at")


@dataclass(frozen=True)
class Agreement:
    id: str
    recipient: str
    statutory_authority: str
    purposes: tuple[str, ...]
    disclose: tuple[str, ...]
    valid_from: dt.date
    valid_to: dt.date | None
    status: str
    suspended_on: dt.date | None = None
    suspension_reason: str | None = None
    policy: str = DEFAULT_POLICY
    lookback_years: int = DEFAULT_LOOKBACK_YEARS
    shared_address_threshold: int = DEFAULT_SHARED_ADDRESS_THRESHOLD

    def active_on(self, day: dt.date) -> bool:
        """Active on ``day``: not terminated, not suspended by then, within its dates."""
        if self.status == "terminated":
            return False
        if self.suspended_on is not None and self.suspended_on <= day:
            return False
        if self.status == "suspended" and self.suspended_on is None:
            return False
        if day < self.valid_from:
            return False
        return not (self.valid_to is not None and day > self.valid_to)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> Agreement:
        d = json.loads(text)
        for k in ("valid_from", "valid_to", "suspended_on"):
            if d.get(k):
                d[k] = dt.date.fromisoformat(d[k])
        d["purposes"] = tuple(d["purposes"])
        d["disclose"] = tuple(d["disclose"])
        return Agreement(**d)


@dataclass(frozen=True)
class Manifest:
    agreement: str | None
    requesting_official: str | None
    statutory_authority: str | None
    purpose: str | None
    taxable_periods: tuple[str, ...]
    submitted_at: dt.date

    def missing_elements(self) -> tuple[str, ...]:
        missing = []
        if not self.requesting_official:
            missing.append("requesting_official")
        if not self.statutory_authority:
            missing.append("statutory_authority")
        if not self.purpose:
            missing.append("purpose")
        if not self.taxable_periods:
            missing.append("taxable_periods")
        return tuple(missing)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> Manifest:
        d = json.loads(text)
        d["submitted_at"] = dt.date.fromisoformat(d["submitted_at"])
        d["taxable_periods"] = tuple(d["taxable_periods"])
        return Manifest(**d)


def normalize_authority(text: str | None) -> str:
    """Compare statutory citations ignoring case, spacing and punctuation variants."""
    if not text:
        return ""
    t = text.upper().replace("§", " ").replace("SECTION", " ").replace("U.S.C.", "USC")
    t = t.replace("USC.", "USC")
    keep = "".join(ch if ch.isalnum() or ch in "()" else " " for ch in t)
    return " ".join(keep.split())


# -- YAML plumbing -------------------------------------------------------------------
_STR_TAG = "tag:yaml.org,2002:str"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ]|$)")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader's composer with a depth limit, no aliases and no explicit tags but ``!!str``.

    The checks run while composing, so they fail at the offending node with its line
    and the top-level field it is under, before any recursion can get deep.
    """

    def __init__(self, stream: str, path: Path) -> None:
        super().__init__(stream)
        self.dg_path = path
        self.dg_depth = 0
        self.dg_field: str | None = None

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.dg_depth == 1:  # a top-level key (index None) or its value (index: the key)
            self.dg_field = index.value if isinstance(index, yaml.ScalarNode) else None
        event = self.peek_event()  # type: ignore[no-untyped-call]
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        if isinstance(event, yaml.AliasEvent):
            raise DocumentError("aliases (*name) are not allowed", file=self.dg_path, line=line,
                                column=self.dg_field)
        tag = getattr(event, "tag", None)
        if tag is not None and tag != _STR_TAG:
            raise DocumentError("explicit YAML tags are not allowed (except !!str)", file=self.dg_path,
                                line=line, column=self.dg_field)
        if self.dg_depth >= MAX_DEPTH:
            raise DocumentError(f"nested deeper than {MAX_DEPTH} levels", file=self.dg_path, line=line,
                                column=self.dg_field)
        self.dg_depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self.dg_depth -= 1
        assert node is not None
        return node


def _compose(path: Path) -> yaml.MappingNode:
    if not path.is_file():
        raise InputError("file not found", file=path)
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"the file is larger than {MAX_DOCUMENT_BYTES >> 20} MiB", file=path)
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if b"\x00" in raw:
        raise DocumentError("contains a NUL byte", file=path, line=raw[:raw.index(b"\x00")].count(b"\n") + 1)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = raw[: exc.start].count(b"\n") + 1
        raise DocumentError("not valid UTF-8", file=path, line=bad_line) from None
    loader: _StrictLoader | None = None
    try:
        loader = _StrictLoader(text, path)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise DocumentError(f"not valid YAML ({exc.problem or 'syntax error'})", file=path,
                            line=mark.line + 1 if mark is not None else None) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1 if isinstance(exc.position, int) else None
        raise DocumentError("not valid YAML (a character YAML does not allow)", file=path, line=line) from None
    except yaml.YAMLError:
        raise DocumentError("not valid YAML", file=path) from None
    except RecursionError:
        raise DocumentError("not valid YAML (nested too deeply)", file=path) from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        raise DocumentError("the document is empty", file=path)
    if not isinstance(node, yaml.MappingNode):
        raise DocumentError("expected a mapping of field: value", file=path,
                            line=node.start_mark.line + 1)
    return node


def _construct(path: Path, node: yaml.Node, key: str) -> Any:
    """The Python value of ``node``; an impossible date or number is a DocumentError at its line."""
    try:
        return yaml.SafeLoader("").construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError):
        pass
    line = node.start_mark.line + 1
    message = "value cannot be read"
    stack = [node]
    while stack:  # find the scalar at fault, without recursion
        n = stack.pop()
        if isinstance(n, yaml.ScalarNode):
            try:
                yaml.SafeLoader("").construct_object(n)
            except Exception:  # any failure of this one scalar is the finding
                line = n.start_mark.line + 1
                message = ("not a valid date or time (use YYYY-MM-DD)" if n.tag == _TIMESTAMP_TAG
                           else "number out of range" if n.tag in _NUMBER_TAGS else message)
                break
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(reversed(n.value))
        elif isinstance(n, yaml.MappingNode):
            for k, v in reversed(n.value):
                stack.extend((v, k))
    raise DocumentError(message, file=path, line=line, column=key)


def _fields(path: Path, node: yaml.MappingNode, allowed: tuple[str, ...]) -> dict[str, tuple[Any, int]]:
    out: dict[str, tuple[Any, int]] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _STR_TAG else None
        if not isinstance(key, str):
            raise DocumentError("field names must be plain strings", file=path, line=line)
        if key not in allowed:
            raise DocumentError("unknown field", file=path, line=line, column=key)
        if key in out:
            raise DocumentError("field given twice", file=path, line=line, column=key)
        out[key] = (_construct(path, value_node, key), line)
    return out


def _text(path: Path, value: Any, line: int, key: str) -> str:
    """One text value: a string or a number, at most MAX_TEXT_CHARS printable characters."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise DocumentError("expected text", file=path, line=line, column=key)
    text = str(value).strip()
    if len(text) > MAX_TEXT_CHARS:
        raise DocumentError(f"text longer than {MAX_TEXT_CHARS:,} characters", file=path, line=line, column=key)
    if not text.isprintable():
        raise DocumentError("text must be one line of printable characters (no control, zero-width or "
                            "bidi characters)", file=path, line=line, column=key)
    return text


def _str(path: Path, fields: dict[str, tuple[Any, int]], key: str, *, required: bool) -> str | None:
    if key not in fields:
        if required:
            raise DocumentError("required field missing", file=path, column=key)
        return None
    value, line = fields[key]
    if value is None:
        if required:
            raise DocumentError("required field is empty", file=path, line=line, column=key)
        return None
    text = _text(path, value, line, key)
    if required and not text:
        raise DocumentError("required field is empty", file=path, line=line, column=key)
    return text or None


def _id(path: Path, fields: dict[str, tuple[Any, int]], key: str, *, required: bool) -> str | None:
    text = _str(path, fields, key, required=required)
    if text is not None and not ID_PATTERN.fullmatch(text):
        raise DocumentError(f"an id is 1 to {MAX_ID_CHARS} characters: ASCII letters, digits and - _ . : / @ +",
                            file=path, line=fields[key][1], column=key)
    return text


def _list(path: Path, fields: dict[str, tuple[Any, int]], key: str, *, required: bool) -> tuple[str, ...]:
    if key not in fields:
        if required:
            raise DocumentError("required field missing", file=path, column=key)
        return ()
    value, line = fields[key]
    if value is None:
        value = []
    if isinstance(value, str | int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        raise DocumentError("expected a list of text values", file=path, line=line, column=key)
    if len(value) > MAX_LIST_ITEMS:
        raise DocumentError(f"list longer than {MAX_LIST_ITEMS:,} items", file=path, line=line, column=key)
    items = tuple(t for t in (_text(path, v, line, key) for v in value) if t)
    if required and not items:
        raise DocumentError("list must not be empty", file=path, line=line, column=key)
    return items


def _date(path: Path, fields: dict[str, tuple[Any, int]], key: str, *, required: bool) -> dt.date | None:
    if key not in fields or fields[key][0] in (None, ""):
        if required:
            raise DocumentError("required date missing", file=path, column=key)
        return None
    value, line = fields[key]
    day: dt.date | None = None
    if isinstance(value, dt.datetime):
        day = value.date()
    elif isinstance(value, dt.date):
        day = value
    elif isinstance(value, str) and len(value) <= 64 and _ISO_DATE.match(value.strip()):
        with contextlib.suppress(ValueError):
            day = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00")).date()
    if day is None:
        raise DocumentError("expected a date as YYYY-MM-DD", file=path, line=line, column=key)
    if not MIN_DATE <= day <= MAX_DATE:
        raise DocumentError(f"date out of range ({MIN_DATE} to {MAX_DATE})", file=path, line=line, column=key)
    return day


def _int(path: Path, fields: dict[str, tuple[Any, int]], key: str, default: int,
         bounds: tuple[int, int]) -> int:
    if key not in fields or fields[key][0] is None:
        return default
    value, line = fields[key]
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise DocumentError(f"expected a whole number from {lo:,} to {hi:,}", file=path, line=line, column=key)
    return value


# -- public loaders ------------------------------------------------------------------
def load_agreement(path: Path) -> tuple[Agreement, str]:
    """Parse and validate an agreement. Returns it with the file's SHA-256."""
    path = Path(path)
    node = _compose(path)
    f = _fields(path, node, _AGREEMENT_REQUIRED + _AGREEMENT_OPTIONAL)
    for key in _AGREEMENT_REQUIRED:
        if key not in f:
            raise DocumentError("required field missing", file=path, column=key)
    status = _str(path, f, "status", required=True) or ""
    if status not in AGREEMENT_STATUSES:
        raise DocumentError(f"status must be one of {', '.join(AGREEMENT_STATUSES)}", file=path,
                            line=f["status"][1], column="status")
    disclose = _list(path, f, "disclose", required=True)
    for item in disclose:
        if item not in DISCLOSABLE_FIELDS:
            raise DocumentError(
                f"unknown disclosable field (known: {', '.join(DISCLOSABLE_FIELDS)})",
                file=path, line=f["disclose"][1], column="disclose")
    valid_from = _date(path, f, "valid_from", required=True)
    assert valid_from is not None
    valid_to = _date(path, f, "valid_to", required=False)
    if valid_to is not None and valid_to < valid_from:
        raise DocumentError("valid_to is before valid_from", file=path, line=f["valid_to"][1],
                            column="valid_to")
    agreement = Agreement(
        id=_id(path, f, "id", required=True) or "",
        recipient=_str(path, f, "recipient", required=True) or "",
        statutory_authority=_str(path, f, "statutory_authority", required=True) or "",
        purposes=_list(path, f, "purposes", required=True),
        disclose=disclose,
        valid_from=valid_from,
        valid_to=valid_to,
        status=status,
        suspended_on=_date(path, f, "suspended_on", required=False),
        suspension_reason=_str(path, f, "suspension_reason", required=False),
        policy=_str(path, f, "policy", required=False) or DEFAULT_POLICY,
        lookback_years=_int(path, f, "lookback_years", DEFAULT_LOOKBACK_YEARS, LOOKBACK_YEARS_RANGE),
        shared_address_threshold=_int(path, f, "shared_address_threshold",
                                      DEFAULT_SHARED_ADDRESS_THRESHOLD, SHARED_ADDRESS_THRESHOLD_RANGE),
    )
    return agreement, hashlib.sha256(path.read_bytes()).hexdigest()


def load_manifest(path: Path) -> tuple[Manifest, str]:
    """Parse a request manifest. Returns it with the file's SHA-256."""
    path = Path(path)
    node = _compose(path)
    f = _fields(path, node, _MANIFEST_FIELDS)
    submitted = _date(path, f, "submitted_at", required=True)
    assert submitted is not None
    manifest = Manifest(
        agreement=_id(path, f, "agreement", required=False),
        requesting_official=_str(path, f, "requesting_official", required=False),
        statutory_authority=_str(path, f, "statutory_authority", required=False),
        purpose=_str(path, f, "purpose", required=False),
        taxable_periods=_list(path, f, "taxable_periods", required=False),
        submitted_at=submitted,
    )
    return manifest, hashlib.sha256(path.read_bytes()).hexdigest()
