"""The care flow's request and response bodies: lines, the facts a professional declares about
the care (prescriptions, early renewal, the patient's exemption, what the AMO already counted),
quotes and invoices. Each field says its rule; domain/ holds the rules themselves."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from tierspayant.api.schemas import Amount, CareDate, Code, Diopters, Strict, decimals
from tierspayant.domain.lines import Pathway
from tierspayant.domain.optics import LensType
from tierspayant.domain.prescriptions import Prescriber
from tierspayant.domain.renewal import EarlyRenewal, MedicalCondition
from tierspayant.domain.tariffs import Exemption


class Line(Strict):
    code: Code
    price: Amount
    quantity: Annotated[int, Field(ge=1, le=99)] = 1
    lens_type: Annotated[LensType | None, Field(description="Lenses: unifocal, multifocal or progressive")] = None
    sph: Annotated[Diopters | None, Field(description=(
        "Lenses: sphere in dioptres; may be left out for a class A lens when no class B element's "
        "ceiling depends on the lens category"))] = None
    cyl: Diopters | None = None


class EyeIn(Strict):
    sphere: Diopters
    cylinder: Diopters = Decimal(0)
    axis: Annotated[int | None, Field(ge=1, le=180, description="Degrees, 1-180: required with a cylinder")] = None
    addition: Annotated[Decimal | None, decimals(0, 10, 2, nullable=True,
                                                 description="Near addition (presbyopia), dioptres")] = None


class PrescriptionIn(Strict):
    issued_on: date
    prescriber: Annotated[Prescriber, Field(description=(
        "ophthalmologist, or optician_adaptation (an optician adapting a valid prescription, D4362-12-1 CSP)"))]
    right: EyeIn
    left: EyeIn


class PrescriptionsIn(Strict):
    """The previous and the current prescription: an early renewal on a change of sight is
    granted when they differ by the LPP criteria (domain/prescriptions.py)."""

    previous: PrescriptionIn | None = None
    current: PrescriptionIn


class LastDeliveryIn(Strict):
    """The last reimbursed frame and lenses when the platform does not know them (bought
    elsewhere, or before its records): the later of these and its own record counts."""

    frame: date | None = None
    lenses: date | None = None


_FACTS_EXAMPLE = {
    "early_renewal": "sight_change",
    "prescriptions": {
        "previous": {"issued_on": "2025-03-02", "prescriber": "ophthalmologist",
                     "right": {"sphere": "-1.50"}, "left": {"sphere": "-1.25"}},
        "current": {"issued_on": "2026-02-01", "prescriber": "optician_adaptation",
                    "right": {"sphere": "-2.00"}, "left": {"sphere": "-1.25"}},
    },
    "declared_last_delivery": {"frame": "2025-03-10", "lenses": "2025-03-10"},
}
_CONSULTATION_FACTS_EXAMPLE = {"pathway": "coordinated", "exemption": "none", "pf_count_this_year": 3,
                               "pf_today_with_professional": 0, "franchise_paid_this_year": "12.00"}


class CareFactsIn(Strict):
    """What the professional declares about the care, besides the lines."""

    early_renewal: Annotated[EarlyRenewal | None, Field(description=(
        "Optics, renewal before the period (LPP): sight_change (prescriptions required), medical_condition "
        "(medical_condition and an ophthalmologist's current prescription required), frame_no_longer_fits "
        "(children up to 6)"))] = None
    medical_condition: MedicalCondition | None = None
    prescriptions: PrescriptionsIn | None = None
    declared_last_delivery: LastDeliveryIn | None = None
    pathway: Pathway = Pathway.COORDINATED
    exemption: Annotated[Exemption, Field(description=(
        "c2s, ame, maternity (6th month to 12 days after the birth), ald (care related to the long-term "
        "condition): waive the TM, the PF or the franchise as the law says (domain/tariffs.py)"))] = Exemption.NONE
    pf_count_this_year: Annotated[int, Field(ge=0, le=50, description=(
        "Participations forfaitaires already charged this year, as the AMO tells them"))] = 0
    pf_today_with_professional: Annotated[int, Field(ge=0, le=4, description=(
        "PF already charged today by this professional (at most 4 a day)"))] = 0
    franchise_paid_this_year: Annotated[Decimal, decimals(0, 50, 2, description=(
        "Franchises already paid this year (at most the yearly cap, €50, L160-13 CSS)"))] = Decimal("0.00")


class QuoteRequest(Strict):
    engagement_number: Annotated[str, Field(min_length=1, max_length=24)]
    kind: Literal["simulation", "pec"]
    lines: Annotated[list[Line], Field(min_length=1, max_length=20)]
    facts: Annotated[CareFactsIn, Field(examples=[_FACTS_EXAMPLE, _CONSULTATION_FACTS_EXAMPLE])] = CareFactsIn()


class LineOut(BaseModel):
    """One line as calculated: amounts are decimal strings, in euros."""

    code: str
    price: str  # as billed
    amo: str  # the compulsory scheme's share
    amc: str  # the insurer's
    patient: str  # left to the patient
    limits: list[str]


class QuoteResponse(BaseModel):
    number: str
    kind: str
    binding: bool
    valid_until: date | None
    date_of_care: date
    lines: list[LineOut]
    amo: str
    amc: str
    patient: str
    price: str
    equipment_category: str | None
    renewal_eligible_from: date | None = Field(description="From when the whole equipment is reimbursed again")
    frame_eligible_from: date | None = None
    lenses_eligible_from: date | None = None


class InvoiceLineIn(Line):
    amc_claimed: Amount


class InvoiceRequest(Strict):
    invoice_number: Annotated[str, Field(min_length=1, max_length=30, pattern=r"^[A-Za-z0-9-]+$")]
    engagement_number: Annotated[str | None, Field(max_length=24)] = None
    pec_number: Annotated[str | None, Field(max_length=24)] = None
    date_of_care: CareDate
    lines: Annotated[list[InvoiceLineIn], Field(min_length=1, max_length=20)]
    facts: Annotated[CareFactsIn, Field(examples=[_FACTS_EXAMPLE, _CONSULTATION_FACTS_EXAMPLE])] = CareFactsIn()
