from __future__ import annotations

import pickle

import pytest

from disclosure_gate.secret import Secret


def test_secret_never_shows_its_value():
    s = Secret("123-45-6789")
    for text in (repr(s), str(s), f"{s}", f"{s!r}", "%s" % (s,), str([s]), str({"tin": s})):  # noqa: UP031
        assert "6789" not in text and "***" in text
    assert s.reveal() == "123-45-6789"
    assert s == Secret("123-45-6789") and s != Secret("987-65-4321")
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_secret_in_an_exception_message_stays_masked():
    s = Secret("Maria Garcia, 123 Main St")
    with pytest.raises(ValueError) as info:
        raise ValueError(f"could not match {s}")
    assert "Garcia" not in str(info.value)
