"""Onboarding and account lifecycle (docs/PRODUCT.md, "Who uses it"): the operator registers an
organisation and its first admin; the organisation's admin (or the operator) creates the
accounts of its professionals and admins, hands over their enrolment codes, disables, re-enables
and changes roles.

New accounts have no usable password: they sign in with the passkey their enrolment code
registers (or Pro Santé Connect), phishing-resistant from their first day (docs/THREATS.md T1).
Every step is on the transparency log with who took it; another organisation's account answers
exactly like a missing one (docs/THREATS.md T10)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Protocol

from tierspayant.audit.events import AccessEvent, Tag
from tierspayant.domain.errors import InvalidField
from tierspayant.domain.identifiers import parse_adeli, parse_finess, parse_rpps, parse_siret
from tierspayant.security.policy import ORGANISATION_ROLES, NotFound, Principal, Role
from tierspayant.services.accounts import AccountsService, account_ref, new_account
from tierspayant.services.audit import Recorder
from tierspayant.services.common import UseCase
from tierspayant.services.errors import Forbidden
from tierspayant.services.ports import (
    Clock,
    Conflict,
    HasAccounts,
    HasLog,
    HasPasskeys,
    HasProfessionals,
    HasSessions,
    UnitOfWork,
)
from tierspayant.services.records import Account, Organisation, Professional
from tierspayant.services.reference import checked_organisation, checked_professional


class OnboardingStore(HasAccounts, HasSessions, HasProfessionals, HasPasskeys, HasLog, Protocol):
    """The ports this use case works with (services/ports/)."""


#: User names: lower-case letters, digits and ``. _ -``, 3 to 64 characters, starting with a
#: letter or a digit (they appear in URLs of the API: never a person's NIR or birth date).
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")


@dataclass(frozen=True, slots=True)
class NewAccount:
    """A created account and the one-time code its holder enrols a passkey with (24 h), to
    hand over out of band (in person, by post): the platform never sends it."""

    username: str
    role: str
    organisation_id: int
    professional_id: int | None
    enrolment_code: str


@dataclass(frozen=True, slots=True)
class AccountView:
    """An account as its organisation's admin sees it: no secret, no personal data."""

    username: str
    role: str
    disabled: bool
    professional_id: int | None
    passkeys: int  # live (not revoked) passkeys


def checked_username(username: str) -> str:
    if not USERNAME.fullmatch(username):
        raise InvalidField("username", "3 to 64 of a-z 0-9 . _ - (starting with a letter or a digit)")
    return username


def organisation_number(identifier: str) -> str:
    """A FINESS (9 digits) or SIRET (14 digits) number, its key checked."""
    if len(identifier) == 9:
        return parse_finess(identifier, "organisation_identifier")
    if len(identifier) == 14:
        return parse_siret(identifier, "organisation_identifier")
    raise InvalidField("organisation_identifier", "a FINESS (9 digits) or SIRET (14 digits) number")


