"""Volumes against their own history (issue 13, point 2; docs/THREATS.md, "Own baselines"):
an account's usual distinct patients per day and per busiest hour, and the hours
it works, learned from its own days; an insurer's proof-less checks per hour against the same
hour of its past week. Pure rules: the service feeds them the counters' slots.

An account's baseline is learned once a day from the day before (its hour slots of the
account's distinct counts, detection/counting.py): only days it worked count, each weighing a
fifth of the running mean once five are known (an exponential mean: a changed practice is
learned in about a week). Until ``min_days`` are known the fixed opening hours and limits alone
apply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

#: Weight of a new day in the running means once the first days are averaged.
NEW_DAY_WEIGHT = 0.2
#: Days of an insurer's history its hourly baseline reads (the same hour of each).
INSURER_DAYS = 7


@dataclass(frozen=True, slots=True)
class Baseline:
    """What an account usually does on a working day."""

    days: int  # working days learned
    day_mean: float  # distinct patients a day
    peak_hour_mean: float  # distinct patients in its busiest hour
    hours: int  # bit h set: it has worked in local hour h
    learned_through: date

    def usual_hour(self, hour: int) -> bool:
        """Whether the account has worked in this local hour, or one next to it."""
        return any(self.hours >> h & 1 for h in (hour - 1, hour, hour + 1) if 0 <= h < 24)


def fold(old: Baseline | None, day: date, hour_counts: dict[int, int]) -> Baseline:
    """The baseline with one more working day: ``hour_counts`` maps a local hour to the distinct
    patients whose latest presentation of the day fell in it (their sum: the day's distinct)."""
    total, peak = sum(hour_counts.values()), max(hour_counts.values(), default=0)
    mask = 0
    for hour, count in hour_counts.items():
        if count:
            mask |= 1 << hour
    if old is None:
        return Baseline(1, float(total), float(peak), mask, day)
    days = old.days + 1
    weight = max(NEW_DAY_WEIGHT, 1 / days)  # a plain mean for the first five days
    return Baseline(days, old.day_mean + weight * (total - old.day_mean),
                    old.peak_hour_mean + weight * (peak - old.peak_hour_mean), old.hours | mask, day)


def over_own(baseline: Baseline | None, hour_distinct: int, day_distinct: int, min_days: int, factor: float,
             hour_floor: int, day_floor: int) -> tuple[str, ...]:
    """The account's own limits this check crosses: its hour or its day above ``factor`` times
    what it usually does (never below the floors: a quiet account may have a busy day)."""
    if baseline is None or baseline.days < min_days:
        return ()
    out = []
    if hour_distinct > max(hour_floor, factor * baseline.peak_hour_mean):
        out.append("above_own_hour")
    if day_distinct > max(day_floor, factor * baseline.day_mean):
        out.append("above_own_day")
    return tuple(out)


def insurer_volume_over(now: int, history: list[int], floor: int, factor: float) -> bool:
    """An insurer's proof-less checks of the current hour (``now``) against the same hour of
    the past days (``history``, missing days as 0): an alert, never a shutdown."""
    usual = sum(history) / len(history) if history else 0.0
    return now > max(floor, factor * usual)
