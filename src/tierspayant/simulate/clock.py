"""A clock that runs faster than the wall clock, for ``tiers simulate``: a synthetic day of
traffic in a couple of minutes, with every server worker and the simulator agreeing on the time
(they share the anchor). Set by TIERS_SIMULATED_CLOCK=
"<anchor epoch s>@<anchor ISO time>@<factor>[;<slow from ISO>/<slow until ISO>/<factor>...]".
Never set in production.

Slow stretches: compressing time 200x also makes an attacker who goes "as fast as it can" 200
times slower in simulated time (a request that takes 5 ms of wall time takes a simulated second)
and its wall-clock load 200 times heavier against the day's traffic; the simulator runs the
fast attacks' windows at a lower factor, the same in the attack-free run."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class AcceleratedClock:
    anchor_wall: float  # time.time() at the anchor
    anchor: datetime  # the simulated time at the anchor (timezone-aware)
    factor: float  # simulated seconds per wall second, outside the slow stretches
    #: (from, until, factor): simulated intervals that run at another factor, in time order.
    slow: tuple[tuple[datetime, datetime, float], ...] = ()
    #: (wall start, simulated start, factor) of each stretch, from the anchor on.
    stretches: tuple[tuple[float, datetime, float], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        stretches = [(self.anchor_wall, self.anchor, self.factor)]
        for start, end, factor in self.slow:
            wall, at, current = stretches[-1]
            if start < at or end <= start or factor <= 0:
                raise ValueError("slow stretches must follow the anchor and each other, with a positive factor")
            begins = wall + (start - at).total_seconds() / current
            stretches.append((begins, start, factor))
            stretches.append((begins + (end - start).total_seconds() / factor, end, self.factor))
        object.__setattr__(self, "stretches", tuple(stretches))

    def _stretch_at_wall(self, wall: float) -> tuple[float, datetime, float]:
        current = self.stretches[0]
        for stretch in self.stretches[1:]:
            if stretch[0] > wall:
                break
            current = stretch
        return current

    def now(self) -> datetime:
        wall = time.time()
        begins, at, factor = self._stretch_at_wall(wall)
        return at + timedelta(seconds=(wall - begins) * factor)

    def rate(self) -> float:
        """Simulated seconds per wall second, now."""
        return self._stretch_at_wall(time.time())[2]

    def wall_time_of(self, at: datetime) -> float:
        """The time.time() at which the simulated instant ``at`` comes."""
        current = self.stretches[0]
        for stretch in self.stretches[1:]:
            if stretch[1] > at:
                break
            current = stretch
        begins, start, factor = current
        return begins + (at - start).total_seconds() / factor

    def spec(self) -> str:
        slow = "".join(f";{s.isoformat()}/{e.isoformat()}/{f!r}" for s, e, f in self.slow)
        return f"{self.anchor_wall!r}@{self.anchor.isoformat()}@{self.factor!r}{slow}"

    @classmethod
    def parse(cls, spec: str) -> AcceleratedClock:
        head, *stretches = spec.split(";")
        wall, anchor, factor = head.split("@")
        at = datetime.fromisoformat(anchor)
        if at.tzinfo is None:
            raise ValueError("the simulated anchor time must carry its timezone")
        slow = []
        for stretch in stretches:
            start, end, rate = stretch.split("/")
            slow.append((datetime.fromisoformat(start), datetime.fromisoformat(end), float(rate)))
        return cls(float(wall), at, float(factor), tuple(slow))
