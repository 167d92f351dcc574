"""Onboarding and account lifecycle over fakes (services/onboarding.py): who may create, enrol,
disable and change whom; one account per professional per organisation; an organisation keeps
an admin; every step on the log, by id, never by name (docs/THREATS.md T1, T10)."""

from __future__ import annotations

import json

import pytest

from tests.softauthn import SoftAuthenticator
from tests.unit.usecases.conftest import ORIGIN, Stack
from tierspayant.audit.events import Tag
from tierspayant.domain.errors import InvalidField
from tierspayant.security import totp
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.errors import Forbidden, Unauthenticated
from tierspayant.services.ports import Conflict
from tierspayant.services.records import Organisation, Professional

OPERATOR = Principal(1, 0, Role.PLATFORM_ADMIN, request_id="test")
SHOP, OTHER_SHOP = "750000002", "750000003"
IBAN, BIC = "FR7630006000011234567890189", "AGRIFRPPXXX"


def new_optician(rpps: str = "10000000025") -> Professional:
    return Professional(0, 0, rpps, None, "751234567", "optician", "Opticienne Nouvelle", IBAN, BIC, True)


def admin_of(stack: Stack, username: str) -> Principal:
    with stack.uow(readonly=True) as tx:
        account = tx.accounts.account_by_username(username)
    assert account is not None
    return Principal(account.id, 0, Role(account.role), account.organisation_id, account.professional_id,
                     request_id="test", aal="passkey")


def tags(stack: Stack) -> list[str]:
    return [json.loads(e.entry)["tag"] for e, _ in stack.uow.state.events]


def test_the_operator_onboards_an_organisation_whose_admin_onboards_an_optician(stack: Stack) -> None:
    made = stack.onboarding.register_organisation(OPERATOR, Organisation(0, "FINESS", SHOP, " Optique Nouvelle "),
                                                  "gerant.nouvelle")
    assert made.role == "organisation_admin" and made.enrolment_code.startswith("ENR")
    admin = admin_of(stack, "gerant.nouvelle")
    optician = stack.onboarding.add_account(admin, SHOP, "opticienne.nouvelle", "professional",
                                            professional=new_optician())
    assert optician.professional_id is not None and optician.organisation_id == made.organisation_id
    # The code registers a passkey; no password signs the account in, whatever is tried.
    authenticator = SoftAuthenticator()
    options = json.loads(stack.accounts.registration_options(optician.enrolment_code))
    assert stack.accounts.register_passkey(optician.enrolment_code, authenticator.create(options, ORIGIN)) > 0
    with stack.uow(readonly=True) as tx:
        account = tx.accounts.account_by_username("opticienne.nouvelle")
    assert account is not None and account.role == "professional" and not account.disabled
    with pytest.raises(Unauthenticated):
        stack.accounts.sign_in("opticienne.nouvelle", "", totp.current_code(account.totp_secret, stack.clock.now()))
    listed = stack.onboarding.accounts_of(admin, SHOP)
    assert [(a.username, a.role, a.passkeys) for a in listed] == [
        ("gerant.nouvelle", "organisation_admin", 0), ("opticienne.nouvelle", "professional", 1)]
    # Every step on the log, naming accounts by id: no user name, no professional's name.
    assert tags(stack) == [Tag.ORGANISATION_CREATE, Tag.ACCOUNT_CREATE, Tag.ACCOUNT_ENROLMENT,
                           Tag.ACCOUNT_CREATE, Tag.ACCOUNT_ENROLMENT]
    entries = b"".join(e.entry for e, _ in stack.uow.state.events)
    assert b"nouvelle" not in entries.lower() and f'"A{account.id}"'.encode() in entries


