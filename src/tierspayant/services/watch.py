"""Detection on the housekeeping beat (issue 13, point 2; docs/THREATS.md, "Own baselines"):
the day before folded into each account's baseline, and each insurer's proof-less volume of
the hour compared with the same hour of its week -- an alert, never a containment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from tierspayant.detection.baselines import INSURER_DAYS, fold, insurer_volume_over
from tierspayant.detection.counting import HOUR, slot
from tierspayant.detection.thresholds import Thresholds
from tierspayant.services.ports import HasContainments, HasDetection, HasReference, UnitOfWork
from tierspayant.services.records import ContainmentScope, Insurer

PARIS = ZoneInfo("Europe/Paris")
#: detection_slots scopes of the insurer-wide watch: proof-less new patients per hour, and the
#: hours already alerted.
INSURER_PROOFLESS, INSURER_ALERTED = "insurer_proofless", "insurer_alerted"


class WatchStore(HasDetection, HasContainments, HasReference, Protocol):
    """The ports the beat works with (services/ports/)."""


def learn_baselines(uow: UnitOfWork[WatchStore], day: date) -> int:
    """Fold ``day`` (Paris) into the baseline of every account that worked it, from its hour
    slots; an account already learned through ``day`` is left alone (another worker, or a
    restart). Returns how many baselines moved."""
    start = datetime.combine(day, time(0), PARIS)
    end = datetime.combine(day + timedelta(days=1), time(0), PARIS) - timedelta(seconds=1)
    with uow() as tx:
        by_account: dict[int, dict[int, int]] = {}
        for (account_id, hour_slot), count in tx.detection.hourly(ContainmentScope.ACCOUNT.value, start, end).items():
            hour = datetime.fromtimestamp(hour_slot * HOUR, PARIS).hour
            counts = by_account.setdefault(account_id, {})
            counts[hour] = counts.get(hour, 0) + count
        learned = 0
        for account_id, counts in by_account.items():
            old = tx.detection.baseline(account_id)
            if old is not None and old.learned_through >= day:
                continue
            learned += tx.detection.save_baseline(account_id, fold(old, day, counts), old)
    return learned


def watch_insurers(uow: UnitOfWork[WatchStore], thresholds: Callable[[Insurer | None], Thresholds],
                   now: datetime) -> list[str]:
    """A high-severity alert for each insurer whose proof-less new patients this hour exceed
    its thresholds against the same hour of the past week; once per insurer and hour."""
    raised = []
    with uow() as tx:
        counts = tx.detection.hourly(INSURER_PROOFLESS, now - timedelta(days=INSURER_DAYS), now)
        current = slot(now, HOUR)
        for (insurer_id, hour_slot), count in counts.items():
            if hour_slot != current:
                continue
            t = thresholds(tx.reference.insurer(insurer_id))
            history = [counts.get((insurer_id, current - 24 * k), 0) for k in range(1, INSURER_DAYS + 1)]
            if insurer_volume_over(count, history, t.insurer_proofless_floor, t.insurer_proofless_factor) and (
                    tx.detection.bump(INSURER_ALERTED, insurer_id, now) == 1):  # once an hour
                text = (f"detection: insurer {insurer_id} proof-less volume {count} new patients this hour, "
                        f"usual {sum(history) / len(history):.0f} (alert only, nothing contained)")
                tx.containments.add_alert(now, "high", None, text)
                raised.append(text)
    return raised
