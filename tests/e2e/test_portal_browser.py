"""The portal in a real browser (issue 18): Debian's Chromium driven by Playwright, with the
Chrome DevTools Protocol's virtual authenticator (ctap2, internal, resident key, user
verification) standing for the optician's device. An optician enrols a passkey with the
admin's one-time code, signs in, checks a present patient's rights with a proof typed from
`tiers presence issue`, reads the statements and the sessions, signs out; the same ceremony
from a page of another origin is refused; a phished password reaches no page with
beneficiary data. The platform runs on the real clock (proofs are dated) on SQLite, served by
uvicorn on a local port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.conftest import LENIENT_DETECTION
from tierspayant.bootstrap import Platform, build
from tierspayant.config import Settings
from tierspayant.domain.renewal import LastPurchases
from tierspayant.security import totp
from tierspayant.services.accounts import OPERATOR_SHELL
from tierspayant.simulate.population import PopulationSpec
from tierspayant.simulate.seed import seed
from tierspayant.web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
#: The README's pictures of the portal, taken by this test run (committed).
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]
pytestmark = [pytest.mark.sqlite_only(reason="a browser against one live server; the portal's rules run on both "
                                             "databases in tests/integration/test_portal_security.py"),
              pytest.mark.xdist_group("browser")]


@dataclass
class Portal:
    url: str
    platform: Platform
    demo: dict[str, Any]
    env: dict[str, str]
    app: Any

    def pages(self) -> list[tuple[str, str]]:
        """Every page of the portal one can open (GET, no parameter in its path), with its policy."""
        from fastapi.routing import APIRoute

        from tierspayant.web.session import policy_of

        out: list[tuple[str, str]] = []

        def walk(routes: list[Any]) -> None:
            for route in routes:
                if hasattr(route, "original_router"):  # included routers are wrapped
                    walk(route.original_router.routes)
                elif isinstance(route, APIRoute) and route.path.startswith("/portail") and "GET" in route.methods \
                        and "{" not in route.path:
                    out.extend((route.path, policy_of(d.call)) for d in route.dependant.dependencies
                               if policy_of(d.call))

        walk(list(self.app.routes))
        return out

    def patient(self, index: int = 0) -> dict[str, str]:
        """A covered adult of the seeded population (identities read through the store)."""
        with self.platform.uow(readonly=True) as tx:
            found = []
            today = self.platform.clock.now().date()
            for beneficiary_id in range(1, 200):
                b = tx.beneficiaries.beneficiary(beneficiary_id)
                if (b is not None and 20 <= (today.year - b.birth_date.year) <= 60
                        and tx.beneficiaries.last_optical_purchases(b.id, today) == LastPurchases()):
                    insurer = tx.reference.insurer(b.insurer_id)
                    assert insurer is not None
                    found.append({"amc_number": insurer.amc_number, "member_number": b.member_number,
                                  "nir": b.nir, "birth_date": b.birth_date.isoformat()})
                if len(found) > index:
                    return found[index]
        raise AssertionError("no adult in the seeded population")

    def presence_proof(self, patient: dict[str, str]) -> str:
        """What the insurer's app shows, in the form a person types, issued by the operator's
        command."""
        issued = subprocess.run(
            [sys.executable, "-m", "tierspayant.cli.main", "presence", "issue", "--amc", patient["amc_number"],
             "--member", patient["member_number"], "--nir", patient["nir"], "--birth-date", patient["birth_date"],
             "--typed"],
            env=self.env, capture_output=True, text=True, timeout=60, check=True)
        return issued.stdout.strip()


def _shows(page: Any, text: str, exact: bool = False) -> None:
    """Wait for ``text`` on the page; failing, say what the page shows instead."""
    try:
        page.get_by_text(text, exact=exact).first.wait_for(timeout=10_000)
    except Exception as error:
        raise AssertionError(f"{text!r} not shown on {page.url}:\n{page.content()[-3000:]}") from error


def _accessible(page: Any) -> None:
    """axe-core on the page as shown: no critical or serious violation (WCAG 2.2 A/AA rules)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa",
                                                                            "wcag22aa", "best-practice"]}})
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in results.response["violations"]
           if v["impact"] in ("critical", "serious")]
    assert not bad, (page.url, bad)
    PAGES_CHECKED.add(page.url.split("?")[0] + " " + page.title())


