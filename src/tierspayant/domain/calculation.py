"""Calculation (Inter-AMC CLC): AMO share, AMC share and patient remainder of each line.

Conventions (docs/DOMAIN.md): money is Decimal, rounded half-up to the cent per line; AMO =
round(BR x rate); TM = BR - AMO, computed before the participation forfaitaire and the
franchise; AMO paid = AMO - PF - franchise; AMO + AMC + patient = price on every line.
AMO is computed on min(BR, price): the AMO never pays more than what was charged.
Consultations: domain/consultations.py; renewal: domain/renewal.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tierspayant.domain.consultations import PfCount, consultation
from tierspayant.domain.contracts import ClassBCoverage, Contract, MixedEquipmentRule
from tierspayant.domain.errors import InvalidField, RuleRefused
from tierspayant.domain.limits import Limit
from tierspayant.domain.lines import (
    CareContext,
    LineResult,
    Pathway,
    PricedLine,
    QuoteLine,
    amo_rate,
    amo_share,
    line_result,
    rate_limit,
)
from tierspayant.domain.money import ZERO, cents
from tierspayant.domain.optics import (
    FRAME_LEGAL_CAP,
    LEGAL_CEILINGS,
    EquipmentCategory,
    age_at,
    equipment_category,
    lens_category,
)
from tierspayant.domain.reference import ItemKind, OpticalClass, legal_parameters_at
from tierspayant.domain.renewal import RenewalDates, latest, renewal_dates

__all__ = ["Calculation", "CareContext", "Limit", "LineResult", "Pathway", "PricedLine", "QuoteLine", "calculate"]
OPTICAL_KINDS = (ItemKind.FRAME, ItemKind.LENS, ItemKind.SUPPLEMENT)


@dataclass(frozen=True, slots=True)
class Calculation:
    lines: tuple[LineResult, ...]
    equipment_category: EquipmentCategory | None = None
    #: When each element is reimbursed again (None: no restriction; domain/renewal.py).
    frame_eligible_from: date | None = None
    lenses_eligible_from: date | None = None

    def _total(self, share: str) -> Decimal:
        return sum((getattr(line, share) for line in self.lines), ZERO)

    @property
    def amo(self) -> Decimal:  # the compulsory scheme's share
        return self._total("amo")

    @property
    def amc(self) -> Decimal:  # the complementary insurer's
        return self._total("amc")

    @property
    def patient(self) -> Decimal:  # what is left to the patient
        return self._total("patient")

    @property
    def price(self) -> Decimal:  # as billed
        return self._total("price")

    @property
    def renewal_eligible_from(self) -> date | None:
        """From when the whole equipment is reimbursed."""
        return latest(self.frame_eligible_from, self.lenses_eligible_from)

    @property
    def renewal_refused(self) -> bool:
        """Every line refused for its renewal period: nothing of the equipment is paid."""
        return bool(self.lines) and all(Limit.RENEWAL_PERIOD_NOT_ELAPSED in line.limits for line in self.lines)


def calculate(lines: Sequence[PricedLine], contract: Contract, ctx: CareContext) -> Calculation:
    """The AMO/AMC/patient split of every line, in input order."""
    results: dict[int, LineResult] = {}
    age = age_at(ctx.birth_date, ctx.date_of_care)
    for p in lines:
        if not p.ref.for_age(age):
            raise RuleRefused(p.field + ".code", "CODE_NOT_FOR_THIS_AGE", "LPP / NGAP (the code's age range)",
                              f"{p.ref.code} is for patients {_age_range(p)}")
    optical = [p for p in lines if p.ref.kind in OPTICAL_KINDS]
    category: EquipmentCategory | None = None
    dates = RenewalDates(None, None)
    if optical:
        dates = renewal_dates(ctx.last_purchases, ctx.birth_date, ctx.date_of_care, ctx.renewal)
        category, optical_results = _optical(optical, contract, ctx, dates)
        results.update(optical_results)
    count = PfCount(ctx.pf_count_this_year, ctx.pf_today_with_professional)
    franchise_ytd = ctx.franchise_ytd
    for p in lines:
        if p.ref.kind in (ItemKind.CONSULTATION, ItemKind.MAJORATION):
            results[p.index] = consultation(p, contract, ctx, count)
        elif p.ref.kind is ItemKind.DRUG:
            results[p.index], franchise_ytd = _drug(p, contract, ctx, franchise_ytd)
    return Calculation(tuple(results[p.index] for p in lines), category, dates.frame, dates.lenses)


def _age_range(p: PricedLine) -> str:
    low = f"from {p.ref.age_from}" if p.ref.age_from is not None else ""
    high = f"under {p.ref.age_below}" if p.ref.age_below is not None else ""
    return " ".join(x for x in (low, high) if x)


def _optical(
    lines: Sequence[PricedLine], contract: Contract, ctx: CareContext, dates: RenewalDates
) -> tuple[EquipmentCategory | None, dict[int, LineResult]]:
    out: dict[int, LineResult] = {}
    # One equipment per renewal period, each element on its own (LPP; domain/renewal.py): a
    # refused element is paid by neither the AMO nor the AMC.
    refused = [Limit.RENEWAL_PERIOD_NOT_ELAPSED] + ([Limit(dates.note.value)] if dates.note else [])
    for p in lines:
        plv = p.ref.plv * p.line.quantity if p.ref.plv is not None else None
        if p.ref.optical_class is OpticalClass.A and plv is not None and p.line.price > plv:
            # The PLV is a maximum selling price (L165-3 CSS; LPP 100% Santé): refused, not shared.
            raise RuleRefused(p.field + ".price", "CLASS_A_ABOVE_PLV", "L165-3 CSS; LPP (prix limite de vente)",
                              f"a class A {p.ref.kind.value} is sold at most at its PLV ({plv})")
    paid = []
    for p in lines:
        if dates.refuses(p.ref.kind is ItemKind.FRAME, ctx.date_of_care):
            out[p.index] = line_result(p, ZERO, ZERO, refused)
        else:
            paid.append(p)
    class_a = [p for p in paid if p.ref.optical_class is OpticalClass.A]
    class_b = [p for p in paid if p.ref.optical_class is not OpticalClass.A]
    category = _equipment_category([p for p in paid if p.ref.kind is ItemKind.LENS], ctx.date_of_care,
                                   needed=bool(class_b))
    for p in class_a:
        amo = amo_share(p, amo_rate(p.ref, ctx.exemption))
        if contract.responsable:
            # Class A: everything above the AMO share up to the PLV, supplements included (R871-2 3°).
            out[p.index] = line_result(p, amo, p.line.price - amo, [Limit.PLV])
        else:
            out[p.index] = line_result(p, amo, min(p.ref.br * p.line.quantity, p.line.price) - amo, [Limit.TM])
    ceiling = contract.optical.class_b_ceilings.get(category) if category else None
    if contract.optical.class_b_coverage is ClassBCoverage.TM_ONLY or ceiling is None or category is None:
        # No ceiling applies (TM-only contract, or a frame bought alone: no equipment category).
        for p in class_b:
            amo = amo_share(p, amo_rate(p.ref, ctx.exemption))
            out[p.index] = line_result(p, amo, min(p.ref.br * p.line.quantity, p.line.price) - amo, [Limit.TM_ONLY])
        return category, out
    # Class B beyond the TM: the contract's ceiling, never above the legal one (R871-2 3°).
    remaining = min(ceiling, LEGAL_CEILINGS[category])
    if class_a and contract.optical.mixed_equipment_rule is MixedEquipmentRule.DEDUCT_CLASS_A_COST:
        remaining -= sum((p.line.price for p in class_a), ZERO)
    remaining = max(remaining, ZERO)
    # Frame first: min(frame price, contract frame cap <= €100), then the lenses get what is
    # left of the ceiling (docs/DOMAIN.md "Allocation").
    ordered = sorted(class_b, key=lambda p: (p.ref.kind is not ItemKind.FRAME, p.index))
    for p in ordered:
        limits: list[Limit] = []
        chargeable = p.line.price
        cap = ctx.network_caps.get(p.ref.code)
        if cap is not None and cap < chargeable:
            chargeable, limits = cap, [Limit.NETWORK_PRICE_CAP]
        allowed = remaining
        if p.ref.kind is ItemKind.FRAME:
            frame_cap = min(contract.optical.frame_cap, FRAME_LEGAL_CAP)
            if frame_cap < allowed:
                allowed = frame_cap
                if chargeable > frame_cap:
                    limits.append(Limit.FRAME_CAP_100)
        if chargeable > allowed and Limit.FRAME_CAP_100 not in limits:
            limits.append(Limit.CLASS_B_CEILING)
        amo = amo_share(p, amo_rate(p.ref, ctx.exemption))
        # The AMO share is owed whatever the contract; it counts against the ceiling, which
        # includes it (R871-2 3°), so the AMC never pays beyond the ceiling.
        covered = max(min(chargeable, allowed), min(amo, chargeable))
        remaining = max(ZERO, remaining - covered)
        out[p.index] = line_result(p, amo, covered - amo, limits or [Limit.WITHIN_CEILING])
    return category, out


def _equipment_category(lenses: Sequence[PricedLine], at: date, needed: bool) -> EquipmentCategory | None:
    """The pair's category (R871-2 3°). A class A lens may come without its powers unless a class
    B element's ceiling depends on the category (``needed``)."""
    categories = []
    for p in lenses[:2]:
        if p.line.lens_type is None or p.line.sph is None:
            if needed or p.ref.optical_class is not OpticalClass.A:
                missing = ".lens_type" if p.line.lens_type is None else ".sph"
                raise InvalidField(p.field + missing, "required for a lens: the equipment's category depends on it")
            return None
        categories.append(lens_category(p.line.lens_type, p.line.sph, p.line.cyl or Decimal(0), at))
    if not categories:
        return None
    if len(categories) == 1:
        categories.append(categories[0])
    return equipment_category(categories[0], categories[1])


