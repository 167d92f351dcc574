"""The simulator's clock (simulate/clock.py): every server worker and the simulator must read the
same simulated time from the same spec, slow stretches included."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tierspayant.simulate.clock import AcceleratedClock

ANCHOR = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def test_slow_stretches_map_simulated_and_wall_time_both_ways() -> None:
    start, end = ANCHOR + timedelta(hours=1), ANCHOR + timedelta(hours=1, minutes=30)
    clock = AcceleratedClock(1000.0, ANCHOR, 200.0, ((start, end, 20.0),))
    assert clock.wall_time_of(start) == pytest.approx(1000.0 + 3600 / 200)
    assert clock.wall_time_of(end) == pytest.approx(1018.0 + 1800 / 20)  # 90 s of wall for 30 min
    assert clock.wall_time_of(end + timedelta(hours=1)) == pytest.approx(1108.0 + 3600 / 200)
    assert AcceleratedClock.parse(clock.spec()) == clock


def test_now_and_rate_follow_the_stretch_in_force() -> None:
    wall = time.time()
    clock = AcceleratedClock(wall - 10.0, ANCHOR, 200.0, ((ANCHOR + timedelta(seconds=1000),
                                                          ANCHOR + timedelta(seconds=2000), 50.0),))
    # 10 wall seconds: 5 at 200x (1000 s), then 5 at 50x (250 s)
    assert abs((clock.now() - ANCHOR).total_seconds() - 1250) < 5
    assert clock.rate() == 50.0
    assert AcceleratedClock(wall, ANCHOR, 200.0).rate() == 200.0


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        AcceleratedClock.parse("1000.0@2026-11-23T06:00:00@200.0")
    with pytest.raises(ValueError, match="slow stretches"):
        AcceleratedClock(1000.0, ANCHOR, 200.0, ((ANCHOR + timedelta(hours=2), ANCHOR + timedelta(hours=1), 20.0),))
