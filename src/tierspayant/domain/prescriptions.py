"""Prescriptions per eye and the change of sight that justifies an early renewal of the lenses.

Source: LPP, titre II chapitre 2 (optique médicale, arrêté du 3 décembre 2018), "renouvellement
anticipé": a change of refraction is established by comparing the new prescription (or the
optician's adaptation of it) with the previous one, on these criteria (``Criterion``):

- sphere or cylinder: at least 0.50 D on one lens, or at least 0.25 D on each of the two;
- addition (presbyopia): at least 0.50 D on one lens, or at least 0.25 D on each of the two;
- axis of a cylinder: more than 20° for a cylinder up to 1.00 D, more than 10° from 1.25 D to
  4.00 D, more than 5° above 4.00 D.

The 0.50 D / 0.25 D thresholds on sphere or cylinder are confirmed by insurers' notices quoting
the text; the addition and axis thresholds are the LPP as remembered here, not yet checked
against the arrêté's own text (docs/DOMAIN.md "What is still assumed").

Powers are compared in plus-cylinder form (sphere' = sphere + cyl, cyl' = -cyl, axis' = axis ± 90°,
the form décret 2025-1131 states its lens categories in, optics.plus_cylinder): a prescription
written in minus cylinder and its transposition then compare equal. The text does not say which
form; this reading is listed in docs/DOMAIN.md "What is still assumed".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from tierspayant.domain.errors import InvalidField
from tierspayant.domain.optics import plus_cylinder

#: Threshold on one lens, and on each lens when both changed (LPP, renouvellement anticipé).
ONE_LENS, EACH_LENS = Decimal("0.50"), Decimal("0.25")


class Prescriber(StrEnum):
    """Who established the prescription: an ophthalmologist, or an optician adapting a valid
    prescription (article L4362-10 CSP; décret 2016-1381)."""

    OPHTHALMOLOGIST = "ophthalmologist"
    OPTICIAN_ADAPTATION = "optician_adaptation"


class Criterion(StrEnum):
    """Which LPP criterion of a change of sight is met."""

    SPHERE_OR_CYLINDER = "SPHERE_OR_CYLINDER"
    ADDITION = "ADDITION"
    AXIS = "AXIS"


@dataclass(frozen=True, slots=True)
class Eye:
    """One eye's refraction: sphere and cylinder in dioptres, axis in degrees (1-180), addition."""

    sphere: Decimal
    cylinder: Decimal = Decimal(0)
    axis: int | None = None
    addition: Decimal | None = None

    def plus_form(self) -> Eye:
        """The same refraction in plus-cylinder form (the axis turns by 90°)."""
        if self.cylinder >= 0:
            return self
        sphere, cylinder = plus_cylinder(self.sphere, self.cylinder)
        axis = None if self.axis is None else (self.axis + 90 - 1) % 180 + 1
        return Eye(sphere, cylinder, axis, self.addition)


@dataclass(frozen=True, slots=True)
class Prescription:
    issued_on: date
    prescriber: Prescriber
    right: Eye
    left: Eye

    def fingerprint(self) -> list[str]:
        """The prescription as it identifies a request (services/calculation.py CareFacts)."""
        eyes = [str(x) for e in (self.right, self.left) for x in (e.sphere, e.cylinder, e.axis, e.addition)]
        return [self.issued_on.isoformat(), self.prescriber.value, *eyes]


def axis_turn(before: int, after: int) -> int:
    """The smallest angle between two cylinder axes (axes are defined modulo 180°)."""
    turn = abs(before - after) % 180
    return min(turn, 180 - turn)


def axis_limit(cylinder: Decimal) -> int:
    """Degrees an axis must turn by, more than, for a cylinder of this power (LPP)."""
    if cylinder <= Decimal("1.00"):
        return 20
    if cylinder <= Decimal("4.00"):
        return 10
    return 5


def _both_or_one(changes: tuple[Decimal, Decimal]) -> bool:
    return max(changes) >= ONE_LENS or min(changes) >= EACH_LENS


def sight_change(previous: Prescription, current: Prescription, field: str = "facts.prescriptions") -> tuple[Criterion, ...]:
    """The LPP criteria of a change of sight that ``current`` meets against ``previous`` (empty:
    no change that justifies an early renewal). Refuses a current prescription older than the
    previous one, naming ``field``."""
    if current.issued_on < previous.issued_on:
        raise InvalidField(f"{field}.current.issued_on", "the current prescription is older than the previous one")
    pairs = [(previous.right.plus_form(), current.right.plus_form()), (previous.left.plus_form(), current.left.plus_form())]
    met: list[Criterion] = []
    powers = tuple(max(abs(new.sphere - old.sphere), abs(new.cylinder - old.cylinder)) for old, new in pairs)
    if _both_or_one((powers[0], powers[1])):
        met.append(Criterion.SPHERE_OR_CYLINDER)
    additions = [abs((new.addition or Decimal(0)) - (old.addition or Decimal(0))) for old, new in pairs]
    if any(old.addition is not None or new.addition is not None for old, new in pairs) and \
            _both_or_one((additions[0], additions[1])):
        met.append(Criterion.ADDITION)
    for old, new in pairs:
        if old.axis is None or new.axis is None or old.cylinder == 0 or new.cylinder == 0:
            continue
        if axis_turn(old.axis, new.axis) > axis_limit(new.cylinder):
            met.append(Criterion.AXIS)
            break
    return tuple(met)
