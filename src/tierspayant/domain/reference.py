"""Reference data the rules read: dated code tables and dated legal parameters.

docs/DOMAIN.md: "amounts (BR, PLV, rates) live in dated reference tables per code, not in code". The
per-code tables (LPP optical codes, NGAP consultation codes, drug codes) are rows loaded into the
database (``ReferenceCode``); the *legal* parameters that the CSS fixes for everyone (participation
forfaitaire, franchise, optical floors and ceilings) are dated entries below, each citing its text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from tierspayant.domain.errors import InvalidField


class CareCategory(StrEnum):
    """What a rights check or a quote is about."""

    OPTICAL = "optical"  # glasses: a frame and lenses
    CONSULTATION = "consultation"  # a doctor's consultation
    PHARMACY = "pharmacy"  # drugs dispensed


class ItemKind(StrEnum):
    FRAME = "frame"
    LENS = "lens"
    #: Optical supplements billed with the lenses (class A: pairing, filter; R871-2 3° CSS).
    SUPPLEMENT = "supplement"
    CONSULTATION = "consultation"
    #: A majoration added to a consultation (MPC, MCS, MEG...): bears no PF of its own.
    MAJORATION = "majoration"
    DRUG = "drug"

    @property
    def category(self) -> CareCategory:
        if self in (ItemKind.FRAME, ItemKind.LENS, ItemKind.SUPPLEMENT):
            return CareCategory.OPTICAL
        if self in (ItemKind.CONSULTATION, ItemKind.MAJORATION):
            return CareCategory.CONSULTATION
        return CareCategory.PHARMACY


class OpticalClass(StrEnum):
    """100% Santé class A (no remainder up to the PLV) or free-price class B (R871-2 3° CSS)."""

    A = "A"
    B = "B"


@dataclass(frozen=True, slots=True)
class ReferenceCode:
    """One row of a dated code table (LPP for optics, NGAP for consultations, CIP for drugs)."""

    code: str
    kind: ItemKind
    label: str
    br: Decimal  # base de remboursement: the tariff the compulsory scheme's rate applies to
    amo_rate: Decimal  # the compulsory scheme's rate on the BR
    valid_from: date
    valid_to: date | None = None  # None: still in force
    optical_class: OpticalClass | None = None
    plv: Decimal | None = None  # prix limite de vente: the 100% Santé price cap (class A)
    #: Consultations: AMO rate outside the coordinated care pathway (30 % for a GP, [SP]).
    amo_rate_out_of_pathway: Decimal | None = None
    #: Consultations: the BR of a sector 2 doctor outside OPTAM, where it differs (domain/tariffs.py).
    br_non_optam: Decimal | None = None
    #: Codes for an age range (LPP child codes "moins de 16 ans"): from ``age_from``, under ``age_below``.
    age_from: int | None = None
    age_below: int | None = None

    def valid_at(self, at: date) -> bool:
        return self.valid_from <= at and (self.valid_to is None or at <= self.valid_to)

    def for_age(self, age: int) -> bool:
        return (self.age_from is None or age >= self.age_from) and (self.age_below is None or age < self.age_below)


def code_at(rows: list[ReferenceCode], code: str, at: date, field: str) -> ReferenceCode:
    """The row of ``code`` valid at ``at``; InvalidField naming ``field`` if there is none."""
    for row in rows:
        if row.code == code and row.valid_at(at):
            return row
    raise InvalidField(field, f"unknown code at {at.isoformat()}")


@dataclass(frozen=True, slots=True)
class LegalParameters:
    """Amounts fixed by law for everyone, from ``valid_from`` on."""

    valid_from: date
    #: Participation forfaitaire per consultation (L160-13 CSS; €2 since 15 May 2024).
    participation_forfaitaire: Decimal
    #: At most this many PF a year (the €50 yearly cap of L160-13 CSS at €2 each: 25).
    pf_max_per_year: int
    #: Franchise per medicine box (L160-13 CSS; €1 since 31 March 2024).
    franchise_per_box: Decimal
    #: Annual franchise cap (€50).
    franchise_annual_cap: Decimal


LEGAL_PARAMETERS: tuple[LegalParameters, ...] = (
    LegalParameters(date(2008, 1, 1), Decimal("1.00"), 50, Decimal("0.50"), Decimal("50.00")),
    LegalParameters(date(2024, 3, 31), Decimal("1.00"), 50, Decimal("1.00"), Decimal("50.00")),
    LegalParameters(date(2024, 5, 15), Decimal("2.00"), 25, Decimal("1.00"), Decimal("50.00")),
)


def legal_parameters_at(at: date) -> LegalParameters:
    """The legal parameters in force on ``at`` (the latest entry starting on or before it)."""
    current = LEGAL_PARAMETERS[0]
    for entry in LEGAL_PARAMETERS:
        if entry.valid_from <= at:
            current = entry
    return current
