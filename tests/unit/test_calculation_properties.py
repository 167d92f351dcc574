"""Hypothesis properties of the calculation and adjudication (docs/ARCHITECTURE.md principle 12)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vectors_loader import VECTORS
from tierspayant.domain.adjudication import (
    InvoiceFacts,
    InvoiceLineFacts,
    InvoiceStatus,
    Reason,
    adjudicate,
)
from tierspayant.domain.calculation import CareContext, Pathway, PricedLine, QuoteLine, calculate
from tierspayant.domain.contracts import ClassBCoverage, Contract, ContractType, OpticalGuarantee
from tierspayant.domain.optics import LEGAL_CEILINGS, LEGAL_FLOORS, EquipmentCategory, LensType
from tierspayant.domain.reference import ItemKind, OpticalClass, ReferenceCode
from tierspayant.domain.renewal import LastPurchases
from tierspayant.domain.tariffs import Doctor, Sector

AT = date(2026, 2, 10)
money = st.decimals(min_value=Decimal("0.00"), max_value=Decimal("2000.00"), places=2, allow_nan=False,
                    allow_infinity=False)
diopters = st.decimals(min_value=Decimal("-12"), max_value=Decimal("12"), places=2)


def ref(kind: ItemKind, klass: OpticalClass | None, br: str, rate: str, plv: str | None = None) -> ReferenceCode:
    return ReferenceCode(f"{kind}-{klass}-{br}-{rate}", kind, "x", Decimal(br), Decimal(rate), date(2020, 1, 1),
                         optical_class=klass, plv=Decimal(plv) if plv else None,
                         amo_rate_out_of_pathway=Decimal("0.30") if kind is ItemKind.CONSULTATION else None)


@st.composite
def contracts(draw: st.DrawFn) -> Contract:
    ceilings = {}
    for category in EquipmentCategory:
        if draw(st.booleans()):
            ceilings[category] = draw(st.decimals(min_value=LEGAL_FLOORS[category], max_value=LEGAL_CEILINGS[category],
                                                  places=2))
    return Contract(
        code="P", name="P", contract_type=ContractType.INDIVIDUAL,
        optical=OpticalGuarantee(
            class_b_coverage=draw(st.sampled_from(ClassBCoverage)), class_b_ceilings=ceilings,
            frame_cap=draw(st.decimals(min_value=Decimal("0"), max_value=Decimal("100"), places=2)),
        ),
        depassement_optam=draw(st.sampled_from([Decimal("0"), Decimal("1.00")])),
        pharmacy_tm={"0.65": Decimal(1), "0.30": draw(st.sampled_from([Decimal(0), Decimal(1)])),
                     "0.15": Decimal(0), "1.00": Decimal(0)},
    )


def price_for(row: ReferenceCode) -> st.SearchStrategy[Decimal]:
    """Any price, but a class A one within its PLV (above it the line is refused: its own property)."""
    if row.plv is None:
        return money
    return st.decimals(min_value=Decimal("0.00"), max_value=row.plv, places=2)


@st.composite
def optical_equipment(draw: st.DrawFn) -> list[PricedLine]:
    frame_class = draw(st.sampled_from(OpticalClass))
    frame_ref = ref(ItemKind.FRAME, frame_class, "9.00" if frame_class is OpticalClass.A else "0.05", "0.60",
                    "30.00" if frame_class is OpticalClass.A else None)
    lines = [PricedLine(QuoteLine(frame_ref.code, draw(price_for(frame_ref))), frame_ref, 0)]
    for index in (1, 2):
        klass = draw(st.sampled_from(OpticalClass))
        lens_ref = ref(ItemKind.LENS, klass, "9.75" if klass is OpticalClass.A else "0.05", "0.60",
                       "32.50" if klass is OpticalClass.A else None)
        line = QuoteLine(lens_ref.code, draw(price_for(lens_ref)), 1, draw(st.sampled_from(LensType)), draw(diopters),
                         draw(diopters))
        lines.append(PricedLine(line, lens_ref, index))
    return lines


def context(draw_age: int, previous: date | None = None) -> CareContext:
    return CareContext(date_of_care=AT, birth_date=date(AT.year - draw_age, 1, 1),
                       last_purchases=LastPurchases.whole(previous))


@settings(max_examples=400, deadline=None)
@given(optical_equipment(), contracts(), st.integers(min_value=0, max_value=90))
def test_optical_shares_sum_to_price_and_respect_every_cap(lines: list[PricedLine], contract: Contract, age: int) -> None:
    calc = calculate(lines, contract, context(age))
    class_b_covered = Decimal(0)
    for priced, result in zip(lines, calc.lines, strict=True):
        assert result.amo + result.amc + result.patient == result.price == priced.line.price
        assert min(result.amo, result.amc, result.patient) >= 0
        if priced.ref.optical_class is OpticalClass.B:
            class_b_covered += result.amo + result.amc
            if priced.ref.kind is ItemKind.FRAME:
                # Frame cover, AMO included, never above the contract cap nor EUR 100 (R871-2 3°).
                assert result.amo + result.amc <= max(contract.optical.frame_cap, min(priced.ref.br, priced.line.price))
                assert result.amc <= Decimal("100")
        elif contract.responsable:
            assert result.amo + result.amc <= min(priced.line.price, priced.ref.plv or priced.line.price)
    if calc.equipment_category is not None and contract.optical.class_b_coverage is ClassBCoverage.BEYOND_TM:
        ceiling = contract.optical.class_b_ceilings.get(calc.equipment_category)
        if ceiling is not None:
            # The AMC never pays beyond the contract's guarantee nor the legal ceiling (both include
            # the AMO share); only an AMO share owed on a line the AMC no longer pays may exceed it.
            owed_amo = sum((r.amo for p, r in zip(lines, calc.lines, strict=True)
                            if p.ref.optical_class is OpticalClass.B and r.amc == 0), Decimal(0))
            assert class_b_covered <= min(ceiling, LEGAL_CEILINGS[calc.equipment_category]) + owed_amo


@settings(max_examples=300, deadline=None)
@given(money, st.sampled_from(["0.65", "0.30", "0.15", "1.00"]), st.integers(1, 5), contracts(),
       st.integers(0, 90), st.decimals(min_value=Decimal(0), max_value=Decimal(60), places=2))
def test_drug_lines_sum_to_price(br: Decimal, rate: str, boxes: int, contract: Contract, age: int,
                                 ytd: Decimal) -> None:
    drug = ref(ItemKind.DRUG, None, str(br), rate)
    line = PricedLine(QuoteLine(drug.code, br * boxes, boxes), drug, 0)
    ctx = CareContext(date_of_care=AT, birth_date=date(AT.year - age, 1, 1), franchise_ytd=ytd)
    result = calculate([line], contract, ctx).lines[0]
    assert result.amo + result.amc + result.patient == result.price
    assert min(result.amo, result.amc, result.patient) >= 0
    assert result.amc <= result.price - result.amo


@settings(max_examples=300, deadline=None)
@given(money, money, st.sampled_from(list(Pathway)), st.booleans(), st.integers(0, 30), contracts(),
       st.integers(0, 90))
def test_consultation_lines_sum_to_price(br: Decimal, price: Decimal, pathway: Pathway, optam: bool, pf_count: int,
                                         contract: Contract, age: int) -> None:
    act = ref(ItemKind.CONSULTATION, None, str(br), "0.70")
    ctx = CareContext(date_of_care=AT, birth_date=date(AT.year - age, 1, 1), pathway=pathway,
                      doctor=Doctor(Sector.TWO, optam), pf_count_this_year=pf_count)
    result = calculate([PricedLine(QuoteLine("G", price), act, 0)], contract, ctx).lines[0]
    assert result.amo + result.amc + result.patient == result.price
    assert min(result.amo, result.amc, result.patient) >= 0


@settings(max_examples=300, deadline=None)
@given(optical_equipment(), contracts(), st.lists(money, min_size=3, max_size=3), st.booleans(), st.booleans())
def test_approved_never_above_claimed(lines: list[PricedLine], contract: Contract, claimed: list[Decimal],
                                      covered: bool, duplicate: bool) -> None:
    calc = calculate(lines, contract, context(40))
    facts = InvoiceFacts(
        date_of_care=AT,
        lines=tuple(InvoiceLineFacts(p.ref.code, p.line.price, c) for p, c in zip(lines, claimed, strict=True)),
        calculation=calc, reference_found=True, reference_valid_until=AT, covered_at_date_of_care=covered,
        category_matches=True, duplicate_of_other_invoice=duplicate,
    )
    decision = adjudicate(facts)
    assert decision.approved <= sum(claimed, Decimal(0))
    for approved, claim, computed in zip(decision.approved_lines, claimed, calc.lines, strict=True):
        assert 0 <= approved <= min(claim, computed.amc)
    if not covered:
        assert decision.status is InvoiceStatus.REJECTED
        assert Reason.NOT_COVERED_AT_DATE_OF_CARE in {f.reason for f in decision.findings}
    if duplicate:
        assert Reason.DUPLICATE_INVOICE in {f.reason for f in decision.findings}


def test_rejection_codes_are_never_reused_or_renumbered() -> None:
    published = json.loads((VECTORS / "reasons.json").read_text())["codes"]
    current = {r.value: r.name for r in Reason}
    for code, name in published.items():
        assert current.get(code) == name, f"published code {code} ({name}) changed or disappeared"
    assert len(set(current)) == len(current)
