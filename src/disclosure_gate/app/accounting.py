"""The accounting owed to individuals and the annual report (26 U.S.C. 6103(p)(3))."""

from __future__ import annotations

from disclosure_gate.app.session import Session
from disclosure_gate.errors import UsageError
from disclosure_gate.ledger import store as ledger
from disclosure_gate.remediation import accounting
from disclosure_gate.remediation.accounting import AnnualLine, DisclosureRecord
from disclosure_gate.secret import Secret


def person(s: Session, tin: Secret[str]) -> list[DisclosureRecord]:
    """Every disclosure about one person, with proofs. A confidential look-up: recorded in the ledger."""
    s.authorize("accounting.person")
    digits = accounting.normalise_tin(s.engine, tin)
    subject = ledger.commitment(s.keys.commitment_key, digits.reveal())
    with s.engine.transaction():
        s.event("person_looked_up", {"subject": subject, "purpose": "accounting of disclosures"})
    highest = accounting.highest_index(s.engine, digits)
    cp = ledger.latest_checkpoint(s.engine)
    if highest is not None and (cp is None or cp.size <= highest):
        cp = ledger.make_checkpoint(s.engine, s.keys)
    return accounting.person_accounting(s.engine, s.keys, digits, cp)


def report(s: Session, year: int) -> list[AnnualLine]:
    s.authorize("accounting.report")
    if not 1900 <= year <= 9999:
        raise UsageError("--year is between 1900 and 9999")
    return accounting.annual_report(s.engine, year)
