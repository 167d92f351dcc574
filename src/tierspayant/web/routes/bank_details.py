"""The professional's bank details (docs/THREATS.md T7): a change needs a passkey session and
a fresh passkey assertion given on this page, takes effect after the delay (72 h by default),
is announced at once, and can be cancelled meanwhile from any session."""

from __future__ import annotations

import json
from contextlib import suppress

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import ValidationError

from tierspayant.api.routers.bank_details import ChangeIn
from tierspayant.domain.errors import DomainError
from tierspayant.security.policy import PHISHING_RESISTANT, NotFound, Principal
from tierspayant.services.errors import Unauthenticated
from tierspayant.web.render import day, page
from tierspayant.web.session import CSRF, PORTAL, SIGNED_IN, STRONG, open_session, platform, source_of

router = APIRouter(prefix=PORTAL, include_in_schema=False)
PAGE = f"{PORTAL}/coordonnees-bancaires"


@router.get("/coordonnees-bancaires", response_class=HTMLResponse)
def bank_details_page(request: Request, principal: Principal = SIGNED_IN) -> HTMLResponse:
    """The pending changes (an IBAN's last four digits), cancellable from any session; the
    form of a new one only to a passkey or PSC session."""
    changes = platform(request).bank_details.changes(principal)
    delay = platform(request).bank_details.delay
    return page(request, "bank_details.html", signed_in=True, changes=changes, strong=principal.aal in PHISHING_RESISTANT,
                delay_hours=int(delay.total_seconds() // 3600))


@router.post("/coordonnees-bancaires", dependencies=[CSRF])
async def request_change(request: Request, principal: Principal = STRONG) -> JSONResponse:
    """The new IBAN and BIC with a fresh assertion (web/static/portal.js): JSON in, JSON out."""
    try:
        body = ChangeIn.model_validate(json.loads(await request.body()))
    except (ValueError, ValidationError):
        return JSONResponse({"error": "IBAN et BIC sont obligatoires."}, status_code=422)
    try:
        change = platform(request).bank_details.request_change(principal, body.iban, body.bic, body.credential)
    except Unauthenticated:
        return JSONResponse({"error": "Confirmation par clé d'accès refusée."}, status_code=401)
    except DomainError as bad:
        return JSONResponse({"error": f"{bad.field} : {bad.message}", "field": bad.field}, status_code=422)
    answer = JSONResponse({"effective_at": day(change.effective_at), "next": PAGE}, status_code=201)
    # Stepped up: the session goes on under a new token (ASVS 7.2.4; web/session.py).
    open_session(answer, platform(request).accounts.renew(principal, source_of(request)).token)
    return answer


@router.post("/coordonnees-bancaires/{change_id}/annulation", dependencies=[CSRF], response_model=None)
def cancel_change(change_id: int, request: Request, principal: Principal = SIGNED_IN) -> RedirectResponse:
    """Cancelling only protects: any session of the professional may."""
    with suppress(NotFound):
        platform(request).bank_details.cancel(principal, change_id)
    return RedirectResponse(PAGE, status_code=303)
