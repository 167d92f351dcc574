"""Sessions (docs/THREATS.md): a user lists and ends their sessions; an admin ends one user's or all
sessions; disabling an account ends its sessions at once."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import World


@pytest.fixture()
def fresh(new_world: Callable[..., World]) -> World:
    return new_world(beneficiaries=30)


def alive(world: World, headers: dict[str, str]) -> bool:
    return world.client.get("/v1/sessions", headers=headers).status_code == 200


def test_list_and_end_own_sessions(fresh: World) -> None:
    first, second = fresh.headers("optique.demo"), fresh.headers("optique.demo", passkey=False)
    listed = fresh.client.get("/v1/sessions", headers=first).json()
    assert {s["aal"] for s in listed} == {"passkey", "password_totp"}
    assert sum(s["current"] for s in listed) == 1
    other = next(s for s in listed if not s["current"])
    assert fresh.client.delete(f"/v1/sessions/{other['id']}", headers=first).status_code == 204
    assert not alive(fresh, second) and alive(fresh, first)
    # someone else's session id answers like a missing one
    gp = fresh.headers("medecin.demo")
    mine = next(s for s in fresh.client.get("/v1/sessions", headers=first).json() if s["current"])
    assert fresh.client.delete(f"/v1/sessions/{mine['id']}", headers=gp).status_code == 404
    assert alive(fresh, first)


def test_admin_ends_a_users_sessions_and_disables_accounts(fresh: World) -> None:
    admin = fresh.headers("admin.demo")
    victim = fresh.headers("optique.demo")
    bystander = fresh.headers("medecin.demo")
    ended = fresh.client.post("/v1/accounts/optique.demo/sessions/end", headers=admin)
    assert ended.status_code == 200 and ended.json()["ended"] >= 1
    assert not alive(fresh, victim) and alive(fresh, bystander)
    victim = fresh.headers("optique.demo")  # signs in again...
    assert fresh.client.put("/v1/accounts/optique.demo/disabled", headers=admin,
                            json={"disabled": True}).status_code == 204
    assert not alive(fresh, victim)  # ...and is out at once when disabled
    options = fresh.client.post("/v1/passkeys/authentication/options").json()
    authenticator = fresh.__dict__["_authenticators"]["optique.demo"]
    refused = fresh.client.post("/v1/passkeys/authentication",
                                json={"credential": authenticator.get(options, fresh.platform.settings.webauthn_origin)})
    assert refused.status_code == 401
    fresh.client.put("/v1/accounts/optique.demo/disabled", headers=admin, json={"disabled": False})
    assert alive(fresh, fresh.headers("optique.demo"))
    assert fresh.client.post("/v1/accounts/optique.demo/sessions/end", headers=bystander).status_code == 403


def test_admin_ends_all_sessions(fresh: World) -> None:
    admin = fresh.headers("admin.demo")
    others = [fresh.headers(user) for user in ("optique.demo", "medecin.demo", "assureur.demo")]
    assert fresh.client.post("/v1/sessions/end-all", headers=admin).json()["ended"] >= 4
    assert not any(alive(fresh, h) for h in [*others, admin])
    assert alive(fresh, fresh.headers("optique.demo"))  # everyone can sign in again
