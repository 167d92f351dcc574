"""Health and sessions."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tierspayant.api.auth import ANY_ACCOUNT, PUBLIC
from tierspayant.api.deps import platform
from tierspayant.api.schemas import SignInRequest, SignInResponse
from tierspayant.security.policy import Principal

router = APIRouter(prefix="/v1")


@router.get("/health", dependencies=[PUBLIC], tags=["core"])
async def health() -> dict[str, str]:
    """The trivial endpoint: benchmarks compare every other route to it."""
    return {"status": "ok"}


@router.post("/sessions", dependencies=[PUBLIC], tags=["sessions"], response_model=SignInResponse,
             responses={401: {"description": "Authentication failed (always the same answer)"}})
def sign_in(body: SignInRequest, request: Request) -> SignInResponse:
    """Sign in with username, password and the current TOTP code; returns a bearer token."""
    signed = platform(request).accounts.sign_in(body.username, body.password, body.totp)
    return SignInResponse(token=signed.token, expires_at=signed.expires_at, role=signed.role.value, aal=signed.aal)


@router.delete("/sessions/current", status_code=204, tags=["sessions"])
def sign_out(request: Request, principal: Principal = ANY_ACCOUNT) -> Response:
    platform(request).accounts.sign_out(principal)
    return Response(status_code=204)
