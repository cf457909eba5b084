from __future__ import annotations

import datetime as dt

import pytest

from disclosure_gate import errors
from disclosure_gate.pipeline.documents import load_agreement, load_manifest, normalize_authority

AGREEMENT = """\
id: AGR-1
recipient: Example Agency
statutory_authority: "26 U.S.C. 6103(i)(2)"
purposes: [criminal investigation]
disclose: [last_known_address]
valid_from: 2025-01-01
valid_to: 2027-12-31
status: active
"""


def write(tmp_path, text, name="a.yaml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_agreement_round_trip(tmp_path):
    a, sha = load_agreement(write(tmp_path, AGREEMENT))
    assert a.id == "AGR-1" and a.policy == "6103i2" and a.lookback_years == 6 and len(sha) == 64
    assert a.active_on(dt.date(2026, 1, 1)) and not a.active_on(dt.date(2028, 1, 1))


@pytest.mark.parametrize("text, line, column", [
    (AGREEMENT + "colour: blue\n", 9, "colour"),
    (AGREEMENT.replace("status: active\n", ""), None, "status"),
    (AGREEMENT.replace("status: active", "status: paused"), 8, "status"),
    (AGREEMENT.replace("[last_known_address]", "[tax_return]"), 5, "disclose"),
    (AGREEMENT.replace("valid_from: 2025-01-01", "valid_from: soon"), 6, "valid_from"),
    (AGREEMENT + "id: AGR-2\n", 9, "id"),
])
def test_agreement_errors_name_line_and_field(tmp_path, text, line, column):
    p = write(tmp_path, text)
    with pytest.raises(errors.DocumentError) as info:
        load_agreement(p)
    assert (info.value.line, info.value.column) == (line, column)
    assert str(p) in str(info.value)


@pytest.mark.parametrize("text", ["agreement: [unclosed\n", "- a list\n- not a mapping\n", "", "\x00"])
def test_manifest_not_yaml(tmp_path, text):
    with pytest.raises(errors.DocumentError):
        load_manifest(write(tmp_path, text, "m.yaml"))


def test_manifest_missing_elements_are_recorded_not_fatal(tmp_path):
    m, _ = load_manifest(write(tmp_path, "agreement: A\nsubmitted_at: 2026-01-05\npurpose: ''\n", "m.yaml"))
    assert m.missing_elements() == ("requesting_official", "statutory_authority", "purpose",
                                    "taxable_periods")
    with pytest.raises(errors.DocumentError) as info:
        load_manifest(write(tmp_path, "agreement: A\nsubmitted_at: 2026-01-05\nofficial: X\n", "m.yaml"))
    assert info.value.column == "official"


def test_authority_normalisation():
    assert normalize_authority("26 U.S.C. § 6103(i)(2)") == normalize_authority("26 USC 6103(i)(2)")
    assert normalize_authority("26 U.S.C. 6103(i)(1)") != normalize_authority("26 U.S.C. 6103(i)(2)")
