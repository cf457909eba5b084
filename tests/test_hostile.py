"""Hostile input through the real CLI: SQL in paths, terminal markup and formula cells in request ids and
texts, and bad input that used to crash.

The module's home lives in a folder whose own name is an SQL-injection payload (quotes, ``;``, a double
quote and a newline), so every command below also runs with such a ``--home``. Its batch holds request ids
that are terminal markup (``[/]``, ``[link=...]``) and spreadsheet formulas (``=HYPERLINK``, ``+cmd``,
``@SUM``, ``-2+3``); the rows not corroborated were disclosed under a weak policy, delivered, audited and
turned into an incident, so they reach every output.
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import json
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
import typer

from apphelp import People, operator
from conftest import CliResult, run_cli
from disclosure_gate.app import agreements
from disclosure_gate.surfaces.cli.main import app
from test_state_verify import Req, World, approved_batch, build_world, tin_of

PAYLOAD = "a'b;c\"d\ne x' ; UPDATE decisions SET decision='DISCLOSE', reasons=''; --"
FILE_PAYLOAD = "f' ; DELETE FROM decisions; --"
DOCUMENTED_EXITS = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 64}

MARKUP_IDS = ("[/]", "[link=http://evil.example]x[/link]", "[bold red]x")
FORMULA_IDS = ('=HYPERLINK("x")', "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3+cmd")
ESC_NAME = "Al\x1b[31mice\x1b]8;;http://evil.example\x07click\x1b]8;;\x07"
ROWS = (
    Req("[/]", 1),                                          # lawful: DISCLOSE
    Req("[link=http://evil.example]x[/link]", 2, on_file=False),  # weak policy discloses; unlawful
    Req("[bold red]x", 3, first_name=ESC_NAME),             # hidden characters: REVIEW, left in the queue
    Req('=HYPERLINK("x")', 4, on_file=False),
    Req("+cmd|' /C calc'!A0", 5, on_file=False),
    Req("@SUM(A1)", 6, on_file=False),
    Req("-2+3+cmd", 7, on_file=False),
)
AGREEMENT_2 = """id: AGR-2
recipient: "[link=http://evil.example]Evil[/link] Agency"
statutory_authority: "26 U.S.C. 6103(i)(2)"
purposes: ["[bold red]x"]
disclose: [last_known_address]
valid_from: 2025-01-01
valid_to: 2030-12-31
status: active
"""
SUSPENSION = ("\x1b[31mred\x1b]8;;http://evil.example\x07click\x1b]8;;\x07 [link=http://evil.example]order[/link] "
              "\u202egnp.exe")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("hostile") / PAYLOAD
    w = build_world(root, ROWS, resolve=(), suspend=False)
    w.extra["batch2"], w.extra["package2"] = approved_batch(w, (Req("S1", 8), Req("S2", 9)))
    (w.root / "agreement2.yaml").write_text(AGREEMENT_2)
    people = People(operator(w.home), dict(w.tokens))
    try:
        agreements.add(people["officer"], w.root / "agreement2.yaml")
        agreements.change_status(people["officer"], "AGR-2", "suspend", SUSPENSION, None, "[/]")
    finally:
        people.close()
    return w


def query(home: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(home / "dgate.duckdb"), read_only=True)
    try:
        return [tuple(r) for r in con.execute(sql, params or []).fetchall()]
    finally:
        con.close()


def decisions_state(home: Path) -> tuple[int, str]:
    """(rows decided DISCLOSE, a digest of every stored decision)."""
    rows = query(home, "SELECT run_id, _row, request_id, decision, reasons, match_basis, matched_tin FROM decisions "
                       "ORDER BY run_id, _row")
    return sum(1 for r in rows if r[3] == "DISCLOSE"), hashlib.sha256(repr(rows).encode()).hexdigest()


def clean(r: CliResult) -> None:
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert r.code in DOCUMENTED_EXITS and r.code != 70, (r.code, r.stdout, r.stderr)


# -- 2. SQL in paths -----------------------------------------------------------------------------------------
#: Options that take a path whatever their annotation says (--key takes a file or an inline key), and
#: arguments whose name says they are a file or folder.
PATH_OPTIONS = {"--out", "--persons", "--addresses", "--manifest", "--truth", "--key", "--log-key", "--witness-key",
                "--state", "--proof", "--workdir"}
PATH_ARGUMENTS = {"file", "log", "folder", "bundle", "checkpoint", "request_file"}
#: Commands with path parameters that this test does not run, and why.
EXCLUDED = {
    ("demo",): "builds its own demo home from a 40,000-row synthetic world (about 25 s)",
    ("verify", "witness", "serve"): "a long-running witness server",
}


def walk(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    subs = getattr(cmd, "commands", None)
    if subs:
        for name, sub in subs.items():
            yield from walk(sub, (*path, name))
    else:
        yield path, cmd


def path_params(cmd: Any) -> set[str]:
    """The command's parameters that name a file or folder (``--home`` aside: the home is the payload)."""
    annotations = {n: str(p.annotation) for n, p in inspect.signature(cmd.callback, eval_str=True).parameters.items()}
    found = set()
    for param in cmd.params:
        if param.name == "home":
            continue
        is_option = any(o.startswith("--") for o in param.opts)
        if ("Path" in annotations.get(param.name, "") or (is_option and set(param.opts) & PATH_OPTIONS)
                or (not is_option and param.name in PATH_ARGUMENTS)):
            found.add(param.name)
    return found


