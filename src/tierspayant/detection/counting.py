"""How distinct counts over sliding windows are kept as counters, not scans (issue 13, point 1):
every presented identity sits in exactly one slot per width -- the slot of its latest
presentation -- and a window's distinct count is the sum of the slots it covers. A check moves
its identity from its old slots to the current ones, so the cost of a check does not depend on
how many the account (or its organisation) presented before.

Windows are rounded out to whole slots: up to one slot longer than their nominal length (the
minute and ten-minute windows by up to 60 s, the hour by up to ten minutes, the day by up to an
hour), which only makes a limit stricter. Each window reads at most 25 slots: the hour sums ten-
minute slots, not sixty minute ones (measured: summing the minutes was detection's dearest read).
Slots after the current one count in no window (a counter dated in the future: point 5)."""

from __future__ import annotations

from datetime import datetime

from tierspayant.detection.thresholds import WINDOWS

#: Slot widths (seconds): minutes for the windows up to ten minutes, ten minutes for the hour,
#: hours for the day.
MINUTE, TEN_MINUTES, HOUR = 60, 600, 3600
WIDTHS = (MINUTE, TEN_MINUTES, HOUR)


def width_of(window: int) -> int:
    """The slot width a window of ``window`` seconds sums."""
    return MINUTE if window <= TEN_MINUTES else TEN_MINUTES if window <= HOUR else HOUR


def slot(at: datetime, width: int) -> int:
    return int(at.timestamp()) // width


def window_slots(at: datetime) -> tuple[tuple[int, int, int], ...]:
    """For each window of WINDOWS: (width, first slot, last slot) of the slots it sums."""
    out = []
    for window in WINDOWS:
        width = width_of(window)
        now = slot(at, width)
        out.append((width, now - window // width, now))
    return tuple(out)


def in_window(previous: datetime | None, at: datetime,
              spans: tuple[tuple[int, int, int], ...] | None = None) -> tuple[bool, ...]:
    """For each window: whether an identity last presented at ``previous`` already counts in it
    at ``at`` (then presenting it again adds nothing to that window); ``spans``: the
    ``window_slots(at)`` the caller already holds."""
    if previous is None:
        return tuple(False for _ in WINDOWS)
    seconds = int(previous.timestamp())
    return tuple(first <= seconds // width <= last for width, first, last in spans or window_slots(at))
