"""Care networks over fakes (services/networks.py): an insurer's operator creates a network,
adds an optician for dated days and a negotiated price; a quote dated inside both is capped
(NETWORK_PRICE_CAP), one outside is not; another insurer's operator meets NotFound, a
professional Forbidden; every change is on the log."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.unit.usecases.conftest import AMC, Stack
from tests.unit.usecases.test_claims_orchestration import GLASSES
from tests.unit.usecases.test_rights_rules import check, request
from tierspayant.audit.events import Tag
from tierspayant.domain.contracts import contract_from_dict
from tierspayant.domain.errors import InvalidField
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.calculation import QuoteRequest
from tierspayant.services.errors import Forbidden
from tierspayant.services.networks import NetworksService
from tierspayant.services.ports import Conflict
from tierspayant.simulate.population import CONTRACTS

RPPS = "10000000009"  # valid (Luhn): the stack's optician is given it


def service(stack: Stack) -> NetworksService:
    """The use case over the stack's fakes, its optician numbered with a valid RPPS, its
    contract covering class B beyond the TM (a network's price caps only there: docs/DOMAIN.md
    "Allocation" 5)."""
    state = stack.uow.state
    state.professionals[stack.professional_id] = replace(state.professionals[stack.professional_id], rpps=RPPS)
    for contract_id, (insurer_id, _) in list(state.contracts.items()):
        state.contracts[contract_id] = (insurer_id, contract_from_dict(CONTRACTS[1]))
    return NetworksService(stack.uow, stack.clock, stack.recorder)


def operator(insurer_id: int) -> Principal:
    return Principal(500, 0, Role.INSURER_OPERATOR, insurer_id=insurer_id, request_id="test", aal="passkey")


def frame_limits(stack: Stack, patient: dict[str, Any], day: date) -> list[str]:
    engagement = check(stack, request(patient, day)).engagement_number
    assert engagement is not None
    quote = stack.calculation.quote(stack.professional(), QuoteRequest(engagement, "simulation", GLASSES))
    return list(quote.result["lines"][0]["limits"])


def test_a_dated_network_caps_the_care_of_its_days_only(stack: Stack) -> None:
    networks = service(stack)
    mine, today = operator(stack.insurer_id), stack.clock.now().date()
    created = networks.create(mine, "reseau-test", "Réseau test", [AMC])
    assert (created.code, created.amc_numbers) == ("reseau-test", (AMC,))
    with pytest.raises(Conflict):
        networks.create(mine, "reseau-test", "Réseau test 2", [AMC])
    networks.add_member(mine, "reseau-test", RPPS, today - timedelta(days=30))
    with pytest.raises(Conflict) as overlap:
        networks.add_member(mine, "reseau-test", RPPS, today - timedelta(days=10), today)
    assert overlap.value.field == "valid_from"
    networks.set_cap(mine, "reseau-test", "9100102", Decimal("100.00"), today - timedelta(days=30))
    assert frame_limits(stack, stack.patients[0], today)[0] == "NETWORK_PRICE_CAP"  # 120.00 above 100.00

    # A cheaper price from tomorrow supersedes the first; the optician leaves today.
    networks.set_cap(mine, "reseau-test", "9100102", Decimal("90.00"), today + timedelta(days=1))
    assert [(str(c.cap), c.valid_to) for c in networks.caps(mine, "reseau-test")] == [
        ("100.00", today), ("90.00", None)]
    ended = networks.end_member(mine, "reseau-test", RPPS, today - timedelta(days=1))
    assert ended.valid_to == today - timedelta(days=1)
    assert "NETWORK_PRICE_CAP" not in frame_limits(stack, stack.patients[1], today)
    tags = [event.tag for _, event in stack.uow.state.events if event.tag.value.startswith("reference:")]
    assert tags == [Tag.NETWORK_CREATE, Tag.NETWORK_MEMBER_UPDATE, Tag.PRICE_CAP_UPDATE, Tag.PRICE_CAP_UPDATE,
                    Tag.PRICE_CAP_UPDATE, Tag.NETWORK_MEMBER_UPDATE]
    assert all(RPPS not in event.purpose for _, event in stack.uow.state.events)


def test_others_meet_not_found_and_bad_input_names_its_field(stack: Stack) -> None:
    networks = service(stack)
    mine, today = operator(stack.insurer_id), stack.clock.now().date()
    networks.create(mine, "reseau-test", "Réseau test", [AMC])
    other = operator(stack.insurer_id + 1000)
    for call in (lambda: networks.network(other, "reseau-test"), lambda: networks.network(mine, "absent"),
                 lambda: networks.add_member(other, "reseau-test", RPPS, today),
                 lambda: networks.set_cap(other, "reseau-test", "9100102", Decimal("1.00"), today)):
        with pytest.raises(NotFound):
            call()
    assert networks.networks(other) == [] and [n.code for n in networks.networks(mine)] == ["reseau-test"]
    with pytest.raises(InvalidField) as theirs:
        networks.create(other, "reseau-autre", "Autre", [AMC])  # not their insurer: like an unknown one
    assert theirs.value.field == "amc_numbers[0]"
    with pytest.raises(Forbidden):
        networks.networks(stack.professional())
    bad = [(lambda: networks.add_member(mine, "reseau-test", "10000000002", today), "rpps"),  # bad key
           (lambda: networks.add_member(mine, "reseau-test", "10000000017", today), "rpps"),  # nobody
           (lambda: networks.add_member(mine, "reseau-test", RPPS, today, today - timedelta(days=1)), "valid_to"),
           (lambda: networks.set_cap(mine, "reseau-test", "9100102", Decimal("0.00"), today), "cap"),
           (lambda: networks.set_cap(mine, "reseau-test", "NOPE", Decimal("1.00"), today), "code"),
           (lambda: networks.end_cap(mine, "reseau-test", "9100102", today), "valid_to"),
           (lambda: networks.create(mine, "Bad Code", "x", [AMC]), "code")]
    for call, field in bad:
        with pytest.raises(InvalidField) as raised:
            call()
        assert raised.value.field == field
