"""Passkeys (WebAuthn): enrolment with a one-time code from the organisation's admin, sign-in,
listing and revocation. Options are the JSON py_webauthn produces for navigator.credentials."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from tierspayant.api.auth import ACCOUNT_ADMINS, ANY_ACCOUNT, PUBLIC
from tierspayant.api.deps import platform
from tierspayant.api.responses import NOT_FOUND, Responses
from tierspayant.api.schemas import ObjectId, Reference, SignInResponse, Strict
from tierspayant.security.policy import Principal

router = APIRouter(prefix="/v1/passkeys", tags=["passkeys"])
UNAUTHENTICATED: Responses = {401: {"description": "Refused (always the same answer)"}}
Code = Annotated[str, Field(min_length=8, max_length=40)]


class EnrolmentOptionsIn(Strict):
    enrolment_code: Code


class RegistrationIn(Strict):
    enrolment_code: Code
    credential: dict[str, Any] = Field(description="The PublicKeyCredential from navigator.credentials.create")


class AuthenticationIn(Strict):
    credential: dict[str, Any] = Field(description="The PublicKeyCredential from navigator.credentials.get")


class PasskeyOut(BaseModel):
    id: int
    created_at: str
    revoked: bool


@router.post("/registration/options", dependencies=[PUBLIC], responses=UNAUTHENTICATED)
def registration_options(body: EnrolmentOptionsIn, request: Request) -> dict[str, Any]:
    """Creation options for a new passkey, given the one-time enrolment code."""
    options: dict[str, Any] = json.loads(platform(request).accounts.registration_options(body.enrolment_code))
    return options


@router.post("/registration", dependencies=[PUBLIC], status_code=201, responses=UNAUTHENTICATED)
def register(body: RegistrationIn, request: Request) -> dict[str, int]:
    return {"id": platform(request).accounts.register_passkey(body.enrolment_code, body.credential)}


@router.post("/authentication/options", dependencies=[PUBLIC])
def authentication_options(request: Request) -> dict[str, Any]:
    """Request options (a fresh single-use challenge, 5 minutes)."""
    options: dict[str, Any] = json.loads(platform(request).accounts.authentication_options())
    return options


@router.post("/authentication", dependencies=[PUBLIC], response_model=SignInResponse, responses=UNAUTHENTICATED)
def authenticate(body: AuthenticationIn, request: Request) -> SignInResponse:
    """Sign in with a passkey: a phishing-resistant session (aal "passkey")."""
    signed = platform(request).accounts.sign_in_with_passkey(body.credential,
                                                             request.client.host if request.client else None)
    return SignInResponse(token=signed.token, expires_at=signed.expires_at, role=signed.role.value, aal=signed.aal)


@router.get("", response_model=list[PasskeyOut])
def list_passkeys(request: Request, principal: Principal = ANY_ACCOUNT) -> list[PasskeyOut]:
    return [PasskeyOut(id=p.id, created_at=p.created_at.isoformat(), revoked=p.revoked)
            for p in platform(request).accounts.passkeys_of(principal)]


@router.delete("/{passkey_id}", status_code=204, responses=NOT_FOUND)
def revoke(passkey_id: ObjectId, request: Request, principal: Principal = ANY_ACCOUNT) -> Response:
    platform(request).accounts.revoke_passkey(principal, passkey_id)
    return Response(status_code=204)


class EnrolmentCodeOut(BaseModel):
    enrolment_code: str
    expires_in_hours: int = 24


@router.post("/enrolment-codes/{username}", response_model=EnrolmentCodeOut, status_code=201, responses=NOT_FOUND)
def issue_enrolment_code(username: Reference, request: Request, principal: Principal = ACCOUNT_ADMINS) -> EnrolmentCodeOut:
    """A one-time passkey enrolment code for one of the admin's organisation's accounts, to hand
    over out of band (in person, by post) -- never sent by the platform itself."""
    return EnrolmentCodeOut(enrolment_code=platform(request).accounts.enrolment_code(username, principal))