def path_commands() -> dict[tuple[str, ...], set[str]]:
    root = typer.main.get_command(app)
    out = {path: path_params(cmd) for path, cmd in walk(root)}
    return {k: v for k, v in out.items() if v}


@dataclass
class Ctx:
    w: World
    dir: Path  # a folder whose own name is the payload, inside the tmp folder

    def p(self, name: str) -> Path:
        """A path inside the payload folder whose file name carries a payload too."""
        return self.dir / f"{FILE_PAYLOAD}{name}"


Recipe = Callable[[Ctx], tuple[list[Any], str | None, Callable[[Ctx, CliResult], None] | None]]


def _exists(*names: str) -> Callable[[Ctx, CliResult], None]:
    def check(c: Ctx, r: CliResult) -> None:
        for n in names:
            assert c.p(n).exists(), f"{c.p(n)} was not written"
    return check


def _synth(c: Ctx) -> Any:
    return ["synth", "--persons", "30", "--requests", "10", "--out", c.p("synth")], None, _exists("synth")


def _evaluate(c: Ctx) -> Any:
    truth = c.p("truth.csv")
    truth.write_text("request_id,category,expected,expected_reason\n"
                     + "".join(f'"{rid.replace(chr(34), chr(34) * 2)}",x,DENY,X\n' for rid in ("[/]", "-2+3+cmd")))
    return ["evaluate", c.w.batch, "--truth", truth], None, None


def _records_load(c: Ctx) -> Any:
    persons, addresses = c.p("persons.csv"), c.p("addresses.csv")
    shutil.copy(c.w.paths["persons"], persons)
    shutil.copy(c.w.paths["addresses"], addresses)
    return ["records", "load", "--persons", persons, "--addresses", addresses], None, None


def _agreement_add(c: Ctx) -> Any:
    f = c.p("agreement.yaml")
    f.write_text(c.w.paths["agreement"].read_text().replace("id: AGR-1", "id: AGR-3"))

    def check(c: Ctx, r: CliResult) -> None:
        assert query(c.w.home, "SELECT count(*) FROM agreements WHERE id = 'AGR-3'") == [(1,)]
    return ["agreement", "add", f], "officer", check


def _request_submit(c: Ctx) -> Any:
    f, m = c.p("requests.csv"), c.p("manifest.yaml")
    f.write_text(c.w.paths["requests"].read_text().replace("[/]", "[/]-again"), encoding="utf-8")
    shutil.copy(c.w.paths["manifest"], m)

    def check(c: Ctx, r: CliResult) -> None:
        batch = r.stdout.strip().splitlines()[-1]
        assert query(c.w.home, "SELECT count(*) FROM batches WHERE batch_id = ?", [batch]) == [(1,)]
    return ["request", "submit", f, "--manifest", m], None, check


def _export_csv(c: Ctx) -> Any:
    return ["decisions", "export", c.w.batch, "--out", c.p("d.csv")], None, _exists("d.csv")


