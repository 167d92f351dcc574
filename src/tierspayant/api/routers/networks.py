"""Care networks (services/networks.py): an insurer's operators create networks, add and end
memberships, set and end negotiated price caps, all dated (docs/DOMAIN.md "Care networks").
Another insurer's network answers 404 like a missing one. No professional's number in a URL:
they travel in bodies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from tierspayant.api.auth import INSURER_DATA, INSURER_SIDE
from tierspayant.api.deps import platform
from tierspayant.api.network_schemas import (
    MemberEndIn,
    MemberIn,
    MemberOut,
    NetworkCode,
    NetworkIn,
    NetworkOut,
    PriceCapEndIn,
    PriceCapIn,
    PriceCapOut,
)
from tierspayant.api.responses import NOT_FOUND, Responses
from tierspayant.security.policy import Principal
from tierspayant.services.networks import DEFAULT_ROWS, MAX_ROWS

router = APIRouter(prefix="/v1", tags=["networks"])

Limit = Annotated[int, Query(ge=1, le=MAX_ROWS, description=f"Rows at most (up to {MAX_ROWS})")]
CONFLICT: Responses = {409: {"description": "Taken already, or overlapping a period of the same subject"}}


@router.get("/networks", response_model=list[NetworkOut])
def list_networks(request: Request, limit: Limit = DEFAULT_ROWS, principal: Principal = INSURER_SIDE) -> list[NetworkOut]:
    """The networks serving your insurer (every network for a platform admin), by code."""
    return [NetworkOut.of(n) for n in platform(request).networks.networks(principal, limit)]


@router.post("/networks", response_model=NetworkOut, status_code=201, responses=CONFLICT)
def create_network(body: NetworkIn, request: Request, principal: Principal = INSURER_DATA) -> NetworkOut:
    """A network serving your insurer (on the log)."""
    return NetworkOut.of(platform(request).networks.create(principal, body.code, body.name, body.amc_numbers))


@router.get("/networks/{network}", response_model=NetworkOut, responses=NOT_FOUND)
def get_network(network: NetworkCode, request: Request, principal: Principal = INSURER_SIDE) -> NetworkOut:
    return NetworkOut.of(platform(request).networks.network(principal, network))


@router.get("/networks/{network}/members", response_model=list[MemberOut], responses=NOT_FOUND)
def list_members(network: NetworkCode, request: Request, limit: Limit = DEFAULT_ROWS,
                 principal: Principal = INSURER_SIDE) -> list[MemberOut]:
    """Every membership period, past and future, by professional then first day."""
    return [MemberOut.of(m) for m in platform(request).networks.members(principal, network, limit)]


@router.post("/networks/{network}/members", response_model=MemberOut, status_code=201,
             responses={**NOT_FOUND, **CONFLICT})
def add_member(network: NetworkCode, body: MemberIn, request: Request, principal: Principal = INSURER_DATA) -> MemberOut:
    """An optician joins the network for these days (on the log)."""
    return MemberOut.of(platform(request).networks.add_member(principal, network, body.rpps, body.valid_from,
                                                              body.valid_to))


@router.post("/networks/{network}/members/end", response_model=MemberOut, responses=NOT_FOUND)
def end_member(network: NetworkCode, body: MemberEndIn, request: Request,
               principal: Principal = INSURER_DATA) -> MemberOut:
    """The membership covering ``valid_to`` ends that day (on the log)."""
    return MemberOut.of(platform(request).networks.end_member(principal, network, body.rpps, body.valid_to))


@router.get("/networks/{network}/price-caps", response_model=list[PriceCapOut], responses=NOT_FOUND)
def list_caps(network: NetworkCode, request: Request, limit: Limit = DEFAULT_ROWS,
              principal: Principal = INSURER_SIDE) -> list[PriceCapOut]:
    """Every price cap period, past and future, by code then first day."""
    return [PriceCapOut.of(c) for c in platform(request).networks.caps(principal, network, limit)]


@router.post("/networks/{network}/price-caps", response_model=PriceCapOut, status_code=201,
             responses={**NOT_FOUND, **CONFLICT})
def set_cap(network: NetworkCode, body: PriceCapIn, request: Request, principal: Principal = INSURER_DATA) -> PriceCapOut:
    """The network's price for a class B optical code over these days; a cap in force since an
    earlier day ends the day before (on the log)."""
    return PriceCapOut.of(platform(request).networks.set_cap(principal, network, body.code, body.cap,
                                                             body.valid_from, body.valid_to))


@router.post("/networks/{network}/price-caps/end", response_model=PriceCapOut, responses=NOT_FOUND)
def end_cap(network: NetworkCode, body: PriceCapEndIn, request: Request,
            principal: Principal = INSURER_DATA) -> PriceCapOut:
    """The code's cap covering ``valid_to`` ends that day (on the log)."""
    return PriceCapOut.of(platform(request).networks.end_cap(principal, network, body.code, body.valid_to))
