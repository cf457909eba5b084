"""What the ledger proves about stored state: a direct SQL edit of anything that matters to the law fails
``dgate ledger verify`` (exit 7), naming the object (docs/ledger.md, "What a green verify proves").

One populated home is built once on the application layer (people, a batch processed under a weak policy
with review resolutions, a delivered package, a replay audit, an open incident, a suspended agreement, a
setting); every test edits a copy of it with DuckDB and runs the real CLI on the copy.

``build_world`` is also used by test_crash.py and test_hostile.py.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest

from apphelp import People, make_people, operator
from conftest import run_cli
from disclosure_gate.app import agreements, audits, incidents, policies, records, releases, requests, review, settings
from disclosure_gate.pipeline import policy

MANIFEST = """agreement: AGR-1
requesting_official: Director
statutory_authority: "26 U.S.C. 6103(i)(2)"
purpose: criminal investigation
taxable_periods: ["2024"]
submitted_at: 2026-06-01
"""

AGREEMENT = """id: AGR-1
recipient: Example Agency
statutory_authority: "26 U.S.C. 6103(i)(2)"
purposes: [criminal investigation]
disclose: [last_known_address]
valid_from: 2025-01-01
valid_to: 2030-12-31
status: active
policy: weak-v1
"""

PEOPLE = {"officer": "officer", "auditor": "auditor", "rev1": "reviewer", "rev2": "reviewer", "alice": "preparer",
          "bob": "approver", "olga": "overseer"}


def weak_policy_text() -> str:
    """6103i2 without the address-corroboration requirement: the 2025 mistake as a policy version
    (copied from test_release_e2e.py)."""
    text = policy.builtin_text("6103i2")
    text = re.sub(r'@id\("ADDRESS_NOT_ON_FILE"\)\nforbid \(principal, action, resource\)\nwhen \{.*?\};\n', "",
                  text, flags=re.S)
    permit = text.index('@id("LAWFUL_DISCLOSURE")')
    text = text[:permit] + text[permit:].replace("  context.address_on_file &&\n", "")
    assert "ADDRESS_NOT_ON_FILE" not in text and "address_on_file" not in text[permit:]
    return text


@dataclass(frozen=True)
class Req:
    """One request row for person number ``person`` (1-based). ``on_file``: ask for the address on file
    (corroborated) or for another one (not on file: DISCLOSE only under the weak policy)."""

    request_id: str
    person: int
    on_file: bool = True
    first_name: str | None = None


def tin_of(n: int) -> str:
    return f"1234{n:05d}"


FIRST = ["ALICE", "ROBERT", "CAROL", "DAVID", "ERIN", "FRANK", "GRACE", "HENRY", "IRENE", "JAMES", "KAREN", "LARRY"]
LAST = ["SMITH", "JONES", "WHITE", "BROWN", "TAYLOR", "MILLER", "WILSON", "MOORE", "CLARK", "LEWIS", "HALL", "YOUNG"]
STREETS = ["OAK ST", "ELM ST", "PINE RD", "LAKE DR", "HILL AVE", "BIRCH LN", "CEDAR CT", "MAPLE WAY", "ASH PL",
           "WALNUT ST", "CHERRY ST", "SPRUCE AVE"]


def csv_field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n\r') else value


def request_text(rows: Sequence[Req]) -> str:
    """A request file (free-text addresses) for these rows."""
    reqs = ["request_id,first_name,middle_name,last_name,tin,dob,address"]
    for r in rows:
        i = r.person
        street = f"{i} {STREETS[i - 1]}" if r.on_file else f"{900 + i} {STREETS[i - 1]}"
        first = r.first_name if r.first_name is not None else FIRST[i - 1].title()
        reqs.append(",".join(csv_field(v) for v in (r.request_id, first, "", LAST[i - 1].title(), tin_of(i), "",
                                                     f"{street}, Springfield, IL 62704")))
    return "\n".join(reqs) + "\n"


def write_world(root: Path, rows: Sequence[Req], agreement: str = AGREEMENT) -> dict[str, Path]:
    """Persons, addresses, agreement (weak policy), weak policy, manifest and the request file."""
    root.mkdir(parents=True, exist_ok=True)
    persons = ["tin,first_name,middle_name,last_name,name_suffix,dob,protected"]
    addresses = ["tin,street,city,state,zip,valid_from,valid_to"]
    for i in range(1, len(FIRST) + 1):
        persons.append(f"{tin_of(i)},{FIRST[i - 1]},,{LAST[i - 1]},,1980-01-{i:02d},false")
        addresses.append(f"{tin_of(i)},{i} {STREETS[i - 1]},SPRINGFIELD,IL,62704,2010-01-01,")
    paths = {"persons": root / "persons.csv", "addresses": root / "addresses.csv", "agreement": root / "agreement.yaml",
             "policy": root / "weak.cedar", "manifest": root / "manifest.yaml", "requests": root / "requests.csv"}
    paths["persons"].write_text("\n".join(persons) + "\n")
    paths["addresses"].write_text("\n".join(addresses) + "\n")
    paths["agreement"].write_text(agreement)
    paths["policy"].write_text(weak_policy_text())
    paths["manifest"].write_text(MANIFEST)
    paths["requests"].write_text(request_text(rows), encoding="utf-8")
    return paths


#: The default batch: two lawful rows, one row whose address is not on file (DISCLOSE under the weak policy,
#: unlawful under 6103i2: the incident's finding), and a mixed-script row (REVIEW, then resolved DISCLOSE by two
#: reviewers) and another one left in the queue.
DEFAULT_ROWS = (Req("R1", 1), Req("R2", 2, on_file=False), Req("R3", 3, first_name="Cаrol"), Req("R4", 4),
                Req("R5", 5, first_name="Еrin"))


@dataclass
class World:
    root: Path
    home: Path
    paths: dict[str, Path]
    tokens: dict[str, str]
    batch: str = ""
    package: str = ""
    delivered: Path | None = None
    audit: str = ""
    incident: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def cli(self, *args: Any, who: str | None = None, home: Path | None = None, **kw: Any) -> Any:
        if who is None:
            return run_cli(*args, home=home or self.home, **kw)
        return run_cli(*args, "--as", who, home=home or self.home, token=self.tokens[who], **kw)


def build_world(root: Path, rows: Sequence[Req] = DEFAULT_ROWS, *, resolve: Sequence[str] = ("R3",),
                deliver: bool = True, approve: bool = True, audit: bool = True, incident: bool = True,
                suspend: bool = True, setting: bool = True, home: Path | None = None,
                agreement: str = AGREEMENT) -> World:
    """Build the populated home on the application layer, close it, and return what the tests need."""
    paths = write_world(root / "data", rows, agreement)
    home = home or root / "home"
    people: People = make_people(home, {"admin": "admin", **PEOPLE})
    try:
        w = World(root, home, paths, dict(people.tokens))
        policies.add(people["officer"], paths["policy"], "weak-v1")
        records.load(people.op, paths["persons"], paths["addresses"])
        agreements.add(people["officer"], paths["agreement"])
        w.batch = requests.submit(people.op, paths["requests"], paths["manifest"]).batch.batch_id
        requests.process(people.op, w.batch)
        for rid in resolve:
            review.resolve(people["rev1"], w.batch, [rid], "DISCLOSE", "the letters were checked by eye")
            review.resolve(people["rev2"], w.batch, [rid], "DISCLOSE", "agreed")
        if setting:
            settings.set_(people["officer"], "agency_name", "Internal Revenue Service")
            settings.set_(people["officer"], "contact", "Disclosure Office, 1 Main St, Washington DC, 555-0100")
        if deliver or approve:
            w.package = releases.prepare(people["alice"], w.batch).package.package_id
            releases.approve(people["bob"], w.package)
            (root / "out").mkdir(exist_ok=True)
        if deliver:
            w.delivered = releases.deliver(people["alice"], w.package, root / "out" / "pkg1").folder
        if audit:
            w.audit = audits.replay(people["auditor"], "6103i2").audit_id
        if incident:
            w.incident = incidents.open_(people["auditor"], w.audit).incident_id
        if suspend:
            agreements.change_status(people["officer"], "AGR-1", "suspend", "court order", None, "D. Mass. 26-cv-1")
    finally:
        people.close()
    return w


def approved_batch(w: World, rows: Sequence[Req], name: str = "requests2.csv") -> tuple[str, str]:
    """Submit and process another batch, prepare and approve its package (not delivered): (batch, package)."""
    path = w.paths["requests"].with_name(name)
    path.write_text(request_text(rows), encoding="utf-8")
    people = People(operator(w.home), dict(w.tokens))
    try:
        batch = requests.submit(people.op, path, w.paths["manifest"]).batch.batch_id
        requests.process(people.op, batch)
        package = releases.prepare(people["alice"], batch).package.package_id
        releases.approve(people["bob"], package)
    finally:
        people.close()
    return batch, package


def copy_home(w: World, dest: Path) -> Path:
    target = dest / "home"
    shutil.copytree(w.home, target)
    return target


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("verify"))


@pytest.fixture
def home_copy(world: World, tmp_path: Path) -> Path:
    return copy_home(world, tmp_path)


@pytest.fixture
def db(home_copy: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(home_copy / "dgate.duckdb"))
    try:
        yield con
    finally:
        con.close()


def edit(home: Path, sql: str, params: Sequence[Any] | None = None, *, expect_rows: bool = True) -> int:
    """Run one tampering statement on the copy (and close the connection before any CLI call)."""
    con = duckdb.connect(str(home / "dgate.duckdb"))
    try:
        cur = con.execute(sql, params) if params is not None else con.execute(sql)
        changed = cur.fetchone()
        n = int(changed[0]) if changed is not None and isinstance(changed[0], int) else 0
    finally:
        con.close()
    if expect_rows:
        assert n > 0, f"the tampering statement changed nothing, so the test would prove nothing: {sql}"
    return n


def scalar(home: Path, sql: str, params: Sequence[Any] | None = None) -> Any:
    con = duckdb.connect(str(home / "dgate.duckdb"), read_only=True)
    try:
        row = con.execute(sql, params).fetchone() if params is not None else con.execute(sql).fetchone()
    finally:
        con.close()
    return None if row is None else row[0]


def assert_verify_fails(home: Path, *names: str) -> str:
    r = run_cli("ledger", "verify", home=home)
    assert r.code == 7, (r.code, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert "error[DG600]" in r.stderr
    for name in names:
        assert name in r.stderr, f"the failure does not name {name!r}: {r.stderr}"
    return r.stderr


# -- the pristine home ---------------------------------------------------------------------------------------
def test_the_world_holds_every_kind_of_state(world: World) -> None:
    """The edits below only prove something if the home really holds these objects."""
    h = world.home
    assert scalar(h, "SELECT count(*) FROM review_resolutions") >= 2
    assert scalar(h, "SELECT state FROM packages WHERE package_id = ?", [world.package]) == "delivered"
    assert scalar(h, "SELECT count(*) FROM audit_findings WHERE audit_id = ?", [world.audit]) >= 1
    assert scalar(h, "SELECT status FROM incidents WHERE incident_id = ?", [world.incident]) == "open"
    assert scalar(h, "SELECT status FROM agreements WHERE id = 'AGR-1'") == "suspended"
    assert scalar(h, "SELECT count(*) FROM agreement_history WHERE agreement_id = 'AGR-1'") >= 2
    assert scalar(h, "SELECT count(*) FROM settings") >= 2
    assert scalar(h, "SELECT count(*) FROM row_facts WHERE batch_id = ? AND NOT address_on_file",
                  [world.batch]) >= 1


def test_pristine_home_verifies(home_copy: Path) -> None:
    r = run_cli("ledger", "verify", home=home_copy)
    assert r.code == 0, (r.stdout, r.stderr)
    assert r.stdout.startswith("OK:") and "stored state agrees with the ledger" in r.stdout


# -- each edit fails verify, naming the object -------------------------------------------------------------------
def test_package_approver_rewritten(world: World, home_copy: Path) -> None:
    edit(home_copy, "UPDATE packages SET approved_by = 'mallory' WHERE package_id = ?", [world.package])
    assert_verify_fails(home_copy, world.package, "approved by")


def test_package_delivery_folder_rewritten(world: World, home_copy: Path) -> None:
    edit(home_copy, "UPDATE packages SET delivered_to = '/elsewhere' WHERE package_id = ?", [world.package])
    assert_verify_fails(home_copy, world.package, "delivered to")


def test_incident_marked_certified_in_sql(world: World, home_copy: Path) -> None:
    edit(home_copy, "UPDATE incidents SET status = 'certified' WHERE incident_id = ?", [world.incident])
    assert_verify_fails(home_copy, world.incident)


def test_incident_certified_with_date_and_person_in_sql(world: World, home_copy: Path) -> None:
    edit(home_copy, "UPDATE incidents SET status = 'certified', certified_on = DATE '2026-01-02', "
         "certified_by = 'auditor' WHERE incident_id = ?", [world.incident])
    assert_verify_fails(home_copy, world.incident)


def test_suspended_agreement_made_active_in_sql(home_copy: Path) -> None:
    edit(home_copy, "UPDATE agreements SET status = 'active', suspended_on = NULL WHERE id = 'AGR-1'")
    assert_verify_fails(home_copy, "AGR-1")


def test_agreement_suspension_reason_rewritten(home_copy: Path) -> None:
    edit(home_copy, "UPDATE agreements SET suspension_reason = 'routine' WHERE id = 'AGR-1'")
    assert_verify_fails(home_copy, "AGR-1")


def test_agreement_history_row_deleted(home_copy: Path) -> None:
    edit(home_copy, "DELETE FROM agreement_history WHERE agreement_id = 'AGR-1' AND kind <> 'added'")
    assert_verify_fails(home_copy, "AGR-1", "history")


def test_agreement_history_actor_rewritten(home_copy: Path) -> None:
    edit(home_copy, "UPDATE agreement_history SET actor = 'mallory' WHERE agreement_id = 'AGR-1' AND kind <> 'added'")
    assert_verify_fails(home_copy, "AGR-1", "history")


def test_package_row_address_rewritten(world: World, home_copy: Path) -> None:
    edit(home_copy, "UPDATE package_rows SET last_known_address = 'X' WHERE package_id = ? AND request_id = 'R1'",
         [world.package])
    assert_verify_fails(home_copy, world.package, "rows")


def test_request_row_rewritten(world: World, home_copy: Path) -> None:
    edit(home_copy, "UPDATE req_rows SET last_name = 'X' WHERE batch_id = ? AND request_id = 'R2'", [world.batch])
    assert_verify_fails(home_copy, world.batch, "request rows")


def test_row_facts_rewritten_to_corroborate_an_address(world: World, home_copy: Path) -> None:
    edit(home_copy, "UPDATE row_facts SET address_on_file = true WHERE batch_id = ? AND NOT address_on_file",
         [world.batch])
    assert_verify_fails(home_copy, world.batch, "row facts")


def test_audit_findings_deleted(world: World, home_copy: Path) -> None:
    edit(home_copy, "DELETE FROM audit_findings WHERE audit_id = ?", [world.audit])
    assert_verify_fails(home_copy, world.audit)


def test_audit_finding_verdict_rewritten(world: World, home_copy: Path) -> None:
    edit(home_copy, "UPDATE audit_findings SET new_decision = 'DISCLOSE', new_reasons = '' WHERE audit_id = ? "
         "AND new_decision = 'DENY'", [world.audit])
    assert_verify_fails(home_copy, world.audit)


def test_admin_role_granted_in_sql(home_copy: Path) -> None:
    edit(home_copy, "INSERT INTO user_roles VALUES ('rev1', 'admin', '', 'admin', TIMESTAMP '2026-01-01 00:00:00')")
    assert_verify_fails(home_copy, "rev1", "admin")


def test_user_added_in_sql(home_copy: Path) -> None:
    edit(home_copy, "INSERT INTO users (name, created_at, created_by) VALUES ('mallory', TIMESTAMP '2026-01-01 "
         "00:00:00', 'admin')")
    assert_verify_fails(home_copy, "mallory")


def test_token_hash_replaced(home_copy: Path) -> None:
    token_id, user = (scalar(home_copy, "SELECT token_id FROM tokens WHERE user_name = 'alice'"), "alice")
    edit(home_copy, "UPDATE tokens SET token_hash = 'f' || token_hash WHERE token_id = ?", [token_id])
    assert_verify_fails(home_copy, str(token_id), user)


def test_revoked_token_unrevoked_in_sql(world: World, tmp_path: Path) -> None:
    home = copy_home(world, tmp_path)
    r = world.cli("user", "revoke", "rev2", who="admin", home=home)
    assert r.code == 0, r.stderr
    assert run_cli("ledger", "verify", home=home).code == 0
    token_id = scalar(home, "SELECT token_id FROM tokens WHERE user_name = 'rev2'")
    edit(home, "UPDATE tokens SET revoked_at = NULL, revoked_by = NULL WHERE user_name = 'rev2'")
    assert_verify_fails(home, str(token_id), "rev2")


def test_review_resolutions_deleted(home_copy: Path) -> None:
    edit(home_copy, "DELETE FROM review_resolutions")
    assert_verify_fails(home_copy, "review resolutions")


def test_review_resolution_reviewer_rewritten(home_copy: Path) -> None:
    edit(home_copy, "UPDATE review_resolutions SET reviewer = 'rev1'")
    assert_verify_fails(home_copy, "review resolutions")


def test_setting_rewritten(home_copy: Path) -> None:
    edit(home_copy, "UPDATE settings SET value = 'x' WHERE key = 'contact'")
    assert_verify_fails(home_copy, "contact")


def test_setting_added_in_sql(home_copy: Path) -> None:
    edit(home_copy, "INSERT INTO settings VALUES ('processing', 'automatic', 'mallory', TIMESTAMP '2026-01-01 "
         "00:00:00')")
    assert_verify_fails(home_copy, "processing")


def test_decision_rewritten(world: World, home_copy: Path) -> None:
    edit(home_copy, "UPDATE decisions SET decision = 'DISCLOSE', reasons = '' WHERE decision <> 'DISCLOSE'")
    r = run_cli("ledger", "verify", home=home_copy)
    assert r.code == 7 and "Traceback" not in r.stderr, (r.stdout, r.stderr)
