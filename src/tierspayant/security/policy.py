"""Roles and the access policy every route declares (docs/THREATS.md, authorisation)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    PROFESSIONAL = "professional"
    ORGANISATION_ADMIN = "organisation_admin"
    INSURER_OPERATOR = "insurer_operator"
    SECURITY_OFFICER = "security_officer"
    DPO = "dpo"
    INSURED = "insured"
    PLATFORM_ADMIN = "platform_admin"


class Assurance(StrEnum):
    """How a session was authenticated (docs/THREATS.md: beneficiary data needs a phishing-resistant
    one: a passkey, or Pro Santé Connect with CPS/e-CPS)."""

    PASSWORD_TOTP = "password_totp"  # noqa: S105 -- a name, not a password
    PASSKEY = "passkey"
    OIDC = "oidc"  # Pro Santé Connect with a CPS / e-CPS (acr checked)


#: The roles an organisation's own admin may give (services/onboarding.py).
ORGANISATION_ROLES = frozenset({Role.PROFESSIONAL.value, Role.ORGANISATION_ADMIN.value})

#: Sessions that may reach beneficiary data.
PHISHING_RESISTANT = frozenset({Assurance.PASSKEY, Assurance.OIDC})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and the scope they may reach."""

    account_id: int
    session_id: int
    role: Role
    organisation_id: int | None = None
    professional_id: int | None = None
    insurer_id: int | None = None
    #: The request this principal acts in (recorded with every access event).
    request_id: str = ""
    #: How the session was authenticated: "password_totp" or "passkey".
    aal: str = "password_totp"
    #: What is new about the session (security/novelty.py): ("new_device", "new_network",
    #: "session_moved"), weak signals for detection.
    novel: tuple[str, ...] = ()

    def may_see_insurer(self, insurer_id: int) -> bool:
        """Tenant rule: an insurer operator sees its own insurer; the platform admin all."""
        if self.role is Role.PLATFORM_ADMIN:
            return True
        return self.role is Role.INSURER_OPERATOR and self.insurer_id == insurer_id

    def may_manage_account(self, organisation_id: int | None, role: str) -> bool:
        """Tenant rule for account lifecycle (docs/THREATS.md T10): the platform admin manages
        every account; an organisation admin only its own organisation's professionals and
        admins. Whatever else answers as if the account did not exist."""
        if self.role is Role.PLATFORM_ADMIN:
            return True
        return (self.role is Role.ORGANISATION_ADMIN and self.organisation_id is not None
                and organisation_id == self.organisation_id and role in ORGANISATION_ROLES)


class NotFound(Exception):
    """The object does not exist *or* the caller may not see it: the two are indistinguishable
    on purpose (docs/THREATS.md T10, IDOR)."""
