"""Detection thresholds: documented defaults, overridable per insurer (``insurers.detection``,
a JSON object with any of these fields).

The defaults are set from the legitimate patterns the simulator draws (simulate/traffic.py):
a busy pharmacist presents about one patient every two minutes at a counter, an optician a
dozen a day, a GP thirty. Limits count *distinct presented patients* per account (and per
organisation), hits and misses alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

#: Window lengths (seconds) the distinct counts are kept over.
WINDOWS = (60, 600, 3600, 86400)


@dataclass(frozen=True, slots=True)
class Thresholds:
    #: Distinct presented patients per account, for each window of WINDOWS.
    account_distinct: tuple[int, int, int, int] = (6, 20, 60, 250)
    #: Distinct presented patients per organisation (several counters, several accounts).
    organisation_distinct: tuple[int, int, int, int] = (20, 80, 300, 1500)
    #: Checks that matched nobody (wrong member number / birth date / unknown NIR) per account
    #: in 10 minutes before the failure ratio counts, and the ratio that is suspicious.
    failure_min_attempts: int = 6
    failure_ratio: float = 0.5
    #: Failed matches on one presented identity (guessing a birth date) per account per day.
    same_identity_failures: int = 3
    #: Proof-less budgets (detection/budgets.py): an account's unfollowed new proof-less patients
    #: in any 7 and any 30 days (its day bound is the insurer's ``proofless_daily_quota``), and
    #: an organisation's (day, 7 days, 30 days). Set from what legitimate accounts need, measured
    #: by ``python -m bench.proofless_needs`` (docs/THREATS.md, "Budgets over time"): the worst
    #: optician of 3,000 accounts over 60 days needs 16 and 27, the p99 13 and 24; a chain of 40
    #: opticians 46 a day, 208 and 536.
    account_proofless_week: int = 18
    account_proofless_month: int = 36
    organisation_proofless: tuple[int, int, int] = (150, 450, 1200)
    #: A holder with this many unfollowed proof-less patients in 30 days, at most
    #: ``unfollowed_followed_share`` of them followed, must show proofs (budgets.py); for
    #: detection it is a weak signal (score 1) that adds to the others.
    unfollowed_min: int = 10
    unfollowed_followed_share: float = 0.1
    #: When an organisation trips, its accounts with at least this many unfollowed proof-less
    #: patients in 30 days (and at most one in ten invoiced or quoted) drove it: they are
    #: suspended, the others stepped up (proofs and a fresh passkey sign-in).
    driver_min: int = 8
    #: How long an organisation's step-up lasts unless an officer lifts it sooner.
    organisation_step_up_hours: int = 24
    #: Refusals for lack of a presence proof (quota reached) per account per hour.
    quota_refusals: int = 3
    #: Distinct presented identities sharing a NIR neighbourhood (sex, birth year and month,
    #: place: the first 10 digits) per account per hour: sequential guessing.
    sequential_neighbours: int = 4
    #: The account's own baseline (detection/baselines.py): once it has this many working days
    #: learned, an hour or a day above ``own_factor`` times its usual (never below the floors)
    #: is a signal (score 1.5 each), and its own hours replace the fixed opening hours.
    own_min_days: int = 5
    own_factor: float = 3.0
    own_hour_floor: int = 12
    own_day_floor: int = 40
    #: An insurer's proof-less new patients in the current hour above ``insurer_proofless_factor``
    #: times the same hour's mean over its past week (never below the floor) raise an alert.
    insurer_proofless_floor: int = 200
    insurer_proofless_factor: float = 3.0
    #: Quotes and invoices are reads (signals.assess_reads): more than this many on one
    #: engagement in an hour throttles the account (an optician simulates a few lens options
    #: per patient); more than this many on all its engagements in an hour steps it up (a busy
    #: pharmacy invoices about 30 patients an hour, the distinct-patient hour limit is 60).
    engagement_reads_hour: int = 12
    account_reads_hour: int = 120
    #: Business hours, local time (Europe/Paris): checks outside them weigh more.
    opening_hour: int = 7
    closing_hour: int = 21
    #: Score at which each action is taken (see signals.assess).
    throttle_score: float = 2.0
    step_up_score: float = 3.0
    suspend_account_score: float = 4.0
    #: Accounts of one organisation contained within a day before the organisation is stepped up.
    organisation_accounts: int = 3

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None, base: Thresholds | None = None) -> Thresholds:
        """``base`` (the defaults) with overrides; unknown keys are an error, not ignored."""
        base = base or cls()
        if not config:
            return base
        known = {f.name for f in fields(cls)}
        unknown = set(config) - known
        if unknown:
            raise ValueError(f"unknown detection setting(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
        return replace(base, **values)
