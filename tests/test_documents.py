from __future__ import annotations

import datetime as dt

import pytest

from disclosure_gate import errors
from disclosure_gate.pipeline.documents import (
    MAX_DOCUMENT_BYTES,
    MAX_LIST_ITEMS,
    MAX_TEXT_CHARS,
    load_agreement,
    load_manifest,
    normalize_authority,
)

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


MANIFEST = "agreement: A\nsubmitted_at: 2026-01-05\n"


def _error(tmp_path, text, loader=load_agreement):
    p = write(tmp_path, text, "d.yaml")
    with pytest.raises(errors.DocumentError) as info:
        loader(p)
    assert str(p) in str(info.value)
    return info.value


@pytest.mark.parametrize("text, loader, line, column", [
    (AGREEMENT.replace("valid_from: 2025-01-01", "valid_from: 2025-02-30"), load_agreement, 6, "valid_from"),
    (AGREEMENT.replace("valid_to: 2027-12-31", "valid_to: 2027-13-01"), load_agreement, 7, "valid_to"),
    (AGREEMENT + "suspended_on: 0000-01-01\n", load_agreement, 9, "suspended_on"),
    (MANIFEST.replace("2026-01-05", "2025-02-30"), load_manifest, 2, "submitted_at"),
    (MANIFEST.replace("2026-01-05", "2025-06-27T25:00:00"), load_manifest, 2, "submitted_at"),
    (MANIFEST.replace("2026-01-05", "2025-06-27T10:00:00+99:00"), load_manifest, 2, "submitted_at"),
    (MANIFEST + "taxable_periods:\n  - 2023\n  - 2025-02-30\n", load_manifest, 5, "taxable_periods"),
])
def test_impossible_dates_are_document_errors(tmp_path, text, loader, line, column):
    e = _error(tmp_path, text, loader)
    assert (e.line, e.column) == (line, column)
    assert "date" in e.message


@pytest.mark.parametrize("value", [
    "[" * 5000 + "]" * 5000,
    "{a: " * 5000 + "x" + "}" * 5000,
    "\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(300)),
    "\n" + "".join("  " * (i + 1) + "-\n" for i in range(300)),
])
def test_deep_nesting_is_a_document_error(tmp_path, value):
    for text, loader, line in ((MANIFEST + f"purpose: {value}\n", load_manifest, 3),
                               (AGREEMENT.replace("purposes: [criminal investigation]", f"purposes: {value}"),
                                load_agreement, 4)):
        e = _error(tmp_path, text, loader)
        assert e.column == ("purpose" if loader is load_manifest else "purposes")
        assert e.line is not None and e.line >= line
        assert "nested deeper" in e.message


@pytest.mark.parametrize("field, value, ok", [
    ("lookback_years", "99999999999999999999", False),
    ("lookback_years", "9" * 5000, False),
    ("lookback_years", "101", False),
    ("lookback_years", "-1", False),
    ("lookback_years", "6.0", False),
    ("lookback_years", "0", True),
    ("lookback_years", "100", True),
    ("shared_address_threshold", "0", False),
    ("shared_address_threshold", "1000001", False),
    ("shared_address_threshold", "1", True),
    ("shared_address_threshold", "1000000", True),
])
def test_numbers_are_bounded(tmp_path, field, value, ok):
    text = AGREEMENT + f"{field}: {value}\n"
    if ok:
        a, _ = load_agreement(write(tmp_path, text))
        assert getattr(a, field) == int(value)
    else:
        assert (_error(tmp_path, text).line, _error(tmp_path, text).column) == (9, field)


@pytest.mark.parametrize("old, new, ok", [
    ("valid_from: 2025-01-01", "valid_from: 1899-12-31", False),
    ("valid_to: 2027-12-31", "valid_to: 3000-01-01", False),
    ("valid_to: 2027-12-31", "valid_to: '9999-12-31'", False),
    ("valid_from: 2025-01-01", "valid_from: 1900-01-01", True),
    ("valid_to: 2027-12-31", "valid_to: 2999-12-31", True),
    ("valid_from: 2025-01-01", "valid_from: '2025-W01-1'", False),
])
def test_dates_are_bounded(tmp_path, old, new, ok):
    text = AGREEMENT.replace(old, new)
    if ok:
        load_agreement(write(tmp_path, text))
    else:
        assert _error(tmp_path, text).column == new.split(":")[0]


def test_lists_and_text_are_bounded(tmp_path):
    many = "[" + ", ".join(["p"] * (MAX_LIST_ITEMS + 1)) + "]"
    assert _error(tmp_path, AGREEMENT.replace("[criminal investigation]", many)).column == "purposes"
    enough = "[" + ", ".join(["p"] * MAX_LIST_ITEMS) + "]"
    assert len(load_agreement(write(tmp_path, AGREEMENT.replace("[criminal investigation]", enough)))[0].purposes) \
        == MAX_LIST_ITEMS
    long = "x" * (MAX_TEXT_CHARS + 1)
    assert _error(tmp_path, AGREEMENT.replace("Example Agency", long)).column == "recipient"
    assert load_agreement(write(tmp_path, AGREEMENT.replace("Example Agency", long[1:])))[0].recipient == long[1:]
    assert _error(tmp_path, MANIFEST + f"taxable_periods: [{long}]\n", load_manifest).column == "taxable_periods"
    for bad in ('"Ex\\tample"', '"Ex\\u202eample"', '"Ex\\u0000ample"', "|\n  two\n  lines"):
        assert _error(tmp_path, AGREEMENT.replace("Example Agency", bad)).column == "recipient"
    big = AGREEMENT + "# " + "x" * MAX_DOCUMENT_BYTES + "\n"
    assert "larger than" in _error(tmp_path, big).message


@pytest.mark.parametrize("value, ok", [
    ("AGR-2025.01:x/y@z+1_a", True),
    ("A" * 128, True),
    ("A" * 129, False),
    ("'AGR 1'", False),
    ("'AGR\u00e9'", False),
    ('"AGR\\t1"', False),
    ('"AGR\\u202e1"', False),
    ("'[bold]x'", False),
])
def test_ids_are_restricted(tmp_path, value, ok):
    text = AGREEMENT.replace("id: AGR-1", f"id: {value}")
    manifest = MANIFEST.replace("agreement: A", f"agreement: {value}")
    if ok:
        assert load_agreement(write(tmp_path, text))[0].id == value
        assert load_manifest(write(tmp_path, manifest, "m.yaml"))[0].agreement == value
    else:
        assert (_error(tmp_path, text).line, _error(tmp_path, text).column) == (1, "id")
        assert _error(tmp_path, manifest, load_manifest).column == "agreement"


@pytest.mark.parametrize("value, message", [
    ("!!python/object:os.system x", "tags"),
    ("!!python/object/apply:os.system [ls]", "tags"),
    ("!!binary aGVsbG8=", "tags"),
    ("!!timestamp abc", "tags"),
    ("*undefined", "aliases"),
    ("&r [*r]", "aliases"),
])
def test_tags_and_aliases_are_refused(tmp_path, value, message):
    e = _error(tmp_path, AGREEMENT + f"suspension_reason: {value}\n")
    assert (e.line, e.column) == (9, "suspension_reason")
    assert message in e.message


def test_str_tag_and_anchor_are_allowed(tmp_path):
    a, _ = load_agreement(write(tmp_path, AGREEMENT.replace("recipient: Example Agency", "recipient: &r Example")
                                + "suspension_reason: !!str 2026-01-01\n"))
    assert a.recipient == "Example" and a.suspension_reason == "2026-01-01"
