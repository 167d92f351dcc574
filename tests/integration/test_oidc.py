"""Pro Santé Connect sign-in against a real OpenID Connect provider started by the test, answering
in PSC's shapes (tests/oidc_provider.py): code + PKCE, discovery, the ID token's signature,
nonce and ``acr`` eidas1 checked, ``SubjectNameID`` (8 + RPPS, 0 + ADELI) mapped to the
professional's account, the activity naming its organisation chosen among several, the means of
authentication (``authMode``) kept on the session; the token endpoint authenticated the way the
client is registered (client_secret_basic, client_secret_post, private_key_jwt). Every refusal
is the same opaque 401."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select

from tests.conftest import BACKENDS, World, database_url, fresh_patients, make_world
from tests.oidc_provider import Provider, psc_activity, psc_userinfo
from tierspayant.bootstrap import oidc_settings
from tierspayant.delivery.identity_provider import OidcClient
from tierspayant.domain.identifiers import rpps_with_key
from tierspayant.security.tokens import hash_token
from tierspayant.services.accounts import OPERATOR_SHELL
from tierspayant.services.records import Organisation, Professional
from tierspayant.store import tables as t

REFUSED = {"type": "about:blank", "title": "Authentication required", "status": 401}
METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
#: An optician known by ADELI only, registered by two organisations (FINESS numbers).
ADELI, SITE_A, SITE_B = "751234568", "750000017", "690000029"
#: An optician known by RPPS, registered by an organisation with a SIRET number, and a SIRET
#: the platform does not know (both with their SIREN's and their own Luhn keys).
RPPS_AT_SIRET, SITE_SIRET, UNKNOWN_SIRET = rpps_with_key("1888888888"), "73282932000017", "73282932000074"


@dataclass
class Psc:
    """The module's platform, the provider, and the demo optician's numbers."""

    world: World
    provider: Provider
    rpps: str
    account_id: int
    #: The optician's organisation as PSC's activity names it.
    own_site: dict[str, str]
    adeli_accounts: dict[str, int]
    #: Professionals known by RPPS whose organisation's number passes its checks: user name ->
    #: (RPPS, account id, the activity naming their organisation). The demo's SIRET numbers
    #: have a Luhn key but no SIREN key: PSC's activities name them as no site at all.
    sited: dict[str, tuple[str, int, dict[str, str]]]
    key_file: Path

    def use(self, client_auth: str, key_file: Path | None = None) -> None:
        """The platform's client authenticates this way from now on."""
        settings = self.world.platform.settings.model_copy(update={
            "oidc_client_auth": client_auth, "oidc_client_key_file": key_file or self.key_file})
        self.world.platform.accounts.oidc = OidcClient(oidc_settings(settings))


def reset(provider: Provider, user: dict[str, object]) -> None:
    state = provider.state
    state.user, state.acr, state.auth_mode, state.auth_mode_in = user, "eidas1", "CARD", "id_token"
    state.nonce_override = state.audience_override = state.userinfo_sub_override = None
    state.sign_with_other_key = state.tamper_id_token = False
    state.client_auth, state.client_key = "client_secret_basic", None


def site(kind: str, identifier: str, name: str = "SITE") -> dict[str, str]:
    return psc_activity(finess=identifier, name=name) if kind == "FINESS" else psc_activity(siret=identifier, name=name)


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with Provider() as running:
        yield running


@pytest.fixture(scope="module")
def client_key() -> RSAKey:
    return RSAKey.generate_key(2048)


