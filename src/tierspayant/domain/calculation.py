"""Calculation (Inter-AMC CLC): AMO share, AMC share and patient remainder of each line.

Conventions (docs/DOMAIN.md): money is Decimal, rounded half-up to the cent per line; AMO =
round(BR x rate); TM = BR - AMO, computed before the participation forfaitaire and the
franchise; AMO paid = AMO - PF - franchise; AMO + AMC + patient = price on every line.
AMO is computed on min(BR, price): the AMO never pays more than what was charged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from tierspayant.domain.contracts import ClassBCoverage, Contract, MixedEquipmentRule
from tierspayant.domain.errors import InvalidField
from tierspayant.domain.money import ZERO, cents
from tierspayant.domain.optics import (
    FRAME_LEGAL_CAP,
    LEGAL_CEILINGS,
    EquipmentCategory,
    LensType,
    RenewalGrounds,
    age_at,
    equipment_category,
    lens_category,
    renewal_eligible_from,
)
from tierspayant.domain.reference import ItemKind, OpticalClass, ReferenceCode, legal_parameters_at


class Limit(StrEnum):
    """Why a line's AMC share is what it is (stable names, shown to professionals)."""

    PLV = "PLV"  # class A: everything above the AMO up to the PLV (R871-2 3°)
    TM = "TM"  # the ticket modérateur, as the contract covers it
    TM_ONLY = "TM_ONLY"  # class B covered at the TM only (no ceiling for this category)
    FRAME_CAP_100 = "FRAME_CAP_100"  # frame cover limited to min(contract cap, €100)
    CLASS_B_CEILING = "CLASS_B_CEILING"  # equipment ceiling of the contract's category
    NETWORK_PRICE_CAP = "NETWORK_PRICE_CAP"  # care network's negotiated price for the code
    RENEWAL_PERIOD_NOT_ELAPSED = "RENEWAL_PERIOD_NOT_ELAPSED"
    PARTICIPATION_FORFAITAIRE = "PARTICIPATION_FORFAITAIRE"  # never covered (L871-1 CSS)
    FRANCHISE = "FRANCHISE"  # never covered (L871-1 CSS)
    OUT_OF_PATHWAY_INCREASE = "OUT_OF_PATHWAY_INCREASE"  # not covered (R871-1 CSS)
    DEPASSEMENT_CAP = "DEPASSEMENT_CAP"  # extra fees above the contract's cover (R871-2 2°)
    NOT_COVERED = "NOT_COVERED"  # the contract does not cover this share
    WITHIN_CEILING = "WITHIN_CEILING"  # class B line fully covered within the ceiling


class Pathway(StrEnum):
    COORDINATED = "coordinated"  # "médecin traitant" pathway
    OUT_OF_PATHWAY = "out_of_pathway"  # "hors parcours"


@dataclass(frozen=True, slots=True)
class QuoteLine:
    """One line as the professional sends it; ``code`` refers to the dated code tables."""

    code: str
    price: Decimal
    quantity: int = 1
    lens_type: LensType | None = None
    sph: Decimal | None = None
    cyl: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CareContext:
    """Facts about the patient and the care that the rules need (all parameters, no lookups)."""

    date_of_care: date
    birth_date: date
    previous_optical_purchase: date | None = None
    renewal: RenewalGrounds = field(default_factory=RenewalGrounds)
    pathway: Pathway = Pathway.COORDINATED
    optam: bool = True
    pf_count_this_year: int = 0
    franchise_ytd: Decimal = ZERO
    #: Care network negotiated price caps for this professional, per code.
    network_caps: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LineResult:
    code: str
    price: Decimal
    amo: Decimal
    amc: Decimal
    patient: Decimal
    limits: tuple[Limit, ...]


@dataclass(frozen=True, slots=True)
class Calculation:
    lines: tuple[LineResult, ...]
    equipment_category: EquipmentCategory | None = None
    renewal_eligible_from: date | None = None

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
    def renewal_refused(self) -> bool:
        return any(Limit.RENEWAL_PERIOD_NOT_ELAPSED in line.limits for line in self.lines)


