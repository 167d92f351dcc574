"""How distinct counts over sliding windows are kept as counters, not scans (issue 13, point 1):
every presented identity sits in exactly one slot per width -- the slot of its latest
presentation -- and a window's distinct count is the sum of the slots it covers. A check moves
its identity from its old slots to the current ones, so the cost of a check does not depend on
how many the account (or its organisation) presented before.

Windows are rounded out to whole slots: up to one slot longer than their nominal length (the
minute windows by up to 60 s, the day by up to an hour), which only makes a limit stricter.
Slots after the current one count in no window (a counter dated in the future: point 5)."""

from __future__ import annotations

from datetime import datetime

from tierspayant.detection.thresholds import WINDOWS

#: Slot widths (seconds): minutes for the windows up to an hour, hours for the day.
MINUTE, HOUR = 60, 3600
WIDTHS = (MINUTE, HOUR)


def slot(at: datetime, width: int) -> int:
    return int(at.timestamp()) // width


def window_slots(at: datetime) -> tuple[tuple[int, int, int], ...]:
    """For each window of WINDOWS: (width, first slot, last slot) of the slots it sums."""
    out = []
    for window in WINDOWS:
        width = MINUTE if window <= HOUR else HOUR
        now = slot(at, width)
        out.append((width, now - window // width, now))
    return tuple(out)


def in_window(previous: datetime | None, at: datetime) -> tuple[bool, ...]:
    """For each window: whether an identity last presented at ``previous`` already counts in it
    at ``at`` (then presenting it again adds nothing to that window)."""
    if previous is None:
        return tuple(False for _ in WINDOWS)
    return tuple(first <= slot(previous, width) <= last for width, first, last in window_slots(at))
