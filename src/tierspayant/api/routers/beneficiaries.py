"""The beneficiary lifecycle, per insurer (services/lifecycle.py): find a membership by member
number or a beneficiary by NIR -- in the body, never in a URL, exact matches only --, correct an
identity, add a dependant, end rights at a date, change the contract at a date. No route lists
or exports an insurer's members."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from tierspayant.api.auth import INSURER_DATA
from tierspayant.api.deps import platform
from tierspayant.api.responses import NOT_FOUND
from tierspayant.api.schemas import ObjectId, Reference, Strict
from tierspayant.domain.reference import CareCategory
from tierspayant.security.policy import Principal
from tierspayant.services.lifecycle import IdentityChange, Member
from tierspayant.services.records import Beneficiary, RightsPeriod

router = APIRouter(prefix="/v1/insurers/{amc_number}", tags=["beneficiaries"])

MemberNumber = Annotated[str, Field(min_length=1, max_length=20, examples=["M00012345"])]
Nir = Annotated[str, Field(min_length=1, max_length=20, examples=["185057800608436"])]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Categories = Annotated[list[CareCategory], Field(min_length=1, max_length=3, examples=[["optical", "medical"]])]


class FindIn(Strict):
    """Exactly one of the two: the member number (its whole membership) or a NIR."""

    member_number: MemberNumber | None = None
    nir: Nir | None = None


class PeriodOut(BaseModel):
    start: date
    end: date | None
    categories: list[str]
    contract_code: str


class MemberOut(BaseModel):
    """A change's answer carries no identity (null names and birth date): the caller knows whom
    it changed; only a lookup shows them."""

    id: int
    member_number: str
    rank: int
    last_name: str | None
    first_name: str | None
    birth_date: date | None
    contract_code: str
    rights: list[PeriodOut]


class MembersOut(BaseModel):
    beneficiaries: list[MemberOut]


class CorrectionIn(Strict):
    """The fields to correct (at least one)."""

    last_name: Annotated[str | None, Field(min_length=1, max_length=100, examples=["Martin-Durand"])] = None
    first_name: Name | None = None
    birth_date: Annotated[date | None, Field(examples=["1985-05-17"])] = None
    nir: Nir | None = None


class DependantIn(Strict):
    rank: Annotated[int, Field(ge=1, le=20, examples=[2])]
    nir: Nir
    birth_date: date
    last_name: Name
    first_name: Name
    rights_start: date
    rights_end: date | None = None
    categories: Categories


class RightsEndIn(Strict):
    end: Annotated[date, Field(description="The last day covered", examples=["2026-12-31"])]


class ContractChangeIn(Strict):
    contract_code: Annotated[str, Field(min_length=1, max_length=40, examples=["HARMONIE-2"])]
    effective: Annotated[date, Field(description="The first day under the new contract", examples=["2027-01-01"])]


def _out(members: list[Member], identity: bool = False) -> MembersOut:
    return MembersOut(beneficiaries=[MemberOut(
        id=m.beneficiary.id, member_number=m.beneficiary.member_number, rank=m.beneficiary.rank,
        last_name=m.beneficiary.last_name if identity else None,
        first_name=m.beneficiary.first_name if identity else None,
        birth_date=m.beneficiary.birth_date if identity else None,
        contract_code=m.contract_code,
        rights=[PeriodOut(start=p.start, end=p.end, categories=sorted(c.value for c in p.categories), contract_code=code)
                for p, code in m.periods]) for m in members])


@router.post("/beneficiaries/find", response_model=MembersOut, responses=NOT_FOUND)
def find(amc_number: Reference, body: FindIn, request: Request, principal: Principal = INSURER_DATA) -> MembersOut:
    """One membership by its member number, or the beneficiaries of one NIR: an exact match
    (never by name or prefix), an access event per beneficiary shown, counted by detection."""
    return _out(platform(request).lifecycle.find(principal, amc_number, body.member_number, body.nir), identity=True)


@router.patch("/beneficiaries/{beneficiary_id}", response_model=MembersOut, responses=NOT_FOUND)
def correct(amc_number: Reference, beneficiary_id: ObjectId, body: CorrectionIn, request: Request,
            principal: Principal = INSURER_DATA) -> MembersOut:
    """Correct an identity (the fields given)."""
    change = IdentityChange(body.last_name, body.first_name, body.birth_date, body.nir)
    return _out([platform(request).lifecycle.correct(principal, amc_number, beneficiary_id, change)])


@router.post("/beneficiaries/{beneficiary_id}/dependants", response_model=MembersOut, status_code=201,
             responses=NOT_FOUND)
def add_dependant(amc_number: Reference, beneficiary_id: ObjectId, body: DependantIn, request: Request,
                  principal: Principal = INSURER_DATA) -> MembersOut:
    """A dependant under the member ``beneficiary_id`` (rank 0): its member number and contract."""
    dependant = Beneficiary(0, 0, 0, "", body.rank, body.nir, body.birth_date, body.last_name, body.first_name)
    rights = RightsPeriod(body.rights_start, body.rights_end, frozenset(body.categories))
    return _out([platform(request).lifecycle.add_dependant(principal, amc_number, beneficiary_id, dependant, rights)])


@router.put("/beneficiaries/{beneficiary_id}/rights-end", response_model=MembersOut, responses=NOT_FOUND)
def end_rights(amc_number: Reference, beneficiary_id: ObjectId, body: RightsEndIn, request: Request,
               principal: Principal = INSURER_DATA) -> MembersOut:
    """Radiation: no right runs past ``end``; the member's ends its dependants' too."""
    return _out(platform(request).lifecycle.end_rights(principal, amc_number, beneficiary_id, body.end))


@router.post("/beneficiaries/{beneficiary_id}/contract-changes", response_model=MembersOut, responses=NOT_FOUND)
def change_contract(amc_number: Reference, beneficiary_id: ObjectId, body: ContractChangeIn, request: Request,
                    principal: Principal = INSURER_DATA) -> MembersOut:
    """The membership moves to another contract from ``effective``; care before keeps the old one."""
    return _out(platform(request).lifecycle.change_contract(principal, amc_number, beneficiary_id,
                                                            body.contract_code, body.effective))
