"""Reference data per insurer: insurers, contracts (validated against the law when configured),
beneficiaries and their rights, organisations and professionals, dated code tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import Any, Protocol

from tierspayant.audit.events import Category, Tag
from tierspayant.domain.contracts import Contract, contract_from_dict, contract_to_dict
from tierspayant.domain.errors import InvalidField
from tierspayant.domain.identifiers import (
    parse_adeli,
    parse_am_number,
    parse_amc_number,
    parse_bank_account,
    parse_finess,
    parse_member_number,
    parse_nir,
    parse_rpps,
    parse_siret,
)
from tierspayant.domain.reference import ItemKind, ReferenceCode
from tierspayant.domain.tariffs import DOCTOR_PROFESSIONS, SPECIALISTS, Sector, Speciality
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.common import UseCase
from tierspayant.services.errors import Forbidden
from tierspayant.services.ports import HasBeneficiaries, HasLog, HasProfessionals, HasReference
from tierspayant.services.records import Beneficiary, Insurer, Organisation, Professional, RightsPeriod


class ReferenceStore(HasReference, HasProfessionals, HasBeneficiaries, HasLog, Protocol):
    """The ports this use case works with (services/ports/)."""


class ReferenceService(UseCase[ReferenceStore]):
    def _insurer_for(self, principal: Principal, amc_number: str) -> Insurer:
        with self.uow(readonly=True) as tx:
            insurer = tx.reference.insurer_by_amc(parse_amc_number(amc_number))
        if insurer is None or not principal.may_see_insurer(insurer.id):
            raise NotFound()
        return insurer

    def add_insurer(self, principal: Principal, amc_number: str, name: str, engagement_validity_days: int = 30,
                    pec_validity_days: int = 180) -> Insurer:
        if principal.role is not Role.PLATFORM_ADMIN:
            raise Forbidden("platform admins only")
        amc = parse_amc_number(amc_number)
        if not name.strip():
            raise InvalidField("name", "required")
        with self.uow() as tx:
            insurer_id = tx.reference.add_insurer(amc, name.strip(), engagement_validity_days, pec_validity_days)
        return Insurer(insurer_id, amc, name.strip(), engagement_validity_days, pec_validity_days)

    def add_contract(self, principal: Principal, amc_number: str, config: Mapping[str, Any]) -> Contract:
        insurer = self._insurer_for(principal, amc_number)
        contract = contract_from_dict(config)  # refuses what breaks R871-2 / D911-1
        with self.uow() as tx:
            tx.reference.add_contract(insurer.id, contract)
        return contract

    def contracts(self, principal: Principal, amc_number: str) -> list[Contract]:
        """The insurer's contracts (their configurations hold no personal data)."""
        insurer = self._insurer_for(principal, amc_number)
        with self.uow(readonly=True) as tx:
            return tx.reference.contracts_of(insurer.id)

    def get_contract(self, principal: Principal, amc_number: str, code: str) -> dict[str, Any]:
        insurer = self._insurer_for(principal, amc_number)
        with self.uow(readonly=True) as tx:
            contract_id = tx.reference.contract_id_by_code(insurer.id, code)
            contract = tx.reference.contract(contract_id) if contract_id is not None else None
        if contract is None:
            raise NotFound()
        return contract_to_dict(contract)

    def add_beneficiary(self, principal: Principal, amc_number: str, contract_code: str, new: Beneficiary,
                        rights: RightsPeriod) -> int:
        """Register a beneficiary of the insurer under its contract ``contract_code``, with a
        first rights period (``new``'s id, insurer and contract are ignored)."""
        insurer = self._insurer_for(principal, amc_number)
        nir = parse_nir(new.nir)
        member = parse_member_number(new.member_number)
        if not 0 <= new.rank <= 20:
            raise InvalidField("rank", "between 0 (member) and 20")
        if new.birth_date > self.clock.now().date() or new.birth_date.year < 1900:
            raise InvalidField("birth_date", "out of range")
        if rights.end is not None and rights.end < rights.start:
            raise InvalidField("rights_end", "before rights_start")
        if not rights.categories:
            raise InvalidField("categories", "at least one care category")
        for field_name, value in (("last_name", new.last_name), ("first_name", new.first_name)):
            if not value.strip() or len(value) > 100:
                raise InvalidField(field_name, "1 to 100 characters")
        with self.uow() as tx:
            contract_id = tx.reference.contract_id_by_code(insurer.id, contract_code)
            if contract_id is None:
                raise InvalidField("contract_code", "unknown contract for this insurer")
            if any(b.rank == new.rank and b.member_number == member for b in tx.beneficiaries.beneficiaries_by_nir(insurer.id, nir)):
                raise InvalidField("nir", "already registered with this member number and rank")
            beneficiary_id = tx.beneficiaries.add_beneficiary(replace(
                new, insurer_id=insurer.id, contract_id=contract_id, member_number=member, nir=nir,
                last_name=new.last_name.strip(), first_name=new.first_name.strip()))
            tx.beneficiaries.add_rights_period(beneficiary_id, rights)
            tx.log.append_events([self.recorder.event(
                principal, self.clock.now(), Tag.BENEFICIARY_CREATE, categories=(Category.IDENTITY, Category.COVERAGE),
                purpose="insurer: register a beneficiary", insurer_id=insurer.id, beneficiary_id=beneficiary_id)])
            return beneficiary_id

    def add_professional(self, principal: Principal, organisation: Organisation, professional: Professional) -> int:
        """Register a professional (``professional.id`` and ``organisation_id`` are ignored) in
        its organisation, which is registered too when its number is new. (Its account:
        services/onboarding.py.)"""
        if principal.role is not Role.PLATFORM_ADMIN:
            raise Forbidden("platform admins only")
        organisation = checked_organisation(organisation)
        professional = checked_professional(professional)
        with self.uow() as tx:
            organisation_id = tx.professionals.organisation_id(organisation.identifier)
            if organisation_id is None:
                organisation_id = tx.professionals.add_organisation(organisation)
            return tx.professionals.add_professional(replace(professional, organisation_id=organisation_id))

    def codes(self, code: str, at: date) -> ReferenceCode:
        with self.uow(readonly=True) as tx:
            rows = tx.reference.reference_codes([code])
        for row in rows:
            if row.valid_at(at):
                return row
        raise NotFound()

    def codes_of(self, kinds: Sequence[ItemKind], at: date) -> list[ReferenceCode]:
        """The rows of these kinds valid at ``at``, by code (a professional's choice of codes)."""
        with self.uow(readonly=True) as tx:
            rows = tx.reference.reference_codes((), kinds)
        return sorted((r for r in rows if r.valid_at(at)), key=lambda r: r.code)

    def load_codes(self, rows: Sequence[ReferenceCode]) -> int:
        with self.uow() as tx:
            for row in rows:
                tx.reference.add_reference_code(row)
        return len(rows)


