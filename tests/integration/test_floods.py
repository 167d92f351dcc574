"""Floods through the real application (docs/THREATS.md, "Floods"): one session over its rate is
answered 429 before any work and without hurting another account; an account's sessions share
its account's rate; a source inventing tokens is stopped while its known tokens go on."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import World, fresh_patients


def rights(world: World, headers: dict[str, str], patient: dict[str, str]) -> int:
    body = {**patient, "date_of_care": world.clock.now().date().isoformat(), "category": "optical"}
    return world.client.post("/v1/rights-checks", headers=headers, json=body).status_code


def test_a_flooding_session_is_slowed_and_its_neighbours_are_not(new_world: Callable[..., World]) -> None:
    world = new_world(session_rate=0.001, session_burst=5, flood_hold_seconds=0.0)
    flooder, other = world.headers("optique.demo"), world.headers("pharmacie.demo")
    patient = fresh_patients(world)[0]
    statuses = [rights(world, flooder, patient) for _ in range(12)]
    assert statuses[:5] == [200] * 5 and set(statuses[5:]) == {429}  # the same patient, over and over
    refused = world.client.post("/v1/rights-checks", headers=flooder, json={})
    assert refused.status_code == 429 and refused.headers["retry-after"].isdigit()  # refused before parsing
    assert refused.headers["content-type"] == "application/problem+json"
    assert rights(world, other, patient) == 200


def test_an_accounts_sessions_share_its_rate(new_world: Callable[..., World]) -> None:
    world = new_world(account_rate=0.001, account_burst=6)
    first, second = world.headers("optique.demo"), world.headers("optique.demo")  # two passkey sessions
    patient = fresh_patients(world)[0]
    statuses = [rights(world, h, patient) for h in (first, second) * 4]
    assert statuses == [200] * 6 + [429] * 2  # 6 for the account, whichever session sends them
    answer = world.client.get("/v1/sessions", headers=first)
    assert answer.status_code == 429 and "account sends faster" in answer.json()["detail"]


def test_invented_tokens_stop_at_the_door_and_known_ones_go_on(new_world: Callable[..., World]) -> None:
    world = new_world(invalid_tokens_per_source=5, flood_hold_seconds=0.0)
    known = world.headers("optique.demo")
    patient = fresh_patients(world)[0]
    assert rights(world, known, patient) == 200
    answers = [world.client.get("/v1/sessions", headers={"authorization": f"Bearer invented-{n}"}).status_code
               for n in range(30)]
    assert answers[:6] == [401] * 6 and set(answers[7:]) == {429}
    assert rights(world, known, patient) == 200  # the colleague behind the same address works on
