"""Incident documents for improper past disclosures: pure rendering from one :class:`IncidentData`.

* :func:`write_report_json`, :func:`write_report_html`: the incident report for the safeguards office
  (IRS Publication 1075 incident fields) with the delivered packages concerned; aggregates only: no names,
  no addresses.
* :func:`write_recall_notice` (PDF), :func:`write_recall_csv`: the request to the recipient to destroy the
  data returned for the listed request_ids (and the packages that carried it), with the signed ledger
  checkpoint and a certification block for the recipient's official.
* :func:`write_letters_pdf`: a mailing index, then one letter per affected person (26 U.S.C. 7431 may apply),
  sorted by ZIP code then name, each starting on its own page (see :mod:`.letters`).

Letters and the recall notice name the agency (``The Internal Revenue Service has determined ...``) and its
contact point (``IncidentData.contact``: office, mailing address, telephone, hours); without a contact point
they are refused (:class:`InputError`, column ``contact``) before anything is written.

Every script found in names can be drawn. Choice: bundle fonts, transliterate the rest. DejaVu (from
matplotlib) draws Latin, Greek, Cyrillic, Hebrew; bundled Noto Sans script fonts (17 scripts: Arabic,
Devanagari and the other Indic scripts, Thai, Lao, Khmer, Myanmar, Ethiopic; OFL, 2.6 MB) and Droid Sans
Fallback (Chinese, Japanese, Korean; Apache-2.0, 3.5 MB; Noto Sans CJK would be 16-20 MB) under
``disclosure_gate/data/fonts`` draw the others, through fpdf2's ``set_fallback_fonts``, with HarfBuzz
shaping (``uharfbuzz``) for joining, conjuncts and right-to-left order. Any character still without a
glyph is transliterated with ``anyascii`` (``王`` -> ``Wang`` if no font had it). Names appear only in
letters; ``recall.csv`` and ``report.json`` keep every request id exactly as given. Format characters
(zero-width, bidi embeddings/overrides/isolates) are removed before drawing, so an override cannot reorder
what is printed; control characters in request ids (a tab) are printed escaped (``\\t``) and the id marked.
Considered and not taken: fonts from PyPI packages (one third-party package per script, or a CJK bundle of
tens of MB) and transliterating every non-Latin name (a letter should greet a person as their name is
written). The fonts are vendored unmodified from Debian's fonts-noto-core and fonts-droid-fallback, with
their licences. Details: :mod:`.pdf`.

Every writer renders in memory, then writes with :func:`disclosure_gate.store.files.atomic_write` (temp file
0600, fsync, rename): a failure leaves the previous file (or none) and no temp file. ``recall.csv`` is written
with the project's CSV writer, which neutralises cells a spreadsheet would run as formulas. Exceptions name
fields and person_refs, never names or addresses; nothing is logged. PDFs and the chart need the ``report``
extra (fpdf2, uharfbuzz, anyascii, matplotlib), imported lazily.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from disclosure_gate.errors import InputError
from disclosure_gate.remediation.letters import format_zip, natural_name, render_letters, the_agency
from disclosure_gate.remediation.pdf import Pdf, clean, human_date, issued, plural, require, show_id, visible
from disclosure_gate.store.files import FORMULA_START, atomic_write, csv_bytes

__all__ = ["IncidentData", "PersonNotice", "format_zip", "natural_name", "recall_csv_bytes", "write_letters_pdf",
           "write_recall_csv", "write_recall_notice", "write_report_html", "write_report_json"]

REPORT_SCHEMA = "disclosure-gate/incident-report/1"
_MAX_CHART_BARS = 12
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
PathArg = str | os.PathLike[str]


@dataclass(frozen=True)
class PersonNotice:
    person_ref: str  # opaque reference (e.g. a commitment prefix) - never a TIN
    name: str  # display name as in the records (MARIA DE LA CRUZ, José Muñoz, 王小明): printed in natural case
    address_lines: tuple[str, ...]  # mailing address (last known); the last line ends with the ZIP or ZIP+4
    disclosures: tuple[tuple[str, str, str, str], ...]  # (date ISO, recipient, fields disclosed, request_id)


@dataclass(frozen=True)
class IncidentData:
    incident_id: str
    opened_at: str  # ISO timestamp
    agency: str  # disclosing agency's name, e.g. "Internal Revenue Service"; sentences read "The ... has"
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
    ledger_checkpoint: str  # the signed checkpoint note text covering the audit (several lines)
    persons_notices: tuple[PersonNotice, ...]
    # The contact point printed on letters and the recall notice: office, mailing address, telephone, hours
    # (one per line). Required by write_letters_pdf and write_recall_notice.
    contact: str | None = None
    # Delivered packages that carried the improper disclosures: (package_id, batch_id, delivered_at ISO,
    # records in it), named in the report and the recall notice.
    packages: tuple[tuple[str, str, str, int], ...] = ()
    # Every batch concerned, also those whose packages are not known (an imported disclosure log); when empty,
    # the batches of ``packages`` are named.
    batches: tuple[str, ...] = ()


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
    for i, pkg in enumerate(data.packages, 1):
        if len(pkg) != 4 or not all(isinstance(x, str) for x in pkg[:3]) or not _is_count(pkg[3]):
            raise InputError(f"entry {i} must be (package_id, batch_id, delivered_at, records)", column="packages")
    if not all(isinstance(b, str) for b in data.batches):
        raise InputError("must be batch ids (text)", column="batches")
    for i, p in enumerate(data.persons_notices):
        if not isinstance(p, PersonNotice) or any(len(x) != 4 for x in p.disclosures):
            raise InputError("must be a PersonNotice with (date, recipient, fields, request_id) disclosures",
                             column=f"persons_notices[{i}]")
    for i, rid in enumerate(data.request_ids, 1):
        # A tab or another control character is printed escaped; a line break would split the CSV row.
        if not isinstance(rid, str) or not rid.strip() or any(c in _LINE_BREAKS for c in rid):
            raise InputError(f"entry {i} is empty or contains a line break", column="request_ids")
    if data.contact is not None and not isinstance(data.contact, str):
        raise InputError("must be text or None", column="contact")


def _batches(data: IncidentData) -> list[str]:
    """The batches concerned: as given, else those of the packages (first delivery first)."""
    return list(data.batches) or list(dict.fromkeys(b for _, b, _, _ in data.packages))


def _contact(data: IncidentData) -> list[str]:
    """The contact point's lines, cleaned; refused when missing or blank (before anything is drawn)."""
    lines = [c for c in (clean(line) for line in (data.contact or "").splitlines()) if c]
    if not lines:
        raise InputError("a contact point is required on letters and the recall notice: the office, mailing "
                         "address, telephone number and hours that recipients and persons can reach",
                         column="contact")
    return lines


