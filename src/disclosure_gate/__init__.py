"""disclosure-gate: lawful, explained, provable answers to bulk disclosure requests."""

__version__ = "0.1.0"
