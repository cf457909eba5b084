"""The home's settings: the agency's name and contact point for documents, how batches get processed.

Each change is a ledger event with its actor. Values are plain text (never
confidential) and bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

from disclosure_gate.clock import naive_utc
from disclosure_gate.engine import Engine
from disclosure_gate.errors import UsageError


@dataclass(frozen=True)
class Setting:
    key: str
    doc: str
    default: str
    choices: tuple[str, ...] = ()
    max_len: int = 200


SETTINGS: dict[str, Setting] = {s.key: s for s in (
    Setting("agency_name", "the disclosing agency's name, printed on reports, recall notices and letters", ""),
    Setting("contact", "the contact point printed on recall notices and letters: office, mailing address, "
            "telephone, hours", "", max_len=1000),
    Setting("processing", "how a submitted batch is processed: 'manual' (an officer or the operator starts it) "
            "or 'automatic' (a background job of dgate serve starts it)", "manual", ("manual", "automatic")),
    Setting("api_max_rows", "the largest batch the API accepts, in rows", "2000000"),
    Setting("api_max_bytes", "the largest request body the API accepts, in bytes", "1073741824"),
    Setting("api_rate_per_minute", "API requests per minute per token", "120"),
)}
NUMERIC = ("api_max_rows", "api_max_bytes", "api_rate_per_minute")


def validate(key: str, value: str) -> str:
    spec = SETTINGS.get(key)
    if spec is None:
        raise UsageError(f"unknown setting '{key}' (known: {', '.join(SETTINGS)})")
    value = value.strip()
    if spec.choices and value not in spec.choices:
        raise UsageError(f"{key} must be one of {', '.join(spec.choices)}")
    if key in NUMERIC and (not value.isdigit() or not 0 < int(value) <= 10**12):
        raise UsageError(f"{key} must be a whole number between 1 and 10^12")
    if len(value) > spec.max_len:
        raise UsageError(f"{key} is at most {spec.max_len} characters")
    if any(ord(c) < 0x20 and c != "\n" for c in value):
        raise UsageError(f"{key} must not contain control characters")
    return value


def get(engine: Engine, key: str) -> str:
    value = engine.scalar("SELECT value FROM settings WHERE key = ?", [key], label="setting")
    return SETTINGS[key].default if value is None else str(value)


def get_int(engine: Engine, key: str) -> int:
    return int(get(engine, key))


def all_values(engine: Engine) -> dict[str, str]:
    stored = {str(k): str(v) for k, v in engine.fetchall("SELECT key, value FROM settings", label="settings")}
    return {k: stored.get(k, s.default) for k, s in SETTINGS.items()}


def put(engine: Engine, key: str, value: str, actor: str) -> None:
    engine.execute("INSERT OR REPLACE INTO settings VALUES (?, ?, ?, ?)", [key, value, actor, naive_utc(engine.clock)],
                   label="setting")
