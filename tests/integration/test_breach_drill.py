"""The breach drill as a test (issue 14): a simulated day with phished opticians' sessions
among normal traffic over HTTP; the incident's scope equals what the attackers received, per
insurer and per category (precision = recall = 100 %), holds nobody only legitimate
professionals read nor anybody a refused check touched, and verify-scope agrees -- and fails
once an event of the window is deleted or one is appended beyond the checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierspayant.cli.breach_drill import drill, markdown


@pytest.mark.sqlite_only(reason="drives `make demo`'s embedded platform (a live `tiers serve` on its SQLite file); "
                                "the scope's rules run on PostgreSQL in test_incidents")
def test_the_scope_is_exactly_what_the_attackers_received(tmp_path: Path) -> None:
    report = drill(tmp_path / "work", professionals=30, beneficiaries=1500, victims_count=3, per_victim=6,
                   speed=960.0, port=8794)
    assert report.attempts == 3 * 8 and report.refused_attempts == 6
    assert report.truth_people >= 6  # detection may contain a session before it is done: what it got is the truth
    assert report.exact, report.confusion
    assert {category for _, category in report.confusion} == {"coverage", "health"}  # the quoting attacker
    assert report.legit_only_in_scope == 0 and report.refused_only_in_scope == 0
    assert report.people_in_scope == report.truth_people
    assert report.verify_ok, report.lines
    assert not report.verify_after_removal_ok and not report.verify_after_insertion_ok
    assert "| precision | recall |" in markdown(report)