PAGES_CHECKED: set[str] = set()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (make browser)")
    var = tmp_path_factory.mktemp("portal")
    port = _free_port()
    origin = f"http://localhost:{port}"
    env = {**os.environ, "TIERS_DATABASE_URL": f"sqlite:///{var / 'tiers.db'}", "TIERS_VAR_DIR": str(var),
           "TIERS_WEBAUTHN_ORIGIN": origin, "TIERS_WEBAUTHN_RP_ID": "localhost"}
    settings = Settings(database_url=env["TIERS_DATABASE_URL"], var_dir=var, webauthn_origin=origin,
                        webauthn_rp_id="localhost", detection=LENIENT_DETECTION, sign_in_hold_seconds=0.0)
    platform = build(settings)
    spec = PopulationSpec(beneficiaries=120, professionals=6, seed=11, today=platform.clock.now().date(),
                          detection=LENIENT_DETECTION)  # the default day quota: 20
    seed(platform.loader, platform.reference, platform.accounts, spec, var / "demo.json")
    app = create_app(platform)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield Portal(origin, platform, json.loads((var / "demo.json").read_text()), env, app)
    server.should_exit = True
    thread.join(10)
    platform.engine.dispose()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield browser
        browser.close()


def _virtual_authenticator(context: Any, page: Any) -> tuple[Any, str]:
    """The optician's device: a platform authenticator with a resident key and user
    verification (CDP WebAuthn domain), answering without a prompt."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})
    return cdp, str(added["authenticatorId"])


def test_an_opticians_day_in_the_browser(portal: Portal, chromium: Any) -> None:
    context = chromium.new_context(locale="fr-FR")
    page = context.new_page()
    cdp, authenticator = _virtual_authenticator(context, page)
    code = portal.platform.accounts.enrolment_code("optique.demo", OPERATOR_SHELL)

    page.goto(f"{portal.url}/portail/enrolement")
    _accessible(page)
    page.get_by_label("Code d'enrôlement").fill(code)
    page.get_by_role("button", name="Créer ma clé d'accès").click()
    _shows(page, "Clé d'accès enregistrée")
    assert len(cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]) == 1

    page.goto(f"{portal.url}/portail/connexion")
    page.screenshot(path=str(SCREENSHOTS / "connexion.png"), full_page=True)
    _accessible(page)
    # By keyboard alone: the skip link first, then the page in reading order to the passkey button.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Aller au contenu"
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "connexion-cle":
            break
    assert page.evaluate("document.activeElement.id") == "connexion-cle"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{portal.url}/portail/")
    _accessible(page)
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["__Host-tp_session"]
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict"

    patient = portal.patient()
    proof = portal.presence_proof(patient)
    assert proof.count("-") == 40 and proof.replace("-", "")[:-1].isalnum()  # 40 groups of 4, a check symbol (may be * ~ $ = U)
    page.goto(f"{portal.url}/portail/comptoir")
    _accessible(page)
    assert page.get_by_text("Sans preuve, encore 20 nouveaux patients aujourd'hui").count() == 1
    page.get_by_label("Numéro AMC").fill(patient["amc_number"])
    page.get_by_label("Numéro d'adhérent").fill(patient["member_number"])
    page.get_by_label("Numéro de sécurité sociale").fill(patient["nir"])
    page.get_by_label("Date de naissance").fill(patient["birth_date"])
    # A typo in the typed proof is caught by its check character before anything is sent.
    swap = next(i for i in range(len(proof) - 1) if proof[i] != proof[i + 1] and "-" not in proof[i:i + 2])
    page.get_by_label("Code de présence").fill(proof[:swap] + proof[swap + 1] + proof[swap] + proof[swap + 2:])
    page.get_by_role("button", name="Vérifier les droits").click()
    assert "mal saisi" in page.locator("#presence_proof").evaluate("e => e.validationMessage")
    page.get_by_label("Code de présence").fill(proof)
    page.get_by_role("button", name="Vérifier les droits").click()
    _shows(page, "Couvert", exact=True)
    assert page.url == f"{portal.url}/portail/comptoir"  # posted: nothing of the patient in the address
    assert patient["nir"] not in page.content() and patient["nir"] not in page.title()
    page.screenshot(path=str(SCREENSHOTS / "comptoir.png"), full_page=True)
    _accessible(page)

    # The PEC: a class B frame and two lenses, the class A offer shown beside them.
    page.get_by_role("button", name="Établir un devis ou une prise en charge").click()
    _shows(page, "rien à payer")
    _accessible(page)
    page.get_by_label("Code").first.select_option("9100102")
    page.locator("#frame_price").fill("120.00")
    for side in ("right", "left"):
        page.locator(f"#{side}_code").select_option("9100301")
        page.locator(f"#{side}_price").fill("95.00")
        page.locator(f"#{side}_sph").fill("-1.25")
    page.get_by_role("button", name="Calculer").click()
    _shows(page, "Prise en charge accordée")
    assert page.get_by_text("Reste à charge").count() >= 1
    page.screenshot(path=str(SCREENSHOTS / "prise-en-charge.png"), full_page=True)
    _accessible(page)
    page.get_by_label("Numéro de votre facture").fill("F-PORTAIL-1")
    page.get_by_role("button", name="Facturer cette prise en charge").click()
    _shows(page, "Facture F-PORTAIL-1")
    _accessible(page)
    status = page.locator("#titre-facture").inner_text()
    assert status in ("Acceptée", "En contrôle", "Acceptée en partie"), status
    if status == "Acceptée":  # paid at the insurer's next run: the statement shows it
        portal.platform.payments.run(OPERATOR_SHELL, patient["amc_number"])
        page.get_by_role("link", name="Relevés de paiement", exact=True).click()
        _shows(page, "F-PORTAIL-1")
        _accessible(page)

    # The proof is single use: the same code again is refused.
    page.get_by_role("link", name="Comptoir", exact=True).click()
    page.get_by_label("Numéro AMC").fill(patient["amc_number"])
    page.get_by_label("Numéro d'adhérent").fill(patient["member_number"])
    page.get_by_label("Numéro de sécurité sociale").fill(patient["nir"])
    page.get_by_label("Date de naissance").fill(patient["birth_date"])
    page.get_by_label("Code de présence").fill(proof)
    page.get_by_role("button", name="Vérifier les droits").click()
    _shows(page, "preuve de présence nécessaire, ou refusée")
    _accessible(page)
    page.set_viewport_size({"width": 360, "height": 740})  # a phone at the counter
    _accessible(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than the screen
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_role("link", name="Relevés de paiement", exact=True).click()
    page.get_by_role("heading", name="Relevés de paiement").wait_for()

    # New bank details: a fresh passkey assertion on the page, effective after 72 h, cancellable.
    page.get_by_role("link", name="Coordonnées bancaires").click()
    page.get_by_label("Nouvel IBAN").fill("FR7630006000011234567890189")
    page.get_by_label("BIC").fill("AGRIFRPPXXX")
    before = {c["name"]: c["value"] for c in context.cookies()}["__Host-tp_session"]
    page.get_by_role("button", name="Confirmer avec ma clé d'accès").click()
    _shows(page, "en attente", exact=True)
    assert {c["name"]: c["value"] for c in context.cookies()}["__Host-tp_session"] != before  # renewed at step-up
    _accessible(page)
    page.get_by_role("button", name="Annuler").click()
    _shows(page, "annulée", exact=True)

    page.get_by_role("link", name="Sessions").click()
    assert page.get_by_text("(cette session)").count() == 1
    _accessible(page)
    page.get_by_role("button", name="Se déconnecter", exact=True).click()
    page.wait_for_url(f"{portal.url}/portail/connexion")
    page.goto(f"{portal.url}/portail/comptoir")
    page.wait_for_url(f"{portal.url}/portail/connexion")  # signed out: the counter is closed
    context.close()


def test_the_ceremony_from_another_origin_is_refused(portal: Portal, chromium: Any) -> None:
    other = portal.url.replace("localhost", "127.0.0.1")  # the same server, another origin
    context = chromium.new_context()
    page = context.new_page()
    _virtual_authenticator(context, page)
    page.goto(f"{other}/portail/connexion")
    page.get_by_role("button", name="Se connecter avec une clé d'accès").click()
    _shows(page, "Connexion refusée.")
    assert not any(c["name"] == "__Host-tp_session" for c in context.cookies())
    context.close()


def test_a_phished_password_opens_no_page_with_beneficiary_data(portal: Portal, chromium: Any) -> None:
    account = portal.demo["accounts"]["optique.demo"]
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{portal.url}/portail/connexion")
    page.get_by_label("Identifiant").fill("optique.demo")
    page.get_by_label("Mot de passe", exact=True).fill(account["password"])
    page.get_by_label("Code à usage unique").fill(totp.current_code(account["totp_secret"], datetime.now(UTC)))
    page.get_by_role("button", name="Se connecter", exact=True).click()
    page.wait_for_url(f"{portal.url}/portail/")
    assert page.get_by_text("connecté par mot de passe").count() == 1
    page.goto(f"{portal.url}/portail/releves")
    page.get_by_role("heading", name="Relevés de paiement").wait_for()
    answer = page.goto(f"{portal.url}/portail/comptoir")
    assert answer is not None and answer.status == 403
    assert page.get_by_role("heading", name="Connexion renforcée requise").count() == 1
    _accessible(page)
    # Every page: those without beneficiary data open, the others refuse (and show nothing).
    pages = portal.pages()
    assert len(pages) >= 9
    for path, policy in pages:
        if path.startswith("/portail/psc"):
            continue  # leaves for the provider
        shown = page.goto(portal.url + path)
        assert shown is not None and shown.status == (403 if policy == "strong" else 200), (path, policy)

    # Idle: a warning after 13 minutes without a request, signed out at 15 (the page's clock).
    page.clock.install()
    page.goto(f"{portal.url}/portail/releves")
    assert not page.locator("#inactivite").is_visible()
    page.clock.run_for("13:01")
    assert page.locator("#inactivite").is_visible()
    page.clock.run_for("02:00")
    page.wait_for_url(f"{portal.url}/portail/connexion")
    context.close()
