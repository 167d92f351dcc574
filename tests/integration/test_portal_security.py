"""The portal's web security, on SQLite and PostgreSQL (docs/THREATS.md, "The portal"): every
route declares its policy and every state-changing one its CSRF check (the route table is
walked, so a new route without them fails here); the headers of every page; the session
cookie's attributes and rotation; a phished password reaching the statements and refused on
every page with beneficiary data; the same answer for every sign-in failure; a passkey sign-in
through the portal reaching the counter."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.conftest import World, fresh_patients
from tierspayant.security import totp
from tierspayant.web.headers import CONTENT_SECURITY_POLICY
from tierspayant.web.session import CSRF_COOKIE, PORTAL, SESSION_COOKIE, is_csrf_check, policy_of

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def portal_routes(world: World) -> list[APIRoute]:
    out: list[APIRoute] = []

    def walk(routes: list[Any]) -> None:
        for route in routes:
            if isinstance(route, APIRoute) and route.path.startswith(PORTAL):
                out.append(route)
            elif hasattr(route, "original_router"):
                walk(route.original_router.routes)

    walk(list(world.app.routes))
    return out


def _policies(route: APIRoute) -> list[str]:
    return [policy_of(d.call) for d in route.dependant.dependencies if policy_of(d.call)]


def browser(world: World) -> TestClient:
    """A client on the portal's origin (https: the client keeps Secure cookies only there)."""
    origin = world.platform.settings.webauthn_origin
    return TestClient(world.app, base_url=origin.replace("http://", "https://"),
                      headers={"origin": origin}, follow_redirects=False)


def _csrf(client: TestClient, path: str = f"{PORTAL}/connexion") -> str:
    page = client.get(path)
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found, page.text[:300]
    return found.group(1)


def password_session(world: World, username: str = "optique.demo") -> TestClient:
    client = browser(world)
    token = _csrf(client)
    account = world.demo["accounts"][username]
    world.clock.advance(seconds=31)
    answer = client.post(f"{PORTAL}/connexion/mot-de-passe", data={
        "csrf": token, "username": username, "password": account["password"],
        "code": totp.current_code(account["totp_secret"], world.clock.now())})
    assert answer.status_code == 303, answer.text
    return client


def passkey_session(world: World, username: str = "optique.demo") -> TestClient:
    client = browser(world)
    token = _csrf(client)
    authenticator = world.authenticator(username)
    options = client.post(f"{PORTAL}/cle/options", headers={"x-csrf-token": token})
    assert options.status_code == 200, options.text
    assertion = authenticator.get(options.json(), world.platform.settings.webauthn_origin)
    signed = client.post(f"{PORTAL}/cle/connexion", headers={"x-csrf-token": token}, json={"credential": assertion})
    assert signed.status_code == 200, signed.text
    return client


def test_every_portal_route_declares_its_policy_and_every_change_its_csrf_check(world: World) -> None:
    routes = portal_routes(world)
    assert len(routes) >= 12
    for route in routes:
        assert len(_policies(route)) == 1, f"{route.path}: one policy (PUBLIC_PAGE, SIGNED_IN or STRONG)"
        checks = [d for d in route.dependant.dependencies if is_csrf_check(d.call)]
        if route.methods & STATE_CHANGING:
            assert checks, f"{route.path}: a state-changing route without its CSRF check"
    # And each refuses, live, a cross-site post and one without the token, signed in or not.
    client = passkey_session(world)
    token = _csrf(client, f"{PORTAL}/")
    for route in routes:
        if not route.methods & STATE_CHANGING:
            continue
        path = re.sub(r"\{[a-z_]+\}", "1", route.path)
        foreign = client.post(path, data={"csrf": token}, headers={"origin": "https://evil.example"})
        assert foreign.status_code == 403, (path, foreign.status_code)
        tokenless = client.post(path, data={})
        assert tokenless.status_code == 403, (path, tokenless.status_code)
        assert "Requête refusée" in tokenless.text
    assert client.get(f"{PORTAL}/comptoir").status_code == 200  # the session survived every refusal


def test_every_page_carries_the_security_headers(world: World) -> None:
    client = passkey_session(world)
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY and "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    for route in portal_routes(world):
        if "GET" not in route.methods:
            continue
        answer = client.get(route.path)
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, route.path
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"
        if answer.headers.get("content-type", "").startswith("text/html"):
            # No inline script, handler or style: the policy would block them anyway.
            assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text), route.path
            assert not re.search(r"\s(on[a-z]+|style)\s*=", answer.text), route.path


