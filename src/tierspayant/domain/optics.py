"""Optical rules: lens categories, equipment categories, legal floors and ceilings, renewal.

Sources: R871-2 3° CSS (contrat responsable, amounts unchanged since 1 Jan 2020), décret
2025-1131 (lens categories from 28 Nov 2025), renewal: domain/renewal.py.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

#: Care from this date on uses the décret 2025-1131 lens categories.
CATEGORIES_2025_FROM = date(2025, 11, 28)
#: The frame's cover is limited to €100 in every case (R871-2 3°).
FRAME_LEGAL_CAP = Decimal("100.00")


class LensType(StrEnum):
    UNIFOCAL = "unifocal"
    MULTIFOCAL = "multifocal"
    PROGRESSIVE = "progressive"  # a multifocal lens for the rules (décret 2025-1131)


class LensCategory(StrEnum):
    """simple (a), complex (c), very complex (f)."""

    SIMPLE = "a"
    COMPLEX = "c"
    VERY_COMPLEX = "f"


class EquipmentCategory(StrEnum):
    """Equipment categories a-f of R871-2 3° CSS (frame + 2 lenses)."""

    A = "a"
    B = "b"
    C = "c"
    D = "d"
    E = "e"
    F = "f"


#: R871-2 3° CSS, both including the AMO share.
LEGAL_FLOORS = {
    EquipmentCategory.A: Decimal("50"), EquipmentCategory.B: Decimal("125"), EquipmentCategory.C: Decimal("200"),
    EquipmentCategory.D: Decimal("125"), EquipmentCategory.E: Decimal("200"), EquipmentCategory.F: Decimal("200"),
}
LEGAL_CEILINGS = {
    EquipmentCategory.A: Decimal("420"), EquipmentCategory.B: Decimal("560"), EquipmentCategory.C: Decimal("700"),
    EquipmentCategory.D: Decimal("610"), EquipmentCategory.E: Decimal("750"), EquipmentCategory.F: Decimal("800"),
}
#: D911-1 CSS: employer group contracts have higher floors.
ANI_FLOORS = {
    EquipmentCategory.A: Decimal("100"), EquipmentCategory.B: Decimal("150"), EquipmentCategory.C: Decimal("200"),
    EquipmentCategory.D: Decimal("150"), EquipmentCategory.E: Decimal("200"), EquipmentCategory.F: Decimal("200"),
}


def plus_cylinder(sph: Decimal, cyl: Decimal) -> tuple[Decimal, Decimal]:
    """Transpose a minus-cylinder prescription: sphere' = sphere + cyl, cyl' = -cyl (décret
    2025-1131 states its bounds in plus-cylinder form)."""
    if cyl < 0:
        return sph + cyl, -cyl
    return sph, cyl


def lens_category(lens_type: LensType, sph: Decimal, cyl: Decimal, at: date) -> LensCategory:
    """Category of one lens for care on ``at``."""
    s, c = plus_cylinder(sph, cyl)
    if at < CATEGORIES_2025_FROM:
        # Definitions before 28 Nov 2025: simple = unifocal with sphere in [-6, +6] and
        # cyl <= +4; complex = other unifocal, or multifocal with sphere in [-4, +4].
        if lens_type is LensType.UNIFOCAL:
            simple = Decimal(-6) <= s <= Decimal(6) and c <= Decimal(4)
            return LensCategory.SIMPLE if simple else LensCategory.COMPLEX
        return LensCategory.COMPLEX if Decimal(-4) <= s <= Decimal(4) else LensCategory.VERY_COMPLEX
    if lens_type is LensType.UNIFOCAL:
        low, high = LensCategory.SIMPLE, LensCategory.COMPLEX
        limit_sph, limit_sum = Decimal(6), Decimal(6)
    else:
        low, high = LensCategory.COMPLEX, LensCategory.VERY_COMPLEX
        limit_sph, limit_sum = Decimal(4), Decimal(8)
    if c == 0:
        return low if -limit_sph <= s <= limit_sph else high
    if s > 0:
        return low if s + c <= limit_sum else high
    minus_limit = Decimal(-6) if lens_type is LensType.UNIFOCAL else Decimal(-8)
    if s >= minus_limit:
        return low if c <= Decimal(4) else high
    return high


_PAIRS = {
    frozenset({LensCategory.SIMPLE}): EquipmentCategory.A,
    frozenset({LensCategory.COMPLEX}): EquipmentCategory.C,
    frozenset({LensCategory.VERY_COMPLEX}): EquipmentCategory.F,
    frozenset({LensCategory.SIMPLE, LensCategory.COMPLEX}): EquipmentCategory.B,
    frozenset({LensCategory.SIMPLE, LensCategory.VERY_COMPLEX}): EquipmentCategory.D,
    frozenset({LensCategory.COMPLEX, LensCategory.VERY_COMPLEX}): EquipmentCategory.E,
}


def equipment_category(first: LensCategory, second: LensCategory) -> EquipmentCategory:
    """{a,a}->a, {c,c}->c, {f,f}->f, {a,c}->b, {a,f}->d, {c,f}->e (R871-2 3°)."""
    return _PAIRS[frozenset({first, second})]


def age_at(birth_date: date, at: date) -> int:
    """Age in whole years on ``at``."""
    years = at.year - birth_date.year
    if (at.month, at.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def add_months(day: date, months: int) -> date:
    """``day`` plus whole months, clamped to the month's end (29 Feb + 12 months -> 28 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover
