"""From an account's recent rights checks to a score and an action (docs/THREATS.md T2-T4)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from tierspayant.detection.thresholds import WINDOWS, Thresholds


class Action(IntEnum):
    """Graduated containment, mildest first. Each is recorded in the transparency log, raises
    an alert, and can be lifted by a security officer."""

    NONE = 0
    THROTTLE = 1  # the account's data requests are refused (429) for a few minutes
    STEP_UP = 2  # the session ends: a fresh passkey sign-in is needed (a stolen token is dead)
    SUSPEND_ACCOUNT = 3  # every session ends, no new one until lifted
    SUSPEND_ORGANISATION = 4  # every account of the organisation (a security officer's kill switch)
    CLOSE_INSURER_ROUTE = 5  # one insurer's rights checks, for everyone (manual kill switch)


#: A session from a device or network the account never signed in from weighs half a point
#: each; a session token used from another network than the one it was opened on, a point.
NOVELTY_WEIGHTS = {"new_device": 0.5, "new_network": 0.5, "session_moved": 1.0}


@dataclass(frozen=True, slots=True)
class Activity:
    """What an account (and its organisation) did recently, this check included."""

    account_distinct: tuple[int, int, int, int]  # distinct presented patients per WINDOWS
    organisation_distinct: tuple[int, int, int, int]
    attempts_10min: int
    failures_10min: int  # matched nobody
    same_identity_failures: int  # most failed matches on one presented identity, last day
    quota_refusals_1h: int
    sequential_neighbours_1h: int  # most distinct identities in one NIR neighbourhood, last hour
    local_hour: int
    organisation_contained_accounts: int = 0
    #: The proof-less budget that refused this check, as ``holder:window`` (budgets.py), or None.
    budget_spent: str | None = None
    #: The account's own limits crossed (baselines.over_own), and whether this local hour is one
    #: it works in (None: no baseline learned yet: the fixed opening hours apply).
    over_own: tuple[str, ...] = ()
    usual_hour: bool | None = None
    #: What is new about the session (security/novelty.py): "new_device", "new_network",
    #: "session_moved".
    novel: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Assessment:
    score: float
    action: Action  # for this check's account, judged on its own signals only
    reasons: tuple[str, ...]
    #: Why the organisation trips (empty: it does not). An organisation is never suspended
    #: automatically: the accounts that drove it are, and the others are stepped up.
    organisation: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reads:
    """An account's quotes and invoices -- reads of a patient's guarantees through an engagement
    its rights check gave -- this one included, in the current hour (issue 13, point 2)."""

    engagement_hour: int  # on this one engagement
    account_hour: int  # on all of the account's engagements
    local_hour: int
    usual_hour: bool | None = None
    novel: tuple[str, ...] = ()


def _action(score: float, t: Thresholds) -> Action:
    if score >= t.suspend_account_score:
        return Action.SUSPEND_ACCOUNT
    if score >= t.step_up_score:
        return Action.STEP_UP
    if score >= t.throttle_score:
        return Action.THROTTLE
    return Action.NONE


def _off_hours(local_hour: int, usual_hour: bool | None, t: Thresholds) -> bool:
    """Outside the account's own hours once learned, the fixed opening hours before."""
    return not usual_hour if usual_hour is not None else not t.opening_hour <= local_hour < t.closing_hour


def assess_reads(reads: Reads, t: Thresholds) -> Assessment:
    """Quotes and invoices count as reads (docs/THREATS.md, "Quotes and invoices are reads"):
    the people they reach are bounded by the rights checks that gave their engagements, but a
    scraper could map one patient's guarantees through many simulations, or read an account's
    patients again at volume. Many reads of one engagement throttle; an account's volume steps
    the session up; each is heavier with a new device or network, or off hours."""
    reasons: list[str] = []
    score = 0.0
    if reads.engagement_hour > t.engagement_reads_hour:
        reasons.append(f"engagement_reads_3600s>{t.engagement_reads_hour}")
        score += t.throttle_score
    if reads.account_hour > t.account_reads_hour:
        reasons.append(f"account_reads_3600s>{t.account_reads_hour}")
        score += t.step_up_score
    if score:
        for reason in reads.novel:
            reasons.append(reason)
            score += NOVELTY_WEIGHTS[reason]
        if _off_hours(reads.local_hour, reads.usual_hour, t):
            reasons.append("off_hours")
            score *= 1.5
    return Assessment(score, _action(score, t), tuple(reasons))


def assess(activity: Activity, t: Thresholds) -> Assessment:
    """Each signal over its threshold adds to the score; a hard limit on distinct patients
    suspends whatever the rest says. Off-hours activity (outside the account's own hours once
    learned, the fixed opening hours before) weighs 1.5x. The organisation's counts
    never decide this account's action: the check that happens to cross the organisation's
    line is judged like any other (docs/THREATS.md, "Containment that hits the attacker")."""
    reasons: list[str] = []
    score = 0.0
    for window, seen, limit in zip(WINDOWS, activity.account_distinct, t.account_distinct, strict=True):
        if seen > limit:
            reasons.append(f"account_distinct_{window}s>{limit}")
            score += t.suspend_account_score  # a volume no counter produces
    failures = activity.failures_10min
    if activity.attempts_10min >= t.failure_min_attempts and failures / activity.attempts_10min >= t.failure_ratio:
        reasons.append("failure_ratio")
        score += 2.0
    if activity.same_identity_failures >= t.same_identity_failures:
        reasons.append("same_identity_failures")
        score += t.suspend_account_score  # guessing a birth date or a member number
    if activity.quota_refusals_1h >= t.quota_refusals:
        reasons.append("quota_refusals")
        score += 3.0
    if activity.sequential_neighbours_1h >= t.sequential_neighbours:
        reasons.append("sequential_identifiers")
        score += 3.0
    if activity.budget_spent == "account:unfollowed":
        # Refused by the never-followed cap (budgets.py, the one place that rule lives); alone
        # an unlucky optician whose patients all went to compare prices, with other signals a scraper.
        reasons.append("unfollowed_proofless")
        score += 1.0
    for reason in activity.over_own:  # against its own history: alone, a step short of a throttle
        reasons.append(reason)
        score += 1.5
    for reason in activity.novel:  # weak alone (a new laptop, a new connection), telling with others
        reasons.append(reason)
        score += NOVELTY_WEIGHTS[reason]
    if score and _off_hours(activity.local_hour, activity.usual_hour, t):
        reasons.append("off_hours")
        score *= 1.5
    action = _action(score, t)
    org_over = [f"organisation_distinct_{w}s" for w, seen, limit in zip(
        WINDOWS, activity.organisation_distinct, t.organisation_distinct, strict=True) if seen > limit]
    spent = activity.budget_spent or ""
    if spent.startswith("organisation:") and spent != "organisation:step_up":
        org_over.append("organisation_proofless_budget")
    if action >= Action.SUSPEND_ACCOUNT and activity.organisation_contained_accounts + 1 >= t.organisation_accounts:
        org_over.append("organisation_accounts_contained")
    return Assessment(score, action, tuple(reasons), tuple(org_over))
