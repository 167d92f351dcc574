"""Calculation (Inter-AMC CLC): a non-binding simulation, or a binding optical pre-authorisation
(PEC) valid for the insurer's period, checked against the renewal period."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from tierspayant.audit.events import Category, Tag
from tierspayant.detection.signals import Action
from tierspayant.domain.calculation import Calculation, CareContext, Pathway, PricedLine, QuoteLine, calculate
from tierspayant.domain.errors import InvalidField
from tierspayant.domain.money import ZERO
from tierspayant.domain.prescriptions import Prescription
from tierspayant.domain.reference import CareCategory, code_at
from tierspayant.domain.renewal import LastPurchases, MedicalCondition, RenewalGrounds
from tierspayant.domain.tariffs import DOCTOR_PROFESSIONS, Doctor, Exemption, Sector, Speciality
from tierspayant.security.policy import NotFound, Principal
from tierspayant.security.tokens import new_reference
from tierspayant.services.audit import Recorder
from tierspayant.services.common import UseCase, require_professional
from tierspayant.services.detection import DetectionService, DetectionStore
from tierspayant.services.lifecycle import contract_on
from tierspayant.services.ports import Clock, HasBeneficiaries, HasClaims, HasProfessionals, UnitOfWork
from tierspayant.services.records import Engagement, Insurer, Professional, Quote


class CalculationStore(DetectionStore, HasProfessionals, HasBeneficiaries, HasClaims, Protocol):
    """The ports this use case works with (services/ports/), detection's included: a quote and
    an invoice are reads it counts, and a PEC and an invoice follow the proof-less check that
    gave the engagement (HasPresence)."""


@dataclass(frozen=True, slots=True)
class CareFacts:
    """What the professional declares about the care, besides the lines."""

    renewal: RenewalGrounds = field(default_factory=RenewalGrounds)
    pathway: Pathway = Pathway.COORDINATED
    #: The last frame and lenses as declared (bought elsewhere, or before the platform's own
    #: records); the later of these and the platform's record counts.
    declared: LastPurchases = field(default_factory=LastPurchases)
    exemption: Exemption = Exemption.NONE
    #: As the AMO tells them (zero when unknown).
    pf_count_this_year: int = 0
    pf_today_with_professional: int = 0
    franchise_ytd: Decimal = ZERO
    #: As declared, for the request's identity (the renewal grounds are read from them).
    medical_condition: MedicalCondition | None = None
    prescriptions: tuple[Prescription, ...] = ()

    def check(self, at: date) -> None:
        """Refuse what cannot be known on the date of care ``at``: a prescription issued after
        it, a last delivery declared after it (InvalidField naming the fact)."""
        if self.renewal.prescribed_on is not None and self.renewal.prescribed_on > at:
            raise InvalidField("facts.prescriptions.current.issued_on", "after the date of care")
        for name, day in (("frame", self.declared.frame), ("lenses", self.declared.lenses)):
            if day is not None and day > at:
                raise InvalidField(f"facts.declared_last_delivery.{name}", "after the date of care")

    def fingerprint(self) -> list[Any]:
        """The facts as they identify a request (services/claims.py InvoiceRequest.fingerprint).
        Facts that say no more than the pathway keep the form invoices were fingerprinted with
        before the other facts existed (migration 0023), so that a retry of one is a replay."""
        if replace(self, pathway=Pathway.COORDINATED) == CareFacts():
            return [self.pathway.value, False, False, False]
        r = self.renewal
        return [self.pathway.value, r.reason, [c.value for c in r.sight_change], r.by_ophthalmologist,
                str(self.declared.frame), str(self.declared.lenses), self.exemption.value, self.pf_count_this_year,
                self.pf_today_with_professional, str(self.franchise_ytd), self.medical_condition,
                [p.fingerprint() for p in self.prescriptions]]


def doctor_of(professional: Professional) -> Doctor | None:
    """The sector and speciality the rules read (domain/tariffs.py); None for a professional who
    is not a doctor, or whose stored sector or speciality the rules do not know (a consultation
    line is then refused, naming it, not guessed). A record from before sectors (no ``sector``)
    keeps what its OPTAM flag meant then: sector 2, under OPTAM or not."""
    if professional.profession not in DOCTOR_PROFESSIONS:
        return None
    try:
        sector = Sector(professional.sector) if professional.sector else Sector.TWO
        speciality = Speciality(professional.speciality) if professional.speciality else Speciality.GENERAL_MEDICINE
    except ValueError:
        return None
    return Doctor(sector, professional.optam and sector is Sector.TWO, speciality)


def price_lines(tx: CalculationStore, lines: Sequence[QuoteLine], at: date, category: CareCategory,
                prefix: str = "lines") -> list[PricedLine]:
    """Join each line with its reference row valid at ``at``; refuse unknown codes and codes
    outside the engagement's care category, naming the line."""
    rows = tx.reference.reference_codes(sorted({line.code for line in lines}))
    priced = []
    for index, line in enumerate(lines):
        ref = code_at(rows, line.code, at, f"{prefix}[{index}].code")
        if ref.kind.category is not category:
            raise InvalidField(f"{prefix}[{index}].code", f"not a {category.value} code")
        priced.append(PricedLine(line, ref, index))
    return priced


