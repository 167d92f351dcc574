"""Pro Santé Connect-style sign-in against a real OpenID Connect provider started by the test
(tests/oidc_provider.py): code + PKCE, discovery, ID token signature, nonce and acr checked,
the RPPS from userinfo mapped to the professional; an unknown professional is refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import World, fresh_patients
from tests.oidc_provider import Provider
from tierspayant.store import tables as t


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with Provider() as running:
        yield running


@pytest.fixture()
def oidc_world(provider: Provider, new_world: Callable[..., World]) -> Iterator[World]:
    world = new_world(beneficiaries=60, oidc_issuer=provider.state.issuer, oidc_client_id=provider.state.client_id,
                      oidc_client_secret=provider.state.client_secret, oidc_acr_values=("eidas3",))
    with world.platform.engine.connect() as conn:
        rpps = conn.execute(select(t.professionals.c.rpps).join(t.accounts, t.accounts.c.professional_id ==
                                   t.professionals.c.id).where(t.accounts.c.username == "optique.demo")).scalar_one()
    state = provider.state
    state.user = {"sub": "psc-user-1", "rpps": rpps}
    state.acr, state.nonce_override, state.audience_override, state.sign_with_other_key = "eidas3", None, None, False
    yield world


def go_through_provider(world: World) -> tuple[str, str]:
    start = world.client.get("/v1/oidc/start").json()["authorization_url"]
    redirect = httpx.get(start, follow_redirects=False)
    assert redirect.status_code == 302
    query = parse_qs(urlparse(redirect.headers["location"]).query)
    return query["code"][0], query["state"][0]


def callback(world: World, code: str, state: str) -> httpx.Response:
    return world.client.get("/v1/oidc/callback", params={"code": code, "state": state})


def test_sign_in_reaches_beneficiary_data(oidc_world: World) -> None:
    code, state = go_through_provider(oidc_world)
    signed = callback(oidc_world, code, state)
    assert signed.status_code == 200, signed.text
    assert signed.json()["aal"] == "oidc"
    headers = {"authorization": f"Bearer {signed.json()['token']}"}
    check = oidc_world.client.post("/v1/rights-checks", headers=headers, json={
        **fresh_patients(oidc_world)[0], "date_of_care": "2026-03-02", "category": "optical"})
    assert check.status_code == 200 and check.json()["covered"] is True
    assert callback(oidc_world, code, state).status_code == 401  # state and code work once


@pytest.mark.parametrize("misbehaviour", ["weak_acr", "wrong_nonce", "wrong_audience", "forged_signature",
                                          "unknown_professional", "tampered_state"])
def test_every_bad_answer_is_refused(oidc_world: World, provider: Provider, misbehaviour: str) -> None:
    state = provider.state
    if misbehaviour == "weak_acr":
        state.acr = "eidas1"  # e.g. a password-only sign-in at the provider
    elif misbehaviour == "wrong_nonce":
        state.nonce_override = "not-the-nonce-we-sent"
    elif misbehaviour == "wrong_audience":
        state.audience_override = "another-client"
    elif misbehaviour == "forged_signature":
        state.sign_with_other_key = True
    elif misbehaviour == "unknown_professional":
        state.user = {"sub": "psc-user-2", "rpps": "10003879623"}
    code, returned_state = go_through_provider(oidc_world)
    if misbehaviour == "tampered_state":
        returned_state = returned_state[:-2] + "xx"
    response = callback(oidc_world, code, returned_state)
    assert response.status_code == 401
    assert response.json() == {"type": "about:blank", "title": "Authentication required", "status": 401}


def test_a_contained_account_gets_no_session_through_the_provider_until_lifted(oidc_world: World) -> None:
    """Containment holds at the door for Pro Santé Connect too (docs/THREATS.md, detection and
    containment): after a valid OIDC sign-in the professional is told the account is suspended."""
    officer = oidc_world.headers("securite.demo")
    with oidc_world.platform.engine.connect() as conn:
        account_id = conn.execute(select(t.accounts.c.id).where(t.accounts.c.username == "optique.demo")).scalar_one()
    made = oidc_world.client.post("/v1/security/containments", headers=officer, json={
        "scope": "account", "target_id": account_id, "reason": "phished optician"})
    assert made.status_code == 201, made.text
    refused = callback(oidc_world, *go_through_provider(oidc_world))
    assert refused.status_code == 403 and refused.json()["title"] == "Account suspended"
    assert "token" not in refused.text
    lifted = oidc_world.client.post(f"/v1/security/containments/{made.json()['id']}/lift", headers=officer)
    assert lifted.status_code == 204
    oidc_world.clock.advance(seconds=3)  # the containment cache (2 s)
    assert callback(oidc_world, *go_through_provider(oidc_world)).status_code == 200