def recall_csv_bytes(data: IncidentData) -> bytes:
    """The exact bytes :func:`write_recall_csv` writes: UTF-8, ``\\n`` line ends, header ``request_id``, cells
    that a spreadsheet would read as a formula (``= + - @``, tab, CR, LF first) prefixed with ``'``."""
    return csv_bytes(["request_id"], ([rid] for rid in data.request_ids))


def _csv_sha256(data: IncidentData) -> str:
    return hashlib.sha256(recall_csv_bytes(data)).hexdigest()


def write_recall_csv(data: IncidentData, path: PathArg) -> Path:
    """One request_id per row under the header ``request_id``, in the order given."""
    _check(data)
    return atomic_write(Path(path), recall_csv_bytes(data))


def write_report_json(data: IncidentData, path: PathArg) -> Path:
    """The incident report as JSON for the safeguards office: every field, but no names and no addresses."""
    _check(data)
    d = asdict(data)
    keys = ("date", "recipient", "fields", "request_id")
    d.update(
        counts_by_reason=[{"reason": r, "count": n} for r, n in data.counts_by_reason],
        funnel=[{"stage": st, "count": n} for st, n in data.funnel],
        packages=[{"package_id": p, "batch_id": b, "delivered_at": at, "records": n}
                  for p, b, at, n in data.packages],
        request_ids_count=len(data.request_ids),
        recall_csv_sha256=_csv_sha256(data),
        # Opaque references and their disclosures only: names and addresses are left out.
        persons_notices=[{"person_ref": p.person_ref,
                          "disclosures": [dict(zip(keys, x, strict=True)) for x in p.disclosures]}
                         for p in data.persons_notices],
    )
    text = json.dumps({"schema": REPORT_SCHEMA, **d}, ensure_ascii=False, indent=2) + "\n"
    return atomic_write(Path(path), text.encode("utf-8"))


