"""Shared fixtures: platforms on SQLite and PostgreSQL, seeded with a small synthetic population,
driven by a clock the tests control."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import OperationalError

from tests.fakes import START, FakeClock
from tierspayant.bootstrap import Platform, build
from tierspayant.config import Settings, env_name
from tierspayant.security import totp
from tierspayant.simulate.population import PopulationSpec
from tierspayant.simulate.seed import seed
from tierspayant.web.app import create_app

PG_ADMIN_URL = os.environ.get("TIERS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_available() -> bool:
    try:
        with create_engine(PG_ADMIN_URL).connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except OperationalError:
        return False


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped afterwards). In CI a missing
    PostgreSQL fails the run; on a laptop it skips."""
    if not postgres_available():
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL unreachable at {PG_ADMIN_URL} (required in CI)")
        pytest.skip("PostgreSQL unreachable")
    name = f"tiers_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


#: The databases every storage test runs on (the rule: tests/integration, see pytest_collection_modifyitems).
BACKENDS = ("sqlite", "postgresql")


# -- the PostgreSQL worlds' key-encryption key, in SoftHSM2 (production is PostgreSQL + an HSM) ---
SOFTHSM_LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"


@dataclass(frozen=True)
class SoftHsm:
    """This test process's SoftHSM2 token and the KEK inside it (docs/THREATS.md T5, "Key custody")."""

    root: Path
    conf: Path
    token: str
    pin_file: Path
    key_label: str
    so_pin: str

    def settings(self) -> dict[str, Any]:
        """``Settings`` keywords of a platform whose KEK is this token's."""
        return {"kek": "pkcs11", "pkcs11_library": SOFTHSM_LIBRARY, "pkcs11_token": self.token,
                "pkcs11_pin_file": self.pin_file, "pkcs11_key_label": self.key_label}

    def env(self) -> dict[str, str]:
        """The same as variables, for a ``tiers`` command (SOFTHSM2_CONF: where the token lives)."""
        return {"SOFTHSM2_CONF": str(self.conf), **{env_name(k): str(v) for k, v in self.settings().items()}}


_SOFTHSM: list[SoftHsm] = []


def softhsm_token() -> SoftHsm:
    """The token, made on first use in this process (each xdist worker has its own): its own
    SOFTHSM2_CONF in a temporary directory, ``softhsm2-util --init-token``, and the KEK generated
    by the code of ``tiers keys hsm-init``. Removed when the session ends (pytest_unconfigure)."""
    if not _SOFTHSM:
        if not Path(SOFTHSM_LIBRARY).exists() or shutil.which("softhsm2-util") is None:
            if os.environ.get("CI") == "true":
                pytest.fail("SoftHSM2 is not installed (make tools; required in CI)")
            pytest.skip("SoftHSM2 not installed (make tools)")
        from tierspayant.security.pkcs11_kek import Pkcs11Config, create_key

        root = Path(tempfile.mkdtemp(prefix="tiers-softhsm-"))
        (root / "tokens").mkdir()
        conf = root / "softhsm2.conf"
        conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
        os.environ["SOFTHSM2_CONF"] = str(conf)  # read by the module when this process first loads it
        token, pin, so_pin = "tiers-test", "test-user-pin-1", "test-so-pin-1"
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", token, "--so-pin", so_pin,
                        "--pin", pin], check=True, capture_output=True)
        pin_file = root / "user.pin"
        pin_file.write_text(pin + "\n")
        pin_file.chmod(0o600)
        create_key(Pkcs11Config(SOFTHSM_LIBRARY, token, pin, "tierspayant-kek-test"))
        _SOFTHSM.append(SoftHsm(root, conf, token, pin_file, "tierspayant-kek-test", so_pin))
    return _SOFTHSM[0]


@pytest.fixture(scope="session")
def softhsm() -> SoftHsm:
    """The session's SoftHSM2 token (``softhsm_token``)."""
    return softhsm_token()


def pytest_unconfigure(config: pytest.Config) -> None:
    for made in _SOFTHSM:
        shutil.rmtree(made.root, ignore_errors=True)