def test_the_session_cookie_is_host_prefixed_secure_httponly_strict_and_rotated(world: World) -> None:
    client = browser(world)
    token = _csrf(client)
    account = world.demo["accounts"]["optique.demo"]
    cookies = []
    for _ in range(2):
        world.clock.advance(seconds=31)
        answer = client.post(f"{PORTAL}/connexion/mot-de-passe", data={
            "csrf": token, "username": "optique.demo", "password": account["password"],
            "code": totp.current_code(account["totp_secret"], world.clock.now())})
        assert answer.status_code == 303
        set_cookies = answer.headers.get_list("set-cookie")
        session = next(c for c in set_cookies if c.startswith(SESSION_COOKIE + "="))
        attributes = {a.strip().lower() for a in session.split(";")[1:]}
        assert {"httponly", "secure", "path=/", "samesite=strict"} <= attributes
        assert not any(a.startswith("domain") for a in attributes)  # __Host-: no Domain
        cookies.append(session.split(";")[0])
        csrf = next(c for c in set_cookies if c.startswith(CSRF_COOKIE + "="))
        assert csrf.split(";")[0] != f"{CSRF_COOKIE}={token}"  # a new CSRF token at sign-in
        token = client.cookies[CSRF_COOKIE]
    assert cookies[0] != cookies[1]  # a new session token at each sign-in


def test_a_phished_password_reaches_the_statements_and_no_page_with_beneficiary_data(world: World) -> None:
    client = password_session(world)
    home = client.get(f"{PORTAL}/")
    assert home.status_code == 200 and "connecté par mot de passe" in home.text
    assert client.get(f"{PORTAL}/releves").status_code == 200
    assert client.get(f"{PORTAL}/sessions").status_code == 200
    token = client.cookies[CSRF_COOKIE]
    strong = [r for r in portal_routes(world) if "strong" in _policies(r)]
    assert strong
    for route in strong:
        for method in route.methods:
            answer = client.request(method, route.path, data={"csrf": token})
            assert answer.status_code == 403 and "Connexion renforcée requise" in answer.text, (method, route.path)
    # With no session at all, the pages send the browser to the sign-in page.
    anonymous = browser(world)
    for route in portal_routes(world):
        if "GET" in route.methods and _policies(route) != ["public"]:
            answer = anonymous.get(route.path)
            assert answer.status_code == 303 and answer.headers["location"] == f"{PORTAL}/connexion", route.path


def test_every_sign_in_failure_gets_the_same_answer(world: World) -> None:
    account = world.demo["accounts"]["optique.demo"]
    answers = []
    for username, password, code in (("optique.demo", "wrong password", "000000"),
                                     ("nobody.here", account["password"], "000000"),
                                     ("optique.demo", account["password"], "000000")):
        client = browser(world)
        answer = client.post(f"{PORTAL}/connexion/mot-de-passe", data={
            "csrf": _csrf(client), "username": username, "password": password, "code": code})
        body = re.sub(r'content="[^"]+"|value="[^"]+"', "", answer.text)  # the page's own CSRF token
        answers.append((answer.status_code, body))
    assert answers[0][0] == 401 and len(set(answers)) == 1


def test_a_passkey_session_checks_rights_at_the_counter_and_the_page_keeps_nothing(world: World) -> None:
    client = passkey_session(world)
    patient = fresh_patients(world)[0]
    token = client.cookies[CSRF_COOKIE]
    form = {**patient, "date_of_care": world.clock.now().date().isoformat(), "category": "optical", "csrf": token}
    answer = client.post(f"{PORTAL}/comptoir", data=form)
    assert answer.status_code == 200, answer.text
    assert "Couvert" in answer.text and re.search(r"<code>E[0-9A-Z-]+</code>", answer.text)
    # The answer shows no identifier back: the next patient starts from a blank form.
    assert patient["nir"] not in answer.text and patient["member_number"] not in answer.text
    title = re.search(r"<title>(.*)</title>", answer.text)
    assert title and title.group(1) == "Comptoir — tierspayant"
    bad = client.post(f"{PORTAL}/comptoir", data={**form, "nir": "123"})
    assert bad.status_code == 422 and 'href="#nir"' in bad.text