def _barh(ax: Any, items: Sequence[tuple[str, int]], title: str, color: str) -> None:
    ax.set_title(title, fontsize=11, loc="left")
    if not items:
        ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    labels = [clean(label).replace("$", r"\$") for label, _ in items]  # "$" would start mathtext
    labels = [label if len(label) <= 40 else label[:39] + "…" for label in labels]
    values = [n for _, n in items]
    ys = list(range(len(items)))
    ax.barh(ys, values, color=color)
    ax.set_yticks(ys, labels, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, max(max(values) * 1.25, 1))
    ax.tick_params(axis="x", labelsize=8)
    ax.xaxis.set_major_formatter(require("matplotlib.ticker").StrMethodFormatter("{x:,.0f}"))
    for y, v in zip(ys, values, strict=True):
        ax.annotate(f"{v:,}", (v, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _chart_png(data: IncidentData) -> bytes:
    """Funnel and reasons side by side, as PNG. The object API needs no pyplot and no global backend."""
    figure = require("matplotlib.figure")
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
vertical-align:top;overflow-wrap:anywhere}th{background:#f3f3f3}td.n{text-align:right;
font-variant-numeric:tabular-nums}table.fields th{width:16rem}pre{background:#f7f7f7;padding:.8rem;
font-size:.85rem;white-space:pre-wrap;overflow-wrap:anywhere}img{max-width:100%}.note{color:#555;
font-size:.9rem}"""


def _e(value: object) -> str:
    """HTML-escaped, without format characters: a bidi override in a value cannot reorder the page."""
    return html.escape(visible(str(value)))


def write_report_html(data: IncidentData, path: PathArg) -> Path:
    """A self-contained HTML incident report (inline CSS, chart as a data URI), with no names or addresses."""
    _check(data)
    e = _e
    chart = base64.b64encode(_chart_png(data)).decode("ascii")
    fields = [
        ("Incident ID", data.incident_id), ("Incident opened", data.opened_at),
        ("Disclosing agency", data.agency), ("Recipient of the disclosures", data.recipient),
        ("Agreement", data.agreement_id), ("Statutory authority cited", data.statutory_authority),
        ("Date of occurrence", f"{data.occurred_from} to {data.occurred_to}"),
        ("Date of discovery", data.discovered_on), ("How discovered", data.how_discovered),
        ("Data elements involved", ", ".join(data.data_elements)),
        ("Number of records", f"{data.records:,}"), ("Number of persons affected", f"{data.persons:,}"),
        ("Batches concerned", ", ".join(_batches(data)) or "none recorded"),
        ("Delivered packages concerned", f"{len(data.packages):,}"),
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
        "</table>\n<h2>Delivered packages concerned</h2>\n",
    ]
    if data.packages:
        out.append("<table>\n<tr><th>Package</th><th>Batch</th><th>Delivered at</th><th>Records</th></tr>\n")
        out.extend(f'<tr><td>{e(p)}</td><td>{e(b)}</td><td>{e(at)}</td><td class="n">{n:,}</td></tr>\n'
                   for p, b, at, n in data.packages)
        out.append("</table>\n")
    else:
        out.append("<p>No delivered package recorded.</p>\n")
    out.append("<h2>Counts by reason</h2>\n")
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
        f"<pre>{e(chr(10).join(show_id(r) for r in data.request_ids))}</pre>\n</details>\n</body>\n</html>\n",
    ]
    return atomic_write(Path(path), "".join(out).encode("utf-8"))


def _id_rows(doc: Pdf, ids: Sequence[str], size: float = 8) -> None:
    """Request IDs, numbered, in as many monospaced columns as fit, each drawn on its own; rows flow across
    pages. An ID wider than the line is wrapped between characters, never cut or run off the page."""
    pdf, h = doc.pdf, size * 0.48
    cw = doc.width("0", "mono", size)
    num_w = len(str(len(ids)))
    indent = (num_w + 2) * cw
    width = max((len(i) for i in ids), default=1)
    cols = max(1, int((doc.text_width - indent + 2 * cw) / ((width + 2) * cw)))
    for start in range(0, len(ids), cols):
        number = f"{start + 1:>{num_w}}"
        if cols == 1:
            for k, part in enumerate(doc.wrap(ids[start], "mono", size, doc.text_width - indent)):
                doc.line(part, h, "mono", size, indent, number if k == 0 else "")
            continue
        doc.fits(h)
        doc.draw(pdf.l_margin, pdf.y, h, number, "mono", size)
        for j, rid in enumerate(ids[start : start + cols]):
            doc.draw(pdf.l_margin + indent + j * (width + 2) * cw, pdf.y, h, rid, "mono", size)
        pdf.y += h


def write_recall_notice(data: IncidentData, path_pdf: PathArg, *, issued_on: str | None = None,
                        fallback_fonts: Sequence[PathArg] = ()) -> Path:
    """The recall notice to the recipient: why, the packages and request_ids whose data must be destroyed, the
    signed ledger checkpoint, the contact point and a certification block. Needs ``data.contact``."""
    _check(data)
    contact = _contact(data)
    with Pdf(f"Recall notice - incident {data.incident_id}", data.agency, fallback_fonts) as doc:
        _render_recall(doc, data, issued_on, contact)
        payload = doc.bytes()
    return atomic_write(Path(path_pdf), payload)


def _render_recall(doc: Pdf, data: IncidentData, issued_on: str | None, contact: list[str]) -> None:
    pdf, t = doc.pdf, doc.t
    incident, agency = t(data.incident_id), t(data.agency)
    recipient, agreement = t(data.recipient), t(data.agreement_id)
    shown = [doc.drawable(show_id(rid), "mono") for rid in data.request_ids]
    ids = [s if s == rid else s + "*" for s, rid in zip(shown, data.request_ids, strict=True)]
    csv_sha = _csv_sha256(data)
    nb = f"{{nb-{uuid.uuid4().hex[:6]}}}"  # total-pages alias that no request_id contains by chance
    pdf.footer = lambda: doc.footer_line(
        f"Recall notice · incident {incident} · agreement {agreement} · page {pdf.page_no()} of {nb}")
    pdf.alias_nb_pages(nb)
    pdf.add_page()
    doc.para("Notice of improper disclosure: request to recall and destroy return information", 7, "B", 14, 3)
    doc.table([
        ("To", recipient), ("From", agency), ("Date", issued(issued_on)), ("Incident", incident),
        ("Agreement", agreement), ("Authority cited", t(data.statutory_authority)),
        ("Disclosures made", f"{human_date(data.occurred_from)} to {human_date(data.occurred_to)}"),
        ("Data elements", t(", ".join(data.data_elements))),
        ("Records / persons", f"{data.records:,} records about {plural(data.persons, 'person', 'persons')}"),
        ("Batches", t(", ".join(_batches(data))) or "none recorded"),
        ("Deliveries", plural(len(data.packages), "package", "packages")),
        ("Request IDs listed", f"{len(ids):,}"),
    ], (45, 0), styles=("B", ""), size=9.5, h=5, pad=0)
    doc.heading("Why")
    doc.para(
        f"{the_agency(agency)} has determined that {plural(data.records, 'disclosure', 'disclosures')} of return "
        f"information made to {recipient} under agreement {agreement} were not permitted under 26 U.S.C. 6103. "
        f"This was found on {human_date(data.discovered_on)} by: {t(data.how_discovered)}."
    )
    if data.counts_by_reason:
        doc.table([(t(r), f"{n:,}") for r, n in data.counts_by_reason], (120, 0), header=("Reason", "Records"),
                  right=(1,), size=9.5, h=4.8)
    doc.heading("Deliveries concerned")
    if data.packages:
        doc.table([(t(p), t(b), t(at), f"{n:,}") for p, b, at, n in data.packages], (55, 55, 35, 0),
                  header=("Package", "Batch", "Delivered", "Records"), right=(3,), styles=("mono", "mono"),
                  size=8.5)
    else:
        doc.para("No delivered package is recorded for these disclosures; the request IDs below identify them.")
    neutralised = any(rid.startswith(FORMULA_START) for rid in data.request_ids)
    doc.heading("What you must do")
    for i, step in enumerate((
        "Stop at once any inspection, use, copying or reliance on the information returned in the packages and "
        "for the request IDs listed in this notice, and do not disclose it further.",
        "Find every copy: case files, systems and databases, derived data sets, exports, reports, e-mail, "
        "removable media and backups.",
        "Destroy every copy so that it cannot be read or reconstructed (paper: shred or burn; electronic media: "
        "sanitize, for example under NIST SP 800-88 and IRS Publication 1075).",
        "If any of the information was passed to another person or agency, tell us who received it and when, "
        "and have them destroy it too.",
        "Have the responsible official complete and sign the certification on the last page and return it to "
        "the contact point below. Keep a copy with your disclosure records.",
        f"The same {len(ids):,} request IDs are supplied as a CSV file (one request_id per row) whose SHA-256 "
        f"is {csv_sha}."
        + (" In it, IDs that begin with =, +, -, @ or a tab carry a leading apostrophe (') so that a "
           "spreadsheet does not run them as formulas: remove it when matching." if neutralised else ""),
    ), 1):
        doc.para(step, after=1, indent=5, first=f"{i}.")
    doc.heading("Contact point")
    for line in contact:
        doc.para(doc.drawable(line), after=0)
    pdf.y += 1.5
    doc.heading("Ledger checkpoint")
    doc.para(f"The signed checkpoint of the disclosure ledger covering the audit that found these disclosures; "
             f"{the_agency(agency, start=False)} can prove from it that this record has not been altered.")
    doc.boxed([doc.drawable(clean(line), "mono") for line in data.ledger_checkpoint.splitlines()])
    doc.heading(f"Request IDs whose data must be destroyed ({len(ids):,})")
    _id_rows(doc, ids)
    if any(s != rid for s, rid in zip(shown, data.request_ids, strict=True)):
        doc.para("* Shown with invisible characters removed, control characters escaped (\\t is a tab) or "
                 "characters transliterated; the CSV file holds the exact request_id.", size=8)
    pdf.add_page()
    doc.para("Certification of destruction", 7, "B", 13, 2)
    doc.para(
        f"I certify that {recipient} has destroyed all return information received from "
        f"{the_agency(agency, start=False)} in response to the {len(ids):,} request IDs listed in the recall "
        f"notice for incident {incident} (agreement {agreement}; list SHA-256 {csv_sha}), including every copy, "
        "extract and derived record and every copy passed to others. No copy has been kept, and the "
        "information cannot be read or reconstructed.", after=6
    )
    for label in ("Name of official", "Title", "Agency / office", "Signature", "Date of destruction",
                  "Date signed"):
        doc.fits(12)
        doc.draw(pdf.l_margin, pdf.y, 12, f"{label}:", size=10)
        doc.draw(pdf.l_margin + 48, pdf.y, 12, "_" * 52, size=10)
        pdf.y += 12
    pdf.y += 6
    doc.para("Return this page, signed, to the contact point named in the notice.", size=9)


def write_letters_pdf(data: IncidentData, path: PathArg, *, issued_on: str | None = None,
                      fallback_fonts: Sequence[PathArg] = ()) -> Path:
    """One merged PDF: a mailing index, then one letter per affected person, sorted by ZIP code then name.

    Each letter starts on a new page; a letter longer than a page goes on, later pages carry the person's
    name and reference in a header, and the footer marks each page "continued" or "page k of k". Needs
    ``data.contact``.
    """
    _check(data)
    contact = _contact(data)
    if not data.persons_notices:
        raise InputError("no persons to write letters to", column="persons_notices")
    with Pdf(f"Notices to affected persons - incident {data.incident_id}", data.agency, fallback_fonts) as doc:
        render_letters(doc, data, issued_on, contact)
        payload = doc.bytes()
    return atomic_write(Path(path), payload)
