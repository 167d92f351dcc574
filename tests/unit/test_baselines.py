"""Volumes against their own history (detection/baselines.py): an account's baseline learned
from its days, its own limits and hours in the assessment, an insurer's hour against its week."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from tierspayant.detection.baselines import Baseline, fold, insurer_volume_over, over_own
from tierspayant.detection.signals import Action, Activity, assess
from tierspayant.detection.thresholds import Thresholds

T = Thresholds()
DAY = date(2026, 3, 2)
QUIET = Activity((1, 3, 8, 40), (2, 10, 30, 200), attempts_10min=3, failures_10min=0, same_identity_failures=1,
                 quota_refusals_1h=0, sequential_neighbours_1h=1, local_hour=10)


def learned(days: int, per_day: dict[int, int]) -> Baseline:
    baseline = None
    for n in range(days):
        baseline = fold(baseline, DAY + timedelta(days=n), per_day)
    assert baseline is not None
    return baseline


def test_a_baseline_is_the_mean_of_its_first_days_then_moves_a_fifth_a_day() -> None:
    b = fold(fold(None, DAY, {9: 4, 10: 6}), DAY + timedelta(days=1), {14: 2})
    assert (b.days, b.day_mean, b.peak_hour_mean) == (2, 6.0, 4.0)  # (10 + 2) / 2, (6 + 2) / 2
    assert b.usual_hour(10) and b.usual_hour(15) and not b.usual_hour(3)  # worked at 9, 10, 14 (+-1 h)
    steady = learned(10, {10: 10})
    moved = fold(steady, DAY + timedelta(days=10), {10: 60})
    assert moved.day_mean == 10 + 0.2 * 50 and moved.learned_through == DAY + timedelta(days=10)


def test_own_limits_need_enough_days_and_respect_the_floors() -> None:
    usual = learned(5, {9: 2, 10: 3, 11: 3})  # 8 a day, 3 in its busiest hour
    assert over_own(learned(4, {10: 3}), 100, 500, 5, 3.0, 12, 40) == ()  # four days: not yet
    assert over_own(usual, 12, 40, 5, 3.0, 12, 40) == ()  # at the floors: left alone
    assert over_own(usual, 13, 41, 5, 3.0, 12, 40) == ("above_own_hour", "above_own_day")
    busy = learned(5, {10: 20, 11: 20})  # a pharmacy: 40 a day, 20 an hour
    assert over_own(busy, 55, 110, 5, 3.0, 12, 40) == ()  # under three times its usual


def test_an_account_over_its_own_usual_is_stepped_up_and_its_own_hours_replace_the_fixed_ones() -> None:
    one = assess(replace(QUIET, over_own=("above_own_day",)), T)
    assert one.action is Action.NONE and "above_own_day" in one.reasons  # alone: a weak signal
    both = assess(replace(QUIET, over_own=("above_own_hour", "above_own_day")), T)
    assert both.action is Action.STEP_UP
    # 10:00 is within the fixed opening hours, but this account never works then: off-hours.
    odd = assess(replace(QUIET, over_own=("above_own_day",), usual_hour=False), T)
    assert "off_hours" in odd.reasons and odd.score == 1.5 * 1.5
    late = assess(replace(QUIET, over_own=("above_own_day",), local_hour=22, usual_hour=True), T)
    assert "off_hours" not in late.reasons  # an optician open late, as its history shows


def test_an_insurer_hour_is_judged_against_the_same_hour_of_its_week() -> None:
    week = [40, 50, 60, 45, 55, 0, 0]  # a weekend in it
    assert not insurer_volume_over(199, week, 200, 3.0)  # under the floor
    assert not insurer_volume_over(105, week, 100, 3.0)  # over the floor, under three times 35.7
    assert insurer_volume_over(110, week, 100, 3.0)
    assert insurer_volume_over(250, week, 200, 3.0)
    assert insurer_volume_over(201, [], 200, 3.0)  # no history: the floor alone
