"""Reference data per insurer: insurers, contracts (validated against the law when configured),
beneficiaries and their rights, organisations and professionals, dated code tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from tierspayant.audit.events import Category, Tag
from tierspayant.domain.contracts import Contract, contract_from_dict, contract_to_dict
from tierspayant.domain.errors import InvalidField
from tierspayant.domain.identifiers import (
    parse_adeli,
    parse_am_number,
    parse_amc_number,
    parse_bic,
    parse_finess,
    parse_iban,
    parse_member_number,
    parse_nir,
    parse_rpps,
    parse_siret,
)
from tierspayant.domain.reference import CareCategory, ReferenceCode
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.audit import Recorder
from tierspayant.services.errors import Forbidden
from tierspayant.services.ports import Beneficiary, Clock, Insurer, Professional, RightsPeriod, UnitOfWork


@dataclass(frozen=True, slots=True)
class NewBeneficiary:
    contract_code: str
    member_number: str
    rank: int
    nir: str
    birth_date: date
    last_name: str
    first_name: str
    rights_start: date
    rights_end: date | None
    categories: frozenset[CareCategory]


@dataclass(frozen=True, slots=True)
class NewProfessional:
    organisation_kind: str  # FINESS | SIRET
    organisation_identifier: str
    organisation_name: str
    rpps: str | None
    adeli: str | None
    am_number: str
    profession: str
    name: str
    iban: str
    bic: str
    optam: bool = True


class ReferenceService:
    def __init__(self, uow: UnitOfWork, clock: Clock, recorder: Recorder) -> None:
        self.uow = uow
        self.clock = clock
        self.recorder = recorder

    def _insurer_for(self, principal: Principal, amc_number: str) -> Insurer:
        with self.uow() as repos:
            insurer = repos.insurer_by_amc(parse_amc_number(amc_number))
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
        with self.uow() as repos:
            insurer_id = repos.add_insurer(amc, name.strip(), engagement_validity_days, pec_validity_days)
        return Insurer(insurer_id, amc, name.strip(), engagement_validity_days, pec_validity_days)

    def add_contract(self, principal: Principal, amc_number: str, config: Mapping[str, Any]) -> Contract:
        insurer = self._insurer_for(principal, amc_number)
        contract = contract_from_dict(config)  # refuses what breaks R871-2 / D911-1
        with self.uow() as repos:
            repos.add_contract(insurer.id, contract)
        return contract

    def get_contract(self, principal: Principal, amc_number: str, code: str) -> dict[str, Any]:
        insurer = self._insurer_for(principal, amc_number)
        with self.uow() as repos:
            contract_id = repos.contract_id_by_code(insurer.id, code)
            contract = repos.contract(contract_id) if contract_id is not None else None
        if contract is None:
            raise NotFound()
        return contract_to_dict(contract)

    def add_beneficiary(self, principal: Principal, amc_number: str, new: NewBeneficiary) -> int:
        insurer = self._insurer_for(principal, amc_number)
        nir = parse_nir(new.nir)
        member = parse_member_number(new.member_number)
        if not 0 <= new.rank <= 20:
            raise InvalidField("rank", "between 0 (member) and 20")
        if new.birth_date > self.clock.now().date() or new.birth_date.year < 1900:
            raise InvalidField("birth_date", "out of range")
        if new.rights_end is not None and new.rights_end < new.rights_start:
            raise InvalidField("rights_end", "before rights_start")
        if not new.categories:
            raise InvalidField("categories", "at least one care category")
        for field_name, value in (("last_name", new.last_name), ("first_name", new.first_name)):
            if not value.strip() or len(value) > 100:
                raise InvalidField(field_name, "1 to 100 characters")
        with self.uow() as repos:
            contract_id = repos.contract_id_by_code(insurer.id, new.contract_code)
            if contract_id is None:
                raise InvalidField("contract_code", "unknown contract for this insurer")
            if any(b.rank == new.rank and b.member_number == member for b in repos.beneficiaries_by_nir(insurer.id, nir)):
                raise InvalidField("nir", "already registered with this member number and rank")
            beneficiary_id = repos.add_beneficiary(Beneficiary(
                0, insurer.id, contract_id, member, new.rank, nir, new.birth_date, new.last_name.strip(),
                new.first_name.strip(),
            ))
            repos.add_rights_period(beneficiary_id, RightsPeriod(new.rights_start, new.rights_end, new.categories))
            repos.append_events([self.recorder.event(
                principal, self.clock.now(), Tag.BENEFICIARY_CREATE, categories=(Category.IDENTITY, Category.COVERAGE),
                purpose="insurer: register a beneficiary", insurer_id=insurer.id, beneficiary_id=beneficiary_id)])
            return beneficiary_id

    def add_professional(self, principal: Principal, new: NewProfessional) -> int:
        if principal.role is not Role.PLATFORM_ADMIN:
            raise Forbidden("platform admins only")
        if new.rpps is None and new.adeli is None:
            raise InvalidField("rpps", "an RPPS or an ADELI number is required")
        rpps = parse_rpps(new.rpps) if new.rpps else None
        adeli = parse_adeli(new.adeli) if new.adeli else None
        if new.organisation_kind == "FINESS":
            identifier = parse_finess(new.organisation_identifier, "organisation_identifier")
        elif new.organisation_kind == "SIRET":
            identifier = parse_siret(new.organisation_identifier, "organisation_identifier")
        else:
            raise InvalidField("organisation_kind", "FINESS or SIRET")
        iban, bic = parse_iban(new.iban), parse_bic(new.bic)
        with self.uow() as repos:
            organisation_id = repos.organisation_id(identifier)
            if organisation_id is None:
                organisation_id = repos.add_organisation(new.organisation_kind, identifier, new.organisation_name)
            return repos.add_professional(Professional(
                0, organisation_id, rpps, adeli, parse_am_number(new.am_number), new.profession, new.name,
                iban, bic, new.optam,
            ))

    def codes(self, code: str, at: date) -> ReferenceCode:
        with self.uow() as repos:
            rows = repos.reference_codes([code])
        for row in rows:
            if row.valid_at(at):
                return row
        raise NotFound()

    def load_codes(self, rows: Sequence[ReferenceCode]) -> int:
        with self.uow() as repos:
            for row in rows:
                repos.add_reference_code(row)
        return len(rows)
