"""Real WebAuthn ceremonies against the platform (a software authenticator plays the browser):
the right origin is accepted; another origin, a replayed challenge, a wrong RP ID and a cloned
signature counter are rejected."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import World
from tests.softauthn import SoftAuthenticator
from tierspayant.services.accounts import OPERATOR_SHELL

ORIGIN = "http://localhost:8000"
RP_ID = "localhost"


def enrol(world: World, username: str) -> SoftAuthenticator:
    return enrol_with_id(world, username)[0]


def enrol_with_id(world: World, username: str) -> tuple[SoftAuthenticator, int]:
    code = world.platform.accounts.enrolment_code(username, OPERATOR_SHELL)
    options = world.client.post("/v1/passkeys/registration/options", json={"enrolment_code": code}).json()
    authenticator = SoftAuthenticator()
    response = world.client.post("/v1/passkeys/registration", json={
        "enrolment_code": code, "credential": authenticator.create(options, ORIGIN)})
    assert response.status_code == 201, response.text
    again = world.client.post("/v1/passkeys/registration", json={
        "enrolment_code": code, "credential": SoftAuthenticator().create(options, ORIGIN)})
    assert again.status_code == 401  # the enrolment code and its challenge work once
    return authenticator, int(response.json()["id"])


def sign_in(world: World, authenticator: SoftAuthenticator, origin: str = ORIGIN,
            rp_id: str | None = None) -> tuple[int, dict]:
    options = world.client.post("/v1/passkeys/authentication/options").json()
    response = world.client.post("/v1/passkeys/authentication",
                                 json={"credential": authenticator.get(options, origin, rp_id)})
    return response.status_code, response.json()


def test_passkey_enrolment_and_sign_in(world: World) -> None:
    authenticator, passkey_id = enrol_with_id(world, "pharmacie.demo")
    status, body = sign_in(world, authenticator)
    assert status == 200 and body["aal"] == "passkey" and body["role"] == "professional"
    headers = {"authorization": f"Bearer {body['token']}"}
    before = world.client.get("/v1/passkeys", headers=headers).json()
    assert passkey_id in {p["id"] for p in before if not p["revoked"]}
    # another passkey for the same account; revoking one leaves the other working
    second = enrol(world, "pharmacie.demo")
    assert len(world.client.get("/v1/passkeys", headers=headers).json()) == len(before) + 1
    assert world.client.delete(f"/v1/passkeys/{passkey_id}", headers=headers).status_code == 204
    other_account = world.headers("medecin.demo")
    assert world.client.delete(f"/v1/passkeys/{passkey_id}", headers=other_account).status_code == 404
    assert sign_in(world, authenticator)[0] == 401
    assert sign_in(world, second)[0] == 200


def test_replayed_challenge_and_cloned_counter_are_rejected(world: World) -> None:
    authenticator = enrol(world, "medecin.demo")
    options = world.client.post("/v1/passkeys/authentication/options").json()
    assertion = authenticator.get(options, ORIGIN)
    first = world.client.post("/v1/passkeys/authentication", json={"credential": assertion})
    replay = world.client.post("/v1/passkeys/authentication", json={"credential": assertion})
    assert (first.status_code, replay.status_code) == (200, 401)
    clone = authenticator.clone()  # the same key, the same counter: a copied authenticator
    assert sign_in(world, authenticator)[0] == 200
    assert sign_in(world, clone)[0] == 401  # its counter did not grow past the last one seen


def test_wrong_rp_id_is_rejected(world: World) -> None:
    authenticator = enrol(world, "assureur.demo")
    assert sign_in(world, authenticator, rp_id="tierspayant-secure.example")[0] == 401
    assert sign_in(world, authenticator)[0] == 200


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(origin=st.one_of(
    st.sampled_from(["https://localhost:8000", "http://localhost:8001", "http://127.0.0.1:8000",
                     "https://tierspayant-secure.example", "http://localhost.evil.example:8000", "null"]),
    st.from_regex(r"https://[a-z]{1,12}\.(fr|com|example)", fullmatch=True)))
def test_assertions_made_for_another_origin_are_rejected(world: World, origin: str) -> None:
    """T1: a phishing site relaying the sign-in gets an assertion bound to ITS origin: refused."""
    authenticator = world.__dict__.setdefault("_origin_authenticator", None) or enrol(world, "optique.demo")
    world.__dict__["_origin_authenticator"] = authenticator
    status, body = sign_in(world, authenticator, origin=origin)
    assert status == 401 and body["title"] == "Authentication required"


def test_enrolment_codes_come_from_the_accounts_own_organisation(world: World) -> None:
    from tierspayant.security.policy import Role
    from tierspayant.store import tables as t

    with world.platform.engine.connect() as conn:
        org = conn.execute(t.accounts.select().where(t.accounts.c.username == "optique.demo")).first()
    assert org is not None
    own_admin, other_admin = f"orgadmin.{world.backend}.1", f"orgadmin.{world.backend}.2"
    for username, organisation in ((own_admin, org.organisation_id), (other_admin, org.organisation_id + 1)):
        _, secret = world.platform.accounts.create(username, "an-admin-pass-phrase", Role.ORGANISATION_ADMIN,
                                                   organisation_id=organisation)
        world.demo["accounts"][username] = {"password": "an-admin-pass-phrase", "totp_secret": secret}
        world.enrol_passkey(username)
    # Whoever gives access signs in with a passkey: a phished password mints no passkey.
    phished = world.client.post("/v1/passkeys/enrolment-codes/optique.demo", headers=world.headers(own_admin, passkey=False))
    assert phished.status_code == 403
    issued = world.client.post("/v1/passkeys/enrolment-codes/optique.demo", headers=world.headers(own_admin))
    assert issued.status_code == 201
    options = world.client.post("/v1/passkeys/registration/options",
                                json={"enrolment_code": issued.json()["enrolment_code"]})
    assert options.status_code == 200 and options.json()["user"]["name"] == "optique.demo"
    foreign = world.client.post("/v1/passkeys/enrolment-codes/optique.demo", headers=world.headers(other_admin))
    missing = world.client.post("/v1/passkeys/enrolment-codes/nobody.here", headers=world.headers(own_admin))
    assert (foreign.status_code, foreign.json()) == (missing.status_code, missing.json()) == (404, missing.json())
    professional = world.client.post("/v1/passkeys/enrolment-codes/optique.demo", headers=world.headers("medecin.demo"))
    assert professional.status_code == 403
