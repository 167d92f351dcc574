"""The pages without beneficiary data, open to any professional's session (a password + TOTP
one included): the home page, payment statements, one's sessions and signing out everywhere."""

from __future__ import annotations

from contextlib import suppress

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from tierspayant.security.policy import PHISHING_RESISTANT, NotFound, Principal
from tierspayant.web.render import page
from tierspayant.web.session import CSRF, PORTAL, SIGN_IN, SIGNED_IN, close_session, platform

router = APIRouter(prefix=PORTAL, include_in_schema=False)
MEANS = {"passkey": "clé d'accès", "oidc": "Pro Santé Connect", "password_totp": "mot de passe et code"}


@router.get("/", response_class=HTMLResponse)
def home(request: Request, principal: Principal = SIGNED_IN) -> HTMLResponse:
    return page(request, "home.html", signed_in=True, strong=principal.aal in PHISHING_RESISTANT)


@router.get("/releves", response_class=HTMLResponse)
def statements(request: Request, principal: Principal = SIGNED_IN) -> HTMLResponse:
    return page(request, "statements.html", signed_in=True, statements=platform(request).payments.statements(principal))


@router.get("/sessions", response_class=HTMLResponse)
def sessions(request: Request, principal: Principal = SIGNED_IN) -> HTMLResponse:
    return page(request, "sessions.html", signed_in=True, sessions=platform(request).accounts.sessions(principal),
                current=principal.session_id, means=MEANS)


@router.post("/sessions/{session_id}/fin", dependencies=[CSRF], response_model=None)
def end_session(session_id: int, request: Request, principal: Principal = SIGNED_IN) -> RedirectResponse:
    with suppress(NotFound):  # already ended, or not one's own: the list shows what is left
        platform(request).accounts.end_session(principal, session_id)
    if session_id == principal.session_id:
        answer = RedirectResponse(SIGN_IN, status_code=303)
        close_session(answer)
        return answer
    return RedirectResponse(f"{PORTAL}/sessions", status_code=303)


@router.post("/sessions/partout", dependencies=[CSRF], response_model=None)
def end_every_session(request: Request, principal: Principal = SIGNED_IN) -> RedirectResponse:
    """Sign out everywhere: every live session of the account, this one last."""
    accounts = platform(request).accounts
    for s in accounts.sessions(principal):
        if s.id != principal.session_id:
            accounts.end_session(principal, s.id)
    accounts.sign_out(principal)
    answer = RedirectResponse(SIGN_IN, status_code=303)
    close_session(answer)
    return answer
