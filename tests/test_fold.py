"""Unicode folding: NFKC, invisible characters, mixed scripts, UTS #39 confusables."""
from __future__ import annotations

import random
import time
import unicodedata
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from disclosure_gate.engine import Engine
from disclosure_gate.pipeline.standardize import fold
from disclosure_gate.pipeline.standardize.fold import fold_table, fold_text, fold_values, needs_folding_sql


def _data_rows() -> dict[int, str]:
    text = resources.files("disclosure_gate").joinpath("data", "confusables_latin.tsv").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            src, proto = line.split("\t")[:2]
            rows[int(src, 16)] = proto
    return rows


# ---------------------------------------------------------------- known answers
@pytest.mark.parametrize("value, text, hidden, mixed", [
    ("M\u0430in", "Main", False, True),                 # Cyrillic а
    ("\u0455\u0441\u043e\u0440\u0435", "scope", False, False),  # ѕсоре: whole-script confusable
    ("p\u0430yp\u0430l", "paypal", False, True),
    ("Ma\u200b\u202ein", "Main", True, False),          # zero-width space + RLO
    ("\u0418\u0432\u0430\u043d", "Иван", False, False),  # Иван: no Latin skeleton, left alone
    ("王", "王", False, False),
    ("ＭＡＩＮ", "MAIN", False, False),                   # fullwidth, NFKC
    ("José", "José", False, False),
    ("Jose\u0301", "José", False, False),               # NFKC composes
    ("123 Main St", "123 Main St", False, False),
    ("1O1", "1O1", False, False),                       # ASCII never remapped
    ("B\u03bfb", "Bob", False, True),                   # Greek omicron
    ("Ｏ'Brien", "O'Brien", False, False),
    ("O'Br\u0456en", "O'Brien", False, True),            # Cyrillic і
    ("B\u0406LL", "BILL", False, True),                 # Cyrillic capital І folds to I, not TR39's l
    ("Ivan\u043e\u0432", "Ivanов", False, True),         # в has no Latin prototype: no partial fold
    ("J\u04e7rgen", "Jörgen", False, True),              # Cyrillic ӧ keeps its diaeresis on a Latin o
    ("M\u0251in", "Main", False, False),                # Latin alpha: same script, still folded
    ("Tokyo東京", "Tokyo東京", False, False),            # Latin+Han is Highly Restrictive
    ("서울Seoul", "서울Seoul", False, False),
    ("ひらがなハングル한", "ひらがなハングル한", False, True),  # Hiragana+Katakana+Hangul
    ("12\u0417 Elm", "123 Elm", False, False),           # Cyrillic З (ZE) looks like 3
    ("\u0967\u0968\u0969 Elm", "१२३ Elm", False, False),  # Devanagari digits keep their value
    ("a\tb\r\nc", "a b c", True, False),                # controls become spaces
    ("a\u00a0\u2003b", "a b", False, False),            # other whitespace, no flag
    ("  Main   St ", "Main St", False, False),
    ("Ma\u00adin\ufeff", "Main", True, False),          # soft hyphen, BOM
    ("Ma\U000e0041in\ufe0f", "Main", True, False),      # tag character, variation selector
    ("Ma\u034fi\u3164n", "Main", True, False),          # CGJ, Hangul filler
    ("", "", False, False),
    ("\u200b", "", True, False),
])
def test_known_answers(value, text, hidden, mixed):
    got = fold_text(value)
    assert (got.text, got.hidden, got.mixed_script) == (text, hidden, mixed)
    assert got.changed == (text != value)


def test_unchanged_ascii_is_not_changed():
    got = fold_text("123 Main St")
    assert not got.changed and not got.hidden and not got.mixed_script