def checked_organisation(organisation: Organisation) -> Organisation:
    """The organisation with its FINESS or SIRET number checked (Luhn key) and its name trimmed."""
    if organisation.kind == "FINESS":
        identifier = parse_finess(organisation.identifier, "organisation_identifier")
    elif organisation.kind == "SIRET":
        identifier = parse_siret(organisation.identifier, "organisation_identifier")
    else:
        raise InvalidField("organisation_kind", "FINESS or SIRET")
    name = organisation.name.strip()
    if not name or len(name) > 200:
        raise InvalidField("organisation_name", "1 to 200 characters")
    return replace(organisation, identifier=identifier, name=name)


def checked_professional(professional: Professional) -> Professional:
    """The professional with its numbers checked: an RPPS or an ADELI number (their keys), the
    AM number, a consistent IBAN/BIC pair (docs/DOMAIN.md, "Identifiers")."""
    if professional.rpps is None and professional.adeli is None:
        raise InvalidField("rpps", "an RPPS or an ADELI number is required")
    name = professional.name.strip()
    if not name or len(name) > 200:
        raise InvalidField("name", "1 to 200 characters")
    iban, bic = parse_bank_account(professional.iban, professional.bic)
    professional = _checked_doctor(professional)
    return replace(professional, rpps=parse_rpps(professional.rpps) if professional.rpps else None,
                   adeli=parse_adeli(professional.adeli) if professional.adeli else None,
                   am_number=parse_am_number(professional.am_number), name=name, iban=iban, bic=bic)


def _checked_doctor(professional: Professional) -> Professional:
    """A doctor has a sector and a speciality (domain/tariffs.py); OPTAM is a sector 2 option
    (convention médicale 2024); other professions have neither."""
    if professional.profession not in DOCTOR_PROFESSIONS:
        if professional.sector is not None or professional.speciality is not None:
            field = "sector" if professional.sector is not None else "speciality"
            raise InvalidField(field, "only for a doctor")
        return replace(professional, optam=False)
    if professional.sector not in {s.value for s in Sector}:
        raise InvalidField("sector", "required for a doctor: 1 or 2")
    if professional.speciality is not None and professional.speciality not in {s.value for s in Speciality}:
        raise InvalidField("speciality", "one of " + ", ".join(s.value for s in Speciality))
    if professional.optam and professional.sector != Sector.TWO.value:
        raise InvalidField("optam", "OPTAM is an option of sector 2 doctors")
    speciality = professional.speciality
    if professional.profession == "general_practitioner":
        if speciality not in (None, Speciality.GENERAL_MEDICINE.value):
            raise InvalidField("speciality", "a general practitioner's speciality is general_medicine")
        speciality = Speciality.GENERAL_MEDICINE.value
    elif speciality is None or speciality == Speciality.GENERAL_MEDICINE.value:
        raise InvalidField("speciality", "required for a specialist: " + ", ".join(sorted(SPECIALISTS)))
    return replace(professional, speciality=str(speciality), sector=str(professional.sector))
