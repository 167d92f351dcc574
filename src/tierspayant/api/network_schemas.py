"""Request and response bodies of the care networks' routes (api/routers/networks.py). Strict
like api/schemas.py: unknown fields refused, amounts canonical decimals, the identifiers and
dates checked by the domain (domain/networks.py), each error naming its field."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Path as FastAPIPath
from pydantic import BaseModel, Field

from tierspayant.api.schemas import Amount, Code, Strict
from tierspayant.services.networks import NetworkView
from tierspayant.services.ports.networks import NetworkMember, PriceCap

#: A network's code in a path (domain/networks.py ``CODE``).
NetworkCode = Annotated[str, FastAPIPath(min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$",
                                         description="The network's code")]
FirstDay = Annotated[date, Field(examples=["2026-01-01"], description="First day in force (included)")]
LastDay = Annotated[date | None, Field(examples=[None], description="Last day in force (included); null: open-ended")]
EndDay = Annotated[date, Field(examples=["2026-12-31"], description="The new last day in force (included)")]
Rpps = Annotated[str, Field(min_length=1, max_length=11, examples=["10000000001"],
                            description="The professional's RPPS number (11 digits, Luhn key)")]
ItemCode = Annotated[Code, Field(examples=["9100102"], description="A class B optical code (frame or lens)")]


class NetworkIn(Strict):
    code: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$", examples=["optique-ouest"],
                               description="Lower-case letters, digits, dashes: the network's name in URLs")]
    name: Annotated[str, Field(min_length=1, max_length=200, examples=["Réseau Optique Ouest"])]
    amc_numbers: Annotated[list[Annotated[str, Field(min_length=1, max_length=20)]], Field(
        min_length=1, max_length=20, examples=[["990000011"]], description="The insurers it serves (yours)")]


class NetworkOut(BaseModel):
    code: str
    name: str
    amc_numbers: list[str]

    @staticmethod
    def of(view: NetworkView) -> NetworkOut:
        return NetworkOut(code=view.code, name=view.name, amc_numbers=list(view.amc_numbers))


class MemberIn(Strict):
    rpps: Rpps
    valid_from: FirstDay
    valid_to: LastDay = None


class MemberEndIn(Strict):
    rpps: Rpps
    valid_to: EndDay


class MemberOut(BaseModel):
    professional_id: int
    rpps: str | None
    valid_from: date
    valid_to: date | None

    @staticmethod
    def of(member: NetworkMember) -> MemberOut:
        return MemberOut(professional_id=member.professional_id, rpps=member.rpps, valid_from=member.valid_from,
                         valid_to=member.valid_to)


class PriceCapIn(Strict):
    code: ItemCode
    cap: Annotated[Amount, Field(examples=["150.00"], description="The negotiated price, euros, above 0")]
    valid_from: FirstDay
    valid_to: LastDay = None


class PriceCapEndIn(Strict):
    code: ItemCode
    valid_to: EndDay


class PriceCapOut(BaseModel):
    code: str
    cap: str
    valid_from: date
    valid_to: date | None

    @staticmethod
    def of(cap: PriceCap) -> PriceCapOut:
        return PriceCapOut(code=cap.code, cap=str(cap.cap), valid_from=cap.valid_from, valid_to=cap.valid_to)
