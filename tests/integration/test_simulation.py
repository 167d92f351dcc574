"""The simulator's scenarios as a test (issue: detection and containment): a small population,
two days driven over HTTP against a live `tiers serve` with the default thresholds. Exposure
and containment are asserted; speed is the benchmark's business (bench/SIMULATION.md)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tierspayant.cli.simulate import simulate


@pytest.mark.sqlite_only(reason="drives `make demo`'s embedded platform (a live `tiers serve` on its SQLite file) for two "
                                "simulated days; PostgreSQL's detection and presence run in test_detection/test_presence")
def test_attacks_are_contained_and_normal_traffic_is_not(tmp_path: Path) -> None:
    report = simulate(professionals=30, beneficiaries=3000, speed=960.0, attack_speed=240.0, seed_value=7,
                      parallel_accounts=5, stuffing_pairs=3000, scenario=["classic"], out=tmp_path / "s.md",
                      html_out=tmp_path / "s.html", work=tmp_path / "work", port=8791).classic
    assert report is not None
    by = {row.attack.scenario: row.attack for row in report.rows}
    assert set(by) == {"a", "b", "c", "d", "e"}
    for scenario in "abc":
        assert by[scenario].attempts > 0
        assert by[scenario].max_exposed_per_account <= 20, scenario
        assert by[scenario].stopped == set(by[scenario].accounts), scenario  # every one contained or capped
    assert by["a"].exposed <= 20
    assert by["d"].attempts > 0 and by["d"].confirmed == 0
    assert by["e"].attempts >= 1000 and by["e"].takeovers == 0  # the tarpit slows the list down
    assert report.falsely_contained == set()
    legit = [r for r in report.day1 if r.actor == "legit"]
    failed = Counter((r.status, r.path) for r in legit if not 0 < r.status < 400)
    assert len(legit) > 300 and 1 - failed.total() / len(legit) >= 0.99, failed
    assert "(a) one stolen session" in (tmp_path / "s.md").read_text()
    assert "<svg" in (tmp_path / "s.html").read_text()
