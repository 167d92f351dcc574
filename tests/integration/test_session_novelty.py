"""A new device or network for a session (issue 13, point 2), over HTTP from several source
addresses, on both databases (docs/THREATS.md, "A new device or network")."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import World
from tierspayant.security import totp
from tierspayant.security.novelty import NEW_NETWORK
from tierspayant.store import tables as t


def sign_in(world: World, source: str) -> str:
    account = world.demo["accounts"]["medecin.demo"]
    world.clock.advance(seconds=31)  # a fresh TOTP step
    client = TestClient(world.app, client=(source, 40000))
    answer = client.post("/v1/sessions", json={"username": "medecin.demo", "password": account["password"],
                                               "totp": totp.current_code(account["totp_secret"], world.clock.now())})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def test_a_session_from_a_new_network_or_used_from_another_one_carries_the_signal(
        new_world: Callable[..., World]) -> None:
    world = new_world(beneficiaries=10)
    first = sign_in(world, "198.51.100.23")
    again = sign_in(world, "198.51.100.200")  # the same practice's /24
    elsewhere = sign_in(world, "203.0.113.5")
    with world.platform.engine.connect() as conn:
        rows = conn.execute(select(t.sessions.c.novelty, t.sessions.c.network).order_by(t.sessions.c.id)).all()
        stored = conn.execute(select(t.account_fingerprints.c.fingerprint)).scalars().all()
    assert [r.novelty for r in rows[-3:]] == [0, 0, NEW_NETWORK]  # the first sign-in has nothing to compare with
    assert rows[-3].network == rows[-2].network != rows[-1].network
    assert not any("198.51" in value or "203.0" in value for value in stored)  # keyed fingerprints only
    accounts = world.platform.accounts
    assert accounts.authenticate(first, "198.51.100.9").novel == ()
    assert accounts.authenticate(again, "192.0.2.9").novel == ("session_moved",)  # the token, used elsewhere
    assert accounts.authenticate(elsewhere, "203.0.113.77").novel == ("new_network",)