# Rows copied verbatim from Unicode 17.0.0 confusables.txt: source ; prototype.
OFFICIAL_ROWS = """
0251 ;	0061 ;	MA	# ( ɑ → a ) LATIN SMALL LETTER ALPHA → LATIN SMALL LETTER A
03B1 ;	0061 ;	MA	# ( α → a ) GREEK SMALL LETTER ALPHA → LATIN SMALL LETTER A
0430 ;	0061 ;	MA	# ( а → a ) CYRILLIC SMALL LETTER A → LATIN SMALL LETTER A
0410 ;	0041 ;	MA	# ( А → A ) CYRILLIC CAPITAL LETTER A → LATIN CAPITAL LETTER A
13AA ;	0041 ;	MA	# ( Ꭺ → A ) CHEROKEE LETTER GO → LATIN CAPITAL LETTER A
0392 ;	0042 ;	MA	# ( Β → B ) GREEK CAPITAL LETTER BETA → LATIN CAPITAL LETTER B
0441 ;	0063 ;	MA	# ( с → c ) CYRILLIC SMALL LETTER ES → LATIN SMALL LETTER C
0501 ;	0064 ;	MA	# ( ԁ → d ) CYRILLIC SMALL LETTER KOMI DE → LATIN SMALL LETTER D
0435 ;	0065 ;	MA	# ( е → e ) CYRILLIC SMALL LETTER IE → LATIN SMALL LETTER E
0261 ;	0067 ;	MA	# ( ɡ → g ) LATIN SMALL LETTER SCRIPT G → LATIN SMALL LETTER G
0131 ;	0069 ;	MA	# ( ı → i ) LATIN SMALL LETTER DOTLESS I → LATIN SMALL LETTER I
0456 ;	0069 ;	MA	# ( і → i ) CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I → LATIN SMALL LETTER I
0458 ;	006A ;	MA	# ( ј → j ) CYRILLIC SMALL LETTER JE → LATIN SMALL LETTER J
041C ;	004D ;	MA	# ( М → M ) CYRILLIC CAPITAL LETTER EM → LATIN CAPITAL LETTER M
03BF ;	006F ;	MA	# ( ο → o ) GREEK SMALL LETTER OMICRON → LATIN SMALL LETTER O
043E ;	006F ;	MA	# ( о → o ) CYRILLIC SMALL LETTER O → LATIN SMALL LETTER O
0440 ;	0070 ;	MA	# ( р → p ) CYRILLIC SMALL LETTER ER → LATIN SMALL LETTER P
0455 ;	0073 ;	MA	# ( ѕ → s ) CYRILLIC SMALL LETTER DZE → LATIN SMALL LETTER S
03BD ;	0076 ;	MA	# ( ν → v ) GREEK SMALL LETTER NU → LATIN SMALL LETTER V
0445 ;	0078 ;	MA	# ( х → x ) CYRILLIC SMALL LETTER HA → LATIN SMALL LETTER X
0443 ;	0079 ;	MA	# ( у → y ) CYRILLIC SMALL LETTER U → LATIN SMALL LETTER Y
"""


def _official() -> list[tuple[int, str]]:
    out = []
    for line in OFFICIAL_ROWS.strip().splitlines():
        src, proto = (f.strip() for f in line.split(";")[:2])
        out.append((int(src, 16), "".join(chr(int(h, 16)) for h in proto.split())))
    return out


@pytest.mark.parametrize("cp, proto", _official())
def test_official_rows_in_table_and_folded(cp, proto):
    assert _data_rows()[cp] == proto
    assert fold_text(chr(cp)).text == proto
    assert fold_text(f"Z{chr(cp)}9").text == f"Z{proto}9"


def test_table_header_and_shape():
    text = resources.files("disclosure_gate").joinpath("data", "confusables_latin.tsv").read_text(encoding="utf-8")
    assert "Version: 17.0.0" in text and "Unicode License v3" in text
    rows = _data_rows()
    assert len(rows) > 1000
    assert all(cp >= 0x80 and p.isascii() and p.isalnum() for cp, p in rows.items())
    assert 0x0967 not in rows and 0x0660 not in rows       # digits of other scripts are not remapped
    assert rows[0x0406] == "I" and rows[0x0399] == "I"    # capital I-like glyphs: I, not TR39's l


