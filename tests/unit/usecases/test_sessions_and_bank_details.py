"""Sessions and bank-detail changes over fakes, on the injected clock: the idle and absolute
timeouts, one use per TOTP code, disabling ends sessions at once, the progressive delay per
account name; a change of IBAN needs a fresh passkey assertion and waits 72 h (docs/THREATS.md T4,
T6)."""

from __future__ import annotations

import json

import pytest

from tests.softauthn import SoftAuthenticator
from tests.unit.usecases.conftest import ORIGIN, Stack
from tierspayant.security import totp
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.security.throttle import account_delay
from tierspayant.services.accounts import ABSOLUTE_TIMEOUT, IDLE_TIMEOUT
from tierspayant.services.errors import Unauthenticated
from tierspayant.services.ports import Conflict

ADMIN = Principal(1, 0, Role.PLATFORM_ADMIN, request_id="test")
PASSWORD = "correct horse battery staple"


def sign_in(stack: Stack, username: str, secret: str) -> str:
    return stack.accounts.sign_in(username, PASSWORD, totp.current_code(secret, stack.clock.now()), "10.0.0.1").token


def test_sessions_end_when_idle_and_at_their_absolute_limit(stack: Stack) -> None:
    _, secret = stack.accounts.create("officer.test", PASSWORD, Role.SECURITY_OFFICER)
    token = sign_in(stack, "officer.test", secret)
    stack.clock.advance(seconds=IDLE_TIMEOUT.total_seconds() - 1)
    assert stack.accounts.authenticate(token).role is Role.SECURITY_OFFICER  # activity keeps it alive
    stack.clock.advance(seconds=IDLE_TIMEOUT.total_seconds())
    with pytest.raises(Unauthenticated):
        stack.accounts.authenticate(token)  # idle too long
    stack.clock.advance(seconds=31)
    token = sign_in(stack, "officer.test", secret)
    for _ in range(2 * int(ABSOLUTE_TIMEOUT / IDLE_TIMEOUT)):
        stack.clock.advance(seconds=IDLE_TIMEOUT.total_seconds() - 60)
        try:
            stack.accounts.authenticate(token)
        except Unauthenticated:
            break
    else:
        raise AssertionError("a session outlived its absolute timeout")
    assert stack.clock.now() - stack.uow.state.sessions[max(stack.uow.state.sessions)][0].created_at \
        >= ABSOLUTE_TIMEOUT


def test_a_totp_code_is_accepted_once_and_failures_stay_opaque(stack: Stack) -> None:
    _, secret = stack.accounts.create("officer.test", PASSWORD, Role.SECURITY_OFFICER)
    code = totp.current_code(secret, stack.clock.now())
    stack.accounts.sign_in("officer.test", PASSWORD, code, "10.0.0.1")
    with pytest.raises(Unauthenticated):
        stack.accounts.sign_in("officer.test", PASSWORD, code, "10.0.0.1")  # replayed code
    with pytest.raises(Unauthenticated):
        stack.accounts.sign_in("nobody.test", PASSWORD, code, "10.0.0.1")  # the same failure for nobody
    with pytest.raises(Conflict):
        stack.accounts.create("officer.test", PASSWORD, Role.SECURITY_OFFICER)


def test_the_account_delay_is_progressive_and_never_a_lockout(stack: Stack) -> None:
    _, secret = stack.accounts.create("officer.test", PASSWORD, Role.SECURITY_OFFICER)
    for failures in range(1, 9):  # 5 free failures, then waits of 1, 2, 4 s: after the 8th, 8 s
        with pytest.raises(Unauthenticated):
            stack.accounts.sign_in("officer.test", "wrong password", "000000", "10.0.0.2")
        if failures < 8:
            stack.clock.advance(seconds=account_delay(failures).total_seconds())
    stack.clock.advance(seconds=1)
    with pytest.raises(Unauthenticated):  # delayed: even the right password fails, with the same error
        stack.accounts.sign_in("officer.test", PASSWORD, totp.current_code(secret, stack.clock.now()), "10.0.0.3")
    stack.clock.advance(seconds=31)
    assert sign_in(stack, "officer.test", secret)  # the delay ran out: no hard lockout


def test_disabling_ends_every_session_at_once(stack: Stack) -> None:
    _, secret = stack.accounts.create("operator.test", PASSWORD, Role.INSURER_OPERATOR, insurer_id=stack.insurer_id)
    tokens = [sign_in(stack, "operator.test", secret)]
    stack.clock.advance(seconds=31)
    tokens.append(sign_in(stack, "operator.test", secret))
    stack.onboarding.set_disabled(ADMIN, "operator.test", True)
    for token in tokens:
        with pytest.raises(Unauthenticated):
            stack.accounts.authenticate(token)


def enrol(stack: Stack, username: str) -> SoftAuthenticator:
    authenticator = SoftAuthenticator()
    code = stack.accounts.enrolment_code(username, ADMIN)
    options = json.loads(stack.accounts.registration_options(code))
    stack.accounts.register_passkey(code, authenticator.create(options, ORIGIN))
    return authenticator


def step_up(stack: Stack, authenticator: SoftAuthenticator) -> dict[str, object]:
    return authenticator.get(json.loads(stack.accounts.authentication_options()), ORIGIN)


def test_an_iban_change_needs_a_fresh_passkey_and_waits_72_hours(stack: Stack) -> None:
    authenticator = enrol(stack, "optician")
    optician = stack.professional()
    change = stack.bank_details.request_change(optician, "FR7630004000031234567890143", "BNPAFRPPXXX",
                                               step_up(stack, authenticator))
    assert change.effective_at - change.requested_at == stack.bank_details.delay
    [(professional, kind, text, _)] = stack.uow.state.notifications
    assert professional == stack.professional_id and kind == "bank_details_change" and "0143" in text
    assert "FR7630004000031234567890143" not in text  # the notice shows the last digits only
    with stack.uow() as tx:
        tx.bank_details.apply_due_bank_changes(stack.professional_id, stack.clock.now())
    assert stack.uow.state.professionals[stack.professional_id].iban.endswith("0189")  # not yet
    stack.clock.advance(hours=72)
    with stack.uow() as tx:
        tx.bank_details.apply_due_bank_changes(stack.professional_id, stack.clock.now())
    assert stack.uow.state.professionals[stack.professional_id].iban.endswith("0143")


def test_a_stale_or_foreign_assertion_changes_nothing(stack: Stack) -> None:
    authenticator = enrol(stack, "optician")
    assertion = step_up(stack, authenticator)
    stack.clock.advance(minutes=6)  # the challenge lived 5 minutes
    with pytest.raises(Unauthenticated):
        stack.bank_details.request_change(stack.professional(), "FR7630004000031234567890143", "BNPAFRPPXXX",
                                          assertion)
    colleague_key = enrol(stack, "colleague")
    with pytest.raises(Unauthenticated):  # the colleague's passkey does not step the optician up
        stack.bank_details.request_change(stack.professional(), "FR7630004000031234567890143", "BNPAFRPPXXX",
                                          step_up(stack, colleague_key))
    assert stack.uow.state.bank_changes == {}
    with pytest.raises(NotFound):
        stack.bank_details.cancel(stack.professional(), 12345)
