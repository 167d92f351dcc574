"""What an account and its organisation did recently, as a rights check reads it before its
write, and the same with the check counted (services/detection.py judges it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tierspayant.detection.baselines import Baseline
from tierspayant.detection.counting import in_window, window_slots
from tierspayant.detection.thresholds import WINDOWS
from tierspayant.services.records import Presented, RecentActivity, SeenSubject


@dataclass(frozen=True)
class Snapshot:
    """What the account and its organisation did recently, read before this check (outside the
    write lock): distinct counts per window (from slots), aggregates over the account's
    identities of the hour, and this identity's own counters."""

    account: tuple[int, ...]
    organisation: tuple[int, ...]
    recent: RecentActivity
    subject: SeenSubject | None
    #: What the account usually does (detection/baselines.py), or None: nothing learned yet.
    baseline: Baseline | None = None

    def with_check(self, p: Presented, mine: datetime | None, theirs: datetime | None) -> Snapshot:
        """The same with this check counted; ``mine``/``theirs``: when the account and the
        organisation had last presented this identity (what the write found)."""
        hit, failure, refusal = p.counts
        s = self.subject
        counted = (SeenSubject(p.subject, p.neighbourhood, p.at, 1, hit, failure, refusal) if s is None else
                   SeenSubject(s.subject, s.neighbourhood, p.at, s.attempts + 1, s.hits + hit, s.failures + failure,
                               s.refusals + refusal))
        # This identity leaves the aggregates as it was and comes back as it now is.
        r = self.recent
        ten = s is not None and p.at - timedelta(seconds=WINDOWS[1]) <= s.last_at <= p.at
        hour = s is not None and p.at - timedelta(seconds=WINDOWS[2]) <= s.last_at <= p.at
        failed_before = ten and s is not None and s.hits == 0 and s.failures > 0
        mine_near = r.my_neighbours_hour + (0 if hour else 1)
        recent = RecentActivity(
            r.identities_10min + (0 if ten else 1),
            r.failed_10min - failed_before + (counted.hits == 0 and counted.failures > 0),
            max(r.most_failures_hour, counted.failures),
            r.refusals_hour - (s.refusals if hour and s is not None else 0) + counted.refusals,
            mine_near)

        spans = window_slots(p.at)

        def plus(counts: tuple[int, ...], before: datetime | None) -> tuple[int, ...]:
            return tuple(c + (0 if known else 1) for c, known in zip(counts, in_window(before, p.at, spans),
                                                                     strict=True))

        organisation = plus(self.organisation, theirs) if p.organisation_id is not None else self.organisation
        return Snapshot(plus(self.account, mine), organisation, recent, counted, self.baseline)


NOTHING = Snapshot((0, 0, 0, 0), (0, 0, 0, 0), RecentActivity(), None)
