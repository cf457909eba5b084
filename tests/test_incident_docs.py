from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import io
import json
import logging
import re
import time
from pathlib import Path

import pytest

pytest.importorskip("fpdf")
pytest.importorskip("matplotlib")
pypdf = pytest.importorskip("pypdf")

from disclosure_gate.errors import InputError  # noqa: E402
from disclosure_gate.remediation.incident_docs import (  # noqa: E402
    IncidentData,
    PersonNotice,
    recall_csv_bytes,
    write_letters_pdf,
    write_recall_csv,
    write_recall_notice,
    write_report_html,
    write_report_json,
)

RECIPIENT = "U.S. Immigration and Customs Enforcement (synthetic)"
NAMES = ["José Muñoz", "Đặng Thị Hoa", "Οδυσσέας Ελύτης", "Анна Петрова", "Mary O'Brien"]


def person(i: int, name: str, n_disclosures: int = 1) -> PersonNotice:
    return PersonNotice(
        person_ref=f"c0ffee{i:04d}",
        name=name,
        address_lines=(f"{100 + i} Calle Ñandú Apt {i}", "Springfield, IL 62704"),
        disclosures=tuple(("2025-08-07", RECIPIENT, "last_known_address", f"REQ-{i:05d}-{j}")
                          for j in range(n_disclosures)),
    )


def make_data(persons: list[PersonNotice] | None = None, n_ids: int = 30) -> IncidentData:
    persons = persons if persons is not None else [person(i, n) for i, n in enumerate(NAMES)]
    return IncidentData(
        incident_id="INC-2026-0007",
        opened_at="2026-02-26T10:00:00+00:00",
        agency="Internal Revenue Service (synthetic demo)",
        agreement_id="AGR-ICE-2025-01",
        recipient=RECIPIENT,
        statutory_authority="26 U.S.C. 6103(i)(2)",
        occurred_from="2025-08-07",
        occurred_to="2025-08-09",
        discovered_on="2026-02-20",
        how_discovered="Replay audit A-42 under policy 6103i2@sha256:ab12 <script>alert(1)</script>",
        data_elements=("last known address",),
        records=n_ids,
        persons=len(persons),
        counts_by_reason=(("ADDRESS_ZIP_ONLY", n_ids - 3), ("ADDRESS_PLACEHOLDER", 2), ("NOT_ENGAGED $x", 1)),
        funnel=(("requested", 1_280_000), ("disclosed", 47_289), ("would now deny", 42_695)),
        request_ids=tuple(f"REQ-{i:07d}" for i in range(n_ids)),
        ledger_checkpoint="dgate.example/ledger\n4711\nq2x9rE0=\n\n— dgate-key Zm9vYmFy",
        persons_notices=tuple(persons),
    )


def pages_text(path: Path) -> list[str]:
    return [p.extract_text() for p in pypdf.PdfReader(path).pages]


