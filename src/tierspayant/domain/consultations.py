"""A doctor's consultation and its majorations: AMO, AMC and patient shares.

Sources (docs/DOMAIN.md "Other acts"; domain/tariffs.py for the act conditions):
- AMO = round(BR x rate); the rate outside the coordinated pathway is lower, from age 16, save
  for the direct-access specialities (L162-5-3 CSS; tariffs.in_pathway), and a contrat
  responsable covers only the normal TM, never that increase, nor the extra fees billed out of
  pathway (R871-1 CSS);
- the TM is waived (AMO rate 100 %) in maternity, ALD and AME (domain/tariffs.py Exemption); out
  of pathway the increase still applies to them (L162-5-3: 100 % less the increase);
- participation forfaitaire: not under 18 on 1 January (R160-20 CSS), not for C2S, AME,
  maternity; at most 4 a day per professional and the yearly cap; never covered (L871-1 CSS);
- extra fees: none for a C2S patient (L162-5-13 CSS, refused); sector 1 bills the tariff, so
  anything above it is not an extra fee a contract covers; sector 2 under OPTAM is covered up to
  the contract's OPTAM multiple, outside OPTAM up to its non-OPTAM multiple of the (lower) BR
  that applies to it (R871-2 2° CSS).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tierspayant.domain.contracts import Contract
from tierspayant.domain.errors import RuleRefused
from tierspayant.domain.limits import Limit
from tierspayant.domain.lines import (
    CareContext,
    LineResult,
    Pathway,
    PricedLine,
    amo_rate,
    amo_share,
    line_result,
    rate_limit,
)
from tierspayant.domain.money import ZERO, cents
from tierspayant.domain.optics import age_at
from tierspayant.domain.reference import ItemKind, legal_parameters_at
from tierspayant.domain.tariffs import PF_PER_PROFESSIONAL_PER_DAY, Doctor, Sector, check_act, in_pathway


@dataclass(slots=True)
class PfCount:
    """Participations forfaitaires counted so far: this year, and today with this professional."""

    year: int
    today: int


def _rates(p: PricedLine, ctx: CareContext, coordinated: bool) -> tuple[Decimal, Decimal, bool]:
    """(the rate applied, the normal rate, whether the out-of-pathway increase applies)."""
    normal = amo_rate(p.ref, ctx.exemption)
    if coordinated or p.ref.amo_rate_out_of_pathway is None:
        return normal, normal, False
    increase = p.ref.amo_rate - p.ref.amo_rate_out_of_pathway
    return normal - increase, normal, True


def _doctor(p: PricedLine, ctx: CareContext) -> Doctor:
    if ctx.doctor is None:
        raise RuleRefused(p.field + ".code", "ACT_BILLED_BY_A_DOCTOR", "NGAP art. 2; convention médicale 2024",
                          "a consultation is billed by a doctor registered with a sector and a speciality")
    return ctx.doctor


def pf_due(p: PricedLine, ctx: CareContext, count: PfCount) -> bool:
    """Whether this line bears a participation forfaitaire (sources above)."""
    legal = legal_parameters_at(ctx.date_of_care)
    adult_on_jan_1 = age_at(ctx.birth_date, date(ctx.date_of_care.year, 1, 1)) >= 18
    return (p.ref.kind is ItemKind.CONSULTATION and adult_on_jan_1 and not ctx.exemption.pf_and_franchise_waived
            and count.year < legal.pf_max_per_year and count.today < PF_PER_PROFESSIONAL_PER_DAY)


def consultation(p: PricedLine, contract: Contract, ctx: CareContext, count: PfCount) -> LineResult:
    """The shares of one consultation or majoration line; ``count`` is advanced by its PF."""
    doctor = _doctor(p, ctx)
    declared = ctx.pathway is Pathway.COORDINATED
    coordinated = in_pathway(declared, age_at(ctx.birth_date, ctx.date_of_care), doctor.speciality)
    rate, normal, out_of_pathway = _rates(p, ctx, coordinated)
    check_act(p.ref.code, doctor, p.field + ".code", coordinated=coordinated, referred=declared)
    sector_2_outside_optam = doctor.sector is Sector.TWO and not doctor.optam
    br = p.ref.br_non_optam if sector_2_outside_optam and p.ref.br_non_optam is not None else p.ref.br
    limits: list[Limit] = [rate_limit(p.ref, normal)]
    amo_gross = amo_share(p, rate, br)
    base = min(br * p.line.quantity, p.line.price)
    # The contract covers the *normal* TM only, never the out-of-pathway increase (R871-1 CSS).
    amc = cents((base - amo_share(p, normal, br)) * contract.consultation_tm)
    if out_of_pathway:
        limits.append(Limit.OUT_OF_PATHWAY_INCREASE)
    pf = ZERO
    if pf_due(p, ctx, count):
        pf = min(legal_parameters_at(ctx.date_of_care).participation_forfaitaire, amo_gross)
        count.year, count.today = count.year + 1, count.today + 1
        limits.append(Limit.PARTICIPATION_FORFAITAIRE)
    extra = p.line.price - base
    if extra > 0:
        if ctx.exemption.extra_fees_forbidden:
            raise RuleRefused(p.field + ".price", "EXTRA_FEE_NOT_PERMITTED", "L162-5-13 CSS",
                              "a C2S patient is billed the tariff: no extra fee")
        if out_of_pathway:
            limits.append(Limit.OUT_OF_PATHWAY_EXTRA_FEE)  # R871-1 CSS
        elif doctor.sector is Sector.ONE:
            limits.append(Limit.SECTOR_1_EXTRA_FEE)
        else:
            multiple = contract.depassement_optam if doctor.optam else contract.depassement_non_optam
            extra_cover = min(extra, cents(br * p.line.quantity * multiple))
            if extra_cover < extra:
                limits.append(Limit.DEPASSEMENT_CAP)
            amc += extra_cover
    return line_result(p, amo_gross - pf, amc, limits)