class OnboardingService(UseCase[OnboardingStore]):
    def __init__(self, uow: UnitOfWork[OnboardingStore], clock: Clock, recorder: Recorder,
                 accounts: AccountsService) -> None:
        super().__init__(uow, clock, recorder)
        #: Issues the enrolment codes (with their own log events).
        self.accounts = accounts

    def _event(self, principal: Principal, tag: Tag, purpose: str, ref: str) -> AccessEvent:
        return self.recorder.event(principal, self.clock.now(), tag, categories=(), purpose=f"onboarding: {purpose}",
                                   ref=ref)

    def register_organisation(self, principal: Principal, organisation: Organisation, admin_username: str) -> NewAccount:
        """The operator registers an organisation (``organisation.id`` ignored) with its first
        admin account. Raises ``Conflict`` when its number or the user name is taken."""
        if principal.role is not Role.PLATFORM_ADMIN:
            raise Forbidden("platform admins only")
        organisation = checked_organisation(organisation)
        username = checked_username(admin_username)
        with self.uow() as tx:
            if tx.professionals.organisation_id(organisation.identifier) is not None:
                raise Conflict("organisation_identifier", "already registered")
            organisation_id = tx.professionals.add_organisation(organisation)
            account_id = tx.accounts.add_account(new_account(username, None, Role.ORGANISATION_ADMIN, organisation_id))
            tx.log.append_events([
                self._event(principal, Tag.ORGANISATION_CREATE, "register an organisation", f"O{organisation_id}"),
                self._event(principal, Tag.ACCOUNT_CREATE, "create an account", account_ref(account_id))])
        code = self.accounts.enrolment_code(username, principal)
        return NewAccount(username, Role.ORGANISATION_ADMIN.value, organisation_id, None, code)

    def add_account(self, principal: Principal, organisation_identifier: str, username: str, role: str, *,
                    professional: Professional | None = None, rpps: str | None = None,
                    adeli: str | None = None) -> NewAccount:
        """An account in the organisation: an admin, or a professional -- a new one
        (``professional``, registered with it) or one the organisation already has (``rpps`` or
        ``adeli``). One account per professional per organisation."""
        username = checked_username(username)
        if role not in ORGANISATION_ROLES:
            raise InvalidField("role", "professional or organisation_admin")
        identifier = organisation_number(organisation_identifier)
        given = sum(x is not None for x in (professional, rpps, adeli))
        if role == Role.PROFESSIONAL.value and given != 1:
            raise InvalidField("professional", "a professional account needs one of professional, rpps or adeli")
        if role != Role.PROFESSIONAL.value and given:
            raise InvalidField("professional", "only a professional account is linked to a professional")
        checked = checked_professional(professional) if professional is not None else None
        with self.uow() as tx:
            organisation_id = tx.professionals.organisation_id(identifier)
            if organisation_id is None or not principal.may_manage_account(organisation_id, role):
                raise NotFound()
            professional_id = None
            if checked is not None:
                professional_id = tx.professionals.add_professional(replace(checked, organisation_id=organisation_id))
            elif rpps is not None or adeli is not None:
                found = tx.professionals.professional_by_number(
                    organisation_id, parse_rpps(rpps) if rpps else None, parse_adeli(adeli) if adeli else None)
                if found is None:
                    raise InvalidField("rpps" if rpps else "adeli", "no such professional in this organisation")
                professional_id = found.id
                if any(a.professional_id == found.id and a.role == role
                       for a in tx.accounts.accounts_of_organisation(organisation_id)):
                    raise Conflict("professional", "already has an account in this organisation")
            account_id = tx.accounts.add_account(new_account(username, None, Role(role), organisation_id, professional_id))
            tx.log.append_events([self._event(principal, Tag.ACCOUNT_CREATE, "create an account", account_ref(account_id))])
        return NewAccount(username, role, organisation_id, professional_id, self.accounts.enrolment_code(username, principal))

    def accounts_of(self, principal: Principal, organisation_identifier: str) -> list[AccountView]:
        identifier = organisation_number(organisation_identifier)
        with self.uow(readonly=True) as tx:
            organisation_id = tx.professionals.organisation_id(identifier)
            if organisation_id is None or not principal.may_manage_account(organisation_id, Role.PROFESSIONAL.value):
                raise NotFound()
            return [AccountView(a.username, a.role, a.disabled, a.professional_id,
                                sum(not p.revoked for p in tx.passkeys.passkeys_of(a.id)))
                    for a in tx.accounts.accounts_of_organisation(organisation_id)]

    def _target(self, tx: OnboardingStore, principal: Principal, username: str) -> Account:
        account = tx.accounts.account_by_username(username)
        if account is None or not principal.may_manage_account(account.organisation_id, account.role):
            raise NotFound()
        return account

    @staticmethod
    def _keeps_an_admin(tx: OnboardingStore, principal: Principal, account: Account) -> None:
        """An organisation admin cannot lock the organisation out: its last enabled admin stays
        (the operator can still disable it, e.g. after a phishing)."""
        if principal.role is Role.PLATFORM_ADMIN or account.organisation_id is None:
            return
        admins = [a for a in tx.accounts.accounts_of_organisation(account.organisation_id)
                  if a.role == Role.ORGANISATION_ADMIN.value and not a.disabled]
        if [a.id for a in admins] == [account.id]:
            raise Conflict("username", "the organisation's last enabled admin")

    def set_disabled(self, principal: Principal, username: str, disabled: bool) -> None:
        """Disable an account (its sessions end in the same transaction; its passkeys stay, it
        signs in again once re-enabled) or enable it again. Containments are not lifted."""
        with self.uow() as tx:
            account = self._target(tx, principal, username)
            if account.disabled == disabled:
                return  # nothing changes, nothing logged
            if disabled:
                self._keeps_an_admin(tx, principal, account)
                tx.sessions.revoke_sessions_of(account.id)
            tx.accounts.set_disabled(account.id, disabled)
            tag, purpose = (Tag.ACCOUNT_DISABLE, "disable an account") if disabled else (Tag.ACCOUNT_ENABLE, "enable an account")
            tx.log.append_events([self._event(principal, tag, purpose, account_ref(account.id))])

    def set_role(self, principal: Principal, username: str, role: str) -> None:
        """Make an organisation's account a professional or an admin; its sessions end (its
        rights change: it signs in again)."""
        if role not in ORGANISATION_ROLES:
            raise InvalidField("role", "professional or organisation_admin")
        with self.uow() as tx:
            account = self._target(tx, principal, username)
            if account.role not in ORGANISATION_ROLES:
                raise InvalidField("role", "only an organisation's accounts change role here")
            if account.role == role:
                return
            if role == Role.PROFESSIONAL.value and account.professional_id is None:
                raise InvalidField("role", "the account is not linked to a professional")
            self._keeps_an_admin(tx, principal, account)
            tx.accounts.set_role(account.id, role)
            tx.sessions.revoke_sessions_of(account.id)
            tx.log.append_events([self._event(principal, Tag.ACCOUNT_ROLE, f"role {role}", account_ref(account.id))])

    def end_sessions_of(self, principal: Principal, username: str) -> int:
        """End every session of one account (e.g. a reported phishing)."""
        with self.uow() as tx:
            return tx.sessions.revoke_sessions_of(self._target(tx, principal, username).id)

    def end_all_sessions(self, principal: Principal) -> int:
        if principal.role is not Role.PLATFORM_ADMIN:
            raise Forbidden()
        with self.uow() as tx:
            return tx.sessions.revoke_all_sessions()
