"""Which platform account a Pro Santé Connect sign-in opens a session for (docs/THREATS.md T1).

PSC vouches for a person -- an RPPS or an ADELI number -- and lists where they practise
(``SubjectRefPro``: each activity's site by FINESS and SIRET). The platform's accounts belong
to organisations, named by those same numbers:

- RPPS (unique on the platform): the professional's own account. With several activities, one
  of them must name that account's organisation; none does: refused. With exactly one, it is
  taken as it is (PSC's one place of practice).
- ADELI (a professional may be registered, with this number, by several organisations): the
  account of that ADELI professional in the organisation an activity names. Exactly one account
  must be found among the activities; none, or two (two of its sites on the platform): refused.

A refusal is ``None`` here, and the caller's one opaque ``Unauthenticated``, like an unknown
number or a forged token (docs/ARCHITECTURE.md principle 5)."""

from __future__ import annotations

from typing import Protocol

from tierspayant.security.oidc import Activity, Identity
from tierspayant.services.ports import HasAccounts, HasProfessionals
from tierspayant.services.records import Account


class SignInStore(HasProfessionals, HasAccounts, Protocol):
    """The ports this choice reads (services/ports/)."""


def account_for(tx: SignInStore, identity: Identity) -> Account | None:
    """The account ``identity`` signs in to, or None (module docstring)."""
    if identity.kind == "rpps":
        professional = tx.professionals.professional_by_rpps(identity.number)
        account = tx.accounts.account_of_professional(professional.id) if professional is not None else None
        if account is None:
            return None
        if len(identity.activities) == 1:
            return account
        named = any(account.organisation_id in _organisations(tx, a) for a in identity.activities)
        return account if named else None
    found: dict[int, Account] = {}
    for activity in identity.activities:
        for organisation_id in _organisations(tx, activity):
            professional = tx.professionals.professional_by_number(organisation_id, None, identity.number)
            account = tx.accounts.account_of_professional(professional.id) if professional is not None else None
            if account is not None:
                found[account.id] = account
    return next(iter(found.values())) if len(found) == 1 else None


def _organisations(tx: SignInStore, activity: Activity) -> set[int]:
    """The ids of the organisations the activity's FINESS and SIRET numbers name."""
    ids = (tx.professionals.organisation_id(n) for n in (activity.finess, activity.siret) if n is not None)
    return {i for i in ids if i is not None}