def compute_for(tx: CalculationStore, engagement: Engagement, lines: Sequence[QuoteLine], at: date,
                facts: CareFacts, prefix: str = "lines") -> Calculation:
    """The calculation for the engagement's beneficiary and professional, from stored facts."""
    beneficiary = tx.beneficiaries.beneficiary(engagement.beneficiary_id)
    professional = tx.professionals.professional(engagement.professional_id)
    if beneficiary is None or professional is None:
        raise NotFound()
    # The contract in force on the date of care (a dated change: services/lifecycle.py).
    contract = tx.reference.contract(contract_on(beneficiary, tx.beneficiaries.rights_periods(beneficiary.id), at))
    if contract is None:
        raise NotFound()
    facts.check(at)
    priced = price_lines(tx, lines, at, engagement.category, prefix)
    ctx = CareContext(
        date_of_care=at,
        birth_date=beneficiary.birth_date,
        last_purchases=tx.beneficiaries.last_optical_purchases(beneficiary.id, at).later(facts.declared),
        renewal=facts.renewal,
        pathway=facts.pathway,
        doctor=doctor_of(professional),
        exemption=facts.exemption,
        pf_count_this_year=facts.pf_count_this_year,
        pf_today_with_professional=facts.pf_today_with_professional,
        franchise_ytd=facts.franchise_ytd,
        network_caps=tx.professionals.network_caps(professional.id, engagement.insurer_id, at),
    )
    return calculate(priced, contract, ctx)


def own_engagement(tx: CalculationStore, number: str, professional_id: int) -> Engagement:
    """The engagement if it exists and is this professional's; NotFound otherwise (T10)."""
    engagement = tx.claims.engagement_by_number(number)
    if engagement is None or engagement.professional_id != professional_id:
        raise NotFound()
    return engagement


def calculation_to_dict(calc: Calculation) -> dict[str, Any]:
    return {
        "lines": [
            {"code": line.code, "price": str(line.price), "amo": str(line.amo), "amc": str(line.amc),
             "patient": str(line.patient), "limits": [limit.value for limit in line.limits]}
            for line in calc.lines
        ],
        "amo": str(calc.amo), "amc": str(calc.amc), "patient": str(calc.patient), "price": str(calc.price),
        "equipment_category": calc.equipment_category.value if calc.equipment_category else None,
        "renewal_eligible_from": calc.renewal_eligible_from.isoformat() if calc.renewal_eligible_from else None,
        "frame_eligible_from": calc.frame_eligible_from.isoformat() if calc.frame_eligible_from else None,
        "lenses_eligible_from": calc.lenses_eligible_from.isoformat() if calc.lenses_eligible_from else None,
    }


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    engagement_number: str
    kind: str  # "simulation" | "pec"
    lines: tuple[QuoteLine, ...]
    facts: CareFacts = field(default_factory=CareFacts)


S = TypeVar("S", bound=CalculationStore)


