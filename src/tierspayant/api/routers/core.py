"""Health and sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from tierspayant.api.auth import ANY_ACCOUNT, PUBLIC
from tierspayant.api.deps import platform
from tierspayant.api.problems import PROBLEM
from tierspayant.api.readiness import Readiness
from tierspayant.api.responses import NOT_FOUND
from tierspayant.api.schemas import ObjectId, SignInRequest, SignInResponse
from tierspayant.security.policy import Principal

router = APIRouter(prefix="/v1")


@router.get("/health", dependencies=[PUBLIC], tags=["core"])
async def health() -> dict[str, str]:
    """The trivial endpoint: benchmarks compare every other route to it."""
    return {"status": "ok"}


class ReadyOut(BaseModel):
    database: str = "writable"
    log: str = "writable"


@router.get("/health/ready", dependencies=[PUBLIC], tags=["core"], response_model=ReadyOut, responses={
    503: {"description": "Not ready: `database` or `log` says which is not writable (`unwritable`; "
                         "`unknown`: not tried, the database refusing)"}})
def ready(request: Request) -> JSONResponse:
    """Whether this server can work: a write transaction and the transparency log's append path
    (tried in a transaction rolled back: nothing is written), at most once a second per process."""
    readiness: Readiness = request.app.state.readiness
    ok, parts = readiness.check()
    if ok:
        return JSONResponse(parts)
    # RFC 9457 with extension members: which part failed, nothing else (no error text).
    body = {"type": "about:blank", "title": "Service unavailable", "status": 503,
            "detail": "not ready: " + ", ".join(f"{k} {v}" for k, v in parts.items()), **parts}
    return JSONResponse(body, status_code=503, media_type=PROBLEM, headers={"Retry-After": "2"})


@router.post("/sessions", dependencies=[PUBLIC], tags=["sessions"], response_model=SignInResponse,
             responses={401: {"description": "Authentication failed (always the same answer)"},
                        429: {"description": "Too many failed sign-ins from this source"}})
def sign_in(body: SignInRequest, request: Request) -> SignInResponse:
    """Sign in with username, password and the current TOTP code; returns a bearer token."""
    source = request.client.host if request.client else "unknown"
    signed = platform(request).accounts.sign_in(body.username, body.password, body.totp, source)
    return SignInResponse(token=signed.token, expires_at=signed.expires_at, role=signed.role.value, aal=signed.aal)


@router.delete("/sessions/current", status_code=204, tags=["sessions"])
def sign_out(request: Request, principal: Principal = ANY_ACCOUNT) -> Response:
    platform(request).accounts.sign_out(principal)
    return Response(status_code=204)


class SessionOut(BaseModel):
    id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    aal: str
    #: Pro Santé Connect sessions: how the professional authenticated (``authMode``: CARD, MOBILE).
    auth_means: str | None = None
    current: bool


@router.get("/sessions", response_model=list[SessionOut], tags=["sessions"])
def list_sessions(request: Request, principal: Principal = ANY_ACCOUNT) -> list[SessionOut]:
    """One's own live sessions."""
    return [SessionOut(id=s.id, created_at=s.created_at, last_seen_at=s.last_seen_at, expires_at=s.expires_at,
                       aal=s.aal, auth_means=s.auth_means, current=s.id == principal.session_id)
            for s in platform(request).accounts.sessions(principal)]


@router.delete("/sessions/{session_id}", status_code=204, tags=["sessions"], responses=NOT_FOUND)
def end_session(session_id: ObjectId, request: Request, principal: Principal = ANY_ACCOUNT) -> Response:
    """End one of one's own sessions."""
    platform(request).accounts.end_session(principal, session_id)
    return Response(status_code=204)


class OidcStartOut(BaseModel):
    authorization_url: str


@router.get("/oidc/start", dependencies=[PUBLIC], response_model=OidcStartOut, tags=["sessions"], responses=NOT_FOUND)
def oidc_start(request: Request) -> OidcStartOut:
    """Begin a Pro Santé Connect sign-in: send the browser to ``authorization_url``."""
    return OidcStartOut(authorization_url=platform(request).accounts.oidc_start())


@router.get("/oidc/callback", dependencies=[PUBLIC], response_model=SignInResponse, tags=["sessions"],
            responses={401: {"description": "Refused (always the same answer)"}, **NOT_FOUND})
def oidc_callback(request: Request, code: Annotated[str, Query(max_length=2000)],
                  state: Annotated[str, Query(max_length=200)]) -> SignInResponse:
    """The provider's redirect: a phishing-resistant session (``"aal": "oidc"``)."""
    signed = platform(request).accounts.oidc_finish(code, state, request.client.host if request.client else None)
    return SignInResponse(token=signed.token, expires_at=signed.expires_at, role=signed.role.value, aal=signed.aal)
