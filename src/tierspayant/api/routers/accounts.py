"""Onboarding and account lifecycle (services/onboarding.py): organisations, their accounts,
enrolment codes, disabling, roles, ending sessions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from tierspayant.api.auth import ACCOUNT_ADMINS, ADMIN, ORG_ADMINS, PLATFORM_ADMINS
from tierspayant.api.deps import platform
from tierspayant.api.responses import NOT_FOUND, Responses
from tierspayant.api.schemas import ProfessionalFields, Reference, Strict
from tierspayant.security.policy import Principal
from tierspayant.services.onboarding import NewAccount
from tierspayant.services.records import Organisation

router = APIRouter(prefix="/v1", tags=["accounts"])

Username = Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$",
                                examples=["optique.lumiere.martin"])]
OrganisationRole = Literal["professional", "organisation_admin"]
CONFLICT: Responses = {409: {"description": "The number or the user name is already registered"}}


class OrganisationIn(Strict):
    kind: Literal["FINESS", "SIRET"]
    identifier: Annotated[str, Field(min_length=9, max_length=14, pattern=r"^[0-9ABab]+$", examples=["750000001"])]
    name: Annotated[str, Field(min_length=1, max_length=200, examples=["Optique Lumière"])]
    admin_username: Username


class AccountIn(Strict):
    """An admin, or a professional: a new one (``professional``) or one the organisation already
    has (``rpps`` or ``adeli``)."""

    username: Username
    role: OrganisationRole
    professional: ProfessionalFields | None = None
    rpps: Annotated[str | None, Field(max_length=11)] = None
    adeli: Annotated[str | None, Field(max_length=9)] = None


class NewAccountOut(BaseModel):
    username: str
    role: str
    organisation_id: int
    professional_id: int | None
    enrolment_code: str = Field(description="One-time, 24 h: hand it over out of band (in person, by post); "
                                            "its holder registers a passkey with it")


class AccountOut(BaseModel):
    username: str
    role: str
    disabled: bool
    professional_id: int | None
    passkeys: int


class DisableIn(Strict):
    disabled: bool


class RoleIn(Strict):
    role: OrganisationRole


class EndedOut(BaseModel):
    ended: int


def _new(account: NewAccount) -> NewAccountOut:
    return NewAccountOut(username=account.username, role=account.role, organisation_id=account.organisation_id,
                         professional_id=account.professional_id, enrolment_code=account.enrolment_code)


@router.post("/organisations", response_model=NewAccountOut, status_code=201, responses=CONFLICT)
def register_organisation(body: OrganisationIn, request: Request, principal: Principal = PLATFORM_ADMINS) -> NewAccountOut:
    """The operator registers an organisation and its first admin account (passkey only)."""
    return _new(platform(request).onboarding.register_organisation(
        principal, Organisation(0, body.kind, body.identifier, body.name), body.admin_username))


@router.post("/organisations/{identifier}/accounts", response_model=NewAccountOut, status_code=201,
             responses={**NOT_FOUND, **CONFLICT})
def add_account(identifier: Reference, body: AccountIn, request: Request, principal: Principal = ACCOUNT_ADMINS) -> NewAccountOut:
    """A new account of the organisation, with its enrolment code. One account per professional."""
    professional = body.professional.professional() if body.professional is not None else None
    return _new(platform(request).onboarding.add_account(principal, identifier, body.username, body.role,
                                                         professional=professional, rpps=body.rpps, adeli=body.adeli))


@router.get("/organisations/{identifier}/accounts", response_model=list[AccountOut], responses=NOT_FOUND)
def list_accounts(identifier: Reference, request: Request, principal: Principal = ORG_ADMINS) -> list[AccountOut]:
    """The organisation's accounts, disabled ones included, oldest first."""
    return [AccountOut(username=a.username, role=a.role, disabled=a.disabled, professional_id=a.professional_id,
                       passkeys=a.passkeys) for a in platform(request).onboarding.accounts_of(principal, identifier)]


@router.put("/accounts/{username}/disabled", status_code=204, responses={**NOT_FOUND, **CONFLICT})
def set_disabled(username: Reference, body: DisableIn, request: Request, principal: Principal = ACCOUNT_ADMINS) -> Response:
    """Disable (and end every session of) an account, or enable it again."""
    platform(request).onboarding.set_disabled(principal, username, body.disabled)
    return Response(status_code=204)


@router.put("/accounts/{username}/role", status_code=204, responses={**NOT_FOUND, **CONFLICT})
def set_role(username: Reference, body: RoleIn, request: Request, principal: Principal = ACCOUNT_ADMINS) -> Response:
    """Make an organisation's account a professional or an admin (its sessions end)."""
    platform(request).onboarding.set_role(principal, username, body.role)
    return Response(status_code=204)


@router.post("/accounts/{username}/sessions/end", response_model=EndedOut, tags=["sessions"], responses=NOT_FOUND)
def end_sessions_of(username: Reference, request: Request, principal: Principal = ORG_ADMINS) -> EndedOut:
    """End every session of one account (e.g. a reported phishing)."""
    return EndedOut(ended=platform(request).onboarding.end_sessions_of(principal, username))


@router.post("/sessions/end-all", response_model=EndedOut, tags=["sessions"])
def end_all_sessions(request: Request, principal: Principal = ADMIN) -> EndedOut:
    """End every session of the platform (everyone signs in again; nothing else stops)."""
    return EndedOut(ended=platform(request).onboarding.end_all_sessions(principal))
