"""Render time of the incident letters (prints figures; no assertions).

    .venv/bin/python -m benchmarks.incident_docs [--letters 10000] [--ids 50000]

Synthetic persons with names in several scripts (mostly upper-case Latin, as records hold them, and some
Chinese, Arabic, Devanagari, Cyrillic, Greek), ZIP+4 codes in random order, one to three disclosures each.
Prints the time and size of letters.pdf (mailing index + one letter per person) and of recall.pdf.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from disclosure_gate.remediation.incident_docs import (
    IncidentData,
    PersonNotice,
    write_letters_pdf,
    write_recall_notice,
)

_NAMES = ["MARIA DE LA CRUZ", "SEAN O'BRIEN", "RONALD MCDONALD", "JOSÉ MUÑOZ", "ANNE-MARIE VAN DER BERG",
          "JEAN-LUC D'ARCY", "MARY MACDONALD", "JOHN SMITH JR", "DANG THI HOA", "王小明", "محمد علي",
          "नरेंद्र कुमार", "АННА ПЕТРОВА", "ΟΔΥΣΣΕΑΣ ΕΛΥΤΗΣ", "LINDA NGUYEN", "ROBERT JOHNSON III"]


def make(letters: int, ids: int, seed: int = 7) -> IncidentData:
    rnd = random.Random(seed)
    persons = []
    for i in range(letters):
        zip9 = f"{rnd.randrange(1000, 99999):05d}{rnd.randrange(10000):04d}"
        disclosures = tuple(("2025-08-07", "U.S. Immigration and Customs Enforcement", "last_known_address",
                             f"REQ-{i:07d}-{j}") for j in range(rnd.randint(1, 3)))
        persons.append(PersonNotice(f"{rnd.getrandbits(64):016x}", f"{_NAMES[i % len(_NAMES)]} {i}",
                                    (f"{rnd.randrange(1, 9999)} MAIN ST APT {i % 40}", f"SPRINGFIELD, IL {zip9}"),
                                    disclosures))
    return IncidentData(
        incident_id="I0123456789a", opened_at="2026-03-01T10:00:00+00:00", agency="Internal Revenue Service",
        agreement_id="AGR-ICE-2025-01", recipient="U.S. Immigration and Customs Enforcement",
        statutory_authority="26 U.S.C. 6103(i)(2)", occurred_from="2025-08-07", occurred_to="2025-08-09",
        discovered_on="2026-02-20", how_discovered="Replay audit A-42 under policy 6103i2@sha256:ab12",
        data_elements=("last known address",), records=ids, persons=letters,
        counts_by_reason=(("ADDRESS_ZIP_ONLY", ids),), funnel=(("disclosed", ids),),
        request_ids=tuple(f"REQ-{i:07d}" for i in range(ids)),
        ledger_checkpoint="dgate.example/ledger\n4711\nq2x9rE0=\n\n— dgate-key " + "Zm9vYmFy" * 12,
        persons_notices=tuple(persons),
        contact="Disclosure Office, Internal Revenue Service\n1111 Constitution Ave NW, Washington, DC 20224\n"
                "(800) 555-0100, Monday to Friday, 8 a.m. to 5 p.m.",
        packages=(("PKG-2025-0001", "B-2025-0807", "2025-08-07T10:00:00+00:00", ids),),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=10_000)
    parser.add_argument("--ids", type=int, default=50_000)
    args = parser.parse_args()
    data = make(args.letters, args.ids)
    with tempfile.TemporaryDirectory() as tmp:
        for label, write, name in (("letters", write_letters_pdf, "letters.pdf"),
                                   ("recall notice", write_recall_notice, "recall.pdf")):
            start, cpu = time.perf_counter(), time.process_time()
            out = write(data, Path(tmp) / name, issued_on="2026-03-01")
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            count = f"{args.letters:,} letters" if write is write_letters_pdf else f"{args.ids:,} request ids"
            print(f"{label:14} {count:>18}: {elapsed:6.1f} s wall, {cpu:6.1f} s CPU, "
                  f"{out.stat().st_size / 1e6:6.1f} MB")


if __name__ == "__main__":
    main()
