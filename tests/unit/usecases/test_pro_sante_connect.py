"""Which account a Pro Santé Connect sign-in opens (services/pro_sante_connect.py), over fakes:
an RPPS's own account, the activity naming its organisation chosen among several, an ADELI
registered by two organisations told apart by the activity; the means of authentication kept
on the session; every refusal the same ``Unauthenticated`` (docs/THREATS.md T1)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.unit.usecases.conftest import ORIGIN, Stack
from tierspayant.security.oidc import Activity, Identity, OidcRejected, Pending
from tierspayant.security.policy import Role
from tierspayant.security.webauthn import PasskeyPolicy
from tierspayant.services.accounts import AccountsService
from tierspayant.services.errors import Unauthenticated
from tierspayant.services.pro_sante_connect import account_for
from tierspayant.services.records import Account, Organisation, Professional

OWN = Activity("750000001", None)  # the stack's organisation (FINESS)
ELSEWHERE = Activity(None, "73282932000074")  # a site the platform does not know


class Provider:
    """Stands for PSC: vouches for ``identity`` (None: refuses)."""

    def __init__(self) -> None:
        self.identity: Identity | None = None

    def authorization_url(self, pending: Pending) -> str:
        return f"https://psc.test/authorize?state={pending.state}"

    def sign_in(self, code: str, pending: Pending) -> Identity:
        if self.identity is None:
            raise OidcRejected()
        return self.identity


def psc(stack: Stack) -> tuple[AccountsService, Provider]:
    provider = Provider()
    accounts = AccountsService(stack.uow, stack.clock, PasskeyPolicy("portail.tierspayant.test", "tierspayant", ORIGIN),
                               provider, stack.detection)
    return accounts, provider


def finish(accounts: AccountsService) -> str:
    state = accounts.oidc_start().rsplit("=", 1)[1]
    return accounts.oidc_finish("code", state).token


def adeli_in_two_organisations(stack: Stack) -> dict[str, int]:
    """An optician known by ADELI only, registered (and with an account) in two organisations."""
    made = {}
    with stack.uow() as tx:
        for number in ("690000029", "130000011"):
            organisation_id = tx.professionals.add_organisation(Organisation(0, "FINESS", number, "Optique"))
            professional_id = tx.professionals.add_professional(Professional(
                0, organisation_id, None, "751234568", "751234567", "optician", "Opticienne",
                "FR7630006000011234567890189", "AGRIFRPPXXX", False))
            made[number] = tx.accounts.add_account(Account(
                0, f"adeli.{number}", "unused", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", 0, "professional",
                organisation_id, professional_id, None, False))
    return made


def test_the_session_is_the_professionals_and_keeps_the_means(stack: Stack) -> None:
    accounts, provider = psc(stack)
    provider.identity = Identity("rpps", "10000000001", (ELSEWHERE, OWN), "MOBILE")
    principal = accounts.authenticate(finish(accounts))
    assert (principal.role, principal.aal, principal.professional_id) == (Role.PROFESSIONAL, "oidc",
                                                                          stack.professional_id)
    sessions = accounts.sessions(principal)
    assert [(s.aal, s.auth_means) for s in sessions if s.id == principal.session_id] == [("oidc", "MOBILE")]


def test_how_the_account_is_chosen(stack: Stack) -> None:
    adeli = adeli_in_two_organisations(stack)
    with stack.uow(readonly=True) as tx:
        optician = tx.accounts.account_by_username("optician")
        assert optician is not None

        def chosen(kind: str, number: str, *activities: Activity) -> int | None:
            found = account_for(tx, Identity(kind, number, activities, "CARD"))
            return found.id if found is not None else None

        assert chosen("rpps", "10000000001", ELSEWHERE) == optician.id  # exactly one activity: taken
        assert chosen("rpps", "10000000001", ELSEWHERE, OWN) == optician.id
        assert chosen("rpps", "10000000001", Activity(None, None), Activity("690000029", None)) is None
        assert chosen("rpps", "10000000001") is None  # no activity at all
        assert chosen("rpps", "10000000019", OWN) is None  # unknown RPPS
        assert chosen("adeli", "751234568", Activity("690000029", None)) == adeli["690000029"]
        assert chosen("adeli", "751234568", ELSEWHERE, Activity("130000011", None)) == adeli["130000011"]
        assert chosen("adeli", "751234568", Activity("690000029", None), Activity("130000011", None)) is None
        assert chosen("adeli", "751234568", ELSEWHERE) is None
        assert chosen("adeli", "999999999", Activity("690000029", None)) is None


@pytest.mark.parametrize("identity", [
    None, Identity("rpps", "10000000019", (OWN,), "CARD"),
    Identity("rpps", "10000000001", (ELSEWHERE, ELSEWHERE), "CARD"), Identity("adeli", "751234568", (OWN,), "CARD")])
def test_every_refusal_is_the_same(stack: Stack, identity: Identity | None) -> None:
    accounts, provider = psc(stack)
    provider.identity = identity
    with pytest.raises(Unauthenticated):
        finish(accounts)


def test_a_disabled_account_is_refused(stack: Stack) -> None:
    accounts, provider = psc(stack)
    provider.identity = Identity("rpps", "10000000001", (OWN,), "CARD")
    for account_id, account in list(stack.uow.state.accounts.items()):
        stack.uow.state.accounts[account_id] = replace(account, disabled=True)
    with pytest.raises(Unauthenticated):
        finish(accounts)
