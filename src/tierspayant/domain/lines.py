"""What every calculation rule shares: the line as sent, its reference row, the care context,
the result of one line and why its AMC share is what it is (``Limit``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from tierspayant.domain.money import ZERO, cents
from tierspayant.domain.optics import LensType
from tierspayant.domain.reference import ReferenceCode
from tierspayant.domain.renewal import LastPurchases, RenewalGrounds
from tierspayant.domain.tariffs import Doctor, Exemption


class Limit(StrEnum):
    """Why a line's AMC share is what it is (stable names, shown to professionals)."""

    PLV = "PLV"  # class A: everything above the AMO up to the PLV (R871-2 3°)
    TM = "TM"  # the ticket modérateur, as the contract covers it
    TM_ONLY = "TM_ONLY"  # class B covered at the TM only (no ceiling for this category, or a frame alone)
    FRAME_CAP_100 = "FRAME_CAP_100"  # frame cover limited to min(contract cap, €100)
    CLASS_B_CEILING = "CLASS_B_CEILING"  # equipment ceiling of the contract's category
    NETWORK_PRICE_CAP = "NETWORK_PRICE_CAP"  # care network's negotiated price for the code
    RENEWAL_PERIOD_NOT_ELAPSED = "RENEWAL_PERIOD_NOT_ELAPSED"
    SIGHT_CHANGE_BELOW_LPP_THRESHOLD = "SIGHT_CHANGE_BELOW_LPP_THRESHOLD"  # early renewal asked, not met
    OPHTHALMOLOGIST_REQUIRED = "OPHTHALMOLOGIST_REQUIRED"  # under 16: the change documented by one
    CHILD_FRAME_RULE_AGE = "CHILD_FRAME_RULE_AGE"  # the 6-month frame rule is for young children
    PARTICIPATION_FORFAITAIRE = "PARTICIPATION_FORFAITAIRE"  # never covered (L871-1 CSS)
    FRANCHISE = "FRANCHISE"  # never covered (L871-1 CSS)
    OUT_OF_PATHWAY_INCREASE = "OUT_OF_PATHWAY_INCREASE"  # not covered (R871-1 CSS)
    OUT_OF_PATHWAY_EXTRA_FEE = "OUT_OF_PATHWAY_EXTRA_FEE"  # DA out of pathway: not covered (R871-1 CSS)
    SECTOR_1_EXTRA_FEE = "SECTOR_1_EXTRA_FEE"  # above a sector 1 tariff: not an extra fee a contract covers
    DEPASSEMENT_CAP = "DEPASSEMENT_CAP"  # extra fees above the contract's cover (R871-2 2°)
    TM_WAIVED = "TM_WAIVED"  # maternity, ALD, AME: the AMO pays the tariff in full
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
    #: The last reimbursed frame and lenses (the platform's record and any date declared).
    last_purchases: LastPurchases = field(default_factory=LastPurchases)
    renewal: RenewalGrounds = field(default_factory=RenewalGrounds)
    pathway: Pathway = Pathway.COORDINATED
    doctor: Doctor = field(default_factory=Doctor)
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
