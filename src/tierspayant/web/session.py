"""The portal's session and CSRF protection (docs/THREATS.md, "The portal").

- The session cookie holds the platform's session token (services/accounts.py): ``__Host-``
  prefixed (no Domain, Path=/, Secure: a sibling or subdomain cannot set or shadow it; RFC 6265bis
  §4.1.3.2), HttpOnly, SameSite=Strict; a new token at every sign-in (ASVS 7.2.4). Browsers
  treat http://localhost as a secure context, so Secure holds there too.
- CSRF: every state-changing route checks where the request comes from (its ``Origin``; when
  that is ``null`` or absent, ``Sec-Fetch-Site``, else the ``Referer``) against the portal's
  origin, and a synchronizer token: the ``__Host-`` CSRF cookie's
  value, sent back in the form's ``csrf`` field or the ``X-CSRF-Token`` header (double submit;
  the prefix stops a sibling domain planting the cookie). A new token at every sign-in.
- Every route declares its policy (``PUBLIC_PAGE``, ``SIGNED_IN``, ``STRONG``) and, when it
  changes state, ``CSRF``; a test walks the route table (tests/integration/test_portal_security.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response

from tierspayant.api.rate_gate import PORTAL_SESSION_COOKIE
from tierspayant.bootstrap import Platform
from tierspayant.security.policy import PHISHING_RESISTANT, Principal, Role
from tierspayant.security.tokens import new_session_token, same_token
from tierspayant.services.errors import Unauthenticated

PORTAL = "/portail"
#: The session token's cookie (the API's rate gate reads it too: a portal session's requests
#: are limited as a bearer token's, before any work).
SESSION_COOKIE = PORTAL_SESSION_COOKIE
CSRF_COOKIE = "__Host-tp_csrf"
#: Binds a Pro Santé Connect sign-in to the browser that started it (web/routes/sign_in.py).
PSC_COOKIE = "__Host-tp_psc"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SIGN_IN = f"{PORTAL}/connexion"


class SignInRequired(Exception):
    """No live session: the page sends the browser to the sign-in page."""


class StrongSignInRequired(Exception):
    """A password + TOTP session on a page with beneficiary data (docs/THREATS.md T1)."""


class CsrfRefused(Exception):
    """A state-changing request without the right origin or token."""


def platform(request: Request) -> Platform:
    found: Platform = request.app.state.platform
    return found


def source_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def _set(response: Response, name: str, value: str, max_age: int | None = None,
         samesite: Literal["strict", "lax"] = "strict") -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite=samesite)


def bind_psc(response: Response, state: str) -> None:
    """The sign-in's state, kept by this browser for 10 minutes. SameSite=Lax: PSC's redirect
    back is a cross-site top-level navigation, on which a Strict cookie is not sent."""
    _set(response, PSC_COOKIE, state, max_age=600, samesite="lax")


def psc_bound(request: Request, state: str) -> bool:
    """Whether this browser started the sign-in that ``state`` finishes (login CSRF: an
    attacker's own code and state, opened in a victim's browser, must not sign it in)."""
    kept = request.cookies.get(PSC_COOKIE)
    return bool(kept) and bool(state) and same_token(state, str(kept))


def unbind_psc(response: Response) -> None:
    response.delete_cookie(PSC_COOKIE, path="/", secure=True, httponly=True, samesite="lax")


def csrf_token(request: Request) -> str:
    """The browser's CSRF token (issued with the page when it has none yet)."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = new_session_token()
        request.state.new_csrf = token
    return str(token)


def keep_csrf(request: Request, response: Response) -> None:
    """Set the CSRF cookie on ``response`` when the page issued a new token."""
    token = getattr(request.state, "new_csrf", None)
    if token:
        _set(response, CSRF_COOKIE, token)


def open_session(response: Response, token: str) -> None:
    """Signed in: the session cookie, and a new CSRF token (the old one stays with the old
    session)."""
    _set(response, SESSION_COOKIE, token)
    _set(response, CSRF_COOKIE, new_session_token())


def close_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")


def _same_origin(request: Request, origin: str) -> bool:
    """Whether the request comes from a page of ``origin``. Under ``Referrer-Policy:
    no-referrer`` a browser sends ``Origin: null`` on a form post (Fetch, "serializing a request
    origin") and no Referer: the Fetch Metadata header, which no page can forge, says then."""
    given = request.headers.get("origin")
    if given is not None and given != "null":
        return same_token(given, origin)
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    referer = request.headers.get("referer")
    if referer is None:
        return False
    parts = urlsplit(referer)
    return same_token(f"{parts.scheme}://{parts.netloc}", origin)


async def csrf_protected(request: Request) -> None:
    """Refuse a state-changing request from another origin or without the browser's token."""
    if not _same_origin(request, platform(request).settings.webauthn_origin):
        raise CsrfRefused()
    expected = request.cookies.get(CSRF_COOKIE)
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not expected or not given or not same_token(given, expected):
        raise CsrfRefused()


csrf_protected.__csrf__ = True  # type: ignore[attr-defined]


def public_page() -> None:
    """Policy marker: no session needed (sign-in, enrolment)."""


public_page.__policy__ = "public"  # type: ignore[attr-defined]


def _signed_in(strong: bool) -> Callable[..., Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise SignInRequired()
        try:
            principal = platform(request).accounts.authenticate(token, source_of(request))
        except Unauthenticated:
            raise SignInRequired() from None  # a throttle or a containment answers 429 (web/app.py)
        if principal.role is not Role.PROFESSIONAL:
            raise SignInRequired()  # the portal is for professionals; other roles use the API
        if strong and principal.aal not in PHISHING_RESISTANT:
            raise StrongSignInRequired()
        return replace(principal, request_id=new_session_token()[:16])

    dependency.__policy__ = "strong" if strong else "signed_in"  # type: ignore[attr-defined]
    return dependency


def policy_of(dependency: Any) -> Any:
    return getattr(dependency, "__policy__", None)


def is_csrf_check(dependency: Any) -> bool:
    return bool(getattr(dependency, "__csrf__", False))


PUBLIC_PAGE = Depends(public_page)
#: Pages that show no beneficiary data: any professional's session (statements, sessions).
SIGNED_IN = Depends(_signed_in(strong=False))
#: Pages that show or take beneficiary data: a passkey or Pro Santé Connect session only.
STRONG = Depends(_signed_in(strong=True))
CSRF = Depends(csrf_protected)
