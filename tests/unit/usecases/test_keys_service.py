"""Key management as use cases over fakes: each operation by a named security officer, with a
reason, on the log; a shred needs a second, different officer (docs/THREATS.md T5, T9)."""

from __future__ import annotations

import pytest

from tests.unit.usecases.conftest import Stack
from tierspayant.audit.events import Tag
from tierspayant.domain.errors import InvalidField
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.errors import Forbidden
from tierspayant.services.keys import DualControlRequired
from tierspayant.services.records import PLATFORM_KEY_OWNER

ALICE = Principal(41, 0, Role.SECURITY_OFFICER, request_id="test")
BOB = Principal(42, 0, Role.SECURITY_OFFICER, request_id="test")


def sealed(stack: Stack, owner: int, rows: int, version: int = 1) -> None:
    state = stack.uow.state
    state.keys[owner] = [version]
    state.sealed[owner] = {"beneficiaries": {n: version for n in range(1, rows + 1)}, "quotes": {1: version}}


def key_events(stack: Stack) -> list[tuple[Tag, int | None, str]]:
    return [(e.tag, e.account_id, e.purpose) for _, e in stack.uow.state.events if e.tag.startswith("keys:")]


def test_a_rotation_reseals_everything_and_is_on_the_log(stack: Stack) -> None:
    sealed(stack, stack.insurer_id, 25)
    seen: list[tuple[int, int]] = []
    done = stack.keys.rotate(ALICE, stack.insurer_id, "yearly rotation", batch=10,
                             progress=lambda n, total: seen.append((n, total)))
    assert done.version == 2 and done.rows == 26 and done.retired == [1]
    assert set(stack.uow.state.sealed[stack.insurer_id]["beneficiaries"].values()) == {2}
    assert seen[-1] == (26, 26) and len(seen) == 4  # three batches of beneficiaries, one of quotes
    events = key_events(stack)
    assert [e[0] for e in events] == [Tag.KEY_ROTATE, Tag.KEY_RETIRE] and {e[1] for e in events} == {ALICE.account_id}
    assert "yearly rotation" in events[0][2]


def test_a_shred_needs_two_different_officers(stack: Stack) -> None:
    sealed(stack, stack.insurer_id, 5)
    request = stack.keys.request_shred(ALICE, stack.insurer_id, "insurer left the platform")
    assert stack.uow.state.keys[stack.insurer_id] == [1]  # asked: nothing destroyed
    with pytest.raises(DualControlRequired):
        stack.keys.approve_shred(ALICE, request.id)
    assert stack.uow.state.keys[stack.insurer_id] == [1]
    done = stack.keys.approve_shred(BOB, request.id)
    assert done.versions == 1 and done.unreadable == {"beneficiaries": 5, "quotes": 1}
    assert stack.insurer_id not in stack.uow.state.keys
    with pytest.raises(NotFound):
        stack.keys.approve_shred(BOB, request.id)  # carried out once
    events = key_events(stack)
    assert [(tag, who) for tag, who, _ in events] == [(Tag.KEY_SHRED_REQUEST, ALICE.account_id),
                                                      (Tag.KEY_SHRED, BOB.account_id)]
    assert "beneficiaries 5" in events[1][2] and f"account {ALICE.account_id}" in events[1][2]


def test_only_officers_with_a_reason_manage_keys(stack: Stack) -> None:
    admin = Principal(43, 0, Role.PLATFORM_ADMIN, request_id="test")
    with pytest.raises(Forbidden):
        stack.keys.request_shred(admin, stack.insurer_id, "because I can")
    with pytest.raises(Forbidden):
        stack.keys.rotate(admin, stack.insurer_id, "because I can")
    with pytest.raises(InvalidField) as raised:
        stack.keys.request_shred(ALICE, stack.insurer_id, " ")
    assert raised.value.field == "reason"
    with pytest.raises(InvalidField):
        stack.keys.request_shred(ALICE, PLATFORM_KEY_OWNER, "the platform's key is never shredded")
    with pytest.raises(NotFound):
        stack.keys.owner("990000029")
    assert stack.keys.owner(None) == PLATFORM_KEY_OWNER and stack.keys.owner("990000011") == stack.insurer_id
    assert key_events(stack) == []