def database_url(request: pytest.FixtureRequest, backend: str, var_dir: Path) -> str:
    """A fresh, empty database on ``backend`` for one fixture: a file under ``var_dir`` on
    SQLite, a new database (dropped when the fixture ends) on PostgreSQL."""
    if backend == "sqlite":
        return f"sqlite:///{var_dir / f'tiers-{uuid.uuid4().hex[:6]}.db'}"
    base = request.getfixturevalue("pg_url")
    name = f"tiers_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    request.addfinalizer(drop)
    return base.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over both databases."""
    return str(request.param)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only(reason): a storage test that cannot run on PostgreSQL (say why)")
    config.addinivalue_line("markers", "no_storage(reason): an integration test that touches no database (say why)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Parity rule (issue 12): every integration test runs on SQLite *and* PostgreSQL, unless
    it is marked ``sqlite_only`` or ``no_storage`` with a written reason. A test that breaks the
    rule fails the collection, so the suite cannot go green with a SQLite-only storage test."""
    seen: dict[str, set[str]] = {}
    marked: dict[str, str | None] = {}
    for item in items:
        if "tests/integration/" not in item.nodeid.replace("\\", "/"):
            continue
        key = item.nodeid.split("[", 1)[0]
        callspec = getattr(item, "callspec", None)
        values = callspec.params.values() if callspec is not None else ()
        seen.setdefault(key, set()).update(v for v in values if isinstance(v, str) and v in BACKENDS)
        for name in ("sqlite_only", "no_storage"):
            mark = item.get_closest_marker(name)
            if mark is not None:
                reason = mark.kwargs.get("reason") or (mark.args[0] if mark.args else None)
                marked[key] = reason if isinstance(reason, str) and reason.strip() else None
    missing = sorted(k for k, found in seen.items() if set(BACKENDS) - found and k not in marked)
    unexplained = sorted(k for k, reason in marked.items() if reason is None)
    if missing or unexplained:
        raise pytest.UsageError(
            "storage parity (tests/conftest.py): these integration tests do not run on both databases:\n  "
            + "\n  ".join(missing + [f"{k} (marked without a reason)" for k in unexplained]))


@dataclass
class World:
    """A seeded platform, its HTTP client, its clock and its demo data."""

    platform: Platform
    client: TestClient
    clock: FakeClock
    demo: dict[str, Any]
    backend: str
    app: FastAPI

    def env(self) -> dict[str, str]:
        """The variables a ``tiers`` command needs to open this world's platform: its database,
        its var directory and its key-encryption key (a token's: SOFTHSM2_CONF and TIERS_PKCS11_*)."""
        settings = self.platform.settings
        env = {"TIERS_DATABASE_URL": self.platform.engine.url.render_as_string(hide_password=False),
               "TIERS_VAR_DIR": str(settings.var_dir)}
        if settings.kek == "pkcs11":
            env["SOFTHSM2_CONF"] = os.environ["SOFTHSM2_CONF"]
            env.update({env_name(f): str(getattr(settings, f)) for f in Settings.model_fields
                        if f == "kek" or (f.startswith("pkcs11_") and getattr(settings, f))})
        return env

    def token(self, username: str) -> str:
        account = self.demo["accounts"][username]
        # Each TOTP step is accepted once: move the clock to a fresh step for every sign-in.
        self.clock.advance(seconds=31)
        code = totp.current_code(account["totp_secret"], self.clock.now())
        response = self.client.post("/v1/sessions", json={"username": username, "password": account["password"],
                                                          "totp": code})
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def demo_account_id(self, username: str) -> int:
        from tierspayant.store import tables as t

        with self.platform.engine.connect() as conn:
            return int(conn.execute(select(t.accounts.c.id).where(t.accounts.c.username == username)).scalar_one())

    def authenticator(self, username: str) -> Any:
        """The demo account's (simulated) passkey device, one per account: its signature
        counter goes on from sign-in to sign-in."""
        from tierspayant.simulate.authenticator import SoftAuthenticator

        authenticators = self.__dict__.setdefault("_authenticators", {})
        if username not in authenticators:
            authenticators[username] = SoftAuthenticator.from_dict(self.demo["accounts"][username]["passkey"])
        return authenticators[username]

    def passkey_sign_in(self, username: str) -> Any:
        """The HTTP answer to a sign-in with the demo account's (simulated) passkey."""
        options = self.client.post("/v1/passkeys/authentication/options").json()
        assertion = self.authenticator(username).get(options, self.platform.settings.webauthn_origin)
        return self.client.post("/v1/passkeys/authentication", json={"credential": assertion})

    def passkey_token(self, username: str) -> str:
        """Sign in with the demo account's (simulated) passkey: a session that reaches
        beneficiary data."""
        response = self.passkey_sign_in(username)
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def enrol_passkey(self, username: str, code: str | None = None) -> None:
        """Give an account a (simulated) passkey through the real ceremony (``code``: its
        enrolment code, else one issued at the operator's shell): its sessions then reach what
        needs a phishing-resistant one."""
        from tierspayant.services.accounts import OPERATOR_SHELL
        from tierspayant.simulate.authenticator import SoftAuthenticator

        code = code or self.platform.accounts.enrolment_code(username, OPERATOR_SHELL)
        options = self.client.post("/v1/passkeys/registration/options", json={"enrolment_code": code}).json()
        authenticator = SoftAuthenticator()
        registered = self.client.post("/v1/passkeys/registration", json={
            "enrolment_code": code, "credential": authenticator.create(options, self.platform.settings.webauthn_origin)})
        assert registered.status_code == 201, registered.text
        self.demo["accounts"].setdefault(username, {})["passkey"] = authenticator.to_dict()
        self.__dict__.get("_authenticators", {}).pop(username, None)

    def headers(self, username: str, *, passkey: bool = True) -> dict[str, str]:
        token = self.passkey_token(username) if passkey else self.token(username)
        return {"authorization": f"Bearer {token}"}