def _deliver(c: Ctx) -> Any:
    out = c.p("pkg")

    def check(c: Ctx, r: CliResult) -> None:
        stored = query(c.w.home, "SELECT state, delivered_to FROM packages WHERE package_id = ?",
                       [c.w.extra["package2"]])
        assert stored == [("delivered", str(out))], stored  # exactly that folder
        assert sorted(p.name for p in out.iterdir()) == ["_COMPLETE", "data.csv", "data.parquet", "manifest.json",
                                                          "manifest.note"]
    return ["release", "deliver", c.w.extra["package2"], "--out", out], "alice", check


def _release_verify(c: Ctx) -> Any:
    key = c.p("agency.pub")
    key.write_text(run_cli("ledger", "key", home=c.w.home).stdout)
    return ["release", "verify", c.p("pkg"), "--key", key], None, None


def _audit_import(c: Ctx) -> Any:
    log = c.p("log.csv")
    lines = c.w.paths["requests"].read_text().splitlines()
    log.write_text(lines[0] + ",disclosed\n" + "".join(line + ",true\n" for line in lines[1:]), encoding="utf-8")
    return ["audit", "import", log, "--format", "csv"], "auditor", None


def _checkpoint(c: Ctx) -> Any:
    return ["ledger", "checkpoint", "--out", c.p("cp.txt")], None, _exists("cp.txt")


def _prove(c: Ctx) -> Any:
    return ["ledger", "prove", c.w.batch, "[/]", "--out", c.p("proof.json")], None, _exists("proof.json")


def _consistency(c: Ctx) -> Any:
    return ["ledger", "consistency", "--from", "0", "--out", c.p("cons.json")], None, _exists("cons.json")


def _policy_add(c: Ctx) -> Any:
    f = c.p("p.cedar")
    shutil.copy(c.w.paths["policy"], f)
    return ["policy", "add", f, "--id", "weak-v2"], "officer", None


def _verify_checkpoint(c: Ctx) -> Any:
    return ["verify", "checkpoint", c.p("cp.txt"), "--key", c.p("agency.pub")], None, None


def _verify_inclusion(c: Ctx) -> Any:
    return ["verify", "inclusion", c.p("proof.json"), "--key", c.p("agency.pub")], None, None


def _verify_consistency(c: Ctx) -> Any:
    return ["verify", "consistency", c.p("cons.json"), "--key", c.p("agency.pub")], None, None


def _witness_key(c: Ctx) -> Any:
    def check(c: Ctx, r: CliResult) -> None:
        assert c.p("w.key").is_file()
        c.p("w.vkey").write_text(r.stdout.strip() + "\n")
    return ["verify", "witness-key", "court.example/w", "--out", c.p("w.key")], None, check


def _cosign(c: Ctx) -> Any:
    return (["verify", "cosign", c.p("cp.txt"), "--key", c.p("agency.pub"), "--witness-key", c.p("w.key"),
             "--state", c.p("state.json"), "--out", c.p("cosigned.txt")], None, _exists("cosigned.txt", "state.json"))


#: In this order (later recipes read what earlier ones wrote).
RECIPES: dict[tuple[str, ...], Recipe] = {
    ("synth",): _synth, ("evaluate",): _evaluate, ("records", "load"): _records_load,
    ("agreement", "add"): _agreement_add, ("request", "submit"): _request_submit,
    ("decisions", "export"): _export_csv, ("release", "deliver"): _deliver, ("release", "verify"): _release_verify,
    ("audit", "import"): _audit_import, ("ledger", "checkpoint"): _checkpoint, ("ledger", "prove"): _prove,
    ("ledger", "consistency"): _consistency, ("policy", "add"): _policy_add,
    ("verify", "checkpoint"): _verify_checkpoint, ("verify", "inclusion"): _verify_inclusion,
    ("verify", "consistency"): _verify_consistency, ("verify", "witness-key"): _witness_key,
    ("verify", "cosign"): _cosign,
}


def test_every_command_taking_a_path_has_a_recipe() -> None:
    found = path_commands()
    assert ("records", "load") in found and found[("records", "load")] == {"persons", "addresses"}
    missing = set(found) - set(RECIPES) - set(EXCLUDED)
    assert not missing, f"commands taking a path without an injection recipe: {sorted(missing)}"
    assert not set(RECIPES) - set(found), "a recipe names a command that takes no path"


