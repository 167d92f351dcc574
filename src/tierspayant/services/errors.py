"""Errors the use cases raise, mapped to HTTP by the API.

    ServiceError
     +-- Unauthenticated   one opaque failure for every sign-in problem (ASVS 6.3.8)
     +-- Forbidden         signed in, but this role may not use this function
          +-- AssuranceRequired  ... or not with a phishing-resistant sign-in
     +-- Throttled         too many failed sign-ins from this source (429)
     +-- AccountSuspended  a strong sign-in by a contained account (403, whom to call)
     +-- Contained         detection or a security officer contained this account,
                           organisation or insurer route (429 / 403 / 503)
    ports.Conflict        a uniqueness rule (409, naming the field)
    policy.NotFound       absent *or* out of the caller's scope (404, same body: T10)
    passwords.HashingBusy the password lane is full: retry in a moment (503, Retry-After: 1)
    domain.DomainError    bad input or configuration (422, naming the field)
"""

from __future__ import annotations


class ServiceError(Exception):
    pass


class Unauthenticated(ServiceError):
    """Authentication failed. Deliberately says nothing about why."""


class Forbidden(ServiceError):
    pass


class AssuranceRequired(Forbidden):
    """Signed in, but not strongly enough for beneficiary data: a passkey (or Pro Santé
    Connect) session is required; a password + TOTP session never reaches it (docs/THREATS.md T1)."""


class AccountSuspended(ServiceError):
    """A strong sign-in (passkey, OIDC) by an account that a containment covers: the real
    professional is told, since only they could have made it; a password sign-in gets the
    opaque ``Unauthenticated`` instead (docs/THREATS.md, detection and containment)."""


class Throttled(ServiceError):
    """Too many failed sign-ins from this source: wait ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("throttled")
        self.retry_after = retry_after


class RateLimited(ServiceError):
    """This account sends faster than its limit (docs/THREATS.md, "Floods"): wait ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("rate limited")
        self.retry_after = max(1, int(retry_after) + 1)


class Contained(ServiceError):
    """Refused by a containment (docs/THREATS.md, detection and containment): ``scope`` is
    "throttle" (wait ``retry_after`` seconds), "organisation" or "insurer"."""

    def __init__(self, scope: str, retry_after: int | None = None) -> None:
        super().__init__(scope)
        self.scope = scope
        self.retry_after = retry_after
