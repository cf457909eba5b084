"""A small world for the console's tests: ten persons, ten requests, six of them in review.

Decisions under 6103i2 (the agreement's shared-address threshold is 2):

=====  ========  ======================  ========================================
R1     DISCLOSE                          exact
R2     REVIEW    UNIT_MISMATCH           the unit is on file only
R3     REVIEW    DIRECTIONAL_MISMATCH    "N" on file only
R4     REVIEW    LOW_CONFIDENCE          the date of birth conflicts
R5     DISCLOSE
R6-R8  REVIEW    ADDRESS_SHARED_BY_MANY  three people at one shelter
R9     DISCLOSE
R10    DENY      ADDRESS_PLACEHOLDER
=====  ========  ======================  ========================================

:func:`build` makes a home through the app layer with people who have console
passwords; tests copy it (``copy_home``) so that each starts from the same state.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from apphelp import load_world, make_people, submit_and_process
from disclosure_gate.app import users

PERSONS = """tin,first_name,middle_name,last_name,name_suffix,dob,protected
123456789,MARIA,,GARCIA,,1984-03-07,false
212345678,JOHN,,SMITH,,1970-01-15,false
223456789,ANNA,,JONES,,1982-06-02,false
234567890,PETER,,BROWN,,1975-09-09,false
245678901,LINDA,,WHITE,,1990-12-12,false
256789012,OMAR,,HASSAN,,1988-04-04,false
267890123,GRACE,,LEE,,1979-07-21,false
278901234,PAUL,,KING,,1965-02-28,false
289012345,SARA,,WRIGHT,,1995-05-05,false
291234567,DAVID,,CLARK,,1971-11-11,false
"""
ADDRESSES = """tin,street,city,state,zip,valid_from,valid_to
123456789,123 N MAIN ST APT 4,SPRINGFIELD,IL,62704,2021-05-01,
212345678,10 ELM ST APT 5,SPRINGFIELD,IL,62704,2018-01-01,
223456789,200 N OAK AVE,SPRINGFIELD,IL,62704,2015-01-01,
234567890,31 PINE RD,SPRINGFIELD,IL,62704,2012-01-01,
245678901,44 CEDAR LN,SPRINGFIELD,IL,62704,2016-01-01,
256789012,500 SHELTER WAY,SPRINGFIELD,IL,62704,2020-01-01,
267890123,500 SHELTER WAY,SPRINGFIELD,IL,62704,2020-01-01,
278901234,500 SHELTER WAY,SPRINGFIELD,IL,62704,2020-01-01,
289012345,77 BIRCH CT,SPRINGFIELD,IL,62704,2017-01-01,
291234567,8 MAPLE DR,SPRINGFIELD,IL,62704,2014-01-01,
"""
REQUESTS = """request_id,first_name,middle_name,last_name,tin,dob,address
R1,Maria,,Garcia,123-45-6789,1984-03-07,"123 N Main St Apt 4, Springfield, IL 62704"
R2,John,,Smith,212-34-5678,1970-01-15,"10 Elm Street, Springfield, IL 62704"
R3,Anna,,Jones,223-45-6789,1982-06-02,"200 Oak Ave, Springfield, IL 62704"
R4,Peter,,Brown,234-56-7890,1957-03-03,"31 Pine Rd, Springfield, IL 62704"
R5,Linda,,White,245-67-8901,1990-12-12,"44 Cedar Lane, Springfield, IL 62704"
R6,Omar,,Hassan,256-78-9012,1988-04-04,"500 Shelter Way, Springfield, IL 62704"
R7,Grace,,Lee,267-89-0123,1979-07-21,"500 Shelter Way, Springfield, IL 62704"
R8,Paul,,King,278-90-1234,1965-02-28,"500 Shelter Way, Springfield, IL 62704"
R9,Sara,,Wright,289-01-2345,1995-05-05,"77 Birch Court, Springfield, IL 62704"
R10,David,,Clark,291-23-4567,1971-11-11,"9 Unknown Rd, Springfield, IL 62704"
"""
AGREEMENT = """id: AGR-1
recipient: Example Agency
statutory_authority: "26 U.S.C. 6103(i)(2)"
purposes: [criminal investigation]
disclose: [last_known_address]
valid_from: 2025-01-01
valid_to: 2030-12-31
status: active
shared_address_threshold: 2
"""
AGREEMENT_2 = AGREEMENT.replace("id: AGR-1", "id: AGR-2").replace("Example Agency", "Second Agency")
MANIFEST = """agreement: AGR-1
requesting_official: Director
statutory_authority: "26 U.S.C. § 6103(i)(2)"
purpose: criminal investigation
taxable_periods: ["2024"]
submitted_at: 2026-06-01
"""
REVIEW_ROWS = ("R2", "R3", "R4", "R6", "R7", "R8")
PASSWORD = "correct horse battery staple"
ROLES = {"admin": "admin", "officer": "officer", "rev1": "reviewer", "rev2": "reviewer", "rev3": "reviewer",
         "preparer": "preparer", "approver": "approver", "auditor": "auditor", "overseer": "overseer"}


def write_world(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("persons.csv", PERSONS), ("addresses.csv", ADDRESSES), ("requests.csv", REQUESTS),
                       ("agreement.yaml", AGREEMENT), ("agreement2.yaml", AGREEMENT_2),
                       ("manifest.yaml", MANIFEST)):
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@dataclass
class WebHome:
    home: Path
    data: Path
    batch_id: str
    tokens: dict[str, str] = field(default_factory=dict)
    password: str = PASSWORD


def build(root: Path) -> WebHome:
    """A home with the world loaded, the batch processed, and every person with a token and a password."""
    data = write_world(root / "data")
    home = root / "home"
    people = make_people(home, ROLES)
    try:
        load_world(people, data / "persons.csv", data / "addresses.csv", data / "agreement.yaml")
        res = submit_and_process(people, data / "requests.csv", data / "manifest.yaml")
        for name in ROLES:
            users.set_password(people[name], name, PASSWORD)
        return WebHome(home, data, res.run.batch_id, dict(people.tokens))
    finally:
        people.close()


def copy_home(template: WebHome, root: Path) -> WebHome:
    home = root / "home"
    shutil.copytree(template.home, home)
    data = root / "data"
    shutil.copytree(template.data, data)
    return WebHome(home, data, template.batch_id, dict(template.tokens))
