"""The sign-in source throttle's schedule (security/throttle.py): a source that never stops
failing reaches the password hash a bounded number of times in a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tierspayant.security.throttle import SOURCE_MAX_FAILURES, source_blocked_until


def hashed_attempts_in(period: timedelta, every: timedelta = timedelta(seconds=1)) -> int:
    """A source trying every ``every``: how many attempts get past the block to a hash."""
    start = now = datetime(2026, 3, 2, tzinfo=UTC)
    failures, last = 0, now
    while now < start + period:
        until = source_blocked_until(failures, last)
        if until is None or now >= until:
            failures, last = failures + 1, now
        now += every
    return failures


def test_a_relentless_source_costs_at_most_37_hashes_a_day() -> None:
    assert hashed_attempts_in(timedelta(days=1)) == SOURCE_MAX_FAILURES + 7
    assert hashed_attempts_in(timedelta(days=1), every=timedelta(minutes=1)) == SOURCE_MAX_FAILURES + 7


def test_the_wait_doubles_after_each_failure_past_the_limit() -> None:
    last = datetime(2026, 3, 2, tzinfo=UTC)
    assert source_blocked_until(SOURCE_MAX_FAILURES - 1, last) is None
    waits = [source_blocked_until(SOURCE_MAX_FAILURES + k, last) - last for k in range(9)]  # type: ignore[operator]
    assert waits[:8] == [timedelta(minutes=10 * 2**k) for k in range(8)]
    assert waits[8] == waits[7]  # capped at 2**7 windows (21 h)