@pytest.fixture(scope="module", params=BACKENDS)
def psc_world(request: pytest.FixtureRequest, provider: Provider, client_key: RSAKey,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Psc]:
    """One platform per database for the module's sign-ins (each test resets the provider)."""
    var_dir = tmp_path_factory.mktemp(f"psc-{request.param}")
    key_file = var_dir / "oidc-client.pem"
    key_file.write_bytes(client_key.as_pem(private=True))
    state = provider.state
    world = make_world(database_url(request, request.param, var_dir), var_dir, request.param, beneficiaries=60,
                       oidc_issuer=state.issuer, oidc_client_id=state.client_id,
                       oidc_client_secret=state.client_secret)
    p, o, a = t.professionals.c, t.organisations.c, t.accounts.c
    with world.platform.engine.connect() as conn:
        rpps, account_id, kind, identifier = conn.execute(
            select(p.rpps, a.id, o.kind, o.identifier).join(t.accounts, a.professional_id == p.id)
            .join(t.organisations, o.id == a.organisation_id).where(a.username == "optique.demo")).one()
        pharmacist = conn.execute(
            select(p.rpps, a.id, o.identifier).join(t.accounts, a.professional_id == p.id)
            .join(t.organisations, o.id == a.organisation_id).where(a.username == "pharmacie.demo")).one()
    onboarding, adeli_accounts = world.platform.onboarding, {}
    onboarding.register_organisation(OPERATOR_SHELL, Organisation(0, "SIRET", SITE_SIRET, "Optique Lumiere"),
                                     "gerant.lumiere")
    onboarding.add_account(OPERATOR_SHELL, SITE_SIRET, "opticien.siret", "professional", professional=Professional(
        id=0, organisation_id=0, rpps=RPPS_AT_SIRET, adeli=None, am_number="751234567", profession="optician",
        name="Paul Lumiere", iban="FR7630006000011234567890189", bic="AGRIFRPPXXX", optam=False))
    sited = {"pharmacie.demo": (pharmacist[0], pharmacist[1], psc_activity(finess=pharmacist[2])),
             "opticien.siret": (RPPS_AT_SIRET, world.demo_account_id("opticien.siret"),
                                psc_activity(siret=SITE_SIRET))}
    for number, username in ((SITE_A, "adeli.site-a"), (SITE_B, "adeli.site-b")):
        onboarding.register_organisation(OPERATOR_SHELL, Organisation(0, "FINESS", number, f"Optique {number}"),
                                         f"gerant.{number}")
        made = onboarding.add_account(OPERATOR_SHELL, number, username, "professional", professional=Professional(
            id=0, organisation_id=0, rpps=None, adeli=ADELI, am_number="751234567", profession="optician",
            name="Claire Lumiere", iban="FR7630006000011234567890189", bic="AGRIFRPPXXX", optam=False))
        adeli_accounts[number] = world.demo_account_id(made.username)
    yield Psc(world, provider, rpps, account_id, own_site=site(kind, identifier, "OPTIQUE"),
              adeli_accounts=adeli_accounts, sited=sited, key_file=key_file)
    world.platform.engine.dispose()


@pytest.fixture()
def psc(psc_world: Psc) -> Psc:
    reset(psc_world.provider, psc_userinfo("8" + psc_world.rpps, [[psc_world.own_site]]))
    psc_world.use("client_secret_basic")
    return psc_world


def go_through_provider(world: World) -> tuple[str, str]:
    start = world.client.get("/v1/oidc/start").json()["authorization_url"]
    assert parse_qs(urlparse(start).query)["acr_values"] == ["eidas1"]
    redirect = httpx.get(start, follow_redirects=False)
    assert redirect.status_code == 302, redirect.text
    query = parse_qs(urlparse(redirect.headers["location"]).query)
    return query["code"][0], query["state"][0]


def callback(world: World, code: str, state: str) -> httpx.Response:
    return world.client.get("/v1/oidc/callback", params={"code": code, "state": state})


def sign_in(world: World) -> httpx.Response:
    return callback(world, *go_through_provider(world))


def session_of(world: World, token: str) -> tuple[int, str, str | None]:
    """(account id, aal, auth means) of the session the token opens, as stored."""
    c = t.sessions.c
    with world.platform.engine.connect() as conn:
        row = conn.execute(select(c.account_id, c.aal, c.auth_means).where(c.token_hash == hash_token(token))).one()
    return int(row[0]), str(row[1]), row[2]


def test_an_rpps_sign_in_reaches_beneficiary_data_and_keeps_the_means(psc: Psc) -> None:
    world = psc.world
    code, state = go_through_provider(world)
    signed = callback(world, code, state)
    assert signed.status_code == 200, signed.text
    assert signed.json()["aal"] == "oidc"
    token = signed.json()["token"]
    assert session_of(world, token) == (psc.account_id, "oidc", "CARD")
    headers = {"authorization": f"Bearer {token}"}
    listed = world.client.get("/v1/sessions", headers=headers).json()
    assert [(s["aal"], s["auth_means"]) for s in listed if s["current"]] == [("oidc", "CARD")]
    check = world.client.post("/v1/rights-checks", headers=headers, json={
        **fresh_patients(world)[0], "date_of_care": "2026-03-02", "category": "optical"})
    assert check.status_code == 200 and check.json()["covered"] is True
    assert callback(world, code, state).status_code == 401  # state and code work once
    assert psc.provider.state.accepted_methods[-1] == "client_secret_basic"


@pytest.mark.parametrize("who", ["pharmacie.demo", "opticien.siret"])
def test_among_several_activities_the_one_naming_the_accounts_organisation_is_chosen(psc: Psc, who: str) -> None:
    """Two exercices, three activities: another organisation of the platform, a site it does
    not know, and the professional's own (by FINESS, by SIRET); the e-CPS means said in
    userinfo only."""
    rpps, account_id, own = psc.sited[who]
    elsewhere = next(activity for name, (_, _, activity) in psc.sited.items() if name != who)
    psc.provider.state.user = psc_userinfo("8" + rpps, [[elsewhere, psc_activity(siret=UNKNOWN_SIRET)], [own]])
    psc.provider.state.auth_mode, psc.provider.state.auth_mode_in = "MOBILE", "userinfo"
    signed = sign_in(psc.world)
    assert signed.status_code == 200, signed.text
    assert session_of(psc.world, signed.json()["token"]) == (account_id, "oidc", "MOBILE")


