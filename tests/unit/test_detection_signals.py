"""The pure assessment (detection/signals.py): each signal moves the score, off-hours weigh
more, and normal activity is left alone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tierspayant.detection.signals import Action, Activity, Reads, assess, assess_reads
from tierspayant.detection.thresholds import Thresholds

T = Thresholds()
QUIET = Activity((1, 3, 8, 40), (2, 10, 30, 200), attempts_10min=3, failures_10min=0, same_identity_failures=1,
                 quota_refusals_1h=0, sequential_neighbours_1h=1, local_hour=10)


def test_a_busy_but_normal_counter_is_left_alone() -> None:
    assert assess(QUIET, T).action is Action.NONE


@pytest.mark.parametrize(("change", "action", "reason"), [
    ({"account_distinct": (7, 7, 7, 7)}, Action.SUSPEND_ACCOUNT, "account_distinct_60s>6"),
    ({"account_distinct": (1, 3, 8, 251)}, Action.SUSPEND_ACCOUNT, "account_distinct_86400s>250"),
    ({"same_identity_failures": 3}, Action.SUSPEND_ACCOUNT, "same_identity_failures"),
    ({"quota_refusals_1h": 3}, Action.STEP_UP, "quota_refusals"),
    ({"sequential_neighbours_1h": 4}, Action.STEP_UP, "sequential_identifiers"),
    ({"attempts_10min": 6, "failures_10min": 3}, Action.THROTTLE, "failure_ratio"),
    ({"budget_spent": "account:unfollowed", "attempts_10min": 6, "failures_10min": 3},
     Action.STEP_UP, "unfollowed_proofless"),
])
def test_each_signal(change: dict[str, object], action: Action, reason: str) -> None:
    from dataclasses import replace

    result = assess(replace(QUIET, **change), T)  # type: ignore[arg-type]
    assert result.action is action and reason in result.reasons
    assert result.organisation == ()  # an account's own signals never trip its organisation alone


def test_checks_that_are_followed_are_care_not_scraping() -> None:
    from dataclasses import replace

    # refused by a week's budget: an optician whose patients compare prices, not the
    # never-followed pattern; refused by that cap: a weak signal only, never a containment alone
    assert "unfollowed_proofless" not in assess(replace(QUIET, budget_spent="account:week"), T).reasons
    assert assess(replace(QUIET, budget_spent="account:unfollowed"), T).action is Action.NONE  # capped, not contained


@pytest.mark.parametrize(("change", "reason"), [
    ({"organisation_distinct": (21, 21, 21, 21)}, "organisation_distinct_60s"),
    ({"budget_spent": "organisation:day"}, "organisation_proofless_budget"),
])
def test_an_organisation_trips_without_deciding_for_the_account_that_crossed(change: dict[str, object],
                                                                             reason: str) -> None:
    from dataclasses import replace

    result = assess(replace(QUIET, **change), T)  # type: ignore[arg-type]
    assert reason in result.organisation
    assert result.action is Action.NONE  # the check that crossed the line is judged on its own account


def test_off_hours_weigh_more() -> None:
    from dataclasses import replace

    failing = replace(QUIET, attempts_10min=6, failures_10min=3)
    assert assess(failing, T).action is Action.THROTTLE
    at_night = assess(replace(failing, local_hour=3), T)
    assert at_night.action is Action.STEP_UP and "off_hours" in at_night.reasons


def test_an_organisation_trips_when_several_of_its_accounts_were_contained() -> None:
    from dataclasses import replace

    guessing = replace(QUIET, same_identity_failures=5, organisation_contained_accounts=2)
    result = assess(guessing, T)
    assert result.action is Action.SUSPEND_ACCOUNT and "organisation_accounts_contained" in result.organisation


def test_insurer_overrides_and_unknown_keys() -> None:
    assert Thresholds.from_config({"account_distinct": [1, 2, 3, 4]}).account_distinct == (1, 2, 3, 4)
    with pytest.raises(ValueError, match="nope"):
        Thresholds.from_config({"nope": 1})


@given(st.integers(0, 6), st.integers(0, 20), st.integers(0, 60), st.integers(0, 250), st.integers(7, 20))
def test_within_every_limit_by_day_nothing_happens(m1: int, m10: int, h1: int, d1: int, hour: int) -> None:
    from dataclasses import replace

    activity = replace(QUIET, account_distinct=(m1, m10, h1, d1), local_hour=hour)
    assert assess(activity, T).action is Action.NONE


# -- quotes and invoices are reads (signals.assess_reads) ----------------------------------------
T = Thresholds()


@pytest.mark.parametrize(("engagement", "account", "hour", "novel", "action"), [
    (T.engagement_reads_hour, T.account_reads_hour, 10, ("new_device", "session_moved"), Action.NONE),  # at the limits
    (T.engagement_reads_hour + 1, 20, 10, (), Action.THROTTLE),  # mapping one patient's guarantees
    (T.engagement_reads_hour + 1, 20, 10, ("new_network",), Action.THROTTLE),
    (T.engagement_reads_hour + 1, 20, 10, ("new_device", "new_network"), Action.STEP_UP),
    (T.engagement_reads_hour + 1, 20, 3, (), Action.STEP_UP),  # off hours: 2 x 1.5
    (3, T.account_reads_hour + 1, 10, (), Action.STEP_UP),  # reading its patients again at volume
    (T.engagement_reads_hour + 1, T.account_reads_hour + 1, 10, (), Action.SUSPEND_ACCOUNT),
])
def test_reads_of_an_engagement_and_of_an_account(engagement: int, account: int, hour: int, novel: tuple[str, ...],
                                                  action: Action) -> None:
    result = assess_reads(Reads(engagement, account, hour, None, novel), T)
    assert result.action is action
    assert bool(result.reasons) is (action is not Action.NONE)  # novelty alone never speaks


def test_reads_follow_the_accounts_own_hours_once_learned() -> None:
    over = Reads(T.engagement_reads_hour + 1, 1, 3, usual_hour=True)  # an optician who opens at 3
    assert assess_reads(over, T).action is Action.THROTTLE
    assert assess_reads(Reads(T.engagement_reads_hour + 1, 1, 10, usual_hour=False), T).action is Action.STEP_UP
