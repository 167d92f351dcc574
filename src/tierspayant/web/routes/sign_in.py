"""Signing in to the portal: a passkey (enrolled with the admin's one-time code), Pro Santé
Connect, or a password and a TOTP code -- the last reaching only the pages without beneficiary
data, as in the API (docs/THREATS.md T1). Every failure gets the same answer."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError

from tierspayant.security.policy import Principal
from tierspayant.services.errors import Contained, Throttled, Unauthenticated
from tierspayant.web.render import page
from tierspayant.web.session import (
    CSRF,
    PORTAL,
    PUBLIC_PAGE,
    SIGN_IN,
    SIGNED_IN,
    close_session,
    open_session,
    platform,
    source_of,
)

router = APIRouter(prefix=PORTAL, include_in_schema=False)
REFUSED = "Connexion refusée."
#: Every sign-in failure, whatever failed (docs/THREATS.md T1, T4).
SIGN_IN_FAILURES = (Unauthenticated, Throttled, Contained)


class Credential(BaseModel):
    credential: Annotated[dict[str, Any], Field(description="PublicKeyCredential.toJSON()")]


class EnrolmentCode(BaseModel):
    enrolment_code: Annotated[str, Field(min_length=8, max_length=40)]


class Enrolment(EnrolmentCode, Credential):
    pass


def _refused_json() -> JSONResponse:
    return JSONResponse({"error": REFUSED}, status_code=401)


async def _body(request: Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(json.loads(await request.body()))
    except (ValueError, ValidationError):
        return None


def signed_in_response(token: str, target: str = f"{PORTAL}/") -> JSONResponse:
    answer = JSONResponse({"next": target})
    open_session(answer, token)
    return answer


@router.get("/connexion", dependencies=[PUBLIC_PAGE], response_class=HTMLResponse)
def sign_in_page(request: Request) -> HTMLResponse:
    return page(request, "sign_in.html", message=None, notice=None, psc=platform(request).accounts.oidc is not None)


@router.post("/connexion/mot-de-passe", dependencies=[PUBLIC_PAGE, CSRF], response_model=None)
def password_sign_in(request: Request, username: Annotated[str, Form(max_length=100)] = "",
                     password: Annotated[str, Form(max_length=200)] = "",
                     code: Annotated[str, Form(max_length=6)] = "") -> Response:
    try:
        signed = platform(request).accounts.sign_in(username, password, code, source_of(request) or "unknown")
    except SIGN_IN_FAILURES:
        return page(request, "sign_in.html", status_code=401, message=REFUSED, notice=None,
                    psc=platform(request).accounts.oidc is not None)
    answer = RedirectResponse(f"{PORTAL}/", status_code=303)
    open_session(answer, signed.token)
    return answer


@router.post("/cle/options", dependencies=[PUBLIC_PAGE, CSRF])
def passkey_options(request: Request) -> JSONResponse:
    """Request options (WebAuthn L3 JSON: PublicKeyCredential.parseRequestOptionsFromJSON)."""
    return JSONResponse(json.loads(platform(request).accounts.authentication_options()))


@router.post("/cle/connexion", dependencies=[PUBLIC_PAGE, CSRF])
async def passkey_sign_in(request: Request) -> JSONResponse:
    body = await _body(request, Credential)
    if body is None:
        return _refused_json()
    try:
        signed = platform(request).accounts.sign_in_with_passkey(body.credential, source_of(request))
    except SIGN_IN_FAILURES:
        return _refused_json()
    return signed_in_response(signed.token)


@router.get("/enrolement", dependencies=[PUBLIC_PAGE], response_class=HTMLResponse)
def enrolment_page(request: Request) -> HTMLResponse:
    return page(request, "enrol.html")


@router.post("/enrolement/options", dependencies=[PUBLIC_PAGE, CSRF])
async def enrolment_options(request: Request) -> JSONResponse:
    """Creation options for a new passkey, given the one-time enrolment code."""
    body = await _body(request, EnrolmentCode)
    if body is None:
        return _refused_json()
    try:
        return JSONResponse(json.loads(platform(request).accounts.registration_options(body.enrolment_code)))
    except SIGN_IN_FAILURES:
        return _refused_json()


@router.post("/enrolement", dependencies=[PUBLIC_PAGE, CSRF])
async def enrol(request: Request) -> JSONResponse:
    body = await _body(request, Enrolment)
    if body is None:
        return _refused_json()
    try:
        platform(request).accounts.register_passkey(body.enrolment_code, body.credential)
    except SIGN_IN_FAILURES:
        return _refused_json()
    return JSONResponse({"next": SIGN_IN}, status_code=201)


@router.post("/deconnexion", dependencies=[CSRF], response_model=None)
def sign_out(request: Request, principal: Principal = SIGNED_IN) -> RedirectResponse:
    platform(request).accounts.sign_out(principal)
    answer = RedirectResponse(SIGN_IN, status_code=303)
    close_session(answer)
    return answer