def test_an_adeli_sign_in_opens_the_account_of_the_organisation_its_activity_names(psc: Psc) -> None:
    """0 + ADELI: the same number is registered by two organisations; the activity says which."""
    for number, others in ((SITE_A, []), (SITE_B, [psc_activity(finess="750000999", name="INCONNU")])):
        psc.provider.state.user = psc_userinfo("0" + ADELI, [[*others, psc_activity(finess=number)]])
        signed = sign_in(psc.world)
        assert signed.status_code == 200, signed.text
        assert session_of(psc.world, signed.json()["token"]) == (psc.adeli_accounts[number], "oidc", "CARD")


UNKNOWN_RPPS = rpps_with_key("1999999999")


@pytest.mark.parametrize("case", [
    "unknown_rpps", "wrong_prefix", "adeli_prefix_on_an_rpps", "bad_rpps_key", "no_activity_matches",
    "adeli_at_two_of_its_sites", "tampered_id_token", "forged_signature", "another_acr", "unknown_auth_mode",
    "no_auth_mode", "wrong_nonce", "wrong_audience", "another_subject", "tampered_state"])
def test_every_bad_answer_gets_the_same_opaque_refusal(psc: Psc, case: str) -> None:
    state, rpps = psc.provider.state, psc.rpps
    user = {
        "unknown_rpps": psc_userinfo("8" + UNKNOWN_RPPS, [[psc.own_site]]),
        "wrong_prefix": psc_userinfo("3" + rpps, [[psc.own_site]]),  # another type of identifier
        "adeli_prefix_on_an_rpps": psc_userinfo("0" + rpps, [[psc.own_site]]),
        "bad_rpps_key": psc_userinfo("8" + rpps[:-1] + str((int(rpps[-1]) + 1) % 10), [[psc.own_site]]),
        "no_activity_matches": psc_userinfo("8" + RPPS_AT_SIRET, [
            [psc.sited["pharmacie.demo"][2], psc_activity(siret=UNKNOWN_SIRET)], [psc_activity(finess="750000999")]]),
        "adeli_at_two_of_its_sites": psc_userinfo("0" + ADELI, [[psc_activity(finess=SITE_A)],
                                                                [psc_activity(finess=SITE_B)]]),
    }.get(case)
    if user is not None:
        state.user = user
    state.tamper_id_token = case == "tampered_id_token"
    state.sign_with_other_key = case == "forged_signature"
    if case == "another_acr":
        state.acr = "eidas2"
    elif case == "unknown_auth_mode":
        state.auth_mode = "PASSWORD"
    elif case == "no_auth_mode":
        state.auth_mode = None
    elif case == "wrong_nonce":
        state.nonce_override = "not-the-nonce-we-sent"
    elif case == "wrong_audience":
        state.audience_override = "another-client"
    elif case == "another_subject":
        state.userinfo_sub_override = "f:someone-else:8" + rpps
    code, returned_state = go_through_provider(psc.world)
    if case == "tampered_state":
        returned_state = returned_state[:-2] + "xx"
    response = callback(psc.world, code, returned_state)
    assert (response.status_code, response.json()) == (401, REFUSED)


@pytest.mark.parametrize("registered", METHODS)
@pytest.mark.parametrize("sent", METHODS)
def test_the_token_endpoint_accepts_only_the_method_registered_for_the_client(
        psc: Psc, client_key: RSAKey, sent: str, registered: str) -> None:
    state = psc.provider.state
    state.client_auth, state.client_key = registered, RSAKey.import_key(client_key.as_dict(private=False))
    psc.use(sent)
    accepted = len(state.accepted_methods)
    response = sign_in(psc.world)
    if sent == registered:
        assert response.status_code == 200, response.text
        assert state.accepted_methods[accepted:] == [sent]
    else:
        assert (response.status_code, response.json()) == (401, REFUSED)
        assert state.accepted_methods[accepted:] == []  # the provider refused the client: no token


def test_private_key_jwt_with_an_ec_key_and_with_a_key_the_provider_does_not_know(
        psc: Psc, tmp_path: Path) -> None:
    ec = ECKey.generate_key("P-256")
    ec_file = tmp_path / "ec.jwk"
    ec_file.write_text(json.dumps(ec.as_dict(private=True)))
    state = psc.provider.state
    state.client_auth, state.client_key = "private_key_jwt", ECKey.import_key(ec.as_dict(private=False))
    psc.use("private_key_jwt", ec_file)
    assert sign_in(psc.world).status_code == 200
    psc.use("private_key_jwt")  # the module's RSA key: not the one registered
    accepted = len(state.accepted_methods)
    response = sign_in(psc.world)
    assert (response.status_code, response.json()) == (401, REFUSED)
    assert state.accepted_methods[accepted:] == []