def test_where_a_request_comes_from_decides_before_its_token(world: World) -> None:
    """Under no-referrer a browser's own form post says ``Origin: null``: the Fetch Metadata
    header then decides; a cross-site page cannot forge it, nor send the token in a body the
    check does not read (multipart, text/plain)."""
    client = passkey_session(world)
    token = client.cookies[CSRF_COOKIE]
    sessions = f"{PORTAL}/sessions/partout"
    null = {"origin": "null"}
    assert client.post(sessions, data={"csrf": token}, headers={**null, "sec-fetch-site": "cross-site"}).status_code == 403
    assert client.post(sessions, data={"csrf": token}, headers=null).status_code == 403  # nothing says where from
    assert client.post(sessions, files={"csrf": (None, token)}).status_code == 403  # multipart: token unread
    assert client.post(sessions, content=f"csrf={token}", headers={"content-type": "text/plain"}).status_code == 403
    ended = client.post(sessions, data={"csrf": token}, headers={**null, "sec-fetch-site": "same-origin"})
    assert ended.status_code == 303 and ended.headers["location"] == f"{PORTAL}/connexion"


def test_a_passkey_answer_made_for_another_origin_is_refused(world: World) -> None:
    """What the browser refuses, the server refuses too: an assertion bound to another origin."""
    client = browser(world)
    token = _csrf(client)
    options = client.post(f"{PORTAL}/cle/options", headers={"x-csrf-token": token}).json()
    assertion = world.authenticator("optique.demo").get(options, "https://phishing.example")
    refused = client.post(f"{PORTAL}/cle/connexion", headers={"x-csrf-token": token}, json={"credential": assertion})
    assert refused.status_code == 401 and refused.json() == {"error": "Connexion refusée."}
    assert SESSION_COOKIE not in client.cookies


def test_a_password_session_lists_and_cancels_bank_changes_but_asks_none(world: World) -> None:
    client = password_session(world)
    shown = client.get(f"{PORTAL}/coordonnees-bancaires")
    assert shown.status_code == 200 and 'id="changement-iban"' not in shown.text
    token = client.cookies[CSRF_COOKIE]
    asked = client.post(f"{PORTAL}/coordonnees-bancaires", headers={"x-csrf-token": token},
                        json={"iban": "FR7630006000011234567890189", "bic": "AGRIFRPPXXX", "credential": {}})
    assert asked.status_code == 403  # a new IBAN needs a passkey or PSC session


def test_portal_errors_are_pages_and_api_errors_stay_problems(world: World) -> None:
    client = passkey_session(world)
    for path, status in ((f"{PORTAL}/nowhere", 404), (f"{PORTAL}/sessions/x/fin", 403)):
        answer = client.post(path, data={"csrf": client.cookies[CSRF_COOKIE]}) if "fin" in path else client.get(path)
        assert answer.status_code in (status, 422) and answer.headers["content-type"].startswith("text/html"), path
    missing = world.client.get("/v1/quotes/PNOPE", headers=world.headers("optique.demo"))
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")


def test_the_counter_shows_how_many_new_patients_are_left_without_a_proof(new_world: Callable[..., World]) -> None:
    """The day's budget of proof-less checks (detection/budgets.py) as the counter shows it: a
    new patient takes one, the same patient again takes none."""
    world = new_world(beneficiaries=40)
    client = passkey_session(world)

    def left() -> int:
        found = re.search(r"Sans preuve, encore (\d+) nouveau", client.get(f"{PORTAL}/comptoir").text)
        assert found
        return int(found.group(1))

    before = left()
    assert before == 20  # the default day quota, nothing checked yet
    patient = fresh_patients(world)[0]
    form = {**patient, "date_of_care": world.clock.now().date().isoformat(), "category": "optical",
            "csrf": client.cookies[CSRF_COOKIE]}
    for _ in range(2):
        assert client.post(f"{PORTAL}/comptoir", data=form).status_code == 200
        assert left() == before - 1


def test_the_session_is_renewed_at_the_step_up(world: World) -> None:
    """A new IBAN confirmed with a fresh assertion: the session goes on under a new token and
    the old one opens nothing any more."""
    client = passkey_session(world, "pharmacie.demo")
    old = client.cookies[SESSION_COOKIE]
    token = client.cookies[CSRF_COOKIE]
    options = client.post(f"{PORTAL}/cle/options", headers={"x-csrf-token": token}).json()
    assertion = world.authenticator("pharmacie.demo").get(options, world.platform.settings.webauthn_origin)
    asked = client.post(f"{PORTAL}/coordonnees-bancaires", headers={"x-csrf-token": token}, json={
        "iban": "FR7630006000011234567890189", "bic": "AGRIFRPPXXX", "credential": assertion})
    assert asked.status_code == 201, asked.text
    assert client.cookies[SESSION_COOKIE] != old and client.cookies[CSRF_COOKIE] != token
    assert client.get(f"{PORTAL}/coordonnees-bancaires").status_code == 200
    stale = browser(world)
    stale.cookies.set(SESSION_COOKIE, old)
    assert stale.get(f"{PORTAL}/").status_code == 303  # back to the sign-in page