class ReadCounted(UseCase[S]):
    """A use case whose reads of an engagement's patient detection counts (quotes, invoices);
    ``S``: the ports it works with (the calculation's, or more)."""

    def __init__(self, uow: UnitOfWork[S], clock: Clock, recorder: Recorder,
                 detection: DetectionService) -> None:
        super().__init__(uow, clock, recorder)
        self.detection = detection

    def count_read(self, tx: CalculationStore, principal: Principal, insurer_id: int, engagement_id: int,
                   insurer: Insurer | None = None) -> Action:
        """Count the read (detection.observe_read; ``insurer``: the record, when the caller read
        it already); the caller reads nothing more when this is not NONE, commits, and then
        ``detection.refuse``s."""
        return self.detection.observe_read(tx, principal, insurer or tx.reference.insurer(insurer_id), engagement_id,
                                           self.clock.now())


class CalculationService(ReadCounted[CalculationStore]):
    def quote(self, principal: Principal, request: QuoteRequest) -> Quote:
        professional_id = require_professional(principal)
        if request.kind not in ("simulation", "pec"):
            raise InvalidField("kind", "must be 'simulation' or 'pec'")
        if not request.lines:
            raise InvalidField("lines", "at least one line")
        now = self.clock.now()
        with self.uow() as tx:
            engagement = own_engagement(tx, request.engagement_number, professional_id)
            if now.date() > engagement.valid_until:
                raise InvalidField("engagement_number", "engagement expired; check the rights again")
            if request.kind == "pec" and engagement.category is not CareCategory.OPTICAL:
                raise InvalidField("kind", "pre-authorisation (PEC) is for optical care")
            insurer = tx.reference.insurer(engagement.insurer_id)
            assert insurer is not None
            action = self.count_read(tx, principal, insurer.id, engagement.id, insurer)
            quote = self._quote(tx, principal, request, engagement, insurer, now) if action is Action.NONE else None
        self.detection.refuse(action)
        assert quote is not None
        return quote

    def _quote(self, tx: CalculationStore, principal: Principal, request: QuoteRequest, engagement: Engagement,
               insurer: Insurer, now: datetime) -> Quote:
        calc = compute_for(tx, engagement, request.lines, engagement.date_of_care, request.facts)
        result = calculation_to_dict(calc)
        # A PEC binds for what it pays: an element refused for its renewal period shows 0.
        binding = request.kind == "pec" and not calc.renewal_refused
        valid_until = (now.date() + timedelta(days=insurer.pec_validity_days)) if binding else None
        result["binding"] = binding
        result["codes"] = [line.code for line in request.lines]
        quote = Quote(0, new_reference("P" if binding else "S"), request.kind, engagement.insurer_id,
                      engagement.beneficiary_id, engagement.professional_id, engagement.id, engagement.date_of_care,
                      result, calc.amc, valid_until)
        quote_id = tx.claims.add_quote(quote, now)
        if binding:  # a PEC: the optician's step before the delivery (detection/budgets.py)
            tx.presence.quoted(engagement.id)
        tx.log.append_events([self.recorder.event(
            principal, now, Tag.QUOTE_CREATE, categories=(Category.COVERAGE, Category.HEALTH),
            purpose=f"tiers payant: {request.kind}", insurer_id=engagement.insurer_id,
            beneficiary_id=engagement.beneficiary_id, ref=quote.number)])
        return replace(quote, id=quote_id)

    def get(self, principal: Principal, number: str) -> Quote:
        with self.uow() as tx:
            quote = tx.claims.quote_by_number(number)
            if quote is None or not (quote.professional_id == principal.professional_id
                                     or principal.may_see_insurer(quote.insurer_id)):
                raise NotFound()
            # A professional's read of its quote is a read of the patient (an insurer's staff
            # reads under its own policy); refused, it shows nothing.
            action = (self.count_read(tx, principal, quote.insurer_id, quote.engagement_id)
                      if quote.professional_id == principal.professional_id else Action.NONE)
            if action is Action.NONE:
                tx.log.append_events([self.recorder.event(
                    principal, self.clock.now(), Tag.QUOTE_READ, categories=(Category.COVERAGE, Category.HEALTH),
                    purpose="tiers payant: read a quote", insurer_id=quote.insurer_id,
                    beneficiary_id=quote.beneficiary_id, ref=quote.number)])
        self.detection.refuse(action)
        return quote
