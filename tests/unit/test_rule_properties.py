"""Hypothesis properties of issue 17's rules (docs/ARCHITECTURE.md principle 12): a frame inside
its period is never paid on an early renewal, an extra fee out of pathway is never covered, and
class A never leaves a remainder within its PLV and is refused above it."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tierspayant.domain.calculation import CareContext, Pathway, PricedLine, QuoteLine, calculate
from tierspayant.domain.contracts import Contract, OpticalGuarantee
from tierspayant.domain.errors import RuleRefused
from tierspayant.domain.money import cents
from tierspayant.domain.optics import LEGAL_CEILINGS, EquipmentCategory, LensType
from tierspayant.domain.prescriptions import Criterion
from tierspayant.domain.reference import ItemKind, OpticalClass, ReferenceCode
from tierspayant.domain.renewal import EarlyRenewal, LastPurchases, RenewalGrounds
from tierspayant.domain.tariffs import Doctor, Exemption, Sector

AT = date(2026, 2, 10)
money = st.decimals(min_value=Decimal("0.00"), max_value=Decimal("2000.00"), places=2)
GENEROUS = Contract("P", "P", optical=OpticalGuarantee(class_b_ceilings=dict(LEGAL_CEILINGS)),
                    depassement_optam=Decimal("2.00"), depassement_non_optam=Decimal("1.00"))


def row(kind: ItemKind, klass: OpticalClass | None, br: str, plv: str | None = None, rate: str = "0.60",
        rate_out: str | None = None, br_non_optam: str | None = None) -> ReferenceCode:
    return ReferenceCode(f"X{kind.value}{klass}", kind, "x", Decimal(br), Decimal(rate), date(2017, 1, 1),
                         optical_class=klass, plv=Decimal(plv) if plv else None,
                         amo_rate_out_of_pathway=Decimal(rate_out) if rate_out else None,
                         br_non_optam=Decimal(br_non_optam) if br_non_optam else None)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 90), st.integers(0, 364), st.sampled_from([EarlyRenewal.SIGHT_CHANGE, EarlyRenewal.MEDICAL_CONDITION]),
       st.lists(st.sampled_from(Criterion), max_size=3, unique=True), st.booleans(), st.sampled_from(OpticalClass),
       st.integers(0, 800))
def test_an_early_renewal_never_pays_a_frame_inside_its_period(
        age: int, days_ago: int, reason: EarlyRenewal, criteria: list[Criterion], by_ophthalmologist: bool,
        frame_class: OpticalClass, lenses_days_ago: int) -> None:
    # The shortest frame period outside the young child's ill-fitting frame is 12 months: a
    # frame delivered less than a year ago is inside it, whatever the early-renewal ground.
    frame = row(ItemKind.FRAME, frame_class, "9.00" if frame_class is OpticalClass.A else "0.05",
                "30.00" if frame_class is OpticalClass.A else None)
    lens = row(ItemKind.LENS, OpticalClass.B, "0.05")
    lines = [PricedLine(QuoteLine(frame.code, Decimal("30.00")), frame, 0),
             PricedLine(QuoteLine(lens.code, Decimal("80.00"), 1, LensType.UNIFOCAL, Decimal("-1.00")), lens, 1)]
    ctx = CareContext(AT, date(AT.year - age, 1, 1),
                      LastPurchases(AT - timedelta(days=days_ago), AT - timedelta(days=lenses_days_ago)),
                      RenewalGrounds(reason, tuple(criteria), by_ophthalmologist, prescribed_on=AT))
    paid = calculate(lines, GENEROUS, ctx).lines[0]
    assert paid.amo == paid.amc == 0 and paid.patient == paid.price


@settings(max_examples=400, deadline=None)
@given(st.integers(16, 90), st.sampled_from(Sector), st.booleans(), st.sampled_from([Exemption.NONE, Exemption.ALD,
       Exemption.MATERNITY, Exemption.AME]), st.decimals(min_value=Decimal("1.00"), max_value=Decimal("80.00"), places=2),
       st.decimals(min_value=Decimal("0.01"), max_value=Decimal("300.00"), places=2), st.integers(0, 30),
       st.sampled_from(["0", "0.50", "1.00", "2.00"]))
def test_an_extra_fee_out_of_pathway_is_never_covered(
        age: int, sector: Sector, optam: bool, exemption: Exemption, br: Decimal, extra: Decimal, pf_count: int,
        multiple: str) -> None:
    act = row(ItemKind.CONSULTATION, None, str(br), rate="0.70", rate_out="0.30", br_non_optam=str(cents(br * Decimal("0.8"))))
    contract = Contract("P", "P", depassement_optam=Decimal(multiple), depassement_non_optam=Decimal(multiple))
    doctor = Doctor(sector, optam and sector is Sector.TWO)
    ctx = CareContext(AT, date(AT.year - age, 1, 1), pathway=Pathway.OUT_OF_PATHWAY, doctor=doctor,
                      exemption=exemption, pf_count_this_year=pf_count)
    base = act.br_non_optam if sector is Sector.TWO and not doctor.optam else act.br
    assert base is not None
    result = calculate([PricedLine(QuoteLine(act.code, base + extra), act, 0)], contract, ctx).lines[0]
    normal_rate = Decimal(1) if exemption.tm_waived else act.amo_rate
    # At most the normal TM of the tariff (R871-1 CSS): nothing of the extra fee, nothing of the increase.
    assert result.amc <= base - cents(base * normal_rate)
    assert result.amo + result.amc + result.patient == result.price


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([ItemKind.FRAME, ItemKind.LENS, ItemKind.SUPPLEMENT]),
       st.decimals(min_value=Decimal("5.00"), max_value=Decimal("150.00"), places=2),
       st.decimals(min_value=Decimal("0.00"), max_value=Decimal("1.00"), places=2), st.integers(0, 90),
       st.sampled_from([Exemption.NONE, Exemption.MATERNITY]), money)
def test_class_a_leaves_nothing_within_its_plv_and_is_refused_above(
        kind: ItemKind, plv: Decimal, br_share: Decimal, age: int, exemption: Exemption, price: Decimal) -> None:
    a = row(kind, OpticalClass.A, str(cents(plv * br_share)), str(plv))
    line = QuoteLine(a.code, price, 1, LensType.UNIFOCAL if kind is ItemKind.LENS else None,
                     Decimal("-1.00") if kind is ItemKind.LENS else None)
    ctx = CareContext(AT, date(AT.year - age, 1, 1), exemption=exemption)
    if price > plv:
        with pytest.raises(RuleRefused) as refused:
            calculate([PricedLine(line, a, 0)], GENEROUS, ctx)
        assert (refused.value.field, refused.value.code) == ("lines[0].price", "CLASS_A_ABOVE_PLV")
        return
    result = calculate([PricedLine(line, a, 0)], GENEROUS, ctx).lines[0]
    assert result.patient == 0 and result.amo + result.amc == price


def test_category_is_still_from_both_lenses() -> None:
    # Guard for the properties above: the equipment they build is category a.
    lens = row(ItemKind.LENS, OpticalClass.B, "0.05")
    line = PricedLine(QuoteLine(lens.code, Decimal("80.00"), 1, LensType.UNIFOCAL, Decimal("-1.00")), lens, 0)
    assert calculate([line], GENEROUS, CareContext(AT, date(1990, 1, 1))).equipment_category is EquipmentCategory.A
