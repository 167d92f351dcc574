"""Route policies. Every route declares one (``public`` or ``requires(...)``); a test walks the
route table and fails on any route without one (docs/THREATS.md, authorisation)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tierspayant.security.policy import PHISHING_RESISTANT, Principal, Role
from tierspayant.services.errors import AssuranceRequired, Forbidden, Unauthenticated

_bearer = HTTPBearer(auto_error=False, description="Session token from POST /v1/sessions")


def request_id(request: Request) -> str:
    """The caller's X-Request-Id when it is a short token, else a fresh one: recorded with every
    access event so that one request's accesses can be found together."""
    given = request.headers.get("x-request-id", "")
    if 8 <= len(given) <= 64 and all(c.isalnum() or c in "-_" for c in given):
        return given
    return uuid.uuid4().hex


def public() -> None:
    """Policy marker: no sign-in needed (health, sign-in itself)."""


public.__policy__ = "public"  # type: ignore[attr-defined]


def requires(*roles: Role, phishing_resistant: bool = False) -> Callable[..., Awaitable[Principal]]:
    """A dependency giving the signed-in ``Principal`` if their role is one of ``roles`` (any
    role when none is given).

    Deliberately ``async`` with a blocking store call: a lookup by primary key takes a few tens
    of microseconds, far less than a hop to the thread pool; measured in bench/ (the thread
    pool halved rights-check throughput and made SQLite writers queue)."""

    async def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        if credentials is None or not credentials.credentials:
            raise Unauthenticated()
        principal: Principal = request.app.state.platform.accounts.authenticate(
            credentials.credentials, request.client.host if request.client else None)
        if roles and principal.role not in roles:
            raise Forbidden()
        if phishing_resistant and principal.aal not in PHISHING_RESISTANT:
            raise AssuranceRequired()
        return replace(principal, request_id=request_id(request))

    dependency.__policy__ = tuple(r.value for r in roles) or "authenticated"  # type: ignore[attr-defined]
    dependency.__assurance__ = "phishing_resistant" if phishing_resistant else None  # type: ignore[attr-defined]
    return dependency


def policy_of(dependency: Any) -> Any:
    return getattr(dependency, "__policy__", None)


def assurance_of(dependency: Any) -> Any:
    return getattr(dependency, "__assurance__", None)


# Routes that show no beneficiary data: any session of the right role.
PROFESSIONAL = Depends(requires(Role.PROFESSIONAL))
INSURER_SIDE = Depends(requires(Role.INSURER_OPERATOR, Role.PLATFORM_ADMIN))
ADMIN = Depends(requires(Role.PLATFORM_ADMIN))
ANY_ACCOUNT = Depends(requires())
ORG_ADMINS = Depends(requires(Role.ORGANISATION_ADMIN, Role.PLATFORM_ADMIN))
#: Whoever gives access (an account, its enrolment code, a role, a re-enabling) signs in with a
#: passkey or Pro Santé Connect: a phished password must not mint the attacker a passkey of
#: its own (docs/THREATS.md T1).
ACCOUNT_ADMINS = Depends(requires(Role.ORGANISATION_ADMIN, Role.PLATFORM_ADMIN, phishing_resistant=True))
PLATFORM_ADMINS = Depends(requires(Role.PLATFORM_ADMIN, phishing_resistant=True))
PUBLIC = Depends(public)
# Routes that show or take beneficiary data: a phishing-resistant session only (docs/THREATS.md T1).
PROFESSIONAL_DATA = Depends(requires(Role.PROFESSIONAL, phishing_resistant=True))
INSURER_DATA = Depends(requires(Role.INSURER_OPERATOR, Role.PLATFORM_ADMIN, phishing_resistant=True))
INVOICE_LISTERS = Depends(requires(Role.PROFESSIONAL, Role.INSURER_OPERATOR, phishing_resistant=True))
QUOTE_READERS = Depends(requires(Role.PROFESSIONAL, Role.INSURER_OPERATOR, Role.PLATFORM_ADMIN, phishing_resistant=True))
OFFICERS = Depends(requires(Role.SECURITY_OFFICER, Role.PLATFORM_ADMIN, phishing_resistant=True))
INCIDENT_HANDLERS = Depends(requires(Role.SECURITY_OFFICER, Role.DPO, phishing_resistant=True))
LOG_READERS = Depends(requires(Role.SECURITY_OFFICER, Role.DPO, Role.PLATFORM_ADMIN, phishing_resistant=True))
