"""Credential stuffing (docs/THREATS.md T4): progressive delays per account name and a limit per
source, kept apart -- and neither can lock a victim out of passkey sign-in."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.conftest import World
from tierspayant.security import totp
from tierspayant.security.throttle import ACCOUNT_FREE_FAILURES, SOURCE_MAX_FAILURES


@pytest.fixture()
def fresh(new_world: Callable[..., World]) -> World:
    return new_world(beneficiaries=30)


def attempt(world: World, client: TestClient, username: str, password: str | None = None,
            advance: float = 31) -> tuple[int, str]:
    account = world.demo["accounts"].get(username, {"password": "x" * 12, "totp_secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"})
    world.clock.advance(seconds=advance)  # 31 s: a fresh TOTP step each time
    code = totp.current_code(account["totp_secret"], world.clock.now())
    response = client.post("/v1/sessions", json={"username": username, "password": password or account["password"],
                                                 "totp": code})
    return response.status_code, response.text


def test_account_delay_is_progressive_and_spares_passkeys(fresh: World) -> None:
    attacker = TestClient(fresh.app, client=("203.0.113.7", 40000))
    victim = TestClient(fresh.app, client=("198.51.100.20", 40001))
    failure = attempt(fresh, attacker, "optique.demo", "wrong-password-123")
    for _ in range(ACCOUNT_FREE_FAILURES + 3):
        assert attempt(fresh, attacker, "optique.demo", "wrong-password-123") == failure
    # the real user, right password and code, from home: delayed -- with the very same answer
    fresh.clock.advance(seconds=1)
    account = fresh.demo["accounts"]["optique.demo"]
    delayed = victim.post("/v1/sessions", json={"username": "optique.demo", "password": account["password"],
                                                "totp": totp.current_code(account["totp_secret"], fresh.clock.now())})
    assert (delayed.status_code, delayed.text) == failure
    # ...but their passkey works all along: no lock-out of the phishing-resistant way in
    assert fresh.passkey_token("optique.demo")
    # and the delay is a delay, not a lock: after it, the password works again
    fresh.clock.advance(minutes=16)
    assert attempt(fresh, victim, "optique.demo")[0] == 200


def test_unknown_names_are_delayed_like_known_ones(fresh: World) -> None:
    attacker = TestClient(fresh.app, client=("203.0.113.8", 40000))
    known = [attempt(fresh, attacker, "medecin.demo", "wrong-password-123") for _ in range(8)]
    unknown = [attempt(fresh, attacker, "nobody.here", "wrong-password-123") for _ in range(8)]
    assert set(known) == set(unknown) and len(set(known)) == 1


def test_source_limit_throttles_only_that_source(fresh: World) -> None:
    attacker = TestClient(fresh.app, client=("203.0.113.9", 40000))
    legit = TestClient(fresh.app, client=("198.51.100.21", 40001))
    for n in range(SOURCE_MAX_FAILURES):  # a stuffing list: many names, one password each
        assert attempt(fresh, attacker, f"user{n}.stuffed", "leaked-password-1", advance=1)[0] == 401
    status, _ = attempt(fresh, attacker, "pharmacie.demo")  # even a right pair from there waits
    assert status == 429
    assert attempt(fresh, legit, "pharmacie.demo")[0] == 200  # everyone else signs in normally
    fresh.clock.advance(minutes=11)
    assert attempt(fresh, attacker, "pharmacie.demo")[0] == 200
    # A source that goes on failing waits twice as long each time: 20 min after the 31st failure.
    assert attempt(fresh, attacker, "user.again", "leaked-password-2", advance=1)[0] == 401
    assert attempt(fresh, attacker, "user.again2", "leaked-password-2", advance=1)[0] == 429
    fresh.clock.advance(minutes=11)
    assert attempt(fresh, attacker, "pharmacie.demo")[0] == 429
    fresh.clock.advance(minutes=10)
    assert attempt(fresh, attacker, "pharmacie.demo")[0] == 200


def test_sign_in_failures_take_the_same_time(fresh: World) -> None:
    """No user enumeration by time (ASVS 6.3.8): unknown name, wrong password and wrong code
    each verify one Argon2id hash. Interleaved samples, lower quartiles compared."""
    import statistics
    import time

    from tierspayant.services.errors import Unauthenticated

    account = fresh.demo["accounts"]["optique.demo"]
    cases = {
        "unknown name": ("nobody.here", account["password"], "123456"),
        "wrong password": ("optique.demo", "wrong-password-123", "123456"),
        "wrong code": ("optique.demo", account["password"], "000000"),
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for n in range(24):
        # Each attempt from a source of its own (each records the source's first failure, an
        # insert), the cases in a rotating order: what differs is only what the attacker
        # chose (the first of a round once paid the source's insert alone, and was slower).
        for i, name in enumerate(names[n % 3:] + names[:n % 3]):
            username, password, code = cases[name]
            started = time.perf_counter()
            with pytest.raises(Unauthenticated):
                fresh.platform.accounts.sign_in(username, password, code, source=f"198.51.{100 + i}.{n}")
            samples[name].append(time.perf_counter() - started)
    # The lower quartile of each case: what the work costs, without the spikes other tests'
    # load adds (under make test's three workers the medians moved by 40 % from run to run).
    quartiles = {name: statistics.quantiles(values, n=4)[0] for name, values in samples.items()}
    assert max(quartiles.values()) / min(quartiles.values()) <= 1.35, quartiles


def test_a_throttled_source_is_held_before_its_answer(new_world: Callable[..., World]) -> None:
    """The tarpit (api/source_gate.py): once a source is throttled, each of its attempts waits
    before its 429, without any work; another source is not throttled."""
    import time

    world = new_world(beneficiaries=30, sign_in_hold_seconds=0.4)
    if True:
        attacker = TestClient(world.app, client=("203.0.113.10", 40000))
        other = TestClient(world.app, client=("198.51.100.22", 40001))
        for n in range(SOURCE_MAX_FAILURES):
            assert attempt(world, attacker, f"user{n}.stuffed", "leaked-password-1", advance=1)[0] == 401
        assert attempt(world, attacker, "user.next", "leaked-password-1", advance=1)[0] == 429  # learnt here
        started = time.perf_counter()
        status, body = attempt(world, attacker, "user.held", "leaked-password-1", advance=1)
        held = time.perf_counter() - started
        assert status == 429 and "Too many failed sign-ins" in body
        assert held >= 0.4
        assert attempt(world, other, "user.elsewhere", "leaked-password-1", advance=1)[0] == 401  # not throttled


def test_a_hash_made_with_older_settings_is_redone_at_sign_in(fresh: World) -> None:
    from argon2 import PasswordHasher
    from sqlalchemy import select, update

    from tierspayant.security import passwords
    from tierspayant.store import tables as t

    account = fresh.demo["accounts"]["medecin.demo"]
    where = t.accounts.c.username == "medecin.demo"
    with fresh.platform.engine.begin() as conn:
        conn.execute(update(t.accounts).where(where).values(password_hash=PasswordHasher().hash(account["password"])))
    client = TestClient(fresh.app, client=("198.51.100.23", 40002))
    assert attempt(fresh, client, "medecin.demo")[0] == 200
    with fresh.platform.engine.connect() as conn:
        stored = conn.execute(select(t.accounts.c.password_hash).where(where)).scalar_one()
    assert not passwords.needs_rehash(stored) and passwords.verify_password(stored, account["password"])
    assert attempt(fresh, client, "medecin.demo")[0] == 200  # and the new hash signs in


def test_a_full_password_lane_answers_503_and_counts_nothing(fresh: World) -> None:
    """security/passwords.py: while the lane is full, a password sign-in is refused at once with
    503 and Retry-After, no failure is recorded against the name or the source, and the same
    sign-in works once the lane is free."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from tierspayant.security import passwords

    client = TestClient(fresh.app, client=("198.51.100.24", 40003))
    release = threading.Event()
    with ThreadPoolExecutor(passwords.LANE_WAITING) as callers:
        waiting = [callers.submit(passwords._LANE.run, release.wait, 10) for _ in range(passwords.LANE_WAITING)]
        while passwords._LANE.waiting._value > 0:
            threading.Event().wait(0.01)
        fresh.clock.advance(seconds=31)
        account = fresh.demo["accounts"]["pharmacie.demo"]
        busy = client.post("/v1/sessions", json={"username": "pharmacie.demo", "password": account["password"],
                                                 "totp": totp.current_code(account["totp_secret"], fresh.clock.now())})
        release.set()
        assert all(f.result(timeout=10) for f in waiting)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1" and "Sign-in busy" in busy.text
    with fresh.platform.uow(readonly=True) as repos:
        assert repos.sign_in_failures.failures("source:198.51.100.24") is None
    assert attempt(fresh, client, "pharmacie.demo")[0] == 200
