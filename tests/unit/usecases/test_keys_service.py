"""Key management as use cases over fakes: each operation by a named security officer, with a
reason, on the log; a shred needs a second, different officer (docs/THREATS.md T5, T9)."""

from __future__ import annotations

import pytest

from tests.unit.usecases.conftest import Stack
from tierspayant.audit.events import Tag
from tierspayant.domain.errors import InvalidField
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.detection import DETECTION
from tierspayant.services.errors import Forbidden
from tierspayant.services.keys import DualControlRequired
from tierspayant.services.records import PLATFORM_KEY_OWNER, Account


@pytest.fixture()
def officers(stack: Stack) -> tuple[Principal, Principal]:
    """Two security officers' own accounts (the service checks them in the store)."""
    made = []
    with stack.uow() as tx:
        for name in ("alice", "bob"):
            account_id = tx.accounts.add_account(Account(0, name, "unused", "S", 0, Role.SECURITY_OFFICER.value, None,
                                                         None, None, False))
            made.append(Principal(account_id, 0, Role.SECURITY_OFFICER, request_id="test"))
    return made[0], made[1]


def sealed(stack: Stack, owner: int, rows: int, version: int = 1) -> None:
    state = stack.uow.state
    state.keys[owner] = [version]
    state.sealed[owner] = {"beneficiaries": {n: version for n in range(1, rows + 1)}, "quotes": {1: version}}


def key_events(stack: Stack) -> list[tuple[Tag, int | None, str]]:
    return [(e.tag, e.account_id, e.purpose) for _, e in stack.uow.state.events if e.tag.startswith("keys:")]


def test_a_rotation_reseals_everything_and_is_on_the_log(stack: Stack, officers: tuple[Principal, Principal]) -> None:
    alice, _ = officers
    sealed(stack, stack.insurer_id, 25)
    seen: list[tuple[int, int]] = []
    done = stack.keys.rotate(alice, stack.insurer_id, "yearly rotation", batch=10,
                             progress=lambda n, total: seen.append((n, total)))
    assert done.version == 2 and done.rows == done.resealed == 26 and done.retired == [1]
    assert set(stack.uow.state.sealed[stack.insurer_id]["beneficiaries"].values()) == {2}
    assert seen[-1] == (26, 26) and len(seen) == 4  # three batches of beneficiaries, one of quotes
    assert [n for n, _ in seen] == [10, 20, 25, 26]  # true counts: never more than there are
    events = key_events(stack)
    assert [e[0] for e in events] == [Tag.KEY_ROTATE, Tag.KEY_RETIRE] and {e[1] for e in events} == {alice.account_id}
    assert "yearly rotation" in events[0][2] and "26 rows re-encrypted" in events[1][2]


def test_a_shred_needs_two_different_officers(stack: Stack, officers: tuple[Principal, Principal]) -> None:
    alice, bob = officers
    sealed(stack, stack.insurer_id, 5)
    request = stack.keys.request_shred(alice, stack.insurer_id, "insurer left the platform")
    assert stack.uow.state.keys[stack.insurer_id] == [1]  # asked: nothing destroyed
    with pytest.raises(DualControlRequired):
        stack.keys.approve_shred(alice, request.id, stack.insurer_id)
    assert stack.uow.state.keys[stack.insurer_id] == [1]
    done = stack.keys.approve_shred(bob, request.id, stack.insurer_id)
    assert done.versions == 1 and {t: n for t, n in done.unreadable.items() if n} == {"beneficiaries": 5, "quotes": 1}
    assert set(done.unreadable) >= {"invoices", "payment_runs", "payment_orders"}  # every sealed table, zeros too
    assert stack.insurer_id not in stack.uow.state.keys
    with pytest.raises(NotFound):
        stack.keys.approve_shred(bob, request.id, stack.insurer_id)  # carried out once
    events = key_events(stack)
    assert [(tag, who) for tag, who, _ in events] == [(Tag.KEY_SHRED_REQUEST, alice.account_id),
                                                      (Tag.KEY_SHRED, bob.account_id)]
    assert "beneficiaries 5" in events[1][2] and f"account {alice.account_id}" in events[1][2]


def test_only_officers_with_a_reason_manage_keys(stack: Stack, officers: tuple[Principal, Principal]) -> None:
    alice, _ = officers
    admin = Principal(43, 0, Role.PLATFORM_ADMIN, request_id="test")
    with pytest.raises(Forbidden):
        stack.keys.request_shred(admin, stack.insurer_id, "because I can")
    with pytest.raises(Forbidden):
        stack.keys.rotate(admin, stack.insurer_id, "because I can")
    with pytest.raises(InvalidField) as raised:
        stack.keys.request_shred(alice, stack.insurer_id, " ")
    assert raised.value.field == "reason"
    with pytest.raises(InvalidField):
        stack.keys.request_shred(alice, PLATFORM_KEY_OWNER, "the platform's key is never shredded")
    with pytest.raises(NotFound):
        stack.keys.owner("990000029")
    assert stack.keys.owner(None) == PLATFORM_KEY_OWNER and stack.keys.owner("990000011") == stack.insurer_id
    assert key_events(stack) == []


def test_dual_control_cannot_be_walked_around(stack: Stack, officers: tuple[Principal, Principal]) -> None:
    alice, bob = officers
    sealed(stack, stack.insurer_id, 3)
    request = stack.keys.request_shred(alice, stack.insurer_id, "insurer left the platform")
    with pytest.raises(Forbidden):
        stack.keys.approve_shred(DETECTION, request.id, stack.insurer_id)  # a built-in actor is nobody's account
    with pytest.raises(Forbidden):  # a principal claiming a role its account does not have
        stack.keys.approve_shred(Principal(stack.professional().account_id, 0, Role.SECURITY_OFFICER), request.id,
                                 stack.insurer_id)
    with pytest.raises(NotFound):
        stack.keys.approve_shred(bob, request.id, stack.insurer_id + 1)  # named for another insurer
    with stack.uow() as tx:
        tx.accounts.set_disabled(alice.account_id, True)
    with pytest.raises(DualControlRequired):
        stack.keys.approve_shred(bob, request.id, stack.insurer_id)  # the asker is no longer an officer
    with stack.uow() as tx:
        tx.accounts.set_disabled(alice.account_id, False)
    stack.clock.advance(hours=25)
    with pytest.raises(NotFound):
        stack.keys.approve_shred(bob, request.id, stack.insurer_id)  # lapsed after a day
    assert stack.uow.state.keys[stack.insurer_id] == [1]
