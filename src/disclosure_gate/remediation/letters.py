"""Notification letters to affected persons: names in natural case, ZIP+4, mailing order and an index.

:func:`natural_name` turns ``SEAN O'BRIEN`` into ``Sean O'Brien``; :func:`format_zip` turns ``961239149`` into
``96123-9149``. :func:`render_letters` draws one letter per person, each on its own pages, sorted by ZIP code
then name, after a mailing index that maps each reference to its pages.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from disclosure_gate.errors import InputError
from disclosure_gate.remediation.pdf import Pdf, clean, human_date, issued, show_id

if TYPE_CHECKING:
    from disclosure_gate.remediation.incident_docs import IncidentData, PersonNotice

__all__ = ["format_zip", "natural_name", "render_letters", "the_agency"]

_PARTICLES = frozenset({"de", "del", "la", "da", "di", "dos", "du", "van", "von", "der", "den", "le", "y"})
_SUFFIXES = {"JR": "Jr.", "SR": "Sr.", "II": "II", "III": "III", "IV": "IV"}
#: Mac- surnames written MacX. Others keep one capital: Mackenzie (also a first name), Mack, Macy, Machado.
_MAC = frozenset({"MACARTHUR", "MACAULAY", "MACDONALD", "MACDOUGALL", "MACFARLANE", "MACGREGOR", "MACINNES",
                  "MACINTYRE", "MACKINNON", "MACLACHLAN", "MACLEAN", "MACLEOD", "MACMILLAN", "MACNEIL",
                  "MACPHERSON", "MACQUEEN", "MACRAE"})
_ZIP = re.compile(r"(?<![0-9])([0-9]{5})(?:-?([0-9]{4}))?$")


def format_zip(text: str) -> str:
    """``961239149`` -> ``96123-9149``; anything but exactly nine ASCII digits is returned unchanged."""
    return f"{text[:5]}-{text[5:]}" if len(text) == 9 and text.isascii() and text.isdigit() else text


def _cap(seg: str) -> str:
    """One name segment in title case; ``Mc`` and listed ``Mac`` names capitalise the next letter too."""
    up = seg.upper()
    if up.startswith("MC") and len(seg) > 3 and seg[2:].isalpha():
        return "Mc" + seg[2].upper() + seg[3:].lower()
    if up in _MAC:
        return "Mac" + seg[3].upper() + seg[4:].lower()
    return seg[:1].upper() + seg[1:].lower()


def _word(word: str) -> str:
    """Each hyphen part in title case, and the part after each apostrophe too (O'Brien, D'Arcy)."""
    return "-".join("".join(_cap(s) if i % 2 == 0 else s for i, s in enumerate(re.split(r"(['’])", part)))
                    for part in word.split("-"))


def natural_name(text: str) -> str:
    """A name from upper-cased (or lower-cased) records in natural case, for greetings and address blocks.

    Rules: title case per word and per hyphen part (``ANNE-MARIE`` -> ``Anne-Marie``); the particles de, del,
    la, da, di, dos, du, van, von, der, den, le and y in lower case, except as the first word or as the last
    word before any suffix, where they are a surname (``MARIA DE LA CRUZ`` -> ``Maria de la Cruz``,
    ``JOHN LE`` -> ``John Le``); after an apostrophe the next letter is a capital (``O'Brien``,
    ``D'Arcy``); ``Mc`` capitalises the next letter (``McDonald``), ``Mac`` only for a short list of
    surnames (``MacDonald``, ``MacLeod``; but ``Mackenzie``, ``Machado``); a trailing ``JR``/``SR`` becomes
    ``Jr.``/``Sr.`` and ``II``, ``III``, ``IV`` stay upper case. A name with both upper- and lower-case
    letters, or none (Chinese, Arabic), is returned as given. Spacing is kept; only case changes (and the
    period of Jr./Sr.).
    """
    if any(c.isupper() for c in text) == any(c.islower() for c in text):
        return text  # mixed case, or no cased letter
    pieces = re.split(r"(\s+)", text)
    words = [i for i, p in enumerate(pieces) if p and not p.isspace()]
    suffix_from = len(words)
    while suffix_from > 1 and pieces[words[suffix_from - 1]].rstrip(".,").upper() in _SUFFIXES:
        suffix_from -= 1
    for n, i in enumerate(words):
        word = pieces[i]
        if n >= suffix_from:
            core = word.rstrip(".,")
            tail = word[len(core):]
            rep = _SUFFIXES[core.upper()]
            pieces[i] = rep + (tail[1:] if rep.endswith(".") and tail.startswith(".") else tail)
        elif 0 < n < suffix_from - 1 and word.lower() in _PARTICLES:
            pieces[i] = word.lower()
        else:
            pieces[i] = _word(word)
    return "".join(pieces)


def the_agency(agency: str, start: bool = True) -> str:
    """``Internal Revenue Service`` -> ``The Internal Revenue Service`` (``the`` inside a sentence)."""
    name = agency[4:] if agency[:4].lower() == "the " else agency
    return f"{'The' if start else 'the'} {name}"


@dataclass
class _Letter:
    ref: str
    name: str
    address: list[str]
    zip: str  # ZIP or ZIP+4 as printed, "" when the address has none
    items: list[tuple[str, str, str, str]]
    key: tuple[str, str, str, str] = ("", "", "", "")
    pages: list[int] = field(default_factory=list)


def _address(doc: Pdf, lines: tuple[str, ...]) -> tuple[list[str], str]:
    """Cleaned address lines with a nine-digit ZIP written 96123-9149, and the ZIP found (last line first)."""
    out = [a for a in (doc.t(line) for line in lines) if a]
    found = ""
    for k in range(len(out) - 1, 0 if len(out) > 1 else -1, -1):
        head, sep, last = out[k].rpartition(" ")
        out[k] = head + sep + format_zip(last)
        m = _ZIP.search(out[k])
        if m and not found:
            found = m.group(1) + (f"-{m.group(2)}" if m.group(2) else "")
    return out, found


def _prepare(doc: Pdf, i: int, notice: PersonNotice) -> _Letter:
    t = doc.t
    ref = t(notice.person_ref)
    where = f"persons_notices[{i}] (person_ref {ref})"
    name = doc.drawable(natural_name(clean(notice.name)))
    address, zip_ = _address(doc, notice.address_lines)
    if not ref or not name or not address:
        raise InputError("person_ref, name and at least one address line are required", column=where)
    items = [(human_date(t(d)), t(to), t(f).replace("_", " "), doc.drawable(show_id(rid)))
             for d, to, f, rid in notice.disclosures]
    key = (zip_ or "~", name.casefold(), name, ref)  # no ZIP: after every ZIP
    return _Letter(ref, name, address, zip_, items, key)


class _Index:
    """The mailing index: fixed rows per page, so that the pages it needs are known before the letters."""

    SIZE, H = 7.0, 3.3

    def __init__(self, doc: Pdf, letters: list[_Letter], incident: str, date: str) -> None:
        self.doc, self.letters = doc, letters
        pdf = doc.pdf
        zips = sorted(x.zip for x in letters if x.zip)
        span = f"ZIP codes {zips[0]} to {zips[-1]}" if zips else "no ZIP codes"
        without = sum(1 for x in letters if not x.zip)
        intro = (f"{len(letters):,} letters for incident {incident}, dated {date}, in mailing order: sorted by "
                 f"ZIP code, then name ({span}{f'; {without:,} without a ZIP code, last' if without else ''}). "
                 "Each letter starts on a new page; the page numbers are those printed at the foot of each page.")
        self.intro_lines = doc.wrap(intro, "", 9.5, doc.text_width)
        self.cw = cw = doc.width("0", "mono", self.SIZE)
        per_line = int(doc.text_width / cw)
        self.num_w = len(str(len(letters)))
        widest = max(len(x.ref) for x in letters)
        self.ref_w = max(9, min(widest, per_line - self.num_w - 10 - 11 - 6))
        group = self.num_w + 2 + 10 + 2 + self.ref_w + 2 + 11
        self.groups = max(1, (per_line + 3) // (group + 3))
        self.col_w = (group + 3) * cw
        room = pdf.page_break_trigger - pdf.t_margin - self.H - 1
        self.top_h = 9 + len(self.intro_lines) * 4.6 + 3
        self.first_rows = max(1, int((room - self.top_h) / self.H))
        self.rows = int(room / self.H)
        first = self.first_rows * self.groups
        self.pages = 1 + math.ceil(max(0, len(letters) - first) / (self.rows * self.groups))

    def render(self, pdf: Any, _outline: Any) -> None:
        doc, start = self.doc, 0
        for page in range(self.pages):
            if page:
                pdf.add_page()  # the next page reserved for the index
            else:
                doc.line("Notices to affected persons: mailing index", 7, "B", 13)
                pdf.y += 2
                for line in self.intro_lines:
                    doc.line(line)
                pdf.y = pdf.t_margin + self.top_h
            rows = self.first_rows if page == 0 else self.rows
            chunk = self.letters[start : start + rows * self.groups]
            top = pdf.y
            for g in range(min(self.groups, math.ceil(len(chunk) / rows))):
                x = pdf.l_margin + g * self.col_w
                head = f"{'No.':>{self.num_w}}  {'ZIP':<10}  {'Reference':<{self.ref_w}}  Pages"
                doc.draw(x, top, self.H, head, "mono", self.SIZE)
                pdf.line(x, top + self.H, x + self.col_w - 3 * self.cw, top + self.H)
                for r, letter in enumerate(chunk[g * rows : (g + 1) * rows]):
                    n = start + g * rows + r + 1
                    ref = letter.ref if len(letter.ref) <= self.ref_w else letter.ref[: self.ref_w - 1] + "…"
                    first, last = letter.pages[0], letter.pages[-1]
                    pages = f"{first}" if first == last else f"{first}-{last}"
                    y = top + self.H + 0.8 + r * self.H
                    doc.draw(x, y, self.H, f"{n:>{self.num_w}}  {letter.zip or '-':<10}  ", "mono", self.SIZE)
                    ref_x = x + (self.num_w + 14) * self.cw
                    doc.draw(ref_x, y, self.H, ref, "mono", self.SIZE)
                    doc.draw(ref_x + (self.ref_w + 2) * self.cw, y, self.H, pages, "mono", self.SIZE)
            start += rows * self.groups


def render_letters(doc: Pdf, data: IncidentData, issued_on: str | None, contact: list[str]) -> None:
    """The mailing index, then one letter per person in mailing order. Raises before drawing on bad input."""
    pdf, t = doc.pdf, doc.t
    incident, agency = t(data.incident_id), t(data.agency)
    recipient, agreement = t(data.recipient), t(data.agreement_id)
    the = the_agency(agency)
    date = issued(issued_on)
    letters = sorted((_prepare(doc, i, n) for i, n in enumerate(data.persons_notices)), key=lambda x: x.key)
    index = _Index(doc, letters, incident, date)
    state: dict[str, Any] = {"letter": None, "start": 0, "done": True}

    def header() -> None:
        letter = state["letter"]
        if letter is not None and not state["done"]:  # a continuation page; a letter's first page has none
            doc.line(f"{letter.name} · reference {letter.ref} · continued", 8, size=8)

    def footer() -> None:
        letter = state["letter"]
        if letter is None:
            doc.footer_line(f"Mailing index · incident {incident} · page {pdf.page} of {index.pages}")
            return
        k = pdf.page - state["start"] + 1
        tail = f"letter page {k} of {k}" if state["done"] else f"letter page {k}, continued on next page"
        doc.footer_line(f"Incident {incident} · reference {letter.ref} · {tail} · page {pdf.page}")

    pdf.header, pdf.footer = header, footer
    pdf.add_page()
    pdf.insert_toc_placeholder(index.render, pages=index.pages, reset_page_indices=False)
    for n, letter in enumerate(letters):
        if n:
            pdf.add_page()
        state.update(letter=letter, start=pdf.page, done=False)
        _letter(doc, letter, agency, the, date, incident, recipient, agreement, contact)
        letter.pages = list(range(state["start"], pdf.page + 1))
        state["done"] = True


def _letter(doc: Pdf, x: _Letter, agency: str, the: str, date: str, incident: str, recipient: str,
            agreement: str, contact: list[str]) -> None:
    pdf = doc.pdf
    doc.line(doc.drawable(agency, "B"), 6, "B", 12)
    doc.line(f"Incident {incident} · Reference {x.ref}", 5, size=9)
    doc.line(date, 5, size=9)
    pdf.y = 44  # the address block, where a window envelope shows it
    for line in (x.name, *x.address):
        for part in doc.wrap(line, "", 11, 105):
            doc.line(part, 5.5, size=11)
    pdf.y = max(pdf.y + 6, 72)
    doc.para(f"Dear {x.name}:", after=1)
    doc.heading("What happened")
    doc.para(
        f"{the} disclosed information about you to {recipient} under agreement {agreement}. A later review "
        f"found that {'this disclosure was' if len(x.items) == 1 else 'these disclosures were'} not permitted "
        "by 26 U.S.C. 6103, the federal law that protects the confidentiality of tax information. We regret "
        "this error."
    )
    doc.heading("What was disclosed")
    for day, to, fields, rid in x.items:
        doc.para(f"On {day}: your {fields}, to {to} (their request reference {rid}).", after=0.5, indent=4,
                 first="•")
    if not x.items:
        doc.para("(Details are available from the contact point below.)")
    pdf.y += 1
    doc.heading("What we are doing")
    doc.para(
        f"We have formally asked {recipient} to stop using this information, to destroy every copy of it, "
        f"and to certify in writing that it has done so. We have recorded this incident under reference "
        f"{incident}."
    )
    doc.heading("Your rights")
    doc.para(
        "Under 26 U.S.C. 7431, a taxpayer may bring a civil action for damages against the United States "
        "when tax information is knowingly or negligently disclosed in violation of 26 U.S.C. 6103. Civil "
        "damages may apply in your case. The law provides for the greater of $1,000 for each unauthorized "
        "disclosure or the actual damages (with punitive damages in some cases), plus costs. An action must "
        "generally be brought within two years after the unauthorized disclosure is discovered. This letter "
        "does not decide whether damages are owed, and it is not legal advice; you may wish to consult an "
        "attorney."
    )
    doc.heading("Questions")
    doc.para("If you have questions about this letter, contact:", after=0.5)
    for line in contact:
        doc.para(line, after=0, indent=4)
    pdf.y += 1
    doc.para(f"Please keep this letter. When you contact us, quote reference {x.ref} and incident {incident}.")
    doc.fits(4.6 * 2 + 1)  # the closing and the signature stay together
    pdf.y += 1
    doc.para("Sincerely,", after=0)
    doc.para(agency)
