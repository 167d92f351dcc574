"""Admitting a rights check without the patient's presence proof against the account's and its
organisation's budgets over a day, 7 days and 30 days (detection/budgets.py; docs/THREATS.md T2,
"Budgets over time"). Decided inside the check's write transaction, so that concurrent checks
count right; the answer is the same whether the patient exists or not (T3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tierspayant.detection.budgets import Budget, first_day, tally
from tierspayant.services.ports import HasPresence
from tierspayant.services.records import ContainmentScope

ACCOUNT = ContainmentScope.ACCOUNT
ORGANISATION = ContainmentScope.ORGANISATION


@dataclass(frozen=True, slots=True)
class Admission:
    admitted: bool
    #: Which budget was spent, as ``holder:window`` (``organisation:step_up`` while an
    #: organisation must show proofs); None when admitted or for a check with a proof.
    spent: str | None = None
    counted_account: bool = False
    counted_organisation: bool = False


WITH_PROOF = Admission(True)
BAD_PROOF = Admission(False)
KNOWN = Admission(True)  # already checked by this account in the memory window: nothing new disclosed
STEPPED_UP = Admission(False, "organisation:step_up")


def proofless_room(tx: HasPresence, account_id: int, organisation_id: int | None, day: date,
                   account: Budget, organisation: Budget) -> int:
    """How many new patients the account may still check without a proof today, under its own
    budgets and its organisation's (what the counter shows; the admission decides)."""
    since = first_day(day)
    room = tally(tx.presence.proofless_days(ACCOUNT, account_id, since), day).room(account)
    if organisation_id is not None:
        room = min(room, tally(tx.presence.proofless_days(ORGANISATION, organisation_id, since), day).room(organisation))
    return room


def admit_proofless(tx: HasPresence, account_id: int, organisation_id: int | None, subject: str, day: date,
                    account: Budget, organisation: Budget) -> Admission:
    """Admit ``subject`` for the account today, counting it for the account and its
    organisation where it is new to them; refuse when either has no room left."""
    since = first_day(day)
    if tx.presence.proofless_known(ACCOUNT, account_id, subject, since):
        return KNOWN
    mine = tally(tx.presence.proofless_days(ACCOUNT, account_id, since), day)
    if (window := mine.over(account)) is not None:
        return Admission(False, f"account:{window}")
    new_to_organisation = organisation_id is not None and not tx.presence.proofless_known(
        ORGANISATION, organisation_id, subject, since)
    if new_to_organisation:
        assert organisation_id is not None
        theirs = tally(tx.presence.proofless_days(ORGANISATION, organisation_id, since), day)
        if (window := theirs.over(organisation)) is not None:
            return Admission(False, f"organisation:{window}")
    tx.presence.count_proofless(ACCOUNT, account_id, subject, day, organisation_id)
    if new_to_organisation:
        assert organisation_id is not None
        tx.presence.count_proofless(ORGANISATION, organisation_id, subject, day)
    return Admission(True, None, True, new_to_organisation)