def test_every_table_row_folds_alone():
    # A single character is a word; NFKC may change it first (ligatures), so fold that form.
    for cp, proto in _data_rows().items():
        ch = chr(cp)
        if unicodedata.normalize("NFKC", ch) == ch and unicodedata.category(ch)[0] in "LS":
            assert fold_text(ch).text == proto, f"U+{cp:04X}"


# ----------------------------------------------------------------- properties
_PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E))
_LOOKALIKES = {
    "a": "а\u03b1", "e": "е", "o": "о\u03bf", "p": "р\u03c1", "c": "с\u03f2", "y": "у", "x": "х",
    "i": "і\u03b9", "j": "ј", "s": "ѕ", "d": "ԁ", "v": "\u03bd", "h": "һ",
    "A": "А\u0391", "B": "В\u0392", "E": "Е\u0395", "H": "Н\u0397", "I": "І\u0399", "K": "К\u039a",
    "M": "М\u039c", "O": "О\u039f", "P": "Р\u03a1", "T": "Т\u03a4", "X": "Х\u03a7", "C": "С", "S": "Ѕ",
    "J": "Ј", "N": "\u039d", "Z": "\u0396", "Y": "\u03a5",
}
_INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u200f", "\u061c", "\u202a", "\u202b",
              "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u00ad", "\u2061", "\u2064",
              "\U000e0001", "\U000e0041", "\ufe0f", "\U000e0100", "\u034f", "\u115f", "\u1160", "\u3164", "\uffa0",
              "\u180e"]


@given(_PRINTABLE)
def test_printable_ascii_only_collapses_spaces(s):
    got = fold_text(s)
    assert got.text == " ".join(s.split())
    assert not got.hidden and not got.mixed_script


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ", min_size=1), st.data())
def test_lookalikes_fold_back(s, data):
    spoofed = "".join(
        data.draw(st.sampled_from(_LOOKALIKES[ch])) if ch in _LOOKALIKES and data.draw(st.booleans()) else ch
        for ch in s)
    assert fold_text(spoofed).text == " ".join(s.split())


@given(_PRINTABLE, st.lists(st.tuples(st.integers(min_value=0), st.sampled_from(_INVISIBLE)), min_size=1))
def test_invisible_characters_never_change_ascii(s, inserts):
    chars = list(s)
    for pos, ch in inserts:
        chars.insert(pos % (len(chars) + 1), ch)
    got = fold_text("".join(chars))
    assert got.text == " ".join(s.split())
    assert got.hidden


@settings(max_examples=500)
@given(st.text())
def test_idempotent(x):
    once = fold_text(x).text
    assert fold_text(once).text == once


@given(st.text())
def test_fold_values_matches_fold_text(x):
    texts, hidden, mixed = fold_values([x, None])
    f = fold_text(x)
    assert texts == [f.text, None] and hidden == [f.hidden, False] and mixed == [f.mixed_script, False]


# --------------------------------------------------------------------- DuckDB
@pytest.mark.parametrize("value, expected", [
    ("abc ~!", False), ("", False), (None, False), ("a\tb", True), ("a\x7fb", True), ("\x00", True),
    ("é", True), ("M\u0430in", True), ("a\nb", True), ("王", True),
])
def test_needs_folding_sql(value, expected):
    e = Engine()
    try:
        assert e.scalar(f"SELECT {needs_folding_sql('?::VARCHAR')}", [value]) is expected
    finally:
        e.close()


ROWS = [
    (1, "John", "123 Main St"),
    (2, "J\u043ehn", "123 M\u0430in St"),
    (3, "Jo\u200bhn", "Main\tSt"),
    (4, None, None),
    (5, "\u0418\u0432\u0430\u043d", "12 \u041b\u0435\u043d\u0438\u043d\u0430"),
    (6, "O'Br\u0456en", "\u0441\u043e\u0441\u043e"),
    (7, "J\u043ehn", "1O1 Elm  Rd"),
]
EXPECTED = {
    1: ("John", "123 Main St", False, False),
    2: ("John", "123 Main St", False, True),
    3: ("John", "Main St", True, False),
    4: (None, None, False, False),
    5: ("Иван", "12 Ленина", False, False),
    6: ("O'Brien", "coco", False, True),
    7: ("John", "1O1 Elm  Rd", False, True),   # ASCII stays byte for byte
}