def assert_no_temp_files(folder: Path) -> None:
    assert [p.name for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"] == []


def test_letters_one_page_per_person_with_unicode_names(tmp_path):
    data = make_data()
    out = write_letters_pdf(data, tmp_path / "letters.pdf", issued_on="2026-03-01")
    assert out == tmp_path / "letters.pdf"
    texts = pages_text(out)
    assert len(texts) == len(NAMES)
    for text, notice in zip(texts, data.persons_notices, strict=True):
        assert notice.name in text
        assert notice.address_lines[0] in text and notice.person_ref in text
        assert "not permitted" in text and "7431" in text and RECIPIENT in text
        assert "August 7, 2025" in text and "March 1, 2026" in text
    assert "José Muñoz" in texts[0] and "Đặng Thị Hoa" in texts[1] and "Οδυσσέας Ελύτης" in texts[2]
    assert_no_temp_files(tmp_path)


def test_letters_normalize_decomposed_names_and_long_letters_continue(tmp_path):
    nfd = "Jose\u0301 Mun\u0303oz"  # José Muñoz in decomposed form
    data = make_data([person(0, nfd, n_disclosures=70), person(1, "Οδυσσέας Ελύτης")])
    texts = pages_text(write_letters_pdf(data, tmp_path / "letters.pdf", contact="Disclosure Office, Box 1"))
    assert len(texts) >= 3
    first, last = texts[:-1], texts[-1]
    assert all("José Muñoz" in t for t in first)  # continuation pages repeat the name in a header
    assert "continued" in first[0] and f"page {len(first)} of {len(first)}" in first[-1]
    assert "REQ-00000-69" in "".join(first) and "Disclosure Office, Box 1" in first[-1]
    assert "Οδυσσέας Ελύτης" in last and "page 1 of 1" in last and "José" not in last


def test_recall_notice_lists_every_request_id_and_certification(tmp_path):
    data = make_data(n_ids=2500)
    texts = pages_text(write_recall_notice(data, tmp_path / "recall.pdf", issued_on="2026-03-01"))
    assert len(texts) > 2
    joined = "\n".join(texts)
    tokens = set(joined.split())
    assert all(rid in tokens for rid in data.request_ids)
    assert "certif" in joined.lower()
    for label in ("Name of official", "Title", "Signature", "Date of destruction"):
        assert label in texts[-1]
    assert RECIPIENT in texts[0] and "AGR-ICE-2025-01" in texts[0] and "ADDRESS_ZIP_ONLY" in texts[0]
    assert hashlib.sha256(recall_csv_bytes(data)).hexdigest() in joined
    assert f"page {len(texts)} of {len(texts)}" in texts[-1]
    assert_no_temp_files(tmp_path)


def test_recall_csv_round_trips_and_matches_the_digest(tmp_path):
    ids = ("REQ-1", 'odd,"id"', "Ωμέγα-7")
    data = dataclasses.replace(make_data(), request_ids=ids, records=3)
    out = write_recall_csv(data, tmp_path / "recall.csv")
    raw = out.read_bytes()
    assert raw == recall_csv_bytes(data)
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
    assert rows == [["request_id"], *([i] for i in ids)]
    report = json.loads(write_report_json(data, tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["recall_csv_sha256"] == hashlib.sha256(raw).hexdigest()


def test_html_report_has_chart_and_escapes(tmp_path):
    data = make_data()
    html = write_report_html(data, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "INC-2026-0007" in html and RECIPIENT in html
    m = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert m is not None
    assert base64.b64decode(m.group(1)).startswith(b"\x89PNG\r\n\x1a\n")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for text in ("Date of discovery", "How discovered", "Data elements involved", "Number of records",
                 "Number of persons affected", "ADDRESS_ZIP_ONLY", "would now deny", "dgate.example/ledger"):
        assert text in html
    assert not any(n in html for n in NAMES) and "Ñandú" not in html
    assert_no_temp_files(tmp_path)


def test_html_report_without_reasons_or_funnel(tmp_path):
    data = dataclasses.replace(make_data(), counts_by_reason=(), funnel=())
    html = write_report_html(data, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "No reasons recorded" in html and "data:image/png;base64," in html


def test_json_report_has_required_keys_and_no_names(tmp_path):
    data = make_data()
    raw = write_report_json(data, tmp_path / "report.json").read_text(encoding="utf-8")
    report = json.loads(raw)
    required = {"incident_id", "opened_at", "agency", "agreement_id", "recipient", "statutory_authority",
                "occurred_from", "occurred_to", "discovered_on", "how_discovered", "data_elements", "records",
                "persons", "counts_by_reason", "funnel", "request_ids", "ledger_checkpoint", "persons_notices"}
    assert required <= report.keys()
    assert report["persons"] == 5 and report["request_ids"] == list(data.request_ids)
    assert report["counts_by_reason"][0] == {"reason": "ADDRESS_ZIP_ONLY", "count": 27}
    assert report["persons_notices"][0]["person_ref"] == "c0ffee0000"
    assert report["persons_notices"][0]["disclosures"][0]["request_id"] == "REQ-00000-0"
    for notice in data.persons_notices:
        assert notice.name not in raw
        assert not any(line in raw for line in notice.address_lines)
    assert "name" not in report["persons_notices"][0] and "address_lines" not in report["persons_notices"][0]


def test_atomic_writes_replace_and_leave_nothing_behind_on_failure(tmp_path):
    data = make_data()
    target = tmp_path / "letters.pdf"
    target.write_bytes(b"old")
    write_letters_pdf(data, target)
    assert target.read_bytes().startswith(b"%PDF")
    assert_no_temp_files(tmp_path)
    bad = make_data([person(0, "王小明")])  # CJK: DejaVu has no glyphs and no fallback font is given
    before = target.read_bytes()
    with pytest.raises(InputError):
        write_letters_pdf(bad, target)
    assert target.read_bytes() == before
    with pytest.raises(FileNotFoundError):
        write_report_json(data, tmp_path / "missing-folder" / "r.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["letters.pdf"]


def test_undrawable_name_error_names_the_person_ref_not_the_name(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    data = make_data([person(0, "José Muñoz"), person(1, "王小明")])
    with pytest.raises(InputError) as info:
        write_letters_pdf(data, tmp_path / "letters.pdf")
    message = str(info.value)
    assert "c0ffee0001" in message and "fallback_fonts" in message
    assert "王" not in message and "小明" not in message and "Muñoz" not in message
    assert "王" not in caplog.text
    assert not (tmp_path / "letters.pdf").exists()
    assert_no_temp_files(tmp_path)


def test_fallback_font_draws_what_dejavu_cannot(tmp_path):
    import matplotlib

    stix = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "STIXGeneral.ttf"
    name = "Hana の Sato"  # U+306E is in STIXGeneral, not in DejaVu Sans
    data = make_data([person(0, name)])
    with pytest.raises(InputError):
        write_letters_pdf(data, tmp_path / "letters.pdf")
    texts = pages_text(write_letters_pdf(data, tmp_path / "letters.pdf", fallback_fonts=[stix]))
    assert len(texts) == 1 and "Hana" in texts[0] and "Sato" in texts[0]


def test_confidential_values_never_reach_logs(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    data = make_data()
    write_letters_pdf(data, tmp_path / "letters.pdf")
    write_recall_notice(data, tmp_path / "recall.pdf")
    write_report_html(data, tmp_path / "report.html")
    for notice in data.persons_notices:
        assert notice.name not in caplog.text
        assert not any(line in caplog.text for line in notice.address_lines)
    assert "Glyph names" not in caplog.text


@pytest.mark.parametrize("change, column", [
    ({"records": -1}, "records"),
    ({"funnel": (("disclosed", "many"),)}, "funnel"),
    ({"request_ids": ("REQ-1", "bad\nid")}, "request_ids"),
    ({"persons_notices": (PersonNotice("r1", "José", ("1 Main St",), (("2025-08-07", "x"),)),)},  # type: ignore[arg-type]
     "persons_notices[0]"),
    ({"persons_notices": (PersonNotice("r1", "José Muñoz", (), ()),)}, "persons_notices[0] (person_ref r1)"),
])
def test_bad_input_is_rejected_without_values(tmp_path, change, column):
    data = dataclasses.replace(make_data(), **change)
    writer = write_letters_pdf if column.startswith("persons_notices") else write_report_json
    with pytest.raises(InputError) as info:
        writer(data, tmp_path / "out")
    assert info.value.column == column and "José" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_letters_render_fast(tmp_path):
    n = 500
    data = make_data([person(i, f"{NAMES[i % len(NAMES)]} {i}") for i in range(n)])
    start = time.perf_counter()
    write_letters_pdf(data, tmp_path / "letters.pdf")
    elapsed = time.perf_counter() - start
    assert len(pypdf.PdfReader(tmp_path / "letters.pdf").pages) == n
    assert elapsed < 20, f"{n} letters took {elapsed:.1f}s"  # ~1 s here; 10,000 take ~20 s
