"""Benchmarks: scripts that print figures (no timed assertions)."""
