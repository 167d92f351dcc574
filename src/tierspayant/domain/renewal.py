"""Renewal of optical equipment: one equipment per period, each element on its own period.

Source: LPP, titre II chapitre 2 (arrêté du 3 décembre 2018), "conditions de renouvellement";
docs/DOMAIN.md "Renewal":

- the period runs from the last reimbursed delivery of the element: when the frame and the lenses
  are delivered separately each element's period is reckoned from its own last delivery
  (``LastPurchases``), so an invoice for lenses alone restarts the lenses' period and not the
  frame's (the text as read here; docs/DOMAIN.md "What is still assumed");
- 2 years from age 16; 1 year under 16; "jusqu'à 6 ans" (read: up to the 6th year included,
  ``CHILD_SHORT_PERIOD_UP_TO``), 6 months when the frame no longer fits the child's face;
- early renewal on a change of sight meeting the LPP criteria (domain/prescriptions.py): from 16,
  the complete equipment (two lenses and a frame) after 1 year, the change found by a new
  prescription or by the optician adapting one (D4362-12-1 CSP); under 16, the lenses with no
  minimum delay when an ophthalmologist documents the change on a prescription -- the frame
  keeps its period;
- listed medical conditions (``MedicalCondition``), on a new ophthalmologist's prescription: the
  lenses with no minimum delay, the frame keeps its period;
- the early renewal rests on a new prescription: one issued on or before the last delivery of
  the lenses cannot show a change since them (the lenses would be paid again on every visit
  on the same paper), so it grants nothing (``Limit.PRESCRIPTION_NOT_AFTER_LAST_DELIVERY``);
  a prescription after the date of care is refused where the facts are read
  (services/calculation.py CareFacts.check);
- age is taken at the date of the new purchase; whether the anniversary day itself is eligible
  is fixed by no text (configuration, default eligible).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from tierspayant.domain.limits import Limit
from tierspayant.domain.optics import add_months, age_at
from tierspayant.domain.prescriptions import Criterion

#: "jusqu'à 6 ans" (LPP): read as "aged 6 or less" -- the same text says "de plus de 6 ans et de
#: moins de 16 ans" for the 1-year period, which then starts at 7.
CHILD_SHORT_PERIOD_UP_TO = 6
ADULT_FROM = 16


class EarlyRenewal(StrEnum):
    """Why an equipment is renewed before its period (LPP, renouvellement anticipé)."""

    SIGHT_CHANGE = "sight_change"
    MEDICAL_CONDITION = "medical_condition"
    FRAME_NO_LONGER_FITS = "frame_no_longer_fits"


class MedicalCondition(StrEnum):
    """Conditions that allow renewing the lenses without delay (the LPP list as ameli presents
    it; the full list was not seen: ``other_listed`` for the rest)."""

    GLAUCOMA = "glaucoma"
    OCULAR_HYPERTENSION = "ocular_hypertension"
    AMD = "amd"  # DMLA
    PROGRESSIVE_CATARACT = "progressive_cataract"
    AMBLYOPIA = "amblyopia"
    DIABETES = "diabetes"
    HIV = "hiv"
    LONG_TERM_CORTICOSTEROIDS = "long_term_corticosteroids"
    OTHER_LISTED = "other_listed"


def latest(*days: date | None) -> date | None:
    """The latest of the dates given (None: none given)."""
    return max((d for d in days if d is not None), default=None)


class Parts(StrEnum):
    """What one reimbursed delivery held."""

    EQUIPMENT = "equipment"  # frame and lenses
    FRAME = "frame"
    LENSES = "lenses"

    @classmethod
    def of(cls, frame: bool, lenses: bool) -> Parts:
        return cls.EQUIPMENT if frame and lenses else cls.FRAME if frame else cls.LENSES


@dataclass(frozen=True, slots=True)
class LastPurchases:
    """The last reimbursed delivery of each element (None: none known)."""

    frame: date | None = None
    lenses: date | None = None

    @classmethod
    def whole(cls, delivered: date | None) -> LastPurchases:
        return cls(delivered, delivered)

    @classmethod
    def of(cls, deliveries: Iterable[tuple[date, Parts]]) -> LastPurchases:
        """The last delivery of each element among ``deliveries``."""
        frames = [d for d, parts in deliveries if parts is not Parts.LENSES]
        lenses = [d for d, parts in deliveries if parts is not Parts.FRAME]
        return cls(max(frames, default=None), max(lenses, default=None))

    def later(self, other: LastPurchases) -> LastPurchases:
        """Per element, the later of the two (a declared date and the platform's own record)."""
        return LastPurchases(latest(self.frame, other.frame), latest(self.lenses, other.lenses))


@dataclass(frozen=True, slots=True)
class RenewalGrounds:
    """What the professional declares: the reason of an early renewal and, for a change of sight,
    the LPP criteria its prescriptions meet (prescriptions.sight_change) and who found it."""

    reason: EarlyRenewal | None = None
    sight_change: tuple[Criterion, ...] = ()
    by_ophthalmologist: bool = False
    #: When the current prescription was issued (a change of sight or a medical condition).
    prescribed_on: date | None = None
    #: Whether the anniversary day itself is eligible: no text fixes it (configuration).
    anniversary_eligible: bool = True


@dataclass(frozen=True, slots=True)
class RenewalDates:
    """The first date each element is reimbursed again (None: no restriction)."""

    frame: date | None
    lenses: date | None
    note: Limit | None = None

    def refuses(self, part_is_frame: bool, at: date) -> bool:
        first = self.frame if part_is_frame else self.lenses
        return first is not None and at < first

    @property
    def whole(self) -> date | None:
        """The date from which the whole equipment is reimbursed."""
        return latest(self.frame, self.lenses)


def _after(last: date | None, months: int, grounds: RenewalGrounds) -> date | None:
    if last is None:
        return None
    first = add_months(last, months)
    return first if grounds.anniversary_eligible else first + timedelta(days=1)


def _new_prescription(prescribed_on: date | None, last_lenses: date | None) -> bool:
    """Whether the prescription came after the lenses last delivered (none known: it did)."""
    return last_lenses is None or (prescribed_on is not None and prescribed_on > last_lenses)


def renewal_dates(last: LastPurchases, birth_date: date, at: date, grounds: RenewalGrounds) -> RenewalDates:
    """When the frame and the lenses are reimbursed again, for a purchase on ``at``."""
    age = age_at(birth_date, at)
    months = 24 if age >= ADULT_FROM else 12
    note: Limit | None = None
    if grounds.reason is EarlyRenewal.FRAME_NO_LONGER_FITS:
        if age <= CHILD_SHORT_PERIOD_UP_TO:
            months = 6
        else:
            note = Limit.CHILD_FRAME_RULE_AGE
    frame = _after(last.frame, months, grounds)
    lenses = _after(last.lenses, months, grounds)
    if grounds.reason in (EarlyRenewal.SIGHT_CHANGE, EarlyRenewal.MEDICAL_CONDITION) and not _new_prescription(
            grounds.prescribed_on, last.lenses):
        return RenewalDates(frame, lenses, Limit.PRESCRIPTION_NOT_AFTER_LAST_DELIVERY)
    if grounds.reason is EarlyRenewal.MEDICAL_CONDITION:
        if grounds.by_ophthalmologist:
            lenses = None
        else:
            note = Limit.OPHTHALMOLOGIST_REQUIRED
    elif grounds.reason is EarlyRenewal.SIGHT_CHANGE:
        if not grounds.sight_change:
            note = Limit.SIGHT_CHANGE_BELOW_LPP_THRESHOLD
        elif age >= ADULT_FROM:
            frame, lenses = _after(last.frame, 12, grounds), _after(last.lenses, 12, grounds)
        elif grounds.by_ophthalmologist:
            lenses = None
        else:
            note = Limit.OPHTHALMOLOGIST_REQUIRED
    return RenewalDates(frame, lenses, note)
