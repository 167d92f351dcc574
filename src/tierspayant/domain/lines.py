"""What every calculation rule shares: the line as sent, its reference row, the care context,
the result of one line and why its AMC share is what it is (``Limit``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from tierspayant.domain.limits import Limit
from tierspayant.domain.money import ZERO, cents
from tierspayant.domain.optics import LensType
from tierspayant.domain.reference import ItemKind, ReferenceCode
from tierspayant.domain.renewal import LastPurchases, RenewalGrounds
from tierspayant.domain.tariffs import LOW_BENEFIT_DRUG_RATE, Doctor, Exemption


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
    #: The last reimbursed frame and lenses (the platform's record and any date declared).
    last_purchases: LastPurchases = field(default_factory=LastPurchases)
    renewal: RenewalGrounds = field(default_factory=RenewalGrounds)
    pathway: Pathway = Pathway.COORDINATED
    #: Who bills a consultation (None: not a doctor the platform knows the sector of).
    doctor: Doctor | None = field(default_factory=Doctor)
    exemption: Exemption = Exemption.NONE
    #: Already this year (as the AMO tells them; zero when unknown).
    pf_count_this_year: int = 0
    franchise_ytd: Decimal = ZERO
    #: PF already charged today by this professional (at most 4 a day, domain/tariffs.py).
    pf_today_with_professional: int = 0
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
class PricedLine:
    """A quote line joined with its reference row valid at the date of care."""

    line: QuoteLine
    ref: ReferenceCode
    index: int

    @property
    def field(self) -> str:
        return f"lines[{self.index}]"


def line_result(p: PricedLine, amo: Decimal, amc: Decimal, limits: list[Limit]) -> LineResult:
    """The line's shares: AMC bounded by what the AMO leaves; the patient pays the rest."""
    amc = max(ZERO, min(amc, p.line.price - amo))
    return LineResult(p.ref.code, p.line.price, amo, amc, p.line.price - amo - amc, tuple(dict.fromkeys(limits)))


def amo_share(p: PricedLine, rate: Decimal | None = None, br: Decimal | None = None) -> Decimal:
    """round(min(BR x quantity, price) x rate): the AMO never pays more than was charged."""
    base = min((p.ref.br if br is None else br) * p.line.quantity, p.line.price)
    return cents(base * (p.ref.amo_rate if rate is None else rate))


def amo_rate(ref: ReferenceCode, exemption: Exemption) -> Decimal:
    """The AMO rate of the code for this patient: the tariff in full where the TM is waived
    (domain/tariffs.py Exemption), except in ALD on drugs of low medical benefit, which keep
    their rate (L160-14 CSS as read; tariffs.LOW_BENEFIT_DRUG_RATE)."""
    if not exemption.tm_waived:
        return ref.amo_rate
    if exemption is Exemption.ALD and ref.kind is ItemKind.DRUG and ref.amo_rate <= LOW_BENEFIT_DRUG_RATE:
        return ref.amo_rate
    return Decimal(1)


def rate_limit(ref: ReferenceCode, rate: Decimal) -> Limit:
    """TM_WAIVED when the AMO pays the tariff in full where the code's rate would not."""
    return Limit.TM_WAIVED if rate > ref.amo_rate else Limit.TM
