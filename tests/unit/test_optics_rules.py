from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from tierspayant.domain.optics import (
    EquipmentCategory,
    LensCategory,
    LensType,
    add_months,
    equipment_category,
    lens_category,
)
from tierspayant.domain.renewal import LastPurchases, RenewalGrounds, renewal_dates

NEW = date(2026, 2, 10)
OLD = date(2025, 6, 1)
U, M = LensType.UNIFOCAL, LensType.MULTIFOCAL


@pytest.mark.parametrize(("kind", "sph", "cyl", "expected"), [
    (U, "-6.00", "0", "a"), (U, "6.25", "0", "c"), (U, "4.00", "2.00", "a"), (U, "4.00", "2.25", "c"),
    (U, "-2.00", "4.00", "a"), (U, "-2.00", "4.25", "c"), (U, "-6.25", "1.00", "c"),
    (U, "1.00", "-2.00", "a"),  # minus cylinder transposed: sph -1.00, cyl +2.00
    (M, "4.00", "0", "c"), (M, "-4.25", "0", "f"), (M, "6.00", "2.00", "c"), (M, "6.00", "2.25", "f"),
    (M, "-8.00", "4.00", "c"), (M, "-8.25", "0.50", "f"),
])
def test_lens_categories_2025(kind: LensType, sph: str, cyl: str, expected: str) -> None:
    assert lens_category(kind, D(sph), D(cyl), NEW) is LensCategory(expected)


def test_lens_categories_before_28_november_2025() -> None:
    assert lens_category(U, D("-6.00"), D("4.00"), OLD) is LensCategory.SIMPLE
    assert lens_category(U, D("-6.00"), D("4.25"), OLD) is LensCategory.COMPLEX
    assert lens_category(M, D("-4.25"), D("0"), OLD) is LensCategory.VERY_COMPLEX


def test_equipment_pairs() -> None:
    a, c, f = LensCategory.SIMPLE, LensCategory.COMPLEX, LensCategory.VERY_COMPLEX
    assert [equipment_category(x, y).value for x, y in [(a, a), (a, c), (c, c), (a, f), (c, f), (f, f)]] == list("abcdef")
    assert equipment_category(c, a) is EquipmentCategory.B


def test_age_is_taken_at_the_new_purchase() -> None:
    # 15 at the previous purchase, 16 now: the adult 2-year period applies.
    dates = renewal_dates(LastPurchases.whole(date(2025, 3, 1)), date(2010, 2, 1), date(2026, 2, 10), RenewalGrounds())
    assert dates.whole == date(2027, 3, 1)


def test_add_months_clamps() -> None:
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
