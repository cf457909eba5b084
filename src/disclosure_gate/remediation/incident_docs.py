"""Incident documents for improper past disclosures: pure rendering from one :class:`IncidentData`.

* :func:`write_report_json`, :func:`write_report_html`: the incident report for the safeguards office
  (IRS Publication 1075 incident fields), aggregates only: no names, no addresses.
* :func:`write_recall_notice` (PDF), :func:`write_recall_csv`: the request to the recipient to destroy the
  data returned for the listed request_ids, with a certification block for the recipient's official.
* :func:`write_letters_pdf`: one letter per affected person (26 U.S.C. 7431 may apply).

Every writer renders in memory, writes a temp file (mode 0600) in the target's folder, then ``os.replace``s
it: a failure leaves the previous file (or none) and no temp file. Exceptions name fields and person_refs,
never names or addresses; nothing is logged. PDFs and the chart need the ``report`` extra (fpdf2,
matplotlib), imported lazily. PDFs use matplotlib's DejaVu fonts (Latin, Greek, Cyrillic, Vietnamese, ...);
for other scripts pass ``fallback_fonts``. A character no font can draw is an error, raised before writing.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import datetime as dt
import hashlib
import html
import importlib
import io
import json
import logging
import os
import tempfile
import unicodedata
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from disclosure_gate.errors import DgateError, InputError

__all__ = ["CONTACT_PLACEHOLDER", "IncidentData", "PersonNotice", "recall_csv_bytes", "write_letters_pdf",
           "write_recall_csv", "write_recall_notice", "write_report_html", "write_report_json"]

REPORT_SCHEMA = "disclosure-gate/incident-report/1"
CONTACT_PLACEHOLDER = ("[CONTACT POINT: office name, mailing address, telephone number and hours. "
                       "To be completed by the agency before issue.]")
_MAX_CHART_BARS = 12
PathArg = str | os.PathLike[str]


@dataclass(frozen=True)
class PersonNotice:
    person_ref: str  # opaque reference (e.g. a commitment prefix) - never a TIN
    name: str  # display name, may contain accents (José Muñoz) or non-Latin letters
    address_lines: tuple[str, ...]  # mailing address of the person (their last known address)
    disclosures: tuple[tuple[str, str, str, str], ...]  # (date ISO, recipient, fields disclosed, request_id)


@dataclass(frozen=True)
class IncidentData:
    incident_id: str
    opened_at: str  # ISO timestamp
    agency: str  # disclosing agency name, e.g. "Internal Revenue Service (synthetic demo)"
    agreement_id: str
    recipient: str
    statutory_authority: str
    occurred_from: str  # first improper disclosure date (ISO)
    occurred_to: str  # last improper disclosure date
    discovered_on: str  # date
    how_discovered: str  # e.g. "Replay audit A-... under policy 6103i2@sha256:..."
    data_elements: tuple[str, ...]  # e.g. ("last known address",)
    records: int  # number of improper disclosure records
    persons: int  # distinct persons affected
    counts_by_reason: tuple[tuple[str, int], ...]  # (reason code, count), sorted desc
    funnel: tuple[tuple[str, int], ...]  # (stage label, count)
    request_ids: tuple[str, ...]  # requester's request_ids whose data must be destroyed
    ledger_checkpoint: str  # the signed checkpoint note text covering the audit
    persons_notices: tuple[PersonNotice, ...]


def _atomic_write(path: PathArg, payload: bytes) -> Path:
    """Write ``payload`` to a private temp file next to ``path``, fsync it, then rename it over ``path``."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def _require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DgateError(f"{module} is not installed; install the 'report' extra: "
                         "pip install 'disclosure-gate[report]'") from exc


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check(data: IncidentData) -> None:
    """Reject malformed input. Messages name fields and positions, never values."""
    if not isinstance(data, IncidentData):
        raise TypeError("expected an IncidentData")
    for name in ("records", "persons"):
        if not _is_count(getattr(data, name)):
            raise InputError("must be a non-negative integer", column=name)
    for name in ("counts_by_reason", "funnel"):
        for i, pair in enumerate(getattr(data, name), 1):
            if len(pair) != 2 or not isinstance(pair[0], str) or not _is_count(pair[1]):
                raise InputError(f"entry {i} must be (label, non-negative integer)", column=name)
    for i, p in enumerate(data.persons_notices):
        if not isinstance(p, PersonNotice) or any(len(x) != 4 for x in p.disclosures):
            raise InputError("must be a PersonNotice with (date, recipient, fields, request_id) disclosures",
                             column=f"persons_notices[{i}]")
    for i, rid in enumerate(data.request_ids, 1):
        if not isinstance(rid, str) or not rid.strip() or any(unicodedata.category(c) == "Cc" for c in rid):
            raise InputError(f"entry {i} is empty or contains a control character", column="request_ids")


