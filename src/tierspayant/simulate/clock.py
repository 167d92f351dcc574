"""A clock that runs faster than the wall clock, for ``tiers simulate``: a synthetic day of
traffic in a couple of minutes, with every server worker and the simulator agreeing on the time
(they share the anchor). Set by TIERS_SIMULATED_CLOCK="<anchor epoch s>@<anchor ISO time>@<factor>".
Never set in production."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class AcceleratedClock:
    anchor_wall: float  # time.time() at the anchor
    anchor: datetime  # the simulated time at the anchor (timezone-aware)
    factor: float

    def now(self) -> datetime:
        return self.anchor + timedelta(seconds=(time.time() - self.anchor_wall) * self.factor)

    def wall_time_of(self, at: datetime) -> float:
        """The time.time() at which the simulated instant ``at`` comes."""
        return self.anchor_wall + (at - self.anchor).total_seconds() / self.factor

    def spec(self) -> str:
        return f"{self.anchor_wall!r}@{self.anchor.isoformat()}@{self.factor!r}"

    @classmethod
    def parse(cls, spec: str) -> AcceleratedClock:
        wall, anchor, factor = spec.split("@")
        at = datetime.fromisoformat(anchor)
        if at.tzinfo is None:
            raise ValueError("the simulated anchor time must carry its timezone")
        return cls(float(wall), at, float(factor))