#: Detection that never fires: the shared worlds check many patients with few accounts, fast
#: (tests/integration/test_detection.py tests the real defaults).
LENIENT_DETECTION = {"account_distinct": [10**9] * 4, "organisation_distinct": [10**9] * 4,
                     "same_identity_failures": 10**9, "quota_refusals": 10**9, "sequential_neighbours": 10**9,
                     "failure_min_attempts": 10**9, "account_proofless_week": 10**9,
                     "account_proofless_month": 10**9, "organisation_proofless": [10**9] * 3, "unfollowed_min": 10**9,
                     "account_reads_hour": 10**9, "engagement_reads_hour": 10**9}


def make_world(url: str, var_dir: Path, backend: str, beneficiaries: int = 300, proofless_quota: int = 10_000,
               detection: dict[str, Any] | None = LENIENT_DETECTION, **settings_overrides: Any) -> World:
    clock = FakeClock()
    settings_overrides.setdefault("sign_in_hold_seconds", 0.0)  # the test clock stands still: no tarpit wait
    # The shared worlds send many requests a second with one token: rate limits that never bind
    # there (tests/unit/test_rate_gate.py and tests/integration/test_floods.py test the real ones).
    for name in ("session_rate", "session_burst", "account_rate", "account_burst"):
        settings_overrides.setdefault(name, 1e9)
    settings_overrides.setdefault("invalid_tokens_per_source", 10**9)  # route walks send many refused tokens
    if backend == "postgresql" and "kek" not in settings_overrides:
        # The production pairing, PostgreSQL with the KEK in an HSM: the whole integration suite's
        # PostgreSQL half runs on SoftHSM2, its SQLite half on the key file (issue 19, point 6).
        settings_overrides.update(softhsm_token().settings())
    settings = Settings(database_url=url, var_dir=var_dir, detection=detection, **settings_overrides)
    platform = build(settings, clock=clock)
    # The shared worlds check many patients with few accounts: a quota of proof-less checks
    # that never binds there (tests/integration/test_presence.py tests the real default).
    spec = PopulationSpec(beneficiaries=beneficiaries, professionals=12, seed=7, today=START.date(),
                          proofless_quota=proofless_quota, detection=detection)
    seed(platform.loader, platform.reference, platform.accounts, spec, var_dir / "demo.json")
    demo = json.loads((var_dir / "demo.json").read_text())
    app = create_app(platform)
    return World(platform, TestClient(app), clock, demo, backend, app)


@pytest.fixture(scope="session", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One seeded platform per backend for the whole session; tests use fresh invoice numbers
    and patients so they do not depend on each other."""
    var_dir = tmp_path_factory.mktemp(request.param)
    # Enough fresh patients for every test one worker may be given (xdist shares them out
    # differently as tests are added: 300 ran out once).
    w = make_world(database_url(request, request.param, var_dir), var_dir, request.param, beneficiaries=600)
    yield w
    w.platform.engine.dispose()


@pytest.fixture()
def new_world(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[Callable[..., World]]:
    """A factory of fresh seeded platforms on this test's backend (``make_world``'s options),
    for tests that change global state: thresholds, keys, sessions, containments."""
    made: list[World] = []

    def make(**options: Any) -> World:
        var_dir = tmp_path / f"w{len(made)}"
        var_dir.mkdir()
        world = make_world(database_url(request, backend, var_dir), var_dir, backend, **options)
        made.append(world)
        return world

    yield make
    for world in made:
        world.platform.engine.dispose()


def fresh_patients(world: World, insurer_id: int = 1, count: int = 1) -> list[dict[str, str]]:
    """Covered adults with no recorded glasses, never handed out before in this session."""
    from tierspayant.store import tables as t

    used: set[int] = world.__dict__.setdefault("_used", set())
    today = world.clock.now().date()
    query = (
        select(t.beneficiaries.c.id, t.insurers.c.amc_number)
        .join(t.insurers, t.insurers.c.id == t.beneficiaries.c.insurer_id)
        .join(t.rights_periods, t.rights_periods.c.beneficiary_id == t.beneficiaries.c.id)
        .where(t.beneficiaries.c.insurer_id == insurer_id, t.rights_periods.c.end_date.is_(None),
               t.rights_periods.c.start_date <= today,
               ~t.beneficiaries.c.id.in_(select(t.optical_purchases.c.beneficiary_id)))
        .order_by(t.beneficiaries.c.id)
    )
    out = []
    with world.platform.engine.connect() as conn:
        candidates = [(row.id, row.amc_number) for row in conn.execute(query) if row.id not in used]
    # Identity fields are encrypted at rest: read them through the store, like the platform.
    with world.platform.uow(readonly=True) as repos:
        for beneficiary_id, amc_number in candidates:
            b = repos.beneficiaries.beneficiary(beneficiary_id)
            assert b is not None
            if not date(today.year - 60, 1, 1) <= b.birth_date <= date(today.year - 20, 1, 1):
                continue
            used.add(beneficiary_id)
            out.append({"amc_number": amc_number, "member_number": b.member_number, "nir": b.nir,
                        "birth_date": b.birth_date.isoformat()})
            if len(out) == count:
                return out
    raise AssertionError("the seeded population ran out of fresh patients")
