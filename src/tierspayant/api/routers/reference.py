"""Reference data: insurers, contracts, beneficiaries, professionals, code tables."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from tierspayant.api.auth import ADMIN, ANY_ACCOUNT, INSURER_DATA, INSURER_SIDE
from tierspayant.api.deps import platform
from tierspayant.api.responses import NOT_FOUND
from tierspayant.api.schemas import (
    BeneficiaryIn,
    ContractIn,
    CreatedOut,
    InsurerIn,
    InsurerOut,
    IsoDate,
    ProfessionalIn,
    Reference,
    ReferenceCodeOut,
)
from tierspayant.domain.contracts import contract_to_dict
from tierspayant.security.policy import Principal
from tierspayant.services.records import Beneficiary, Organisation, RightsPeriod

router = APIRouter(prefix="/v1")


@router.post("/insurers", response_model=InsurerOut, status_code=201, tags=["reference"])
def add_insurer(body: InsurerIn, request: Request, principal: Principal = ADMIN) -> InsurerOut:
    insurer = platform(request).reference.add_insurer(principal, body.amc_number, body.name,
                                                      body.engagement_validity_days, body.pec_validity_days)
    return InsurerOut(id=insurer.id, amc_number=insurer.amc_number, name=insurer.name)


@router.post("/insurers/{amc_number}/contracts", status_code=201, tags=["reference"], responses=NOT_FOUND)
def add_contract(amc_number: Reference, body: ContractIn, request: Request, principal: Principal = INSURER_SIDE) -> dict[str, object]:
    """Configure a contract. Refused (422, with the rule) when it breaks R871-2 / D911-1 CSS."""
    config = body.model_dump(mode="json")
    contract = platform(request).reference.add_contract(principal, amc_number, config)
    return contract_to_dict(contract)


@router.get("/insurers/{amc_number}/contracts", tags=["reference"], responses=NOT_FOUND)
def list_contracts(amc_number: Reference, request: Request, principal: Principal = INSURER_SIDE) -> list[dict[str, object]]:
    """The insurer's contracts, by code, each as configured."""
    return [contract_to_dict(c) for c in platform(request).reference.contracts(principal, amc_number)]


@router.get("/insurers/{amc_number}/contracts/{code}", tags=["reference"], responses=NOT_FOUND)
def get_contract(amc_number: Reference, code: Reference, request: Request, principal: Principal = INSURER_SIDE) -> dict[str, object]:
    return platform(request).reference.get_contract(principal, amc_number, code)


@router.post("/insurers/{amc_number}/beneficiaries", response_model=CreatedOut, status_code=201, tags=["reference"],
             responses=NOT_FOUND)
def add_beneficiary(amc_number: Reference, body: BeneficiaryIn, request: Request,
                    principal: Principal = INSURER_DATA) -> CreatedOut:
    beneficiary = Beneficiary(0, 0, 0, body.member_number, body.rank, body.nir, body.birth_date, body.last_name,
                              body.first_name)
    rights = RightsPeriod(body.rights_start, body.rights_end, frozenset(body.categories))
    beneficiary_id = platform(request).reference.add_beneficiary(principal, amc_number, body.contract_code,
                                                                 beneficiary, rights)
    return CreatedOut(id=beneficiary_id)


@router.post("/professionals", response_model=CreatedOut, status_code=201, tags=["reference"])
def add_professional(body: ProfessionalIn, request: Request, principal: Principal = ADMIN) -> CreatedOut:
    organisation = Organisation(0, body.organisation_kind, body.organisation_identifier, body.organisation_name)
    return CreatedOut(id=platform(request).reference.add_professional(principal, organisation, body.professional()))


@router.get("/reference-codes/{code}", response_model=ReferenceCodeOut, tags=["reference"], responses=NOT_FOUND)
def get_reference_code(code: Reference, request: Request, at: IsoDate = Query(..., description="Date of care"),
                       principal: Principal = ANY_ACCOUNT) -> ReferenceCodeOut:
    row = platform(request).reference.codes(code, at)
    return ReferenceCodeOut(code=row.code, kind=row.kind.value, label=row.label, br=str(row.br),
                            amo_rate=str(row.amo_rate), optical_class=row.optical_class.value if row.optical_class else None,
                            plv=str(row.plv) if row.plv is not None else None,
                            br_non_optam=str(row.br_non_optam) if row.br_non_optam is not None else None,
                            age_from=row.age_from, age_below=row.age_below, valid_from=row.valid_from,
                            valid_to=row.valid_to)