def _clean(text: str) -> str:
    """NFC; control characters to spaces; format characters dropped; runs of whitespace collapsed."""
    out = []
    for ch in unicodedata.normalize("NFC", str(text)):
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Zl", "Zp"):
            out.append(" ")
        elif cat != "Cf":
            out.append(ch)
    return " ".join("".join(out).split())


def _human_date(value: str) -> str:
    try:
        d = dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        return value
    return f"{d:%B} {d.day}, {d.year}"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def recall_csv_bytes(data: IncidentData) -> bytes:
    """The exact bytes :func:`write_recall_csv` writes (UTF-8, ``\\n`` line ends, header ``request_id``)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["request_id"])
    writer.writerows([rid] for rid in data.request_ids)
    return buf.getvalue().encode("utf-8")


def _csv_sha256(data: IncidentData) -> str:
    return hashlib.sha256(recall_csv_bytes(data)).hexdigest()


def write_recall_csv(data: IncidentData, path: PathArg) -> Path:
    """One request_id per row under the header ``request_id``, in the order given."""
    _check(data)
    return _atomic_write(path, recall_csv_bytes(data))


def write_report_json(data: IncidentData, path: PathArg) -> Path:
    """The incident report as JSON for the safeguards office: every field, but no names and no addresses."""
    _check(data)
    d = asdict(data)
    keys = ("date", "recipient", "fields", "request_id")
    d.update(
        counts_by_reason=[{"reason": r, "count": n} for r, n in data.counts_by_reason],
        funnel=[{"stage": st, "count": n} for st, n in data.funnel],
        request_ids_count=len(data.request_ids),
        recall_csv_sha256=_csv_sha256(data),
        # Opaque references and their disclosures only: names and addresses are left out.
        persons_notices=[{"person_ref": p.person_ref,
                          "disclosures": [dict(zip(keys, x, strict=True)) for x in p.disclosures]}
                         for p in data.persons_notices],
    )
    text = json.dumps({"schema": REPORT_SCHEMA, **d}, ensure_ascii=False, indent=2) + "\n"
    return _atomic_write(path, text.encode("utf-8"))


def _barh(ax: Any, items: Sequence[tuple[str, int]], title: str, color: str) -> None:
    ax.set_title(title, fontsize=11, loc="left")
    if not items:
        ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    labels = [_clean(label).replace("$", r"\$") for label, _ in items]  # "$" would start mathtext
    labels = [label if len(label) <= 40 else label[:39] + "…" for label in labels]
    values = [n for _, n in items]
    ys = list(range(len(items)))
    ax.barh(ys, values, color=color)
    ax.set_yticks(ys, labels, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, max(max(values) * 1.25, 1))
    ax.tick_params(axis="x", labelsize=8)
    ax.xaxis.set_major_formatter(_require("matplotlib.ticker").StrMethodFormatter("{x:,.0f}"))
    for y, v in zip(ys, values, strict=True):
        ax.annotate(f"{v:,}", (v, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _chart_png(data: IncidentData) -> bytes:
    """Funnel and reasons side by side, as PNG. The object API needs no pyplot and no global backend."""
    figure = _require("matplotlib.figure")
    reasons, cap = list(data.counts_by_reason), _MAX_CHART_BARS - 1
    if len(reasons) > _MAX_CHART_BARS:
        reasons = [*reasons[:cap], (f"other ({len(reasons) - cap} reasons)", sum(n for _, n in reasons[cap:]))]
    rows = max(len(data.funnel), len(reasons), 2)
    fig = figure.Figure(figsize=(11, 1.2 + 0.38 * rows), dpi=100, layout="constrained")
    ax_funnel, ax_reasons = fig.subplots(1, 2)
    _barh(ax_funnel, data.funnel, "Disclosure funnel", "#4c72b0")
    _barh(ax_reasons, reasons, "Improper disclosures by reason", "#c44e52")
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # Labels are reason codes and stage names, never confidential; a missing glyph must not abort a report.
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from")
        fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


_CSS = """body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#222;line-height:1.4;
padding:0 1rem}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;
vertical-align:top}th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
table.fields th{width:16rem}pre{background:#f7f7f7;padding:.8rem;overflow-x:auto;font-size:.85rem}
img{max-width:100%}.note{color:#555;font-size:.9rem}"""


def write_report_html(data: IncidentData, path: PathArg) -> Path:
    """A self-contained HTML incident report (inline CSS, chart as a data URI), with no names or addresses."""
    _check(data)
    e = html.escape
    chart = base64.b64encode(_chart_png(data)).decode("ascii")
    fields = [
        ("Incident ID", data.incident_id), ("Incident opened", data.opened_at),
        ("Disclosing agency", data.agency), ("Recipient of the disclosures", data.recipient),
        ("Agreement", data.agreement_id), ("Statutory authority cited", data.statutory_authority),
        ("Date of occurrence", f"{data.occurred_from} to {data.occurred_to}"),
        ("Date of discovery", data.discovered_on), ("How discovered", data.how_discovered),
        ("Data elements involved", ", ".join(data.data_elements)),
        ("Number of records", f"{data.records:,}"), ("Number of persons affected", f"{data.persons:,}"),
        ("Request IDs to recall", f"{len(data.request_ids):,}"),
        ("Recall list (CSV) SHA-256", _csv_sha256(data)),
    ]
    total = sum(n for _, n in data.counts_by_reason)
    out = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        f"<title>Incident {e(data.incident_id)}: improper disclosure report</title>\n",
        f"<style>{_CSS}</style>\n</head>\n<body>\n<h1>Improper disclosure incident {e(data.incident_id)}</h1>\n",
        '<p class="note">Incident report for the safeguards office; the fields follow the data incident report '
        "of IRS Publication 1075. Names and addresses of affected persons are deliberately left out.</p>\n",
        '<h2>Incident</h2>\n<table class="fields">\n',
        *(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>\n" for k, v in fields),
        "</table>\n<h2>Counts by reason</h2>\n",
    ]
    if data.counts_by_reason:
        out.append("<table>\n<tr><th>Reason</th><th>Records</th><th>Share</th></tr>\n")
        for reason, n in data.counts_by_reason:
            share = f"{100 * n / total:.1f}%" if total else "-"
            out.append(f'<tr><td>{e(reason)}</td><td class="n">{n:,}</td><td class="n">{share}</td></tr>\n')
        out.append(f'<tr><th>Total</th><td class="n">{total:,}</td><td></td></tr>\n</table>\n')
    else:
        out.append("<p>No reasons recorded.</p>\n")
    out.append("<h2>Funnel</h2>\n<table>\n<tr><th>Stage</th><th>Count</th></tr>\n")
    out.extend(f'<tr><td>{e(stage)}</td><td class="n">{n:,}</td></tr>\n' for stage, n in data.funnel)
    out += [
        "</table>\n",
        f'<p><img src="data:image/png;base64,{chart}" alt="Bar charts: disclosure funnel and improper '
        f'disclosures by reason for incident {e(data.incident_id)}"></p>\n',
        '<h2>Ledger checkpoint</h2>\n<p class="note">The signed checkpoint note covering the audit.</p>\n',
        f"<pre>{e(data.ledger_checkpoint)}</pre>\n",
        f"<h2>Request IDs to recall ({len(data.request_ids):,})</h2>\n<details><summary>Show list</summary>\n",
        f"<pre>{e(chr(10).join(data.request_ids))}</pre>\n</details>\n</body>\n</html>\n",
    ]
    return _atomic_write(path, "".join(out).encode("utf-8"))


class _Pdf:
    """An fpdf2 document (US Letter, mm) with DejaVu fonts and a glyph-coverage check. Composition, as fpdf is
    imported lazily and untyped. cell()/multi_cell() cost ~0.2 ms a line, text() ~0.03 ms: lines are wrapped
    here (cached word widths), drawn with text() and paginated by hand (10,000 letters: ~20 s, not ~2 min)."""

    def __init__(self, title: str, author: str, fallback_fonts: Sequence[PathArg] = ()) -> None:
        fpdf = _require("fpdf")
        ttf = Path(_require("matplotlib").get_data_path()) / "fonts" / "ttf"
        self.pdf = pdf = fpdf.FPDF(orientation="P", unit="mm", format="Letter")
        pdf.set_margins(25, 20, 25)
        pdf.set_auto_page_break(True, margin=22)
        extra: set[int] = set()
        families = [f"fallback{i}" for i in range(len(fallback_fonts))]
        try:
            pdf.add_font("dejavu", "", str(ttf / "DejaVuSans.ttf"))
            pdf.add_font("dejavu", "B", str(ttf / "DejaVuSans-Bold.ttf"))
            pdf.add_font("dejavumono", "", str(ttf / "DejaVuSansMono.ttf"))
            for family, font in zip(families, fallback_fonts, strict=True):
                pdf.add_font(family, "", str(font))
                extra |= set(pdf.fonts[family].cmap)
        except BaseException:
            self.close()
            raise
        if families:
            pdf.set_fallback_fonts(families, exact_match=False)
        self.coverage = {"": set(pdf.fonts["dejavu"].cmap) | extra, "B": set(pdf.fonts["dejavuB"].cmap) | extra,
                         "mono": set(pdf.fonts["dejavumono"].cmap) | extra}
        self.has_fallback = bool(families)
        pdf.set_title(_clean(title))
        pdf.set_author(_clean(author))
        pdf.set_creator("disclosure-gate")
        self._wrapped: dict[tuple[str, str, float, float], list[str]] = {}
        self._widths: dict[tuple[str, str, float], float] = {}

    def __enter__(self) -> _Pdf:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the font files fpdf2 keeps open (else: ResourceWarning when the document is collected)."""
        for font in self.pdf.fonts.values():
            with contextlib.suppress(Exception):
                font.close()

    def t(self, text: str, where: str, style: str = "", raw: bool = False) -> str:
        """Clean ``text`` (unless ``raw``) and check every character has a glyph. Errors name ``where`` only."""
        s = text if raw else _clean(text)
        missing = {c for c in s if ord(c) not in self.coverage[style] and not c.isspace()}
        if missing:
            hint = "" if self.has_fallback else "; pass fallback_fonts=[a TTF that covers them]"
            raise InputError(f"{len(missing)} distinct character(s) cannot be drawn with the PDF fonts{hint}",
                             column=where)
        return s

    def font(self, style: str = "", size: float = 9.5) -> None:
        self.pdf.set_font("dejavumono" if style == "mono" else "dejavu", "" if style == "mono" else style, size)

    def width(self, word: str, style: str, size: float) -> float:
        key = (word, style, size)
        w = self._widths.get(key)
        if w is None:
            w = self._widths[key] = self.pdf.get_string_width(word)
        return w

    def wrap(self, text: str, style: str, size: float, width: float) -> list[str]:
        """Greedy word wrap to ``width`` mm; a word wider than a line is broken between characters."""
        key = (text, style, size, width)
        cached = self._wrapped.get(key)
        if cached is not None:
            return cached
        self.font(style, size)
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
                while cut < len(word) and self.pdf.get_string_width(word[: cut + 1]) <= width:
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

    def line(self, text: str, h: float = 4.6, style: str = "", size: float = 9.5, indent: float = 0,
             prefix: str = "") -> None:
        """One line at the cursor (``prefix`` at the margin), on a new page if it would not fit."""
        pdf = self.pdf
        if pdf.y + h > pdf.page_break_trigger:
            pdf.add_page()
        self.font(style, size)
        baseline = pdf.y + h / 2 + size * 0.125
        if prefix:
            pdf.text(pdf.l_margin, baseline, prefix)
        if text:
            pdf.text(pdf.l_margin + indent, baseline, text)
        pdf.y += h

    def para(self, text: str, h: float = 4.6, style: str = "", size: float = 9.5, after: float = 1.5,
             indent: float = 0, first: str = "") -> None:
        """A wrapped paragraph; ``first`` (e.g. a bullet) hangs in the indent of the first line."""
        width = self.pdf.w - self.pdf.l_margin - self.pdf.r_margin - indent
        for i, line in enumerate(self.wrap(text, style, size, width)):
            self.line(line, h, style, size, indent, first if i == 0 else "")
        self.pdf.y += after

    def heading(self, text: str, size: float = 10.5) -> None:
        if self.pdf.y + 16 > self.pdf.page_break_trigger:
            self.pdf.add_page()
        self.pdf.y += 1.5
        self.line(text, 5.5, "B", size)
        self.pdf.y += 0.5

    def footer_line(self, text: str) -> None:
        self.pdf.set_y(-15)
        self.font("", 8)
        self.pdf.set_text_color(90)
        self.pdf.cell(0, 5, text, align="C")
        self.pdf.set_text_color(0)

    def bytes(self) -> bytes:
        # fontTools.subset logs, at INFO, the glyph names used: the character set of names and addresses.
        log = logging.getLogger("fontTools.subset")
        level = log.level
        log.setLevel(max(level, logging.WARNING))
        try:
            return bytes(self.pdf.output())
        finally:
            log.setLevel(level)


def _issued(issued_on: str | None) -> str:
    return _human_date(issued_on or dt.date.today().isoformat())


def _id_rows(doc: _Pdf, ids: Sequence[str], size: float) -> None:
    """Request IDs, numbered, in as many monospaced columns as fit; rows flow across pages."""
    pdf = doc.pdf
    doc.font("mono", size)
    per_line = int((pdf.w - pdf.l_margin - pdf.r_margin) / pdf.get_string_width("0"))
    width = max((len(i) for i in ids), default=1)
    num_w = len(str(len(ids)))
    cols = max(1, (per_line - num_w - 2) // (width + 2))
    for start in range(0, len(ids), cols):
        line = f"{start + 1:>{num_w}}  " + "  ".join(rid.ljust(width) for rid in ids[start : start + cols])
        if cols == 1:  # an ID wider than the line: wrap it rather than cut it
            doc.para(line.rstrip(), size * 0.48, "mono", size, after=0)
        else:
            doc.line(line.rstrip(), size * 0.48, "mono", size)


def write_recall_notice(
    data: IncidentData, path_pdf: PathArg, *, issued_on: str | None = None, contact: str | None = None
) -> Path:
    """The recall notice to the recipient: why, what to destroy (every request_id), and a certification block."""
    _check(data)
    with _Pdf(f"Recall notice - incident {data.incident_id}", data.agency) as doc:
        _render_recall(doc, data, issued_on, contact)
        payload = doc.bytes()
    return _atomic_write(path_pdf, payload)


def _render_recall(doc: _Pdf, data: IncidentData, issued_on: str | None, contact: str | None) -> None:
    pdf, t = doc.pdf, doc.t
    incident, agency = t(data.incident_id, "incident_id"), t(data.agency, "agency")
    recipient, agreement = t(data.recipient, "recipient"), t(data.agreement_id, "agreement_id")
    ids = [t(rid, "request_ids", "mono", raw=True) for rid in data.request_ids]  # exactly as in the CSV
    reasons = [(t(r, "counts_by_reason"), n) for r, n in data.counts_by_reason]
    csv_sha = _csv_sha256(data)
    nb = f"{{nb-{uuid.uuid4().hex[:6]}}}"  # total-pages alias that no request_id contains by chance
    pdf.footer = lambda: doc.footer_line(
        f"Recall notice · incident {incident} · agreement {agreement} · page {pdf.page_no()} of {nb}")
    pdf.alias_nb_pages(nb)
    pdf.add_page()
    doc.para("Notice of improper disclosure: request to recall and destroy return information", 7, "B", 14, 3)
    for label, value in (
        ("To", recipient), ("From", agency), ("Date", _issued(issued_on)), ("Incident", incident),
        ("Agreement", agreement), ("Authority cited", t(data.statutory_authority, "statutory_authority")),
        ("Disclosures made", f"{_human_date(data.occurred_from)} to {_human_date(data.occurred_to)}"),
        ("Data elements", t(", ".join(data.data_elements), "data_elements")),
        ("Records / persons", f"{data.records:,} records about {_plural(data.persons, 'person', 'persons')}"),
        ("Request IDs listed", f"{len(ids):,}"),
    ):
        doc.font("B", 9.5)
        pdf.cell(45, 5, label, new_x="RIGHT", new_y="TOP")
        doc.font("", 9.5)
        pdf.multi_cell(0, 5, value, align="L", new_x="LMARGIN", new_y="NEXT")
    doc.heading("Why")
    doc.para(
        f"{agency} has determined that {_plural(data.records, 'disclosure', 'disclosures')} of return information "
        f"made to {recipient} under agreement {agreement} were not permitted under 26 U.S.C. 6103. This was "
        f"found on {_human_date(data.discovered_on)} by: {t(data.how_discovered, 'how_discovered')}."
    )
    if reasons:
        doc.font("B", 9.5)
        pdf.cell(120, 5.5, "Reason", border="B", new_x="RIGHT", new_y="TOP")
        pdf.cell(0, 5.5, "Records", border="B", align="R", new_x="LMARGIN", new_y="NEXT")
        doc.font("", 9.5)
        for reason, n in reasons:
            pdf.cell(120, 5, reason, new_x="RIGHT", new_y="TOP")
            pdf.cell(0, 5, f"{n:,}", align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    doc.heading("What you must do")
    for i, step in enumerate((
        "Stop at once any inspection, use, copying or reliance on the information returned for the request IDs "
        "listed in this notice, and do not disclose it further.",
        "Find every copy: case files, systems and databases, derived data sets, exports, reports, e-mail, "
        "removable media and backups.",
        "Destroy every copy so that it cannot be read or reconstructed (paper: shred or burn; electronic media: "
        "sanitize, for example under NIST SP 800-88 and IRS Publication 1075).",
        "If any of the information was passed to another person or agency, tell us who received it and when, "
        "and have them destroy it too.",
        "Have the responsible official complete and sign the certification on the last page and return it to "
        "the contact point below. Keep a copy with your disclosure records.",
        f"The same {len(ids):,} request IDs are supplied as a CSV file (one request_id per row) whose SHA-256 "
        f"is {csv_sha}.",
    ), 1):
        doc.para(step, after=1, indent=5, first=f"{i}.")
    doc.heading("Contact point")
    doc.para(t(contact, "contact") if contact else CONTACT_PLACEHOLDER)
    doc.heading(f"Request IDs whose data must be destroyed ({len(ids):,})")
    _id_rows(doc, ids, 8)
    pdf.add_page()
    doc.para("Certification of destruction", 7, "B", 13, 2)
    doc.para(
        f"I certify that {recipient} has destroyed all return information received from {agency} in response to "
        f"the {len(ids):,} request IDs listed in the recall notice for incident {incident} (agreement {agreement}; "
        f"list SHA-256 {csv_sha}), including every copy, extract and derived record and every copy passed to "
        "others. No copy has been kept, and the information cannot be read or reconstructed.", after=6
    )
    doc.font("", 10)
    for label in ("Name of official", "Title", "Agency / office", "Signature", "Date of destruction",
                  "Date signed"):
        pdf.cell(48, 12, f"{label}:", new_x="RIGHT", new_y="TOP")
        pdf.cell(0, 12, "_" * 52, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    doc.para("Return this page, signed, to the contact point named in the notice.", size=9)


def write_letters_pdf(
    data: IncidentData, path: PathArg, *, issued_on: str | None = None, contact: str | None = None,
    fallback_fonts: Sequence[PathArg] = (),
) -> Path:
    """One merged PDF, one letter per affected person, each starting on a new page.

    A letter longer than a page goes on; later pages carry the person's name and reference in a header,
    and the footer marks each page "continued" or "page k of k".
    """
    _check(data)
    if not data.persons_notices:
        raise InputError("no persons to write letters to", column="persons_notices")
    with _Pdf(f"Notices to affected persons - incident {data.incident_id}", data.agency, fallback_fonts) as doc:
        _render_letters(doc, data, issued_on, contact)
        payload = doc.bytes()
    return _atomic_write(path, payload)


def _render_letters(doc: _Pdf, data: IncidentData, issued_on: str | None, contact: str | None) -> None:
    pdf, t = doc.pdf, doc.t
    incident, agency = t(data.incident_id, "incident_id"), t(data.agency, "agency")
    recipient, agreement = t(data.recipient, "recipient"), t(data.agreement_id, "agreement_id")
    agency_b = t(data.agency, "agency", "B")
    contact_text = t(contact, "contact") if contact else CONTACT_PLACEHOLDER
    issued = _issued(issued_on)
    state: dict[str, Any] = {"ref": "", "name": "", "start": 0, "done": True}

    def header() -> None:
        if not state["done"]:  # a continuation page; the first page of a letter has no header
            doc.line(f"{state['name']} · reference {state['ref']} · continued", 8, size=8)

    def footer() -> None:
        k = pdf.page - state["start"] + 1
        tail = f"page {k} of {k}" if state["done"] else f"page {k}, continued on next page"
        doc.footer_line(f"Incident {incident} · reference {state['ref']} · {tail}")

    pdf.header, pdf.footer = header, footer
    for i, notice in enumerate(data.persons_notices):
        ref = t(notice.person_ref, f"persons_notices[{i}].person_ref")
        where = f"persons_notices[{i}] (person_ref {ref})"
        name = t(notice.name, f"{where}.name")
        address = [a for a in (t(line, f"{where}.address_lines") for line in notice.address_lines) if a]
        if not ref or not name or not address:
            raise InputError("person_ref, name and at least one address line are required", column=where)
        items = [(_human_date(t(d, f"{where}.disclosures")), t(to, f"{where}.disclosures"),
                  t(f, f"{where}.disclosures").replace("_", " "), t(rid, f"{where}.disclosures"))
                 for d, to, f, rid in notice.disclosures]
        pdf.add_page()
        state.update(ref=ref, name=name, start=pdf.page, done=False)
        doc.line(agency_b, 6, "B", 12)
        doc.line(f"Incident {incident} · Reference {ref}", 5, size=9)
        doc.line(issued, 5, size=9)
        pdf.y = 44  # the address block, where a window envelope shows it
        for line in (name, *address):
            for part in doc.wrap(line, "", 11, 105):
                doc.line(part, 5.5, size=11)
        pdf.y = max(pdf.y + 8, 80)
        doc.para(f"Dear {name}:", after=1)
        doc.heading("What happened")
        doc.para(
            f"{agency} disclosed information about you to {recipient} under agreement {agreement}. A later review "
            f"found that {'this disclosure was' if len(items) == 1 else 'these disclosures were'} not permitted "
            "by 26 U.S.C. 6103, the federal law that protects the confidentiality of tax information. We regret "
            "this error."
        )
        doc.heading("What was disclosed")
        for date, to, fields, rid in items:
            doc.para(f"On {date}: your {fields}, to {to} (their request reference {rid}).", after=0.5,
                     indent=4, first="•")
        if not items:
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
        doc.para(contact_text)
        doc.para(f"Please keep this letter. When you contact us, quote reference {ref} and incident {incident}.")
        pdf.y += 1
        doc.para("Sincerely,", after=0)
        doc.para(agency)
        state["done"] = True
