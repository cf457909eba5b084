"""The home's settings (agency name and contact point on documents, processing mode, API limits)."""

from __future__ import annotations

from disclosure_gate.app.plans import Plan
from disclosure_gate.app.session import Session
from disclosure_gate.store import settings


def show(s: Session) -> dict[str, str]:
    s.authorize("settings.view")
    return settings.all_values(s.engine)


def plan_set(s: Session, key: str, value: str) -> Plan:
    s.authorize("settings.set")
    clean = settings.validate(key, value)
    return Plan("settings.set", f"set {key}", noop=settings.get(s.engine, key) == clean)


def set_(s: Session, key: str, value: str) -> str:
    s.authorize("settings.set")
    clean = settings.validate(key, value)
    if settings.get(s.engine, key) != clean:
        with s.engine.transaction():
            settings.put(s.engine, key, clean, s.actor.name)
            s.event("setting_changed", {"key": key, "value": clean})
    return clean