def test_another_organisations_admin_meets_only_not_found(stack: Stack) -> None:
    stack.onboarding.register_organisation(OPERATOR, Organisation(0, "FINESS", SHOP, "Optique"), "gerant.un")
    stack.onboarding.register_organisation(OPERATOR, Organisation(0, "FINESS", OTHER_SHOP, "Optique deux"), "gerant.deux")
    mine, theirs = admin_of(stack, "gerant.un"), admin_of(stack, "gerant.deux")
    stack.onboarding.add_account(mine, SHOP, "opticien.un", "professional", professional=new_optician())
    for attempt in (lambda: stack.onboarding.set_disabled(theirs, "opticien.un", True),
                    lambda: stack.onboarding.set_role(theirs, "opticien.un", "organisation_admin"),
                    lambda: stack.onboarding.accounts_of(theirs, SHOP),
                    lambda: stack.onboarding.add_account(theirs, SHOP, "intrus.deux", "organisation_admin"),
                    lambda: stack.onboarding.end_sessions_of(theirs, "opticien.un"),
                    lambda: stack.accounts.enrolment_code("opticien.un", theirs),
                    lambda: stack.onboarding.set_disabled(mine, "nobody.here", True)):
        with pytest.raises(NotFound):
            attempt()
    with pytest.raises(Forbidden):  # only the operator registers organisations
        stack.onboarding.register_organisation(mine, Organisation(0, "FINESS", "750000004", "X"), "gerant.trois")
    professional = Principal(99, 0, Role.PROFESSIONAL, None, request_id="test")
    with pytest.raises(NotFound):
        stack.onboarding.accounts_of(professional, SHOP)


def test_one_account_per_professional_and_numbers_checked(stack: Stack) -> None:
    stack.onboarding.register_organisation(OPERATOR, Organisation(0, "FINESS", SHOP, "Optique"), "gerant.un")
    admin = admin_of(stack, "gerant.un")
    stack.onboarding.add_account(admin, SHOP, "opticien.un", "professional", professional=new_optician())
    with pytest.raises(Conflict) as again:
        stack.onboarding.add_account(admin, SHOP, "opticien.bis", "professional", rpps="10000000025")
    assert again.value.field == "professional"
    with pytest.raises(Conflict):  # the same RPPS registered twice
        stack.onboarding.add_account(admin, SHOP, "opticien.ter", "professional", professional=new_optician())
    with pytest.raises(Conflict):
        stack.onboarding.add_account(admin, SHOP, "opticien.un", "organisation_admin")
    for call, field in (
        (lambda: stack.onboarding.add_account(admin, SHOP, "Opticien X", "professional", rpps="10000000025"), "username"),
        (lambda: stack.onboarding.add_account(admin, SHOP, "opticien.x", "professional",
                                              professional=new_optician("10000000026")), "rpps"),
        (lambda: stack.onboarding.add_account(admin, SHOP, "opticien.x", "professional", rpps="10000000033"), "rpps"),
        (lambda: stack.onboarding.add_account(admin, SHOP, "opticien.x", "professional"), "professional"),
        (lambda: stack.onboarding.add_account(admin, SHOP, "opticien.x", "security_officer"), "role"),
        (lambda: stack.onboarding.add_account(admin, "75000000", "opticien.x", "organisation_admin"),
         "organisation_identifier"),
    ):
        with pytest.raises(InvalidField) as refused:
            call()
        assert refused.value.field == field


def test_disabling_and_roles_end_sessions_and_an_organisation_keeps_an_admin(stack: Stack) -> None:
    stack.onboarding.register_organisation(OPERATOR, Organisation(0, "FINESS", SHOP, "Optique"), "gerant.un")
    admin = admin_of(stack, "gerant.un")
    stack.onboarding.add_account(admin, SHOP, "opticien.un", "professional", professional=new_optician())
    with pytest.raises(Conflict):  # the last enabled admin cannot disable or demote itself
        stack.onboarding.set_disabled(admin, "gerant.un", True)
    with pytest.raises(InvalidField):  # an admin with no professional cannot become one
        stack.onboarding.set_role(admin, "gerant.un", "professional")
    stack.onboarding.set_role(admin, "opticien.un", "organisation_admin")
    with stack.uow() as tx:
        optician = tx.accounts.account_by_username("opticien.un")
        assert optician is not None and optician.role == "organisation_admin"
        session = tx.sessions.add_session(optician.id, "h" * 64, stack.clock.now(), stack.clock.now().replace(year=2100))
    stack.onboarding.set_role(admin, "opticien.un", "professional")  # and back: its session ended
    with stack.uow(readonly=True) as tx:
        ended = tx.sessions.session(session)
    assert ended is not None and ended.revoked
    stack.onboarding.set_disabled(admin, "opticien.un", True)
    stack.onboarding.set_disabled(admin, "opticien.un", True)  # already: nothing more logged
    stack.onboarding.set_disabled(admin, "opticien.un", False)
    assert tags(stack)[-4:] == [Tag.ACCOUNT_ROLE, Tag.ACCOUNT_ROLE, Tag.ACCOUNT_DISABLE, Tag.ACCOUNT_ENABLE]
    stack.onboarding.set_disabled(OPERATOR, "gerant.un", True)  # the operator may (after a phishing)