def _drug(p: PricedLine, contract: Contract, ctx: CareContext, franchise_ytd: Decimal) -> tuple[LineResult, Decimal]:
    legal = legal_parameters_at(ctx.date_of_care)
    rate = amo_rate(p.ref, ctx.exemption)
    amo_gross = amo_share(p, rate)
    base = min(p.ref.br * p.line.quantity, p.line.price)
    tm = base - amo_gross
    limits: list[Limit] = [rate_limit(p.ref, rate)]
    # Franchise: €1 a box, never more than the AMO share, €50 a year; not due under 18
    # (L160-13 CSS), nor for C2S, AME, maternity (domain/tariffs.py); never covered by a
    # contrat responsable (L871-1 CSS).
    franchise = ZERO
    if age_at(ctx.birth_date, ctx.date_of_care) >= 18 and not ctx.exemption.pf_and_franchise_waived:
        room = max(ZERO, legal.franchise_annual_cap - franchise_ytd)
        franchise = min(legal.franchise_per_box * p.line.quantity, amo_gross, room)
        franchise_ytd += franchise
        if franchise > 0:
            limits.append(Limit.FRANCHISE)
    share = contract.pharmacy_tm.get(f"{p.ref.amo_rate:.2f}", ZERO)
    if share == 0 and tm > 0:
        limits.append(Limit.NOT_COVERED)
    return line_result(p, amo_gross - franchise, cents(tm * share), limits), franchise_ytd
