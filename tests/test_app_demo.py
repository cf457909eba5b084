"""The demo, through the app layer at a small size: both runs, the evaluation, the final audit, the people."""

from __future__ import annotations

import os

import pytest

from disclosure_gate.app import demo
from disclosure_gate.errors import HomeError


def test_demo_replays_the_incident_and_creates_its_people(tmp_path):
    said: list[str] = []
    res = demo.run_demo(tmp_path / "demo-home", full=False, workdir=tmp_path / "work", os_user="tester",
                        os_uid=os.getuid(), say=said.append, size=(20_000, 4_000))
    assert res.rows == 4_000
    assert res.safe.improper_disclosures == 0 and res.safe.recall > 0.98
    assert res.seed.improper_disclosures > 100
    assert res.audit.flagged + res.audit.review_count >= res.seed.improper_disclosures
    assert res.audit.court_count > res.audit.agency_count > 0
    assert {role for role, _ in res.people.values()} == {"admin", "officer", "auditor", "reviewer", "preparer",
                                                         "approver"}
    assert all(len(pw) >= 12 for _, pw in res.people.values())
    assert res.safe_funnel.review > 0  # a queue to work in the console
    # Run again: the demo home is rebuilt, not appended to.
    again = demo.run_demo(tmp_path / "demo-home", full=False, workdir=tmp_path / "work", os_user="tester",
                          os_uid=os.getuid(), say=said.append, size=(20_000, 4_000))
    assert again.batch_id == res.batch_id


def test_demo_never_touches_a_home_it_did_not_make(tmp_path):
    from disclosure_gate.store.home import init_home

    h, _ = init_home(tmp_path / "real")
    h.close()
    with pytest.raises(HomeError, match="did not create"):
        demo.prepare_home(tmp_path / "real")


def test_demo_home_follows_the_option_then_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("DGATE_HOME", raising=False)
    assert demo.demo_home(None).name == "dgate-demo"
    monkeypatch.setenv("DGATE_HOME", str(tmp_path / "env-home"))
    assert demo.demo_home(None) == tmp_path / "env-home"
    assert demo.demo_home(tmp_path / "opt") == tmp_path / "opt"