@dataclass(frozen=True, slots=True)
class PricedLine:
    """A quote line joined with its reference row valid at the date of care."""

    line: QuoteLine
    ref: ReferenceCode
    index: int


def _result(p: PricedLine, amo: Decimal, amc: Decimal, limits: list[Limit]) -> LineResult:
    amc = max(ZERO, min(amc, p.line.price - amo))
    return LineResult(p.ref.code, p.line.price, amo, amc, p.line.price - amo - amc, tuple(dict.fromkeys(limits)))


def _amo(p: PricedLine, rate: Decimal | None = None) -> Decimal:
    base = min(p.ref.br * p.line.quantity, p.line.price)
    return cents(base * (p.ref.amo_rate if rate is None else rate))


def calculate(lines: Sequence[PricedLine], contract: Contract, ctx: CareContext) -> Calculation:
    """The AMO/AMC/patient split of every line, in input order."""
    results: dict[int, LineResult] = {}
    optical = [p for p in lines if p.ref.kind in (ItemKind.FRAME, ItemKind.LENS)]
    category: EquipmentCategory | None = None
    eligible_from: date | None = None
    if optical:
        category, eligible_from, optical_results = _optical(optical, contract, ctx)
        results.update(optical_results)
    pf_count = ctx.pf_count_this_year
    franchise_ytd = ctx.franchise_ytd
    for p in lines:
        if p.ref.kind is ItemKind.CONSULTATION:
            results[p.index], pf_count = _consultation(p, contract, ctx, pf_count)
        elif p.ref.kind is ItemKind.DRUG:
            results[p.index], franchise_ytd = _drug(p, contract, ctx, franchise_ytd)
    return Calculation(tuple(results[p.index] for p in lines), category, eligible_from)


def _optical(
    lines: Sequence[PricedLine], contract: Contract, ctx: CareContext
) -> tuple[EquipmentCategory | None, date | None, dict[int, LineResult]]:
    eligible_from = renewal_eligible_from(ctx.previous_optical_purchase, ctx.birth_date, ctx.date_of_care, ctx.renewal)
    if eligible_from is not None and ctx.date_of_care < eligible_from:
        # One equipment per renewal period: neither AMO nor AMC pays (LPP; OPT-06).
        refused = [Limit.RENEWAL_PERIOD_NOT_ELAPSED]
        return None, eligible_from, {p.index: _result(p, ZERO, ZERO, refused) for p in lines}
    out: dict[int, LineResult] = {}
    lenses = [p for p in lines if p.ref.kind is ItemKind.LENS]
    category = _equipment_category(lenses, ctx.date_of_care)
    class_a = [p for p in lines if p.ref.optical_class is OpticalClass.A]
    class_b = [p for p in lines if p.ref.optical_class is not OpticalClass.A]
    for p in class_a:
        amo = _amo(p)
        if contract.responsable:
            # Class A: everything above the AMO share up to the PLV (R871-2 3°, 100% Santé).
            plv = p.ref.plv if p.ref.plv is not None else p.line.price
            out[p.index] = _result(p, amo, min(p.line.price, plv) - amo, [Limit.PLV])
        else:
            out[p.index] = _result(p, amo, min(p.ref.br, p.line.price) - amo, [Limit.TM])
    ceiling = contract.optical.class_b_ceilings.get(category) if category else None
    if contract.optical.class_b_coverage is ClassBCoverage.TM_ONLY or ceiling is None or category is None:
        for p in class_b:
            amo = _amo(p)
            out[p.index] = _result(p, amo, min(p.ref.br * p.line.quantity, p.line.price) - amo, [Limit.TM_ONLY])
        return category, eligible_from, out
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
        amo = _amo(p)
        # The AMO share is owed whatever the contract; it counts against the ceiling, which
        # includes it (R871-2 3°), so the AMC never pays beyond the ceiling.
        covered = max(min(chargeable, allowed), min(amo, chargeable))
        remaining = max(ZERO, remaining - covered)
        out[p.index] = _result(p, amo, covered - amo, limits or [Limit.WITHIN_CEILING])
    return category, eligible_from, out