def test_sql_in_paths_changes_no_decision(world: World, tmp_path: Path) -> None:
    folder = tmp_path / PAYLOAD
    folder.mkdir()
    c = Ctx(world, folder)
    problems = []
    for name, recipe in RECIPES.items():
        args, who, check = recipe(c)
        before = decisions_state(world.home)
        r = world.cli(*args, who=who)
        after = decisions_state(world.home)
        if r.code != 0 or "Traceback" in r.stderr:
            problems.append(f"dgate {' '.join(name)}: exit {r.code}: {r.stderr.strip()[-300:]}")
        elif check is not None:
            try:
                check(c, r)
            except AssertionError as exc:
                problems.append(f"dgate {' '.join(name)}: {exc}")
        if after != before:
            problems.append(f"dgate {' '.join(name)} changed stored decisions: DISCLOSE {before[0]} -> {after[0]}")
        assert r.code in DOCUMENTED_EXITS and r.code != 70, (name, r.code, r.stderr)
    assert not problems, "\n".join(problems)
    assert query(world.home, "SELECT count(*) FROM decisions WHERE reasons = '' AND decision <> 'DISCLOSE'") == [(0,)]
    verified = run_cli("ledger", "verify", home=world.home)
    assert verified.code == 0, verified.stderr


def test_init_with_quotes_in_the_home_path(tmp_path: Path) -> None:
    home = tmp_path / "it's" / "h'; DROP TABLE meta; --"
    home.parent.mkdir()
    r = run_cli("init", home=home)
    assert r.code == 0, r.stderr
    assert (home / "dgate.duckdb").is_file()
    assert run_cli("doctor", home=home).code == 0
    assert query(home, "SELECT count(*) FROM meta")[0][0] > 0


def test_failed_init_leaves_nothing_behind(tmp_path: Path) -> None:
    """A home that cannot be created (its place is taken by a file half-way) leaves no folder."""
    blocker = tmp_path / "it's"
    blocker.write_text("a file, not a folder")
    r = run_cli("init", home=blocker / "home")
    assert r.code == 2 and "Traceback" not in r.stderr, (r.code, r.stderr)
    assert blocker.read_text() == "a file, not a folder"
    ww = tmp_path / "open'; --"
    ww.mkdir()
    ww.chmod(0o777)
    r = run_cli("init", home=ww / "x" / "home")
    assert r.code == 2, (r.code, r.stderr)
    assert list(ww.iterdir()) == []


# -- 3. terminal markup -------------------------------------------------------------------------------------------
def assert_literal(r: CliResult, *texts: str) -> None:
    clean(r)
    assert r.code == 0, (r.stdout, r.stderr)
    out = r.stdout + r.stderr
    assert "\x1b" not in out, f"a raw ESC byte reached the output: {out!r}"
    assert "\x07" not in out and "\x9b" not in out and "\x9d" not in out
    for text in texts:
        assert text in r.stdout, f"{text!r} is not printed literally: {r.stdout!r}"


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def assert_json(r: CliResult, *texts: str) -> Any:
    clean(r)
    assert r.code == 0, (r.stdout, r.stderr)
    assert "\x1b" not in r.stdout + r.stderr and "\x07" not in r.stdout + r.stderr
    data = json.loads(r.stdout)
    values = list(strings(data))
    for text in texts:
        assert any(text in v for v in values), f"{text!r} is not among the JSON's values"
    return data


MARKUP_VIEWS = {
    "agreement list": (("agreement", "list"), None, ("[link=http://evil.example]Evil[/link] Agency",
                                                     "\\x1b[31mred\\x1b]8;;http://evil.example\\x07click")),
    "agreement show": (("agreement", "show", "AGR-2"), None, ("[link=http://evil.example]Evil[/link] Agency",
                                                              "[bold red]x", "\\x1b[31mred",
                                                              "[link=http://evil.example]order[/link]",
                                                              "\\u202egnp.exe")),
    "request list": (("request", "list"), None, ()),
    "review list --cases": (("review", "list", "--cases"), "rev1", ("[bold red]x",)),
    "review show": (("review", "show", "{batch}", "[bold red]x"), "rev1", ("[bold red]x", "\\x1b[31m")),
    "ledger prove": (("ledger", "prove", "{batch}", "[link=http://evil.example]x[/link]"), None,
                     ("[link=http://evil.example]x[/link]",)),
    "accounting person": (("accounting", "person", tin_of(2)), "auditor", ("[link=http://evil.example]x[/link]",)),
    "release list": (("release", "list"), None, ()),
}


