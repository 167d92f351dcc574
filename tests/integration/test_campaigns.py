"""The multi-day scenarios as a test (issue 13, point 6): slow scraping below any daily limit, an
optical chain with several paced compromised accounts, an account rotating insurers and
requesting PECs -- two simulated working days over HTTP against a live `tiers serve`, the
default thresholds and budgets. Exposure and stops are asserted; bench/SIMULATION.md has the
five-day run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierspayant.cli.simulate import simulate


@pytest.mark.sqlite_only(reason="drives `make demo`'s embedded platform (a live `tiers serve` on its SQLite file) for "
                                "two simulated days; the budgets' store runs on both databases in "
                                "test_store_contracts/test_presence")
def test_slow_chain_and_rotating_attackers_read_at_most_their_cap(tmp_path: Path) -> None:
    run = simulate(campaign_professionals=60, beneficiaries=3000, seed_value=7, scenario=["slow", "chain", "rotating"],
                   days=2, campaign_speed=480.0, chain=10, out=tmp_path / "days.md", html_out=tmp_path / "days.html",
                   work=tmp_path / "work", port=8792)
    report = run.campaigns
    assert report is not None and run.classic is None
    by = {c.scenario: c for c in report.campaigns}
    assert set(by) == {"f", "g", "h"}
    for name, c in by.items():
        assert c.attempts > 0, name
        assert c.max_exposed <= 18, name  # the never-followed cap (10), the week's budget (18) for (h)
        for victim in c.victims:  # stopped, or still under the cap it has not reached yet
            assert victim in c.contained_on or victim in c.capped_on or len(c.exposed.get(victim, ())) <= 10
    fast = max(by["f"].paces, key=lambda v: by["f"].paces[v])
    assert fast in by["f"].capped_on and len(by["f"].exposed[fast]) <= 10  # 19 a day: ten answered, then proofs
    assert by["h"].quotes_made > 0
    assert report.falsely_contained == set()
    # At 480x a presence proof's 20 minutes and a sign-in challenge's 5 are 2.5 s and 0.6 s of
    # wall time: on this machine under load a few lapse on the way (bench/SIMULATION.md, at 240x,
    # carries the count of legitimate refusals). The legitimate traffic goes on around the attacks.
    ok = sum(1 for r in report.legit if 0 < r.status < 400)
    assert len(report.legit) > 1000 and ok / len(report.legit) >= 0.95
    assert "(g) an optical chain" in (tmp_path / "days.md").read_text()