def test_a_contained_account_gets_no_session_through_the_provider_until_lifted(
        provider: Provider, new_world: Callable[..., World]) -> None:
    """Containment holds at the door for Pro Santé Connect too (docs/THREATS.md, detection and
    containment): after a valid PSC sign-in the professional is told the account is suspended."""
    world = new_world(beneficiaries=60, oidc_issuer=provider.state.issuer, oidc_client_id=provider.state.client_id,
                      oidc_client_secret=provider.state.client_secret)
    p, o, a = t.professionals.c, t.organisations.c, t.accounts.c
    with world.platform.engine.connect() as conn:
        rpps, account_id, kind, identifier = conn.execute(
            select(p.rpps, a.id, o.kind, o.identifier).join(t.accounts, a.professional_id == p.id)
            .join(t.organisations, o.id == a.organisation_id).where(a.username == "optique.demo")).one()
    reset(provider, psc_userinfo("8" + rpps, [[site(kind, identifier)]]))
    officer = world.headers("securite.demo")
    made = world.client.post("/v1/security/containments", headers=officer, json={
        "scope": "account", "target_id": account_id, "reason": "phished optician"})
    assert made.status_code == 201, made.text
    refused = sign_in(world)
    assert refused.status_code == 403 and refused.json()["title"] == "Account suspended"
    assert "token" not in refused.text
    lifted = world.client.post(f"/v1/security/containments/{made.json()['id']}/lift", headers=officer)
    assert lifted.status_code == 204
    world.clock.advance(seconds=3)  # the containment cache (2 s)
    assert sign_in(world).status_code == 200


def test_the_portals_button_signs_in_with_psc_and_refuses_the_same_way(psc: Psc) -> None:
    """The portal's "Pro Santé Connect" button (web/routes/sign_in.py): the browser goes to the
    provider and back; the session it gets reaches the counter; a replayed code, an unknown
    RPPS, a wrong prefix and a tampered token get the same refusal page."""
    from tests.integration.test_portal_security import browser

    def through_portal(client: Any) -> httpx.Response:
        start = client.get("/portail/psc")
        assert start.status_code == 303, start.text
        redirect = httpx.get(start.headers["location"], follow_redirects=False)
        query = parse_qs(urlparse(redirect.headers["location"]).query)
        done: httpx.Response = client.get("/portail/psc/retour",
                                          params={"code": query["code"][0], "state": query["state"][0]})
        return done

    client = browser(psc.world)
    assert "Se connecter avec Pro Santé Connect" in client.get("/portail/connexion").text
    done = through_portal(client)
    assert done.status_code == 200 and 'data-next="/portail/"' in done.text, done.text
    assert client.get("/portail/comptoir").status_code == 200  # PSC opens the pages with patients' data
    used = dict(done.request.url.params)
    assert set(used) == {"code", "state"}
    replayed = client.get("/portail/psc/retour", params=used)
    refusals = [replayed]
    psc.provider.state.user = psc_userinfo("8" + rpps_with_key("1999999999"), [[psc.own_site]])
    refusals.append(through_portal(browser(psc.world)))
    psc.provider.state.user = psc_userinfo("3" + psc.rpps, [[psc.own_site]])  # not an RPPS's prefix
    refusals.append(through_portal(browser(psc.world)))
    reset(psc.provider, psc_userinfo("8" + psc.rpps, [[psc.own_site]]))
    psc.provider.state.tamper_id_token = True
    refusals.append(through_portal(browser(psc.world)))
    for refused in refusals:
        assert refused.status_code == 401 and "Connexion refusée." in refused.text
        assert not any(c.startswith("__Host-tp_session") for c in refused.headers.get_list("set-cookie"))


def test_an_attackers_psc_answer_opened_in_a_victims_browser_signs_nobody_in(psc: Psc) -> None:
    """Login CSRF: the attacker starts a PSC sign-in, signs in as himself, and sends the victim
    the link back to the portal; the victim's browser never started that sign-in."""
    from tests.integration.test_portal_security import browser

    attacker = browser(psc.world)
    start = attacker.get("/portail/psc")
    redirect = httpx.get(start.headers["location"], follow_redirects=False)
    query = parse_qs(urlparse(redirect.headers["location"]).query)
    victim = browser(psc.world)
    opened = victim.get("/portail/psc/retour", params={"code": query["code"][0], "state": query["state"][0]})
    assert opened.status_code == 401 and "Connexion refusée." in opened.text
    assert "__Host-tp_session" not in victim.cookies
