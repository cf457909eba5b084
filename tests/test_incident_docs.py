from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import io
import json
import logging
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("fpdf")
pytest.importorskip("matplotlib")
pytest.importorskip("uharfbuzz")
pytest.importorskip("anyascii")
pypdf = pytest.importorskip("pypdf")

from fontTools.ttLib import TTFont  # noqa: E402

from disclosure_gate.errors import InputError  # noqa: E402
from disclosure_gate.remediation import pdf as pdf_mod  # noqa: E402
from disclosure_gate.remediation.incident_docs import (  # noqa: E402
    IncidentData,
    PersonNotice,
    format_zip,
    natural_name,
    recall_csv_bytes,
    write_letters_pdf,
    write_recall_csv,
    write_recall_notice,
    write_report_html,
    write_report_json,
)

RECIPIENT = "U.S. Immigration and Customs Enforcement (synthetic)"
NAMES = ["José Muñoz", "Đặng Thị Hoa", "Οδυσσέας Ελύτης", "Анна Петрова", "Mary O'Brien"]
CONTACT = ("Office of Disclosure, Internal Revenue Service\n1111 Constitution Ave NW, Washington, DC 20224\n"
           "Telephone (800) 555-0100, Monday to Friday, 8 a.m. to 5 p.m.")
CHECKPOINT = ("dgate.example/ledger\n4711\nq2x9rE0PqJ3vW8yZ1aB4cD7eF0gH3iJ6kL9mN2oP5qR8=\n\n"
              "— dgate-key " + base64.b64encode(bytes(range(256)) * 2).decode())
PACKAGES = (("PKG-2025-08-07-0001", "B-2025-0807-A", "2025-08-07T14:03:00+00:00", 21),
            ("PKG-2025-08-09-0002", "B-2025-0809-B", "2025-08-09T09:12:00+00:00", 9))


def person(i: int, name: str, n_disclosures: int = 1, zip_code: str = "62704") -> PersonNotice:
    return PersonNotice(
        person_ref=f"c0ffee{i:04d}",
        name=name,
        address_lines=(f"{100 + i} Calle Ñandú Apt {i}", f"Springfield, IL {zip_code}"),
        disclosures=tuple(("2025-08-07", RECIPIENT, "last_known_address", f"REQ-{i:05d}-{j}")
                          for j in range(n_disclosures)),
    )


def make_data(persons: list[PersonNotice] | None = None, n_ids: int = 30) -> IncidentData:
    persons = persons if persons is not None else [person(i, n) for i, n in enumerate(NAMES)]
    return IncidentData(
        incident_id="INC-2026-0007",
        opened_at="2026-02-26T10:00:00+00:00",
        agency="Internal Revenue Service",
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
        ledger_checkpoint=CHECKPOINT,
        persons_notices=tuple(persons),
        contact=CONTACT,
        packages=PACKAGES,
    )


def pages_text(path: Path) -> list[str]:
    return [p.extract_text() for p in pypdf.PdfReader(path).pages]


