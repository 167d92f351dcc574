"""The proof-less budgets' arithmetic (detection/budgets.py): what a never-following account can
read at every pace, over many days; what following its checks leaves a real professional; windows
bounded on both sides (docs/THREATS.md T2, "Budgets over time")."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tierspayant.detection.budgets import Budget, ProoflessDay, Tally, tally
from tierspayant.detection.thresholds import Thresholds

T = Thresholds()
ACCOUNT = Budget(20, T.account_proofless_week, T.account_proofless_month, T.unfollowed_min,
                 T.unfollowed_followed_share)
START = date(2026, 3, 2)


def run(days: int, pace: int, follow_every: int | None, budget: Budget = ACCOUNT) -> int:
    """Admitted new proof-less patients over ``days`` at ``pace`` a day, following one check in
    ``follow_every`` at once (None: never)."""
    counters: dict[date, ProoflessDay] = {}
    admitted = 0
    for n in range(days):
        day = START + timedelta(days=n)
        for k in range(pace):
            if tally(counters.values(), day).over(budget) is not None:
                break
            current = counters.get(day, ProoflessDay(day, 0, 0))
            followed = follow_every is not None and k % follow_every == 0
            counters[day] = ProoflessDay(day, current.admitted + 1, current.followed + int(followed))
            admitted += 1
    return admitted


@pytest.mark.parametrize("pace", range(1, 21))
def test_a_never_following_account_reads_at_most_ten_people_in_30_days_whatever_its_pace(pace: int) -> None:
    assert run(30, pace, None) == T.unfollowed_min
    assert run(60, pace, None) <= 2 * T.unfollowed_min  # the window slides: 10 more in the next 30


def test_a_professional_who_bills_what_it_checks_is_bounded_by_the_day_only() -> None:
    assert run(30, 20, 1) == 30 * 20  # every check invoiced at the counter: 20 a day, every day
    assert run(30, 25, 1) == 30 * 20  # the day's bound holds for everyone


def test_an_optician_whose_patients_often_leave_keeps_checking() -> None:
    # two in three quoted: 4 unfollowed a day, 28 a week > 12 -- the week's budget is what holds it
    admitted = run(7, 6, 3)
    assert 12 <= admitted < 7 * 6
    assert run(7, 3, 2) == 21  # one in two quoted, 3 a day: what bench/proofless_needs.py says opticians need


def test_windows_are_bounded_on_both_sides() -> None:
    today = START
    days = [ProoflessDay(today + timedelta(days=1), 50, 0),  # a clock ahead wrote it: counts nowhere
            ProoflessDay(today - timedelta(days=30), 50, 0),  # out of the 30 days
            ProoflessDay(today - timedelta(days=29), 3, 1),  # in the month only
            ProoflessDay(today - timedelta(days=6), 4, 0),  # in the week
            ProoflessDay(today, 5, 5)]
    assert tally(days, today) == Tally(5, 4, 6, 12)


@given(st.lists(st.tuples(st.integers(-40, 5), st.integers(0, 30), st.integers(0, 30)), max_size=40))
def test_the_tally_never_counts_more_than_was_admitted_in_its_windows(rows: list[tuple[int, int, int]]) -> None:
    today = START
    days = [ProoflessDay(today + timedelta(days=d), a, min(f, a)) for d, a, f in rows]
    result = tally(days, today)
    in_month = [d for d in days if timedelta(days=-29) <= d.day - today <= timedelta(0)]
    assert 0 <= result.unfollowed_week <= result.unfollowed_month <= result.admitted_month
    assert result.admitted_month == sum(d.admitted for d in in_month)
    assert result.today == sum(d.admitted for d in days if d.day == today)


def test_the_room_left_is_the_tightest_window() -> None:
    budget = Budget(day=20, week=60, month=100, unfollowed=10, followed_share=0.1)
    assert Tally(0, 0, 0, 0).room(budget) == 20
    assert Tally(5, 58, 58, 80).room(budget) == 2  # the week is tighter than the day
    assert Tally(25, 0, 0, 25).room(budget) == 0  # never negative
    assert Tally(1, 10, 10, 10).room(budget) == 0  # never followed: proofs needed
