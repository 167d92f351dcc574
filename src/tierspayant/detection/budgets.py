"""Budgets of proof-less rights checks over time (docs/THREATS.md T2, "a stolen account reads
almost nothing"): a bound per day would be a bound of 600 a month. Three windows, per account and
per organisation, counted as *new* patients -- a patient this holder already checked without a
proof in the last 30 days costs nothing again, since nothing new is disclosed:

- the day (Europe/Paris calendar day): every new proof-less patient counts;
- the last 7 and the last 30 days (today included): only the **unfollowed** ones count --
  admitted without a proof and not (or not yet) followed by an invoice from the check's
  engagement (directly or through its PEC). Care that is billed leaves a claim the insurer pays
  and the patient sees on their statement; a scraper's checks never do, and a quote -- one more
  request for a scraper -- does not count here. Doctors and pharmacists invoice at the counter;
  opticians days later, when the glasses are delivered; a patient who left without buying stays
  unfollowed.

Over any budget, proof-less checks are refused (the patient's proof is needed), the same answer
for hits and misses. Counters per (holder, day), never a scan of past checks: the cost of a
check is flat whatever the holder did before (``bench/detection_cost.py``).

And whatever the windows, a holder with ``unfollowed`` unfollowed patients in 30 days of which at
most one in ten were invoiced or at least quoted (a PEC, the optician's step before the
delivery) must show proofs: an account that never follows its checks is capped at
``unfollowed`` people (10 by default) in any 30 days, whatever its pace -- the promise of
"almost nothing"; one that requests a PEC for every patient is held by the 7- and 30-day
budgets (tests/unit/test_budgets.py walks the paces)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

#: How long a patient stays "already checked" for a holder, and the longest window.
MEMORY_DAYS = 30
WEEK_DAYS = 7


@dataclass(frozen=True, slots=True)
class Budget:
    day: int  # new proof-less patients in one calendar day
    week: int  # unfollowed proof-less patients admitted in the last 7 days, today included
    month: int  # the same over the last 30 days
    #: A holder whose proof-less patients are almost never followed reads people it does not
    #: treat: once it has ``unfollowed`` unfollowed in 30 days and at most ``followed_share`` of
    #: its proof-less patients followed, it must show proofs.
    unfollowed: int = 10
    followed_share: float = 0.1


@dataclass(frozen=True, slots=True)
class ProoflessDay:
    """One holder's counters for one day."""

    day: date
    admitted: int  # new proof-less patients admitted that day
    followed: int  # of which later followed by an invoice
    quoted: int = 0  # of which quoted (a PEC) and not invoiced yet


@dataclass(frozen=True, slots=True)
class Tally:
    today: int  # new proof-less patients today
    unfollowed_week: int
    unfollowed_month: int
    admitted_month: int  # new proof-less patients over the 30 days, followed or not
    quoted_month: int = 0  # of the unfollowed, those with a PEC awaiting its invoice

    @property
    def followed_month(self) -> int:
        return self.admitted_month - self.unfollowed_month

    def over(self, budget: Budget) -> str | None:
        """The first window with no room left for one more new patient, or None."""
        if self.today >= budget.day:
            return "day"
        if self.unfollowed_week >= budget.week:
            return "week"
        if self.unfollowed_month >= budget.month:
            return "month"
        if self.never_followed(budget):
            return "unfollowed"
        return None

    def room(self, budget: Budget) -> int:
        """How many more new patients fit in every window today (0 once one is full)."""
        if self.never_followed(budget):
            return 0
        return max(0, min(budget.day - self.today, budget.week - self.unfollowed_week,
                          budget.month - self.unfollowed_month))

    def never_followed(self, budget: Budget) -> bool:
        """Almost nothing invoiced nor even quoted (a PEC: the glasses are delivered days later)."""
        return (self.unfollowed_month >= budget.unfollowed
                and self.followed_month + self.quoted_month <= budget.followed_share * self.admitted_month)


def first_day(today: date) -> date:
    """The oldest day the windows read (and the memory of already-checked patients)."""
    return today - timedelta(days=MEMORY_DAYS - 1)


def tally(days: Iterable[ProoflessDay], today: date) -> Tally:
    """Counters in, window totals out. A day after ``today`` (a counter written by a clock
    ahead) counts in no window (issue 13, point 5)."""
    week_start = today - timedelta(days=WEEK_DAYS - 1)
    month_start = first_day(today)
    count = week = month = admitted = quoted = 0
    for d in days:
        if not month_start <= d.day <= today:
            continue
        pending = max(0, d.admitted - d.followed)
        month += pending
        admitted += d.admitted
        quoted += min(pending, d.quoted)
        if d.day >= week_start:
            week += pending
        if d.day == today:
            count += d.admitted
    return Tally(count, week, month, admitted, quoted)
