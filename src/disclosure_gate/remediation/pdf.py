"""PDF plumbing for the incident documents: fonts for every script, fast wrapping, boxes and tables.

Every character of a name or an id is drawn, or else transliterated; nothing is a dead end:

* DejaVu Sans / Sans Mono (shipped with matplotlib) draw Latin, Greek, Cyrillic, Armenian, Georgian, Hebrew.
* Bundled fonts (``disclosure_gate/data/fonts``, 6.1 MB, unmodified, licence files beside them): the Noto
  Sans script fonts (SIL OFL 1.1; 2.6 MB) for Arabic, Hebrew, Devanagari, Bengali, Gurmukhi, Gujarati,
  Oriya, Tamil, Telugu, Kannada, Malayalam, Sinhala, Thai, Lao, Khmer, Myanmar and Ethiopic, and Droid Sans
  Fallback (Apache-2.0; 3.5 MB) for Chinese, Japanese and Korean (20,902 ideographs, 11,172 Hangul
  syllables, kana). A font is read only when a document needs it, and only the glyphs used are embedded.
* Lines that need a fallback font, right-to-left ordering or shaping (Arabic joining, Indic conjuncts) go
  through fpdf2's ``set_fallback_fonts`` and HarfBuzz shaping (``uharfbuzz``), base direction left to
  right; Arabic is always drawn in one font (Noto Sans Arabic), as joining breaks across fonts.
* Any other character (Tibetan, Syriac, Cherokee, emoji, CJK beyond the BMP ...; and right-to-left or
  complex scripts when ``uharfbuzz`` is missing) is transliterated with ``anyascii`` (ISC), or "?".
  Names appear only in letters; the CSV and JSON keep every request id exactly.

Format characters (zero-width, bidi embeddings, overrides and isolates) are removed before drawing, so no
override can reorder what is printed; control characters in ids are shown escaped (``\\t``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import importlib
import importlib.util
import logging
import os
import unicodedata
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from disclosure_gate.errors import DgateError

PathArg = str | os.PathLike[str]

SCRIPT_FONTS = tuple(f"NotoSans{s}-Regular.ttf" for s in (
    "Arabic", "Hebrew", "Devanagari", "Bengali", "Gurmukhi", "Gujarati", "Oriya", "Tamil", "Telugu", "Kannada",
    "Malayalam", "Sinhala", "Thai", "Lao", "Khmer", "Myanmar", "Ethiopic"))
CJK_FONT = "DroidSansFallback.ttf"
_ARABIC_FONT = "NotoSansArabic-Regular.ttf"
_RTL = frozenset(("R", "AL", "AN"))
_MARKS = frozenset(("Mn", "Mc", "Me"))
_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DgateError(f"{module} is not installed; install the 'report' extra: "
                         "pip install 'disclosure-gate[report]'") from exc


def clean(text: str) -> str:
    """NFC; control characters to spaces; format characters dropped; runs of whitespace collapsed."""
    out = []
    for ch in unicodedata.normalize("NFC", str(text)):
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Zl", "Zp"):
            out.append(" ")
        elif cat != "Cf":
            out.append(ch)
    return " ".join("".join(out).split())


def visible(text: str) -> str:
    """``text`` without format characters (zero-width, bidi controls): what HTML may show unisolated."""
    return "".join(ch for ch in str(text) if unicodedata.category(ch) != "Cf")


def show_id(rid: str) -> str:
    """An id as printable text: format characters dropped, control characters escaped (tab -> ``\\t``)."""
    out = []
    for ch in str(rid):
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Zl", "Zp"):
            out.append(_ESCAPES.get(ch, f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"))
        elif cat != "Cf":
            out.append(ch)
    return "".join(out)


def human_date(value: str) -> str:
    try:
        d = dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        return value
    return f"{d:%B} {d.day}, {d.year}"


def issued(issued_on: str | None) -> str:
    return human_date(issued_on or dt.date.today().isoformat())


def plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


@functools.lru_cache(maxsize=8192)
def _rtl_or_mark(ch: str) -> bool:
    return unicodedata.bidirectional(ch) in _RTL or unicodedata.category(ch) in _MARKS


def _latin_mark(ch: str) -> bool:
    """A combining mark of the Latin, Greek or Cyrillic kind, which text() draws well enough unshaped."""
    o = ord(ch)
    return unicodedata.category(ch) in _MARKS and (o < 0x590 or 0x1AB0 <= o <= 0x20FF or 0xFE20 <= o <= 0xFE2F)


def _cmap(path: Path) -> frozenset[str]:
    ttlib = require("fontTools.ttLib")
    with ttlib.TTFont(str(path), lazy=True) as font:
        return frozenset(chr(c) for c in font.getBestCmap())


@functools.cache
def bundled_fonts() -> tuple[tuple[str, Path, frozenset[str]], ...]:
    """(file name, path, characters) of each bundled font present, script fonts first, read once a process."""
    folder = Path(str(resources.files("disclosure_gate") / "data" / "fonts"))
    paths = [folder / name for name in (*SCRIPT_FONTS, CJK_FONT)]
    return tuple((p.name, p, _cmap(p)) for p in paths if p.is_file())


def shaping_available() -> bool:
    return importlib.util.find_spec("uharfbuzz") is not None


class Pdf:
    """An fpdf2 document (US Letter, mm). Composition, as fpdf is imported lazily and untyped.

    cell()/multi_cell() cost ~0.2 ms a line, text() ~0.03 ms: lines are wrapped here (cached word widths),
    drawn with text() and paginated by hand. Only lines that need a fallback font, bidi or shaping go
    through cell() with shaping on (~0.6 ms)."""

    def __init__(self, title: str, author: str, fallback_fonts: Sequence[PathArg] = ()) -> None:
        fpdf = require("fpdf")
        ttf = Path(require("matplotlib").get_data_path()) / "fonts" / "ttf"
        self.pdf = pdf = fpdf.FPDF(orientation="P", unit="mm", format="Letter")
        pdf.set_margins(25, 20, 25)
        pdf.set_auto_page_break(True, margin=22)
        self.shaping = shaping_available()
        self._user: list[tuple[str, frozenset[str]]] = []
        try:
            pdf.add_font("dejavu", "", str(ttf / "DejaVuSans.ttf"))
            pdf.add_font("dejavu", "B", str(ttf / "DejaVuSans-Bold.ttf"))
            pdf.add_font("dejavumono", "", str(ttf / "DejaVuSansMono.ttf"))
            for i, font in enumerate(fallback_fonts):
                pdf.add_font(f"user{i}", "", str(font))
                self._user.append((f"user{i}", frozenset(chr(c) for c in pdf.fonts[f"user{i}"].cmap)))
        except BaseException:
            self.close()
            raise
        # Without a shaping engine, script fonts would print Arabic unjoined and backwards: transliterate.
        self._bundled = [(f"b{i}", name, path, chars) for i, (name, path, chars) in enumerate(bundled_fonts())
                         if self.shaping or name == CJK_FONT]
        arabic = next((b for b in self._bundled if b[1] == _ARABIC_FONT), None)
        self._owned = frozenset(c for c in arabic[3] if ord(c) >= 0x600) if arabic else frozenset()
        self._arabic = arabic[0] if arabic else ""
        self._base = {key: frozenset(chr(c) for c in pdf.fonts[key].cmap) - self._owned
                      for key in ("dejavu", "dejavuB", "dejavumono")}
        self._loaded: list[str] = []
        self._ok: dict[tuple[str, str], bool] = {}
        pdf.set_title(clean(title))
        pdf.set_author(clean(author))
        pdf.set_creator("disclosure-gate")
        self._wrapped: dict[tuple[str, str, float, float], list[str]] = {}
        self._widths: dict[tuple[str, str, float], float] = {}

    def __enter__(self) -> Pdf:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the font files fpdf2 keeps open (else: ResourceWarning when the document is collected)."""
        for font in self.pdf.fonts.values():
            with contextlib.suppress(Exception):
                font.close()

    @staticmethod
    def _key(style: str) -> str:
        return "dejavumono" if style == "mono" else "dejavuB" if style == "B" else "dejavu"

    def _drawable(self, ch: str, style: str) -> bool:
        """Whether ``ch`` can be drawn in ``style`` (loading the bundled font that has it, once)."""
        ok = self._ok.get((ch, style))
        if ok is not None:
            return ok
        if ch.isspace() or ch in self._base[self._key(style)] or ch in self._base["dejavu"]:
            ok = self.shaping or not _rtl_or_mark(ch) or _latin_mark(ch)
        elif any(ch in chars for _, chars in self._user):
            ok = True
        else:
            found = next((b for b in self._bundled if ch in b[3]), None)
            if found is not None and found[0] not in self._loaded:
                self.pdf.add_font(found[0], "", str(found[2]))
                self._loaded.append(found[0])
            ok = found is not None
        self._ok[(ch, style)] = ok
        return ok

    def drawable(self, text: str, style: str = "") -> str:
        """``text`` with every character no font can draw transliterated (anyascii), or "?"."""
        if text.isascii():
            return text
        out: list[str] = []
        run: list[str] = []  # undrawable characters, transliterated together (a virama alone gives "")
        for ch in text + " ":
            if self._drawable(ch, style):
                if run:
                    out.append(require("anyascii").anyascii("".join(run)) or "?")
                    run = []
                out.append(ch)
            else:
                run.append(ch)
        return "".join(out)[:-1]

    def t(self, text: str, style: str = "") -> str:
        """Cleaned (see :func:`clean`) and drawable text."""
        return self.drawable(clean(text), style)

    def complex(self, text: str, style: str) -> bool:
        """Whether ``text`` needs a fallback font, bidi reordering or shaping."""
        if text.isascii():
            return False
        base = self._base[self._key(style)]
        return any((c not in base and not c.isspace()) or _rtl_or_mark(c) for c in text)

    @contextlib.contextmanager
    def _shaped(self, text: str, style: str, size: float) -> Iterator[None]:
        pdf = self.pdf
        own = self._arabic if self._owned and any(c in self._owned for c in text) else ""
        base = "dejavumono" if style == "mono" else "dejavu"
        pdf.set_font(own or base, "" if own or style == "mono" else style, size)
        pdf.set_fallback_fonts([base, "dejavu", *(u for u, _ in self._user), *self._loaded], exact_match=False)
        if self.shaping:
            pdf.set_text_shaping(True, direction="ltr")
        auto, margin = pdf.auto_page_break, pdf.b_margin
        pdf.set_auto_page_break(False)
        try:
            yield
        finally:
            pdf.set_auto_page_break(auto, margin)
            if self.shaping:
                pdf.set_text_shaping(False)
            pdf.set_fallback_fonts([])
            self.font(style, size)

    def font(self, style: str = "", size: float = 9.5) -> None:
        self.pdf.set_font("dejavumono" if style == "mono" else "dejavu", "" if style == "mono" else style, size)

    def width(self, text: str, style: str = "", size: float = 9.5) -> float:
        key = (text, style, size)
        w = self._widths.get(key)
        if w is None:
            if self.complex(text, style):
                with self._shaped(text, style, size):
                    w = self.pdf.get_string_width(text)
            else:
                self.font(style, size)
                w = self.pdf.get_string_width(text)
            if len(self._widths) > 200_000:  # words of names and ids: bounded memory for any number of letters
                self._widths.clear()
            self._widths[key] = w
        return float(w)

    def draw(self, x: float, y: float, h: float, text: str, style: str = "", size: float = 9.5) -> None:
        """Draw one line of ``text`` from ``x``, vertically centred in the band ``y``..``y + h``."""
        pdf = self.pdf
        if not text:
            return
        if not self.complex(text, style):
            self.font(style, size)
            pdf.text(x, y + h / 2 + 0.3 * size / pdf.k, text)
            return
        w = self.width(text, style, size)  # measured first: width() leaves the shaped state
        with self._shaped(text, style, size):
            pdf.set_xy(x - pdf.c_margin, y)
            pdf.cell(w + 2 * pdf.c_margin, h, text)

    def wrap(self, text: str, style: str, size: float, width: float) -> list[str]:
        """Greedy word wrap to ``width`` mm; a word wider than a line is broken between characters."""
        key = (text, style, size, width)
        cached = self._wrapped.get(key)
        if cached is not None:
            return cached
        space = self.width(" ", style, size)
        lines: list[str] = []
        words: list[str] = []
        used = 0.0
        for word in text.split(" "):
            ww = self.width(word, style, size)
            if words and used + space + ww > width:
                lines.append(" ".join(words))
                words, used = [], 0.0
            while ww > width and len(word) > 1:
                cut = 1
                while cut < len(word) and self.width(word[: cut + 1], style, size) <= width:
                    cut += 1
                lines.append(word[:cut])
                word = word[cut:]
                ww = self.width(word, style, size)
            used = ww if not words else used + space + ww
            words.append(word)
        if words:
            lines.append(" ".join(words))
        if len(self._wrapped) < 4096:  # texts that repeat in every letter are the first ones seen
            self._wrapped[key] = lines
        return lines

    @property
    def text_width(self) -> float:
        return float(self.pdf.w - self.pdf.l_margin - self.pdf.r_margin)

    def fits(self, h: float) -> None:
        """Start a new page unless ``h`` mm fit below the cursor."""
        if self.pdf.y + h > self.pdf.page_break_trigger:
            self.pdf.add_page()

    def line(self, text: str, h: float = 4.6, style: str = "", size: float = 9.5, indent: float = 0,
             prefix: str = "") -> None:
        """One line at the cursor (``prefix`` at the margin), on a new page if it would not fit."""
        pdf = self.pdf
        self.fits(h)
        if prefix:
            self.draw(pdf.l_margin, pdf.y, h, prefix, style, size)
        self.draw(pdf.l_margin + indent, pdf.y, h, text, style, size)
        pdf.y += h

    def para(self, text: str, h: float = 4.6, style: str = "", size: float = 9.5, after: float = 1.5,
             indent: float = 0, first: str = "") -> None:
        """A wrapped paragraph; ``first`` (e.g. a bullet) hangs in the indent of the first line."""
        for i, line in enumerate(self.wrap(text, style, size, self.text_width - indent)):
            self.line(line, h, style, size, indent, first if i == 0 else "")
        self.pdf.y += after

    def heading(self, text: str, size: float = 10.5) -> None:
        self.fits(16)
        self.pdf.y += 1.5
        self.line(text, 5.5, "B", size)
        self.pdf.y += 0.5

    def boxed(self, lines: Sequence[str], style: str = "mono", size: float = 7.5, h: float = 3.6,
              pad: float = 2.0) -> None:
        """Lines in a ruled box the width of the text area, each wrapped (between characters if need be)."""
        pdf = self.pdf
        x, w = pdf.l_margin, self.text_width
        wrapped = [part for line in lines for part in (self.wrap(line, style, size, w - 2 * pad) or [""])]
        self.fits(min(len(wrapped) * h + 2 * pad, pdf.page_break_trigger - pdf.t_margin))
        top = pdf.y
        pdf.y += pad
        for part in wrapped:
            if pdf.y + h + pad > pdf.page_break_trigger:
                pdf.rect(x, top, w, pdf.y + pad - top)
                pdf.add_page()
                top = pdf.y
                pdf.y += pad
            self.draw(x + pad, pdf.y, h, part, style, size)
            pdf.y += h
        pdf.rect(x, top, w, pdf.y + pad - top)
        pdf.y += pad + 2

    def table(self, rows: Sequence[Sequence[str]], widths: Sequence[float], *, header: Sequence[str] = (),
              right: Sequence[int] = (), styles: Sequence[str] = (), size: float = 9, h: float = 4.4,
              pad: float = 1.2) -> None:
        """Rows of wrapped cells; ``widths`` in mm (the last column takes what is left); ``right``: the
        right-aligned columns. A row never splits across pages; the header repeats on each page."""
        pdf = self.pdf
        ws = [*widths[:-1], self.text_width - sum(widths[:-1])]
        xs = [pdf.l_margin + sum(ws[:i]) for i in range(len(ws))]

        def row(cells: Sequence[str], bold: bool) -> None:
            st = ["B" if bold else (styles[i] if i < len(styles) else "") for i in range(len(cells))]
            parts = [self.wrap(c, st[i], size, ws[i] - 2 * pad) for i, c in enumerate(cells)]
            height = max(len(p) for p in parts) * h + 0.8
            if pdf.y + height > pdf.page_break_trigger:
                pdf.add_page()
                if header and not bold:
                    row(header, True)
            for i, lines in enumerate(parts):
                for k, line in enumerate(lines):
                    dx = ws[i] - pad - self.width(line, st[i], size) if i in right else pad
                    self.draw(xs[i] + dx, pdf.y + 0.4 + k * h, h, line, st[i], size)
            if bold:
                pdf.line(xs[0], pdf.y + height, xs[0] + sum(ws), pdf.y + height)
            pdf.y += height

        if header:
            row(header, True)
        for cells in rows:
            row(cells, False)
        pdf.y += 2

    def footer_line(self, text: str) -> None:
        """A centred grey line at the foot of the page. cell() substitutes an ``alias_nb_pages`` alias."""
        pdf = self.pdf
        pdf.set_text_color(90)
        if self.complex(text, ""):
            pdf.set_y(-15)
            with self._shaped(text, "", 8):
                pdf.cell(0, 5, text, align="C")
        elif pdf.str_alias_nb_pages and pdf.str_alias_nb_pages in text:
            pdf.set_y(-15)
            self.font("", 8)
            pdf.cell(0, 5, text, align="C")
        else:
            self.font("", 8)
            w = pdf.get_string_width(text)
            pdf.text((pdf.w - w) / 2, pdf.h - 15 + 2.5 + 0.3 * 8 / pdf.k, text)
        pdf.set_text_color(0)

    def bytes(self) -> bytes:
        # fontTools.subset logs, at INFO, the glyph names used, and fpdf2 warns of missing glyphs by character:
        # the character set of names and addresses. Neither may reach a log.
        logs = [(log, log.level) for log in map(logging.getLogger, ("fontTools.subset", "fpdf.output"))]
        for log, level in logs:
            log.setLevel(max(level, logging.ERROR))
        try:
            return bytes(self.pdf.output())
        finally:
            for log, level in logs:
                log.setLevel(level)
