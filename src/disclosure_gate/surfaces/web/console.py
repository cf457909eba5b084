"""The console surface (being built)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def build(app: FastAPI, state: Any) -> None:
    return None
