"""Signing in to the portal: a passkey (enrolled with the admin's one-time code), Pro Santé
Connect, or a password and a TOTP code -- the last reaching only the pages without beneficiary
data, as in the API (docs/THREATS.md T1). Every failure gets the same answer."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from tierspayant.api.routers.passkeys import AuthenticationIn, EnrolmentOptionsIn, RegistrationIn
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.accounts import SignedIn
from tierspayant.services.errors import AccountSuspended, Contained, Throttled, Unauthenticated
from tierspayant.web.render import page
from tierspayant.web.session import (
    CSRF,
    PORTAL,
    PUBLIC_PAGE,
    SIGN_IN,
    SIGNED_IN,
    bind_psc,
    close_session,
    open_session,
    platform,
    psc_bound,
    source_of,
    unbind_psc,
)

router = APIRouter(prefix=PORTAL, include_in_schema=False)
REFUSED = "Connexion refusée."
#: Every sign-in failure, whatever failed (docs/THREATS.md T1, T4).
SIGN_IN_FAILURES = (Unauthenticated, Throttled, Contained, AccountSuspended)


def _refused_json() -> JSONResponse:
    return JSONResponse({"error": REFUSED}, status_code=401)


SUSPENDED = ("Compte suspendu : appelez l'administrateur de votre structure, ou le support de la plateforme, "
             "pour le rétablir.")
NOT_FOR_THIS_ROLE = "Le portail est réservé aux professionnels de santé : votre compte se sert de l'API."


def _suspended(request: Request) -> HTMLResponse:
    """Only a passkey's or a PSC identity's holder gets this far: say whom to call (services/accounts.py)."""
    return page(request, "message.html", status_code=403, title="Compte suspendu", text=SUSPENDED, link=None)


def _professional_only(request: Request, signed: SignedIn) -> HTMLResponse | None:
    """The portal is for professionals: another role's new session is ended at once, not left
    open behind a deleted cookie."""
    if signed.role is Role.PROFESSIONAL:
        return None
    accounts = platform(request).accounts
    accounts.sign_out(accounts.authenticate(signed.token))
    return page(request, "message.html", status_code=403, title="Portail des professionnels", text=NOT_FOR_THIS_ROLE,
                link=None)


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
    other_role = _professional_only(request, signed)
    if other_role is not None:
        return other_role
    answer = RedirectResponse(f"{PORTAL}/", status_code=303)
    open_session(answer, signed.token)
    return answer


@router.post("/cle/options", dependencies=[PUBLIC_PAGE, CSRF])
def passkey_options(request: Request) -> JSONResponse:
    """Request options (WebAuthn L3 JSON: PublicKeyCredential.parseRequestOptionsFromJSON)."""
    return JSONResponse(json.loads(platform(request).accounts.authentication_options()))


@router.post("/cle/connexion", dependencies=[PUBLIC_PAGE, CSRF])
async def passkey_sign_in(request: Request) -> JSONResponse:
    body = await _body(request, AuthenticationIn)
    if body is None:
        return _refused_json()
    try:
        signed = platform(request).accounts.sign_in_with_passkey(body.credential, source_of(request))
    except AccountSuspended:
        return JSONResponse({"error": SUSPENDED}, status_code=403)
    except SIGN_IN_FAILURES:
        return _refused_json()
    if _professional_only(request, signed) is not None:
        return JSONResponse({"error": NOT_FOR_THIS_ROLE}, status_code=403)
    return signed_in_response(signed.token)


@router.get("/enrolement", dependencies=[PUBLIC_PAGE], response_class=HTMLResponse)
def enrolment_page(request: Request) -> HTMLResponse:
    return page(request, "enrol.html")


@router.post("/enrolement/options", dependencies=[PUBLIC_PAGE, CSRF])
async def enrolment_options(request: Request) -> JSONResponse:
    """Creation options for a new passkey, given the one-time enrolment code."""
    body = await _body(request, EnrolmentOptionsIn)
    if body is None:
        return _refused_json()
    try:
        return JSONResponse(json.loads(platform(request).accounts.registration_options(body.enrolment_code)))
    except SIGN_IN_FAILURES:
        return _refused_json()


@router.post("/enrolement", dependencies=[PUBLIC_PAGE, CSRF])
async def enrol(request: Request) -> JSONResponse:
    body = await _body(request, RegistrationIn)
    if body is None:
        return _refused_json()
    try:
        platform(request).accounts.register_passkey(body.enrolment_code, body.credential)
    except SIGN_IN_FAILURES:
        return _refused_json()
    return JSONResponse({"next": SIGN_IN}, status_code=201)


@router.get("/psc", dependencies=[PUBLIC_PAGE], response_model=None)
def psc_start(request: Request) -> Response:
    """Send the browser to Pro Santé Connect (code + PKCE; services/accounts.py). Its answer
    comes back to TIERS_OIDC_REDIRECT_URI: for the portal, ``/portail/psc/retour``."""
    try:
        url = platform(request).accounts.oidc_start()
    except NotFound:
        return page(request, "message.html", status_code=404, title="Pro Santé Connect indisponible",
                    text="La connexion par Pro Santé Connect n'est pas configurée sur cette plateforme.",
                    link=SIGN_IN, link_text="Autres moyens de connexion")
    answer = RedirectResponse(url, status_code=303)
    bind_psc(answer, parse_qs(urlsplit(url).query).get("state", [""])[0])
    return answer


@router.get("/psc/retour", dependencies=[PUBLIC_PAGE], response_model=None)
def psc_finish(request: Request, code: Annotated[str, Query(max_length=2000)] = "",
               state: Annotated[str, Query(max_length=200)] = "") -> Response:
    """PSC's redirect. The session cookie is set here, and the page then moves on by itself:
    the browser arrived from PSC's site, and a SameSite=Strict cookie is not sent on a
    redirect that a cross-site navigation started, so the next request must be this origin's
    own (web/static/portal.js ``data-next``). The code and state work once."""
    refused = page(request, "sign_in.html", status_code=401, message=REFUSED, notice=None,
                   psc=platform(request).accounts.oidc is not None)
    unbind_psc(refused)
    if not psc_bound(request, state):
        return refused
    try:
        signed = platform(request).accounts.oidc_finish(code, state, source_of(request))
    except AccountSuspended:
        return _suspended(request)
    except (*SIGN_IN_FAILURES, NotFound):
        return refused
    answer = _professional_only(request, signed) or page(
        request, "message.html", title="Connexion réussie", text="Connecté avec Pro Santé Connect.",
        link=f"{PORTAL}/", link_text="Continuer", next=f"{PORTAL}/")
    if answer.status_code == 200:
        open_session(answer, signed.token)
    unbind_psc(answer)
    return answer


@router.post("/deconnexion", dependencies=[CSRF], response_model=None)
def sign_out(request: Request, principal: Principal = SIGNED_IN) -> RedirectResponse:
    platform(request).accounts.sign_out(principal)
    answer = RedirectResponse(SIGN_IN, status_code=303)
    close_session(answer)
    return answer