@pytest.mark.parametrize("view", sorted(MARKUP_VIEWS))
def test_markup_in_stored_text_is_printed_literally(world: World, view: str) -> None:
    """Piped (tab-separated) and ``--json``, run side by side; ``COLUMNS`` is set narrow on purpose."""
    args, who, texts = MARKUP_VIEWS[view]
    argv = [a.format(batch=world.batch) for a in args]
    with ThreadPoolExecutor(2) as pool:
        env = {"COLUMNS": "60", "DGATE_WAIT": "300"}  # review show and accounting person write: one waits
        text_run = pool.submit(world.cli, *argv, who=who, env=env)
        json_run = pool.submit(world.cli, *argv, "--json", who=who, env=env)
        plain, as_json = text_run.result(), json_run.result()
    if view == "request list":
        texts = (world.batch,)
    if view == "release list":
        texts = (world.package, world.extra["package2"])
    assert_literal(plain, *texts)
    decoded = tuple(t.replace("\\x1b", "\x1b").replace("\\x07", "\x07").replace("\\u202e", "\u202e")
                    for t in texts)
    assert_json(as_json, *decoded)
    for r in (plain, as_json):
        assert "\x1b]8;" not in r.stdout + r.stderr
    assert "\u202e" not in plain.stdout, "a raw bidi override reached the terminal"


def test_markup_in_error_messages_is_printed_literally(world: World) -> None:
    r = world.cli("review", "show", world.batch, "[link=http://evil.example]y[/link]\x1b[31m", who="rev1")
    assert r.code == 4, (r.code, r.stderr)
    assert "\x1b" not in r.stderr and "[link=http://evil.example]y[/link]\\x1b[31m" in r.stderr


def test_control_characters_in_request_ids_are_refused_at_intake(world: World, tmp_path: Path) -> None:
    before = query(world.home, "SELECT count(*) FROM batches")
    f = tmp_path / "esc.csv"
    f.write_text("request_id,first_name,middle_name,last_name,tin,dob,address\n"
                 f"\x1b[31mR1,Alice,,Smith,{tin_of(1)},,\"1 Oak St, Springfield, IL 62704\"\n", encoding="utf-8")
    r = run_cli("request", "submit", f, "--manifest", world.paths["manifest"], home=world.home)
    assert r.code == 3, (r.code, r.stderr)
    assert "request_id" in r.stderr and "\x1b" not in r.stderr
    assert query(world.home, "SELECT count(*) FROM batches") == before


def test_agreement_id_with_markup_is_refused(world: World, tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text(AGREEMENT_2.replace("id: AGR-2", "id: AGR-[/]"))
    r = world.cli("agreement", "add", f, who="officer")
    assert r.code == 3 and "error[DG206]" in r.stderr, (r.code, r.stderr)
    assert query(world.home, "SELECT count(*) FROM agreements WHERE id LIKE '%[%'") == [(0,)]


# -- 4. CSV injection ---------------------------------------------------------------------------------------------
def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_decisions_export_neutralises_formula_cells(world: World, tmp_path: Path) -> None:
    out_csv, out_pq = tmp_path / "d.csv", tmp_path / "d.parquet"
    assert run_cli("decisions", "export", world.batch, "--out", out_csv, home=world.home).code == 0
    assert run_cli("decisions", "export", world.batch, "--out", out_pq, home=world.home).code == 0
    ids = [r["request_id"] for r in read_csv(out_csv)]
    for rid in FORMULA_IDS:
        assert "'" + rid in ids, f"{rid!r} is not neutralised in the CSV export: {ids}"
    for row in read_csv(out_csv):
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), row
    exact = pq.read_table(out_pq).column("request_id").to_pylist()
    assert set(FORMULA_IDS) | set(MARKUP_IDS) <= set(exact), exact


def test_recall_csv_and_package_neutralise_formula_cells(world: World) -> None:
    recall = read_csv(world.home / "incidents" / world.incident / "recall.csv")
    ids = {r["request_id"] for r in recall}
    assert {"'" + rid for rid in FORMULA_IDS} <= ids, ids
    assert not set(FORMULA_IDS) & ids
    assert world.delivered is not None
    data = {r["request_id"] for r in read_csv(world.delivered / "data.csv")}
    assert {"'" + rid for rid in FORMULA_IDS} <= data, data
    exact = set(pq.read_table(world.delivered / "data.parquet").column("request_id").to_pylist())
    assert set(FORMULA_IDS) <= exact
