"""The beneficiary lifecycle's date rules (services/lifecycle.py), without a database: a
radiation closes every period on its date, a contract change splits the period covering its
date and never reaches back, and the contract on a date of care is the covering period's."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from tierspayant.domain.reference import CareCategory
from tierspayant.services.lifecycle import contract_on, ended, with_contract_from
from tierspayant.services.records import Beneficiary, RightsPeriod

OPTICAL = frozenset({CareCategory.OPTICAL})
MEMBER = Beneficiary(1, 1, 10, "0000000001", 0, "185057800608436", date(1985, 5, 17), "Martin", "Paul")
PERIODS = [RightsPeriod(date(2024, 1, 1), date(2024, 12, 31), OPTICAL),
           RightsPeriod(date(2025, 1, 1), None, OPTICAL)]


def test_a_radiation_closes_open_periods_and_drops_later_ones() -> None:
    assert ended(PERIODS, date(2025, 6, 30)) == [PERIODS[0], RightsPeriod(date(2025, 1, 1), date(2025, 6, 30), OPTICAL)]
    assert ended(PERIODS, date(2024, 6, 30)) == [RightsPeriod(date(2024, 1, 1), date(2024, 6, 30), OPTICAL)]
    assert ended(PERIODS, date(2023, 12, 31)) == []


def test_a_contract_change_splits_the_covering_period() -> None:
    moved = with_contract_from(MEMBER, PERIODS, date(2025, 7, 1), 20)
    assert moved == [RightsPeriod(date(2024, 1, 1), date(2024, 12, 31), OPTICAL, 10),
                     RightsPeriod(date(2025, 1, 1), date(2025, 6, 30), OPTICAL, 10),
                     RightsPeriod(date(2025, 7, 1), None, OPTICAL, 20)]
    assert contract_on(MEMBER, moved, date(2025, 6, 30)) == 10
    assert contract_on(MEMBER, moved, date(2025, 7, 1)) == 20
    # The same change again changes nothing (a retried request).
    assert with_contract_from(MEMBER, moved, date(2025, 7, 1), 20) == moved


@given(st.dates(date(2023, 1, 1), date(2027, 1, 1)), st.dates(date(2023, 1, 1), date(2027, 1, 1)))
def test_care_before_the_change_keeps_its_contract(effective: date, care: date) -> None:
    moved = with_contract_from(MEMBER, PERIODS, effective, 20)
    covered = [p for p in PERIODS if p.start <= care and (p.end is None or care <= p.end)]
    if covered:
        assert contract_on(MEMBER, moved, care) == (20 if care >= effective else 10)
    # Coverage itself never changes: the same days are covered before and after.
    for day in (care, effective):
        assert any(p.covers(day, CareCategory.OPTICAL) for p in moved) == any(
            p.covers(day, CareCategory.OPTICAL) for p in PERIODS)
