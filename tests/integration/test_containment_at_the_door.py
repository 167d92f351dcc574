"""A containment holds at the door (issue 13, point 0): a suspended account, or an account of a
suspended organisation, gets no new session by any sign-in method and no passkey enrolment, and
every route refuses its tokens, old and new, until an officer lifts it -- then it works again
at once. Before strong authentication the refusal stays opaque; after a valid passkey the real
professional is told the account is suspended and whom to call."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.conftest import World
from tierspayant.api.auth import policy_of
from tierspayant.api.openapi import api_routes
from tierspayant.security import totp
from tierspayant.security.policy import NotFound
from tierspayant.services.accounts import OPERATOR_SHELL


@pytest.fixture()
def fresh(new_world: Callable[..., World]) -> World:
    return new_world(beneficiaries=30)


def every_route_refuses(world: World, token: str) -> list[str]:
    """The authenticated routes that answer this token with anything but 401."""
    client = TestClient(world.app, raise_server_exceptions=False)
    answered = []
    for route in api_routes(list(world.app.routes)):
        policies = {policy_of(dep.call) for dep in route.dependant.dependencies if policy_of(dep.call)}
        if "public" in policies:
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            response = client.request(method, path, headers={"authorization": f"Bearer {token}"}, json={})
            if response.status_code != 401:
                answered.append(f"{method} {route.path}: {response.status_code}")
    return answered


def password_sign_in(world: World, username: str) -> int:
    account = world.demo["accounts"][username]
    world.clock.advance(seconds=31)
    code = totp.current_code(account["totp_secret"], world.clock.now())
    return world.client.post("/v1/sessions", json={"username": username, "password": account["password"],
                                                   "totp": code}).status_code


def passkey_sign_in(world: World, username: str) -> tuple[int, dict[str, object]]:
    response = world.passkey_sign_in(username)
    return response.status_code, response.json()


@pytest.mark.parametrize("scope", ["account", "organisation"])
def test_a_contained_principal_gets_nothing_until_lifted(fresh: World, scope: str) -> None:
    officer = fresh.headers("securite.demo")
    old_passkey = fresh.passkey_token("optique.demo")
    old_password = fresh.token("optique.demo")
    principal = fresh.platform.accounts.authenticate(old_passkey)
    target = principal.account_id if scope == "account" else principal.organisation_id
    made = fresh.client.post("/v1/security/containments", headers=officer, json={
        "scope": scope, "target_id": target, "reason": "phishing reported by the optician"})
    assert made.status_code == 201, made.text

    for token in (old_passkey, old_password):
        assert every_route_refuses(fresh, token) == []
    assert password_sign_in(fresh, "optique.demo") == 401  # opaque: a password may be stolen
    status, body = passkey_sign_in(fresh, "optique.demo")
    assert status == 403 and body["title"] == "Account suspended" and "security desk" in body["detail"]
    with pytest.raises(NotFound):
        fresh.platform.accounts.enrolment_code("optique.demo", OPERATOR_SHELL)  # no new passkey either

    lifted = fresh.client.post(f"/v1/security/containments/{made.json()['id']}/lift", headers=officer)
    assert lifted.status_code == 204, lifted.text
    status, body = passkey_sign_in(fresh, "optique.demo")
    assert status == 200, body  # at once after the lift
    assert fresh.client.get("/v1/sessions", headers={"authorization": f"Bearer {body['token']}"}).status_code == 200
    assert password_sign_in(fresh, "optique.demo") == 200
    assert fresh.platform.accounts.enrolment_code("optique.demo", OPERATOR_SHELL)