def _equipment_category(lenses: Sequence[PricedLine], at: date) -> EquipmentCategory | None:
    if not lenses:
        return None
    categories = []
    for p in lenses[:2]:
        field_prefix = f"lines[{p.index}]"
        if p.line.lens_type is None:
            raise InvalidField(field_prefix + ".lens_type", "required for a lens")
        if p.line.sph is None:
            raise InvalidField(field_prefix + ".sph", "required for a lens")
        categories.append(lens_category(p.line.lens_type, p.line.sph, p.line.cyl or Decimal(0), at))
    if len(categories) == 1:
        categories.append(categories[0])
    return equipment_category(categories[0], categories[1])


def _consultation(p: PricedLine, contract: Contract, ctx: CareContext, pf_count: int) -> tuple[LineResult, int]:
    legal = legal_parameters_at(ctx.date_of_care)
    limits: list[Limit] = [Limit.TM]
    out_of_pathway = ctx.pathway is Pathway.OUT_OF_PATHWAY and p.ref.amo_rate_out_of_pathway is not None
    rate = p.ref.amo_rate_out_of_pathway if out_of_pathway and p.ref.amo_rate_out_of_pathway else p.ref.amo_rate
    amo_gross = _amo(p, rate)
    base = min(p.ref.br, p.line.price)
    # The contract covers the *normal* TM only, never the out-of-pathway increase (R871-1 CSS).
    normal_tm = base - _amo(p)
    if out_of_pathway:
        limits.append(Limit.OUT_OF_PATHWAY_INCREASE)
    amc = cents(normal_tm * contract.consultation_tm)
    # PF: not due under 18 on 1 January of the year (R160-20 CSS), at most 25 a year; never
    # covered by a contrat responsable (L871-1 CSS).
    pf = ZERO
    adult_on_jan_1 = age_at(ctx.birth_date, date(ctx.date_of_care.year, 1, 1)) >= 18
    if adult_on_jan_1 and pf_count < legal.pf_max_per_year:
        pf = min(legal.participation_forfaitaire, amo_gross)
        pf_count += 1
        limits.append(Limit.PARTICIPATION_FORFAITAIRE)
    extra = p.line.price - base
    if extra > 0:
        multiple = contract.depassement_optam if ctx.optam else contract.depassement_non_optam
        extra_cover = min(extra, cents(p.ref.br * multiple))
        if extra_cover < extra:
            limits.append(Limit.DEPASSEMENT_CAP)
        amc += extra_cover
    return _result(p, amo_gross - pf, amc, limits), pf_count


def _drug(p: PricedLine, contract: Contract, ctx: CareContext, franchise_ytd: Decimal) -> tuple[LineResult, Decimal]:
    legal = legal_parameters_at(ctx.date_of_care)
    amo_gross = _amo(p)
    base = min(p.ref.br * p.line.quantity, p.line.price)
    tm = base - amo_gross
    limits: list[Limit] = [Limit.TM]
    # Franchise: €1 a box, never more than the AMO share, €50 a year; not due under 18
    # (L160-13 CSS); never covered by a contrat responsable (L871-1 CSS).
    franchise = ZERO
    if age_at(ctx.birth_date, ctx.date_of_care) >= 18:
        room = max(ZERO, legal.franchise_annual_cap - franchise_ytd)
        franchise = min(legal.franchise_per_box * p.line.quantity, amo_gross, room)
        franchise_ytd += franchise
        if franchise > 0:
            limits.append(Limit.FRANCHISE)
    share = contract.pharmacy_tm.get(f"{p.ref.amo_rate:.2f}", ZERO)
    if share == 0 and tm > 0:
        limits.append(Limit.NOT_COVERED)
    return _result(p, amo_gross - franchise, cents(tm * share), limits), franchise_ytd