def page_fonts(path: Path) -> list[set[str]]:
    """The base font names (subset prefix removed) used on each page."""
    return [{str(f["/BaseFont"]).split("+")[-1] for f in p["/Resources"]["/Font"].values()}
            for p in pypdf.PdfReader(path).pages]


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def assert_no_temp_files(folder: Path) -> None:
    assert [p.name for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"] == []


def letters_by_ref(texts: list[str]) -> dict[str, str]:
    """Letter text by person_ref (continuation pages joined), from the footers."""
    out: dict[str, str] = {}
    for text in texts:
        m = re.search(r"reference (\S+) · letter page", text)
        if m:
            out[m.group(1)] = out.get(m.group(1), "") + text
    return out


# --- letters ---------------------------------------------------------------------------------------------


def test_letters_index_then_one_letter_per_person_with_unicode_names(tmp_path):
    data = make_data()
    out = write_letters_pdf(data, tmp_path / "letters.pdf", issued_on="2026-03-01")
    assert out == tmp_path / "letters.pdf"
    texts = pages_text(out)
    assert len(texts) == 1 + len(NAMES)  # the index, then one page per letter
    assert "mailing index" in texts[0] and "5 letters" in texts[0]
    letters = letters_by_ref(texts)
    assert len(letters) == len(NAMES)
    for notice in data.persons_notices:
        text = letters[notice.person_ref]
        assert f"Dear {notice.name}:" in text  # mixed-case names are printed as given
        assert notice.address_lines[0] in text
        assert "not permitted" in text and "7431" in text and RECIPIENT in text
        assert "August 7, 2025" in text and "March 1, 2026" in text
        assert "The Internal Revenue Service disclosed information about you" in text
        assert "Washington, DC 20224" in text and "8 a.m. to 5 p.m." in text
        assert "CONTACT POINT" not in text and "[" not in text
    assert_no_temp_files(tmp_path)


def test_letters_normalize_decomposed_names_and_long_letters_continue(tmp_path):
    nfd = "Jose\u0301 Mun\u0303oz"  # José Muñoz in decomposed form
    data = make_data([person(0, nfd, n_disclosures=70), person(1, "Οδυσσέας Ελύτης", zip_code="62705")])
    texts = pages_text(write_letters_pdf(data, tmp_path / "letters.pdf"))
    assert len(texts) >= 4
    first, last = texts[1:-1], texts[-1]
    assert all("José Muñoz" in t for t in first)  # continuation pages repeat the name in a header
    assert "continued" in first[0] and f"letter page {len(first)} of {len(first)}" in first[-1]
    assert "REQ-00000-69" in "".join(first) and "Office of Disclosure" in first[-1]
    assert "Οδυσσέας Ελύτης" in last and "letter page 1 of 1" in last and "José" not in last


SCRIPT_NAMES = {
    "cjk": ("王小明", ["王小明"], "DroidSansFallback"),
    "korean": ("김민수", ["김민수"], "DroidSansFallback"),
    "arabic": ("محمد علي", ["محمد", "علي"], "NotoSansArabic"),
    "hebrew": ("שרה כהן", ["שרה", "כהן"], None),
    "devanagari": ("नरेंद्र कुमार", ["नरेंद्र", "कुमार"], "NotoSansDevanagari"),
    "thai": ("สมชาย ใจดี", ["สมชาย"], "NotoSansThai"),
    "cyrillic": ("АННА ПЕТРОВА", ["Анна Петрова"], None),
    "greek": ("Οδυσσέας Ελύτης", ["Οδυσσέας Ελύτης"], None),
    "latin": ("JOSÉ MUÑOZ", ["José Muñoz"], None),
    "zero-width": ("Ma\u200bria\u200d Lo\ufeffpez", ["Maria Lopez"], None),
    "bidi": ("\u202eZEPOL\u202c ANAID", ["Zepol Anaid"], None),  # RLO would show "LOPEZ" backwards
    "cherokee": ("ᏣᎳᎩ", ["Tsalagi"], None),  # no bundled font: natural case (Unicode upper), transliterated
    "tibetan": ("བཀྲ་ཤིས", ["bkr-shis"], None),
}


def test_every_script_is_drawn_or_transliterated(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    persons = [person(i, name, zip_code=f"{10000 + i}") for i, (name, _, _) in enumerate(SCRIPT_NAMES.values())]
    data = make_data(persons)
    out = write_letters_pdf(data, tmp_path / "letters.pdf")
    texts, fonts = pages_text(out), page_fonts(out)
    assert len(texts) == 1 + len(SCRIPT_NAMES)
    for i, (key, (_, expected, font)) in enumerate(SCRIPT_NAMES.items()):
        page = texts[1 + i]  # ZIP order is the order above
        assert f"c0ffee{i:04d}" in page, key
        address_block, greeting = page.split("\n")[3], page.split("Dear ", 1)[1].split("\n")[0]
        for part in expected:  # pypdf may split a cluster with a space ("कु मार"): compare without spaces
            assert squash(part) in squash(address_block), (key, address_block)
            assert squash(part) in squash(greeting), (key, greeting)
        assert not any(c in page for c in "\u200b\u200d\ufeff\u202e\u202c"), key
        if font:
            assert font in fonts[1 + i], (key, fonts[1 + i])
    assert "王" not in caplog.text and "missing" not in caplog.text


def test_no_glyph_is_missing_from_the_fonts_used():
    doc = pdf_mod.Pdf("t", "a")
    with doc:
        doc.pdf.add_page()
        for name, _, _ in SCRIPT_NAMES.values():
            doc.line(f"Dear {doc.t(name)}:")
            doc.line(doc.t(name), style="B")
            doc.line(doc.drawable(pdf_mod.show_id(f"REQ-{name}\t1"), "mono"), style="mono")
        doc.bytes()
        missing = {key: font.missing_glyphs for key, font in doc.pdf.fonts.items() if font.missing_glyphs}
    assert missing == {}


def test_without_a_shaping_engine_complex_scripts_are_transliterated(tmp_path, monkeypatch):
    monkeypatch.setattr(pdf_mod, "shaping_available", lambda: False)
    data = make_data([person(0, "محمد علي"), person(1, "王小明", zip_code="62705"),
                      person(2, "नरेंद्र", zip_code="62706")])
    texts = pages_text(write_letters_pdf(data, tmp_path / "letters.pdf"))
    for page, name in zip(texts[1:], ("mhmd `ly", "王小明", "nremdr"), strict=True):
        assert f"\n{name}\n" in page and f"Dear {name}:" in page


def test_user_fallback_fonts_come_before_transliteration(tmp_path):
    import matplotlib

    stix = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "STIXGeneral.ttf"
    data = make_data([person(0, "Hana ℊ Sato")])  # U+210A: in STIXGeneral, in no bundled font
    texts = pages_text(write_letters_pdf(data, tmp_path / "letters.pdf"))
    assert "Dear Hana g Sato:" in texts[1]
    out = write_letters_pdf(data, tmp_path / "letters.pdf", fallback_fonts=[stix])
    assert "Dear Hana ℊ Sato:" in pages_text(out)[1] and "STIXGeneral" in page_fonts(out)[1]


def test_letters_sorted_by_zip_then_name_with_an_index(tmp_path):
    zips = ["961239149", "02115", "961239149", "10001-0001", "", "30301"]
    names = ["ZOE ADAMS", "BOB STONE", "ANNE-MARIE VAN DER BERG", "SEAN O'BRIEN", "NO ZIP", "ALI KHAN"]
    persons = [person(i, n, n_disclosures=40 if i == 1 else 1, zip_code=z)
               for i, (n, z) in enumerate(zip(names, zips, strict=True))]
    data = make_data(persons)
    texts = pages_text(write_letters_pdf(data, tmp_path / "letters.pdf"))
    index = texts[0]
    order = ["c0ffee0001", "c0ffee0003", "c0ffee0005", "c0ffee0002", "c0ffee0000", "c0ffee0004"]
    rows = re.findall(r"^\s*(\d+)\s+(\S+)\s+(c0ffee\d{4})\s+(\d+)(?:-(\d+))?\s*$", index, re.M)
    assert [r[2] for r in rows] == order
    assert [r[1] for r in rows] == ["02115", "10001-0001", "30301", "96123-9149", "96123-9149", "-"]
    assert "6 letters" in index and "ZIP codes 02115 to 96123-9149" in index and "1 without a ZIP code" in index
    for _, _, ref, first, last in rows:
        pages = range(int(first), int(last or first) + 1)
        for p in pages:  # every page the index names carries that letter's reference
            assert f"reference {ref} · letter page" in texts[p - 1] and f"· page {p}" in texts[p - 1]
        assert texts[pages[0] - 1].startswith("Internal Revenue Service")  # each letter starts a page
    assert rows[0][4]  # the long letter spans pages: a range
    letters = letters_by_ref(texts)
    assert "Dear Anne-Marie van der Berg:" in letters["c0ffee0002"]
    assert "Dear Sean O'Brien:" in letters["c0ffee0003"]
    assert "Sean O'Brien\n" in letters["c0ffee0003"]  # the address block uses the natural name too
    assert "Springfield, IL 96123-9149" in letters["c0ffee0000"] and "961239149" not in "".join(texts)


def test_index_spans_several_pages_exactly(tmp_path):
    persons = [person(i, f"PERSON {i}", zip_code=f"{10000 + (i * 7919) % 89999:05d}") for i in range(300)]
    texts = pages_text(write_letters_pdf(make_data(persons), tmp_path / "letters.pdf"))
    index_pages = [t for t in texts if "Mailing index · incident" in t]
    assert len(index_pages) >= 2 and len(texts) == len(index_pages) + 300
    numbers = [int(n) for t in index_pages for n in re.findall(r"^\s*(\d+)\s+\d{5}\s+c0ffee", t, re.M)]
    assert sorted(numbers) == list(range(1, 301))
    assert all(f"page {k} of {len(index_pages)}" in t for k, t in enumerate(index_pages, 1))


@pytest.mark.parametrize("contact", [None, "", "   \n\t\n", "\u200b"])
@pytest.mark.parametrize("writer", [write_letters_pdf, write_recall_notice])
def test_missing_contact_point_is_refused_before_writing(tmp_path, writer, contact):
    data = dataclasses.replace(make_data(), contact=contact)
    with pytest.raises(InputError) as info:
        writer(data, tmp_path / "out.pdf")
    assert info.value.column == "contact" and "contact point" in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("raw, expected", [
    ("961239149", "96123-9149"), ("021159149", "02115-9149"), ("96123", "96123"), ("96123-9149", "96123-9149"),
    ("96123914", "96123914"), ("9612391490", "9612391490"), (" 961239149", " 961239149"), ("", ""),
    ("９６１２３９１４９", "９６１２３９１４９"), ("K1A 0B1", "K1A 0B1"),
])
def test_format_zip(raw, expected):
    assert format_zip(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("MARIA DE LA CRUZ", "Maria de la Cruz"),
    ("SEAN O'BRIEN", "Sean O'Brien"),
    ("sean o'brien", "Sean O'Brien"),
    ("RONALD MCDONALD", "Ronald McDonald"),
    ("JOSÉ MUÑOZ", "José Muñoz"),
    ("ANNE-MARIE VAN DER BERG", "Anne-Marie van der Berg"),
    ("JEAN-LUC D'ARCY", "Jean-Luc D'Arcy"),
    ("MARY MACDONALD", "Mary MacDonald"),
    ("MACKENZIE MACHADO", "Mackenzie Machado"),
    ("JOHN SMITH JR", "John Smith Jr."),
    ("JOHN SMITH JR.", "John Smith Jr."),
    ("JOHN SMITH SR", "John Smith Sr."),
    ("ROBERT JOHNSON III", "Robert Johnson III"),
    ("HENRY FORD II", "Henry Ford II"),
    ("DE LA HOYA OSCAR", "De la Hoya Oscar"),
    ("JOHN LE", "John Le"),
    ("JOHN DU JR", "John Du Jr."),
    ("JOSE GARCIA Y LOPEZ", "Jose Garcia y Lopez"),
    ("LUDWIG VON MISES", "Ludwig von Mises"),
    ("ΟΔΥΣΣΕΑΣ ΕΛΥΤΗΣ", "Οδυσσεας Ελυτης"),
    ("АННА ПЕТРОВА-ВОДКИНА", "Анна Петрова-Водкина"),
    ("McDonald", "McDonald"),  # mixed case: left as given
    ("Maria de la Cruz", "Maria de la Cruz"),
    ("bell hooks Smith", "bell hooks Smith"),
    ("王小明", "王小明"),  # no cased letters
    ("MARY  ANN", "Mary  Ann"),  # spacing kept
])
def test_natural_name(raw, expected):
    assert natural_name(raw) == expected


_NAME = st.text(alphabet=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz -'"), max_size=40)
_WORDS = st.lists(st.sampled_from(["DE", "LA", "VAN", "JR", "SR", "II", "III", "IV", "MC", "MCDONALD", "MACLEOD",
                                   "O'BRIEN", "D'ARCY", "ANNE-MARIE", "Y", "A", "-", "'", "MAC"]),
                  max_size=6).map(" ".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_NAME, _WORDS))
def test_natural_name_is_idempotent_and_only_changes_case(name):
    once = natural_name(name)
    assert natural_name(once) == once
    assert once.replace(".", "").upper() == name.upper()


# --- recall notice, CSV, reports ----------------------------------------------------------------------------


def test_recall_notice_lists_every_request_id_packages_checkpoint_and_certification(tmp_path):
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
    assert "The Internal Revenue Service has determined that 2,500 disclosures" in squash_lines(joined)
    assert "received from the Internal Revenue Service" in squash_lines(joined)
    assert hashlib.sha256(recall_csv_bytes(data)).hexdigest() in joined
    assert f"page {len(texts)} of {len(texts)}" in texts[-1]
    for package_id, batch_id, _, _ in PACKAGES:
        assert package_id in joined and batch_id in joined
    assert "B-2025-0807-A, B-2025-0809-B" in texts[0]  # the batches, named from the packages
    listed = "\n".join(pages_text(write_recall_notice(dataclasses.replace(data, batches=("B-1", "B-2")),
                                                      tmp_path / "recall.pdf")))
    assert "Batches B-1, B-2" in listed
    assert "Washington, DC 20224" in joined and "CONTACT POINT" not in joined
    assert_no_temp_files(tmp_path)


def squash_lines(text: str) -> str:
    return " ".join(text.split())


def test_long_lines_wrap_inside_the_page(tmp_path):
    long_id = "REQ-" + "x" * 300
    long_pkg = "PKG-" + hashlib.sha256(b"p").hexdigest() * 2
    data = dataclasses.replace(make_data(), request_ids=("REQ-1", long_id), records=2,
                               packages=((long_pkg, "B-" + "7" * 90, "2025-08-07T14:03:00+00:00", 2),),
                               how_discovered="Replay audit " + "A" * 200)
    out = write_recall_notice(data, tmp_path / "recall.pdf")
    joined = squash("".join(pages_text(out)))
    for line in CHECKPOINT.splitlines():  # every line of the checkpoint is there, possibly split
        assert squash(line) in joined
    assert long_id in joined and long_pkg in joined
    fonts_dir = Path(__import__("matplotlib").get_data_path()) / "fonts" / "ttf"
    metrics = {}
    for name, file in (("DejaVuSansBook", "DejaVuSans.ttf"), ("DejaVuSansBold", "DejaVuSans-Bold.ttf"),
                       ("DejaVuSansMonoBook", "DejaVuSansMono.ttf")):
        with TTFont(fonts_dir / file) as tt:
            cmap, hmtx = tt.getBestCmap(), tt["hmtx"]
            metrics[name] = ({chr(c): hmtx[g][0] for c, g in cmap.items()}, tt["head"].unitsPerEm)
    right_edge = 612 - 25 / 25.4 * 72
    checked = 0
    chunks: list[tuple[float, float, str, str]] = []
    for page in pypdf.PdfReader(out).pages:
        page.extract_text(visitor_text=lambda text, cm, tm, fd, fs: chunks.append(
            (tm[4], fs, str(fd["/BaseFont"]).split("+")[-1] if fd else "", text)))
    for x, size, font, text in chunks:
        text = text.strip("\n ")
        if not text or font not in metrics:
            continue
        advances, upem = metrics[font]
        width = sum(advances.get(c, 0) for c in text) * size / upem
        assert x >= 70 and x + width <= right_edge + 0.5, (text[:40], x, width)
        checked += 1
    assert checked > 50


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
    assert out.stat().st_mode & 0o777 == 0o600


def test_recall_csv_neutralises_formula_cells(tmp_path):
    ids = ('=HYPERLINK("http://evil.example/?x","click")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
           "-2+3+cmd|' /C calc'!A0", "\tREQ-TAB-FIRST", "REQ-OK")
    data = dataclasses.replace(make_data(), request_ids=ids, records=len(ids))
    rows = list(csv.reader(io.StringIO(write_recall_csv(data, tmp_path / "recall.csv").read_text("utf-8"))))
    assert rows[1:] == [["'" + i] for i in ids[:-1]] + [["REQ-OK"]]
    text = "\n".join(pages_text(write_recall_notice(data, tmp_path / "recall.pdf")))
    assert "leading apostrophe" in text and "=HYPERLINK(" in text and "\\tREQ-TAB-FIRST*" in text
    report = json.loads(write_report_json(data, tmp_path / "report.json").read_text("utf-8"))
    assert report["request_ids"] == list(ids)  # the JSON keeps them exactly


def test_request_id_with_tab_and_bidi_renders_everywhere(tmp_path):
    ids = ("REQ\t0001", "REQ-\u202e1234", "REQ-0003")
    persons = [PersonNotice("r0", "ANA LOPEZ", ("1 Main St", "Springfield, IL 62704"),
                            (("2025-08-07", RECIPIENT, "last_known_address", ids[0]),))]
    data = dataclasses.replace(make_data(persons), request_ids=ids, records=3)
    recall = "\n".join(pages_text(write_recall_notice(data, tmp_path / "recall.pdf")))
    assert "REQ\\t0001*" in recall and "REQ-1234*" in recall and "REQ-0003" in recall
    assert "REQ-0003*" not in recall and "\u202e" not in recall
    assert "the CSV file holds the exact request_id" in squash_lines(recall)
    letters = "\n".join(pages_text(write_letters_pdf(data, tmp_path / "letters.pdf")))
    assert "request reference REQ\\t0001" in letters
    rows = list(csv.reader(io.StringIO(write_recall_csv(data, tmp_path / "recall.csv").read_text("utf-8"))))
    assert [r[0] for r in rows[1:]] == list(ids)  # exact, tab and all
    html = write_report_html(data, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "\u202e" not in html and "REQ\\t0001" in html
    report = json.loads(write_report_json(data, tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["request_ids"] == list(ids)


def test_html_report_has_chart_packages_and_escapes(tmp_path):
    data = make_data()
    html = write_report_html(data, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "INC-2026-0007" in html and RECIPIENT in html
    m = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert m is not None
    assert base64.b64decode(m.group(1)).startswith(b"\x89PNG\r\n\x1a\n")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for text in ("Date of discovery", "How discovered", "Data elements involved", "Number of records",
                 "Number of persons affected", "ADDRESS_ZIP_ONLY", "would now deny", "dgate.example/ledger",
                 "Delivered packages concerned", *(p[0] for p in PACKAGES), *(p[1] for p in PACKAGES),
                 PACKAGES[0][2]):
        assert text in html
    assert "white-space:pre-wrap" in html  # the checkpoint wraps in the browser too
    assert not any(n in html for n in NAMES) and "Ñandú" not in html
    assert_no_temp_files(tmp_path)


def test_html_report_without_reasons_funnel_or_packages(tmp_path):
    data = dataclasses.replace(make_data(), counts_by_reason=(), funnel=(), packages=())
    html = write_report_html(data, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "No reasons recorded" in html and "data:image/png;base64," in html
    assert "No delivered package recorded" in html and "none recorded" in html
    html = write_report_html(dataclasses.replace(data, batches=("B-9",)), tmp_path / "r.html").read_text("utf-8")
    assert "<th>Batches concerned</th><td>B-9</td>" in html


def test_json_report_has_required_keys_packages_and_no_names(tmp_path):
    data = make_data()
    raw = write_report_json(data, tmp_path / "report.json").read_text(encoding="utf-8")
    report = json.loads(raw)
    required = {"incident_id", "opened_at", "agency", "agreement_id", "recipient", "statutory_authority",
                "occurred_from", "occurred_to", "discovered_on", "how_discovered", "data_elements", "records",
                "persons", "counts_by_reason", "funnel", "request_ids", "ledger_checkpoint", "persons_notices",
                "packages", "contact", "batches"}
    assert required <= report.keys()
    assert report["persons"] == 5 and report["request_ids"] == list(data.request_ids)
    assert report["counts_by_reason"][0] == {"reason": "ADDRESS_ZIP_ONLY", "count": 27}
    assert report["packages"] == [{"package_id": "PKG-2025-08-07-0001", "batch_id": "B-2025-0807-A",
                                   "delivered_at": "2025-08-07T14:03:00+00:00", "records": 21},
                                  {"package_id": "PKG-2025-08-09-0002", "batch_id": "B-2025-0809-B",
                                   "delivered_at": "2025-08-09T09:12:00+00:00", "records": 9}]
    assert report["ledger_checkpoint"] == CHECKPOINT
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
    assert target.read_bytes().startswith(b"%PDF") and target.stat().st_mode & 0o777 == 0o600
    assert_no_temp_files(tmp_path)
    before = target.read_bytes()
    with pytest.raises(InputError):
        write_letters_pdf(dataclasses.replace(data, contact=None), target)
    with pytest.raises(InputError):
        write_letters_pdf(make_data([PersonNotice("r1", "Ana", (), ())]), target)
    assert target.read_bytes() == before
    with pytest.raises(InputError):
        write_report_json(data, tmp_path / "missing-folder" / "r.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["letters.pdf"]


def test_confidential_values_never_reach_logs(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    data = make_data([*(person(i, n) for i, n in enumerate(NAMES)), person(9, "王小明"), person(10, "ᏣᎳᎩ")])
    write_letters_pdf(data, tmp_path / "letters.pdf")
    write_recall_notice(data, tmp_path / "recall.pdf")
    write_report_html(data, tmp_path / "report.html")
    for notice in data.persons_notices:
        assert notice.name not in caplog.text
        assert not any(line in caplog.text for line in notice.address_lines)
    assert "Glyph names" not in caplog.text and "missing the following glyphs" not in caplog.text


@pytest.mark.parametrize("change, column", [
    ({"records": -1}, "records"),
    ({"funnel": (("disclosed", "many"),)}, "funnel"),
    ({"request_ids": ("REQ-1", "bad\nid")}, "request_ids"),
    ({"request_ids": ("REQ-1", " \t ")}, "request_ids"),
    ({"packages": (("PKG-1", "B-1", "2025-08-07"),)}, "packages"),
    ({"packages": (("PKG-1", "B-1", "2025-08-07", -2),)}, "packages"),
    ({"contact": 42}, "contact"),
    ({"batches": ("B-1", 7)}, "batches"),
    ({"persons_notices": (PersonNotice("r1", "José", ("1 Main St",), (("2025-08-07", "x"),)),)},  # type: ignore[arg-type]
     "persons_notices[0]"),
    ({"persons_notices": (PersonNotice("r1", "José Muñoz", (), ()),)}, "persons_notices[0] (person_ref r1)"),
    ({"persons_notices": (PersonNotice("r1", "\u200b", ("1 Main St",), ()),)},
     "persons_notices[0] (person_ref r1)"),
])
def test_bad_input_is_rejected_without_values(tmp_path, change, column):
    data = dataclasses.replace(make_data(), **change)
    writer = write_letters_pdf if column.startswith("persons_notices") else write_report_json
    with pytest.raises(InputError) as info:
        writer(data, tmp_path / "out")
    assert info.value.column == column and "José" not in str(info.value)
    assert list(tmp_path.iterdir()) == []
