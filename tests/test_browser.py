"""The console in a real browser: Chromium (Debian's, never ``playwright install``) through Playwright.

A real ``dgate serve --insecure-cookies`` runs on 127.0.0.1 against a home built for the test. Reviewers work
cases from the keyboard, dual control refuses and then accepts a DISCLOSE, a preparer and an approver release a
package, an officer suspends the agreement and reads what is out; meanwhile the CLI processes a second batch and
prepares its release on the same home (handed to the server over its socket) and the pages keep answering.
Screenshots go to the test's folder; with DGATE_UPDATE_SCREENSHOTS=1 a set is copied to docs/screenshots/ for
docs/console.md.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import CliResult, run_cli
from disclosure_gate.app import requests as requests_app
from disclosure_gate.app.session import Credentials, open_session
from web_fixtures import PASSWORD, WebHome, build

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DOCS_SHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 860}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebHome, str, str, Path]]:
    root = tmp_path_factory.mktemp("browser")
    world = build(root)
    second = world.data / "requests2.csv"
    second.write_text((world.data / "requests.csv").read_text().replace("\nR", "\nS"))
    op = open_session(world.home, Credentials(os_user="tester", os_uid=os.getuid()), write=True)
    try:
        batch2 = requests_app.submit(op, second, world.data / "manifest.yaml").batch.batch_id
    finally:
        op.close()
    port = free_port()
    log = (root / "server.log").open("w")
    env = {k: v for k, v in os.environ.items() if k not in ("DGATE_HOME", "DGATE_TOKEN")}
    proc = subprocess.Popen([sys.executable, "-c", "from disclosure_gate.surfaces.cli.main import main; main()",
                             "--home", str(world.home), "serve", "--insecure-cookies", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, (root / "server.log").read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield world, base, batch2, root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert "Traceback" not in (root / "server.log").read_text()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


class Person:
    """One signed-in person in their own browser context (their own cookies and sessionStorage)."""

    def __init__(self, browser: Any, base: str, shots: Path, name: str) -> None:
        self.context = browser.new_context(viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.base, self.shots, self.name = base, shots, name
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.goto("/login")
        self.page.fill("#username", name)
        self.page.fill("#password", PASSWORD)
        self.page.press("#password", "Enter")
        self.page.wait_for_url(re.compile(r".*/$"))

    def goto(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        assert response is not None and response.status < 400, (path, response and response.status)
        return response

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        # script errors and CSP refusals fail the test; a refused action's 403 is expected and shown to the person
        assert not [e for e in self.errors if "Failed to load resource" not in e], self.errors
        self.context.close()


def keyboard_resolve(p: Person, key: str, reason: str | None = None, quick: str | None = None) -> None:
    """Decide the open case from the keyboard only: R, the reason, Esc (or a quick reason), then D or X."""
    page = p.page
    page.wait_for_load_state()
    page.wait_for_selector("#resolve-form")
    before = page.url
    if quick is not None:
        page.keyboard.press(quick)
    else:
        assert reason is not None
        page.keyboard.press("r")
        page.keyboard.type(reason)
        page.keyboard.press("Escape")
    page.keyboard.press(key)
    page.wait_for_function("url => window.location.href !== url", arg=before)
    page.wait_for_load_state()


def wait_toast(p: Person, text: str, timeout: float = 20_000) -> str:
    loc = p.page.locator(".toast", has_text=text).first
    loc.wait_for(timeout=timeout)
    return str(loc.inner_text())


def test_the_console_in_a_browser(served: tuple[WebHome, str, str, Path], browser: Any) -> None:
    world, base, batch2, root = served
    shots = root / "screenshots"
    shots.mkdir(exist_ok=True)
    saved: dict[str, Path] = {}

    # the login page, as everyone first sees it
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    page.goto(base + "/review")
    assert "/login?next=%2Freview" in page.url
    saved["login"] = shots / "login.png"
    page.screenshot(path=str(saved["login"]))
    ctx.close()

    # -- a reviewer works three cases from the keyboard, while the CLI processes another batch ----------------
    rev1 = Person(browser, base, shots, "rev1")
    saved["dashboard-reviewer"] = rev1.shot("dashboard-reviewer")
    rev1.goto("/review")
    saved["review-queue"] = rev1.shot("review-queue")
    rev1.page.keyboard.press("n")  # start: the next case
    rev1.page.wait_for_url(re.compile(r".*/review/case/.*id=R2"))
    saved["review-case"] = rev1.shot("review-case")

    cli: dict[str, CliResult] = {}
    worker = threading.Thread(target=lambda: cli.setdefault("process", run_cli(
        "request", "process", batch2, home=world.home)))
    worker.start()
    keyboard_resolve(rev1, "d", reason="Same person; the unit is written on file only")  # R2 DISCLOSE
    assert "id=R3" in rev1.page.url
    keyboard_resolve(rev1, "x", quick="2")  # R3 DENY, with a quick reason
    assert "id=R4" in rev1.page.url
    t0 = time.monotonic()
    rev1.goto("/review")  # the pages keep answering while the CLI works on the same home
    assert time.monotonic() - t0 < 5
    rev1.page.go_back()
    rev1.page.wait_for_url(re.compile(r".*id=R4"))
    keyboard_resolve(rev1, "x", reason="The date of birth on file is another person's")  # R4 DENY
    assert "takes effect when a second reviewer agrees" in wait_toast(rev1, "R2: your DISCLOSE is recorded")
    wait_toast(rev1, "R4: now DENY")
    worker.join(timeout=300)
    assert cli["process"].code == 0, cli["process"].stderr
    assert "DISCLOSE" in cli["process"].stdout
    rev1.goto(f"/batches/{batch2}")
    assert rev1.page.locator("svg.funnel").count() == 1

    # -- dual control: the same reviewer is refused a second DISCLOSE ----------------------------------------
    rev1.goto(f"/review/case/{world.batch_id}?id=R2")
    assert rev1.page.locator("text=you already voted on this case").count() == 1
    rev1.page.uncheck("#autoadvance")
    rev1.page.keyboard.press("r")
    rev1.page.keyboard.type("Trying again on my own")
    rev1.page.keyboard.press("Escape")
    rev1.page.keyboard.press("d")
    refused = wait_toast(rev1, "refused")
    assert "a second reviewer must" in refused
    saved["dual-control-refused"] = rev1.shot("dual-control-refused")
    rev1.page.check("#autoadvance")
    rev1.close()

    # ... and a second reviewer's DISCLOSE takes effect
    rev2 = Person(browser, base, shots, "rev2")
    rev2.goto("/review")
    assert rev2.page.locator("tr", has_text="R2").first.inner_text().count("rev1") == 1
    rev2.page.click("a:text-is('R2')")
    rev2.page.wait_for_url(re.compile(r".*id=R2"))
    keyboard_resolve(rev2, "d", quick="1")
    assert "now DISCLOSE" in wait_toast(rev2, "R2: now DISCLOSE")
    rev2.goto(f"/batches/{world.batch_id}")
    saved["batch"] = rev2.shot("batch")
    rev2.close()

    # -- the CLI prepares the second batch's release on the same home -----------------------------------------
    cli["prepare"] = run_cli("release", "prepare", batch2, "--as", "preparer", home=world.home,
                             token=world.tokens["preparer"])
    assert cli["prepare"].code == 0, cli["prepare"].stderr
    assert re.search(r"P[0-9a-f]{15}", cli["prepare"].stdout)

    # -- a preparer prepares, an approver approves (and delivers) --------------------------------------------
    prep = Person(browser, base, shots, "preparer")
    prep.goto("/releases")
    prep.page.select_option("#batch_id", world.batch_id)
    prep.page.click("button:text('Prepare a package')")
    prep.page.wait_for_url(re.compile(r".*/releases/P[0-9a-f]+$"))
    package = prep.page.url.rsplit("/", 1)[-1]
    assert prep.page.locator("text=A second person must approve it").count() == 1
    assert prep.page.locator("button:text('Approve package')").count() == 0  # not an approver
    prep.close()
    appr = Person(browser, base, shots, "approver")
    assert appr.page.locator(f"a:text('{package}')").count() == 1  # on the dashboard, awaiting approval
    appr.goto(f"/releases/{package}")
    appr.page.click("button:text('Approve package')")
    appr.page.wait_for_selector("text=approved by approver")
    outbox = root / "outbox"
    outbox.mkdir(exist_ok=True)
    appr.page.fill("#out", str(outbox / package))
    appr.page.click("button:text('Deliver')")
    appr.page.wait_for_selector("text=Manifest and signatures")
    appr.page.click("button:text('Verify the delivered folder')")
    appr.page.wait_for_selector("text=Verified.")
    saved["package"] = appr.shot("package")
    appr.goto("/releases")
    saved["releases"] = appr.shot("releases")
    appr.close()

    # -- an officer suspends the agreement and reads what is out ----------------------------------------------
    off = Person(browser, base, shots, "officer")
    off.goto("/agreements/AGR-1")
    off.page.select_option("#change", "suspend")
    off.page.fill("#reason", "Court order: stop all disclosures")
    off.page.click("button:text('Review the change')")
    assert off.page.locator("text=reference of the court order").count() == 1  # the reference is required
    off.page.fill("#reference", "D. Mass. 1:26-cv-10101")
    off.page.click("button:text('Review the change')")
    off.page.wait_for_selector("text=Confirm: suspend AGR-1 now")
    saved["suspend-confirm"] = off.shot("suspend-confirm")
    off.page.click("button:text('Confirm: suspend AGR-1 now')")
    off.page.wait_for_selector("text=Agreement AGR-1 is suspended")
    out = off.page.locator("table", has_text=package).inner_text()
    assert "still out" in out
    saved["suspended"] = off.shot("suspended")
    off.goto("/")
    assert off.page.locator("text=is suspended and 1 delivered package is still out").count() == 1
    saved["dashboard"] = off.shot("dashboard")
    off.goto("/ledger")
    off.page.click("button:text('Verify the ledger')")
    off.page.wait_for_selector("text=The ledger verifies", timeout=60_000)
    saved["ledger"] = off.shot("ledger")
    off.goto("/jobs")
    saved["jobs"] = off.shot("jobs")
    off.close()

    # a set for docs/console.md, refreshed on request (DGATE_UPDATE_SCREENSHOTS=1) so a run leaves the tree clean
    for name in ("login", "dashboard", "review-queue", "review-case", "dual-control-refused", "batch", "package",
                 "suspend-confirm", "suspended", "ledger"):
        assert saved[name].stat().st_size > 1000, name
        if os.environ.get("DGATE_UPDATE_SCREENSHOTS") == "1":
            DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(saved[name], DOCS_SHOTS / f"{name}.png")
