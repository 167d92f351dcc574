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
    #: Refusals for lack of a presence proof (quota reached) per account per hour.
    quota_refusals: int = 3
    #: Distinct presented identities sharing a NIR neighbourhood (sex, birth year and month,
    #: place: the first 10 digits) per account per hour: sequential guessing.
    sequential_neighbours: int = 4
    #: Business hours, local time (Europe/Paris): checks outside them weigh more.
    opening_hour: int = 7
    closing_hour: int = 21
    #: Score at which each action is taken (see signals.assess).
    throttle_score: float = 2.0
    step_up_score: float = 3.0
    suspend_account_score: float = 4.0
    #: Accounts of one organisation contained within a day before the organisation is.
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