def test_fold_table(engine, monkeypatch):
    engine.execute("CREATE TABLE people (id INTEGER, name VARCHAR, street VARCHAR)")
    for row in ROWS:
        engine.execute("INSERT INTO people VALUES (?, ?, ?)", list(row))
    sent: list[str | None] = []
    real = fold.fold_values

    def spy(values):
        sent.extend(values)
        return real(values)

    monkeypatch.setattr(fold, "fold_values", spy)
    n = fold_table(engine, "people", ["name", "street"])
    non_ascii = {v for _, a, b in ROWS for v in (a, b) if v is not None and not (v.isascii() and v.isprintable())}
    assert n == len(non_ascii) == 8
    assert sorted(sent) == sorted(non_ascii)           # ASCII and NULL never reach Python
    got = {r[0]: r[1:] for r in engine.fetchall("SELECT id, name, street, _hidden, _mixed FROM people")}
    assert got == EXPECTED
    assert engine.columns("people") == ["id", "name", "street", "_hidden", "_mixed"]


def test_fold_table_overwrites_flags_and_custom_names(engine):
    engine.execute("CREATE TABLE t (a VARCHAR, h VARCHAR)")
    engine.execute("INSERT INTO t VALUES ('x', 'stale'), ('M\u0430in', NULL)")
    assert fold_table(engine, "t", ["a"], hidden_col="h", mixed_col="m") == 1
    assert engine.fetchall("SELECT a, h, m FROM t ORDER BY a") == [("Main", False, True), ("x", False, False)]
    # Only the already folded value remains: nothing is non-ASCII any more.
    assert fold_table(engine, "t", ["a"], hidden_col="h", mixed_col="m") == 0
    assert engine.fetchall("SELECT a, h, m FROM t ORDER BY a") == [("Main", False, False), ("x", False, False)]


@pytest.mark.parametrize("kwargs", [
    {"table": "t; DROP TABLE t", "columns": ["a"]},
    {"table": "t", "columns": ["a b"]},
    {"table": "t", "columns": ['a"']},
    {"table": "1t", "columns": ["a"]},
    {"table": "t\n", "columns": ["a"]},
    {"table": "t", "columns": ["a\n"]},
    {"table": "t", "columns": ["a"], "hidden_col": "x--"},
    {"table": "t", "columns": ["a"], "mixed_col": "a"},
    {"table": "t", "columns": ["a", "a"]},
    {"table": "t", "columns": ["n"]},          # not VARCHAR
    {"table": "t", "columns": ["zz"]},         # no such column
    {"table": "nope", "columns": ["a"]},
])
def test_fold_table_rejects_bad_identifiers(engine, kwargs):
    engine.execute("CREATE TABLE t (a VARCHAR, n INTEGER)")
    with pytest.raises(ValueError):
        fold_table(engine, **kwargs)
    assert engine.columns("t") == ["a", "n"]


def test_fold_table_quotes_reserved_words(engine):
    engine.execute('CREATE TABLE "select" ("from" VARCHAR)')
    engine.execute('INSERT INTO "select" VALUES (?)', ["\u0421\u0430t"])
    assert fold_table(engine, "select", ["from"], hidden_col="where", mixed_col="order") == 1
    assert engine.fetchall('SELECT * FROM "select"') == [("Cat", False, True)]


def test_throughput_print():
    rng = random.Random(7)
    pool = "abcdefghijklmnopqrstuvwxyz     " + "".join(v for v in _LOOKALIKES.values()) + "é\u200bИван王"
    values = ["".join(rng.choice(pool) for _ in range(rng.randint(5, 40))) for _ in range(20_000)]
    start = time.perf_counter()
    fold_values(values)
    per = (time.perf_counter() - start) / len(values)
    print(f"\nfold_values: {per * 1e6:.1f} us per distinct non-ASCII value ({len(values)} values)")
