"""Unicode folding of names and addresses before any comparison or count.

A look-alike letter from another script (Cyrillic ``е`` U+0435 for ``e``), an
invisible character or a fullwidth form must not split a group or dodge a match.
:func:`fold_text` applies, in this order:

1. **NFKC** (UAX #15, Unicode Normalization Forms): fullwidth, ligature and
   compatibility forms become their plain letters (``ＭＡＩＮ`` -> ``MAIN``). The few
   letters whose Latin prototype NFKC would erase (Greek lunate sigma ``ϲ``, which
   NFKC makes ``ς``) are left for step 4 instead.
2. **Invisible characters** are removed and set ``hidden``: General Category Cf
   (zero-width space/joiners, bidi controls, BOM, soft hyphen, tags, ...), the rest of
   UTS #44's Default_Ignorable_Code_Point set (variation selectors, combining
   grapheme joiner, Hangul fillers, Mongolian free variation selectors) and lone
   surrogates. Control characters (Cc, tab and newline included) become a space and
   also set ``hidden``; other Unicode whitespace becomes a space. Runs of spaces
   collapse and the ends are stripped. If anything was removed the text is NFKC
   normalised again (removal can join a base letter to a combining mark).
3. **Mixed script** (UTS #39 section 5): the text is split into words at spaces and
   punctuation (P*). A word is mixed when its characters' Script values, ignoring
   Common and Inherited, hold more than one script, unless the set fits UTS #39's
   Highly Restrictive profile (Latin+Han+Hiragana+Katakana, Latin+Han+Bopomofo,
   Latin+Han+Hangul, or a subset). Unassigned code points count as script Unknown.
   Script data: the ``confusable_homoglyphs`` package (Unicode's Scripts.txt).
4. **Confusables** (UTS #39 section 4, skeletons), restricted to a Latin skeleton:
   each word is put in NFD and every character listed in ``data/confusables_latin.tsv``
   (generated from Unicode 17.0.0 confusables.txt by ``scripts/gen_confusables.py``)
   is replaced by its prototype of ASCII letters/digits, then NFC recomposes. ASCII is
   never remapped (TR39's ``1 -> l``, ``0 -> O`` would corrupt house numbers), nor are
   digits of other scripts (their value differs from their look-alike), and accented
   letters keep their accents (``é`` stays ``é``; ``ӧ`` Cyrillic becomes ``ö``).
   Precision: a word is folded only if afterwards all its characters are Latin,
   Common or Inherited; ``Иван`` and ``王`` stay as they are, while wholly confusable
   words fold (``ѕсоре`` -> ``scope``), as they would on both sides of a match.
5. **Case** is whatever the prototype says, which is the source's case for
   cased letters (``А`` -> ``A``, ``а`` -> ``a``). TR39 writes every I-like glyph as
   ``l``; the table uses ``I`` for capital sources (Cyrillic ``І``, Greek ``Ι``) so
   that the pipeline's later upper-casing gives ``I``. Nothing else changes case.

:func:`fold_table` runs this in place on a DuckDB table, sending only the distinct
values that contain something other than printable ASCII to Python. Printable ASCII
values are left byte for byte as they are (the standardizers collapse their spaces).
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import pyarrow as pa
from confusable_homoglyphs import categories as _script_data  # type: ignore[import-untyped]

from disclosure_gate.engine import Engine

__all__ = ["Folded", "fold_table", "fold_text", "fold_values", "needs_folding_sql"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NEUTRAL = frozenset({"COMMON", "INHERITED"})
_FOLDABLE = frozenset({"LATIN", "COMMON", "INHERITED"})
_ALLOWED_MIXES = (frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}), frozenset({"LATIN", "HAN", "BOPOMOFO"}),
                  frozenset({"LATIN", "HAN", "HANGUL"}))
# Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt) beyond what is Cf here.
_IGNORABLE = ((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F),
              (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
              (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF))
_IGNORABLE_RE = re.compile("[" + "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in _IGNORABLE) + "]")
_ASCII_SEPARATORS = frozenset(c for c in map(chr, range(0x20, 0x7F)) if c == " " or unicodedata.category(c)[0] == "P")


@dataclass(frozen=True)
class Folded:
    """The folded text and what folding found."""

    text: str            # folded text
    hidden: bool         # the input contained invisible/format/control characters (removed)
    mixed_script: bool   # some word of the input mixes scripts (e.g. Latin + Cyrillic in one word)
    changed: bool        # text != input


@functools.cache
def _confusables() -> dict[int, str]:
    """``{code point: prototype}`` from the generated table, for ``str.translate``."""
    text = resources.files("disclosure_gate").joinpath("data", "confusables_latin.tsv").read_text(encoding="utf-8")
    table: dict[int, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        source, proto = line.split("\t")[:2]
        cp = int(source, 16)
        if cp < 0x80 or not (proto.isascii() and proto.isalnum()):
            raise ValueError(f"confusables_latin.tsv: bad row for U+{cp:04X}")
        table[cp] = proto
    return table


@functools.cache
def _nfkc_guard() -> re.Pattern[str] | None:
    """Letters whose confusable prototype NFKC would erase (Greek lunate sigma ``ϲ`` -> ``ς``)."""
    table = _confusables()
    kept = [chr(cp) for cp, proto in table.items()
            if unicodedata.category(chr(cp)) in ("Lu", "Ll") and not unicodedata.normalize("NFKC", chr(cp)).isascii()
            and unicodedata.normalize("NFD", unicodedata.normalize("NFKC", chr(cp))).translate(table) != proto]
    return re.compile("([" + re.escape("".join(kept)) + "])") if kept else None


def _nfkc(text: str) -> str:
    """NFKC, except that the letters of :func:`_nfkc_guard` are kept for the confusable fold."""
    guard = _nfkc_guard()
    if guard is None or not guard.search(text):
        return unicodedata.normalize("NFKC", text)
    return "".join(part if i % 2 else unicodedata.normalize("NFKC", part) for i, part in enumerate(guard.split(text)))


@functools.lru_cache(maxsize=16384)
def _script(ch: str) -> str:
    """Unicode Script value (upper case, e.g. ``LATIN``; ``Unknown`` if unassigned)."""
    if ch.isascii():
        return "LATIN" if ch.isalpha() else "COMMON"
    return str(_script_data.alias(ch))


def _is_hidden(ch: str, category: str) -> bool:
    return category in ("Cf", "Cs") or _IGNORABLE_RE.match(ch) is not None


def _clean(text: str) -> tuple[str, bool]:
    """Step 2: drop invisible characters, controls and whitespace to single spaces."""
    if text.isprintable() and not _IGNORABLE_RE.search(text):  # no C*, no Z* but " ", no ignorables
        return " ".join(text.split()), False
    out: list[str] = []
    hidden = False
    for ch in text:
        if " " <= ch <= "~":
            out.append(ch)
            continue
        category = unicodedata.category(ch)
        if category == "Cc":
            out.append(" ")
            hidden = True
        elif _is_hidden(ch, category):
            hidden = True
        elif ch.isspace() or category[0] == "Z":
            out.append(" ")
        else:
            out.append(ch)
    return " ".join("".join(out).split()), hidden


def _is_mixed(word: str) -> bool:
    scripts = {_script(ch) for ch in word} - _NEUTRAL
    if len(scripts) < 2:
        return False
    return not any(scripts <= allowed for allowed in _ALLOWED_MIXES)


def _fold_word(word: str) -> str:
    """Step 4 for one word: its Latin skeleton if every character ends up Latin."""
    decomposed = unicodedata.normalize("NFD", word)
    folded = decomposed.translate(_confusables())
    if folded == decomposed or any(_script(ch) not in _FOLDABLE for ch in folded):
        return word
    return unicodedata.normalize("NFC", folded)


def _is_separator(ch: str) -> bool:
    if ch.isascii():
        return ch in _ASCII_SEPARATORS
    return unicodedata.category(ch)[0] == "P"


def fold_text(value: str) -> Folded:
    """Fold one name or address value (see the module docstring for the rules)."""
    if value.isascii() and value.isprintable():  # printable ASCII: only spaces can change
        text = " ".join(value.split())
        return Folded(text, False, False, text != value)
    text, hidden = _clean(_nfkc(value))
    if hidden:
        text = _nfkc(text)
    mixed = False
    parts: list[str] = []
    for is_sep, group in itertools.groupby(text, key=_is_separator):
        chunk = "".join(group)
        if is_sep or chunk.isascii():
            parts.append(chunk)
            continue
        mixed = mixed or _is_mixed(chunk)
        parts.append(_fold_word(chunk))
    text = "".join(parts)
    return Folded(text, hidden, mixed, text != value)


def fold_values(values: Sequence[str | None]) -> tuple[list[str | None], list[bool], list[bool]]:
    """Fold many (distinct) values: texts, hidden flags, mixed flags; None stays None."""
    texts: list[str | None] = []
    hidden: list[bool] = []
    mixed: list[bool] = []
    for value in values:
        if value is None:
            texts.append(None)
            hidden.append(False)
            mixed.append(False)
            continue
        folded = fold_text(value)
        texts.append(folded.text)
        hidden.append(folded.hidden)
        mixed.append(folded.mixed_script)
    return texts, hidden, mixed


def needs_folding_sql(column_sql: str) -> str:
    """DuckDB boolean: the value has a character outside printable ASCII 0x20-0x7E.

    False for NULL and for printable ASCII, which therefore never reach Python.
    ``column_sql`` is an SQL expression written by code, never by a user.
    """
    return f"coalesce(regexp_matches({column_sql}, '[^ -~]'), false)"


def _ident(name: str) -> str:
    if not isinstance(name, str) or not _IDENT.fullmatch(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


def fold_table(engine: Engine, table: str, columns: Sequence[str], *, hidden_col: str = "_hidden",
               mixed_col: str = "_mixed") -> int:
    """Fold the VARCHAR ``columns`` of ``table`` in place and (re)write the flag columns.

    ``hidden_col``/``mixed_col`` become BOOLEAN columns, true when any listed column
    of the row had invisible characters / a mixed-script word; existing ones are
    replaced. Only distinct values for which :func:`needs_folding_sql` holds are
    folded in Python; the mapping goes back through ``engine.register`` and
    ``UPDATE ... FROM``, never as SQL text. Returns the number of distinct values
    folded in Python (sent to :func:`fold_values`). Run it once, on the raw values:
    a second run finds nothing left to flag.
    """
    t, h, m = _ident(table), _ident(hidden_col), _ident(mixed_col)
    cols = [_ident(c) for c in columns]
    if len({*columns, hidden_col, mixed_col}) != len(cols) + 2:
        raise ValueError("column names must be distinct from each other and from the flag columns")
    types: dict[str, str] = {str(name): str(kind) for name, kind in engine.fetchall(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?", [table],
        label="fold: columns")}
    if not types:
        raise ValueError(f"no table {table!r}")
    for name in columns:
        if types.get(name) != "VARCHAR":
            raise ValueError(f"{table}.{name} is not a VARCHAR column")

    values: list[str | None] = []
    if cols:
        union = " UNION ".join(f"SELECT {c} AS v FROM {t} WHERE {needs_folding_sql(c)}" for c in cols)
        values = [r[0] for r in engine.fetchall(union, label="fold: distinct values")]
    texts, hidden, mixed = fold_values(values)
    keep = [i for i, (v, x) in enumerate(zip(values, texts, strict=True)) if v != x or hidden[i] or mixed[i]]
    mapping = pa.table({
        "_fold_src": pa.array([values[i] for i in keep], pa.string()),
        "_fold_dst": pa.array([texts[i] for i in keep], pa.string()),
        "_fold_hidden": pa.array([hidden[i] for i in keep], pa.bool_()),
        "_fold_mixed": pa.array([mixed[i] for i in keep], pa.bool_()),
    })
    view = f"_fold_map_{uuid.uuid4().hex}"
    engine.register(view, mapping)
    try:
        with engine.transaction():
            for flag in (h, m):
                engine.execute(f"ALTER TABLE {t} DROP COLUMN IF EXISTS {flag}", label="fold: flags")
                engine.execute(f"ALTER TABLE {t} ADD COLUMN {flag} BOOLEAN DEFAULT false", label="fold: flags")
            if keep:
                for c in cols:
                    engine.execute(
                        f"UPDATE {t} SET {c} = fm._fold_dst, {h} = {t}.{h} OR fm._fold_hidden, "
                        f"{m} = {t}.{m} OR fm._fold_mixed FROM {view} AS fm WHERE {t}.{c} = fm._fold_src",
                        label="fold: update")
    finally:
        engine.unregister(view)
    return len(values)
