"""The key-encryption key in a hardware security module (docs/THREATS.md T5, "Key custody"; issue
19, point 6), on SoftHSM2: a copy of the database and of ``var/`` without the token decrypts
nothing and the platform says so at start-up (one line, not a traceback, not garbage, not a
500), with the token the copy reads back; the key never leaves the token; rotation and the move
from a key file work on it; the adapter alone (threads, a lost session, a forked worker)."""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pkcs11
import pytest
from fastapi.testclient import TestClient
from pkcs11 import Attribute, KeyType, ObjectClass
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from tests.conftest import SOFTHSM_LIBRARY, SoftHsm, World, fresh_patients
from tests.fakes import FakeClock
from tests.integration.test_care_flow import GLASSES, engagement
from tierspayant import bootstrap
from tierspayant.bootstrap import build
from tierspayant.cli.config_cmd import rows
from tierspayant.config import Settings, SettingsError
from tierspayant.security import pkcs11_kek
from tierspayant.security.fields import FieldCipher, FieldRef, FileKek, InvalidCiphertext, KeyRing, WrappedKey
from tierspayant.security.keys import new_secret
from tierspayant.security.pkcs11_kek import Pkcs11Config, Pkcs11Kek, Pkcs11Problem
from tierspayant.security.policy import Principal, Role
from tierspayant.store import tables as t
from tierspayant.store.key_custody import SECRETS, KeyCustody
from tierspayant.web.app import create_app

TIERS = Path(sys.executable).parent / "tiers"
ALONE = pytest.mark.no_storage(reason="the PKCS#11 adapter alone, against SoftHSM2: no database")


def config(hsm: SoftHsm, **changes: str) -> Pkcs11Config:
    values = {"library": SOFTHSM_LIBRARY, "token": hsm.token, "pin": hsm.pin_file.read_text().strip(),
              "key_label": hsm.key_label, **changes}
    return Pkcs11Config(**values)


@pytest.fixture()
def on_token(new_world: Callable[..., World], softhsm: SoftHsm) -> World:
    """A fresh world whose KEK is the token's, on this test's database (SQLite too)."""
    return new_world(beneficiaries=60, **softhsm.settings())


def a_quote(world: World) -> dict[str, Any]:
    headers = world.headers("optique.demo")
    eng = engagement(world, headers, fresh_patients(world)[0])
    quote = world.client.post("/v1/quotes", headers=headers, json={"engagement_number": eng, "kind": "pec",
                                                                   "lines": GLASSES})
    assert quote.status_code == 201, quote.text
    return dict(quote.json())


def copy_of(world: World, tmp_path: Path) -> tuple[str, Path]:
    """The world's database and var directory copied as a thief takes them: the files, the
    database (SQLite's backup API; PostgreSQL's CREATE DATABASE ... TEMPLATE), not the token
    (its files live elsewhere, in the session's SoftHSM2 directory)."""
    settings = world.platform.settings
    world.platform.engine.dispose()
    var = tmp_path / f"stolen-{uuid.uuid4().hex[:6]}"
    shutil.copytree(settings.var_dir, var, ignore=shutil.ignore_patterns("*.db", "*.db-*"))
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        target = var / "stolen.db"
        with sqlite3.connect(str(url.database)) as source, sqlite3.connect(target) as copy:
            source.backup(copy)
        return f"sqlite:///{target}", var
    name = f"stolen_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d "
                          "AND pid <> pg_backend_pid()"), {"d": url.database})
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False), var


@pytest.fixture()
def dropped() -> Iterator[list[str]]:
    """PostgreSQL copies to drop at the end."""
    urls: list[str] = []
    yield urls
    for url in urls:
        parsed = make_url(url)
        if parsed.get_backend_name() == "postgresql":
            admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
            admin.dispose()


def reopened(world: World, url: str, var: Path, **changes: Any) -> World:
    """A platform on ``url`` and ``var`` with the world's settings but ``changes``."""
    values = {**world.platform.settings.model_dump(), "database_url": url, "var_dir": var, **changes}
    clock = FakeClock(world.clock.now())
    clock.advance(minutes=5)
    platform = build(Settings(**values), clock=clock, migrate=False)
    app = create_app(platform)
    again = World(platform, TestClient(app), clock, world.demo, world.backend, app)
    # The same (simulated) passkeys, their signature counters going on from the world's.
    again.__dict__["_authenticators"] = world.__dict__.setdefault("_authenticators", {})
    return again


def tiers(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TIERS), *args], env={**env, "PATH": str(TIERS.parent)}, capture_output=True, text=True)


def refused_in_one_line(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert all(word in lines[0] for word in words), lines[0]


def test_the_postgresql_worlds_keep_their_kek_in_the_token(world: World) -> None:
    """The suite's PostgreSQL half runs on SoftHSM2, its SQLite half on the key file (conftest)."""
    with world.platform.engine.connect() as conn:
        wrapped = conn.execute(select(t.data_keys.c.wrapped)).scalars().all()
    keys = {p.name for p in world.platform.settings.key_dir.iterdir()}
    if world.backend == "postgresql":
        assert wrapped and all(w.startswith("p11.") for w in wrapped)
        assert "kek.key" not in keys and {f"{n}.key.p11" for n in SECRETS} <= keys
        assert not {f"{n}.key" for n in SECRETS} & keys  # no plain secret beside the token's
    else:
        assert wrapped and not any(w.startswith("p11.") for w in wrapped) and "kek.key" in keys


def test_a_copy_without_the_token_decrypts_nothing(on_token: World, tmp_path: Path, softhsm: SoftHsm,
                                                   dropped: list[str], monkeypatch: pytest.MonkeyPatch,
                                                   ) -> None:
    quote = a_quote(on_token)
    url, var = copy_of(on_token, tmp_path)
    dropped.append(url)
    stolen = {p.name for p in (var / "keys").iterdir()}
    assert "kek.key" not in stolen and not {f"{n}.key" for n in SECRETS} & stolen  # no usable secret in var/
    # 1. A platform on the copy with the key file KEK refuses to start, saying why (not garbage).
    with pytest.raises(SettingsError, match=r"^TIERS_KEK: .* wrapped in a PKCS#11 token"):
        reopened(on_token, url, var, kek="file")
    env = {"TIERS_DATABASE_URL": url, "TIERS_VAR_DIR": str(var)}
    refused_in_one_line(tiers(env, "migrate"), "TIERS_KEK", "PKCS#11 token")
    assert not (var / "keys" / "kek.key").exists()  # and it made no key file on the way
    # 2. So does one configured for a token that is not there (another machine's SoftHSM2).
    elsewhere = tmp_path / "no-token"
    (elsewhere / "tokens").mkdir(parents=True)
    (elsewhere / "softhsm2.conf").write_text(f"directories.tokendir = {elsewhere / 'tokens'}\n")
    refused_in_one_line(tiers({**env, **softhsm.env(), "SOFTHSM2_CONF": str(elsewhere / "softhsm2.conf")}, "migrate"),
                        "TIERS_PKCS11_TOKEN", f"no token labelled {softhsm.token!r}")
    # 3. What the copy holds opens with no key but the token's: every sealed field of every
    # table, tried with its stored wrapped data key under any other KEK, does not decrypt.
    engine = create_engine(url)
    with engine.connect() as conn:
        stored = [WrappedKey(r.insurer_id, r.version, r.wrapped) for r in conn.execute(select(t.data_keys))]
        quotes = conn.execute(select(t.quotes.c.id, t.quotes.c.insurer_id, t.quotes.c.result_enc)).all()
        names = conn.execute(select(t.beneficiaries.c.id, t.beneficiaries.c.insurer_id,
                                    t.beneficiaries.c.last_name_enc)).all()
    engine.dispose()
    cipher = FieldCipher(KeyRing(FileKek.generate(), stored))
    assert quotes and names
    sealed = [(r, "quotes", "result") for r in quotes] + [(r, "beneficiaries", "last_name") for r in names]
    for (row_id, owner, envelope), table, column in sealed:
        with pytest.raises(InvalidCiphertext):
            cipher.decrypt(envelope, FieldRef(owner, table, column, row_id))
    # 4. A thief who removes the start-up check gets clean answers, never a 500 nor a value:
    # nobody is found, the quote is not found.
    monkeypatch.setattr(bootstrap, "key_custody", lambda settings, engine: KeyCustody(
        FileKek.generate(), {name: new_secret(32) for name in SECRETS}))
    thief = reopened(on_token, url, var, kek="file")
    headers = thief.headers("optique.demo")
    patient = on_token.demo["patients"][0]
    check = thief.client.post("/v1/rights-checks", headers=headers, json={
        "amc_number": patient["amc_number"], "member_number": patient["member_number"], "nir": patient["nir"],
        "birth_date": patient["birth_date"], "date_of_care": thief.clock.now().date().isoformat(),
        "category": "optical"})
    assert check.status_code == 200 and check.json()["covered"] is False, check.text
    assert thief.client.get(f"/v1/quotes/{quote['number']}", headers=headers).status_code == 404
    thief.platform.engine.dispose()
    monkeypatch.undo()
    # 5. With the token, the same copy reads back what was written.
    owner = reopened(on_token, url, var)
    again = owner.client.get(f"/v1/quotes/{quote['number']}", headers=owner.headers("optique.demo"))
    assert again.status_code == 200 and again.json() == quote
    owner.platform.engine.dispose()


def test_a_token_that_stops_answering_fails_closed(on_token: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Data whose key cannot be unwrapped *now* is a 503, never "not found" (which says shredded)."""
    quote = a_quote(on_token)
    headers = on_token.headers("optique.demo")
    patient = fresh_patients(on_token)[0]
    ring = on_token.platform.protection.keys
    ring._plain.clear()  # a process that has not unwrapped the insurer's key yet
    kek = ring.kek
    assert isinstance(kek, Pkcs11Kek)
    pkcs11_kek._LOGINS[(SOFTHSM_LIBRARY, kek.config.token)][0].close()  # the token goes away...

    def gone(config: Pkcs11Config) -> None:
        raise Pkcs11Problem("token", "no token labelled 'tiers-test' (present: none)")

    monkeypatch.setattr(pkcs11_kek, "_session", gone)  # ...and does not come back
    away = on_token.client.get(f"/v1/quotes/{quote['number']}", headers=headers)
    assert away.status_code == 503 and away.headers["retry-after"], away.text
    check = on_token.client.post("/v1/rights-checks", headers=headers, json={
        **patient, "date_of_care": on_token.clock.now().date().isoformat(), "category": "optical"})
    assert check.status_code == 503, check.text
    monkeypatch.undo()  # back: the next request reopens a session and reads
    again = on_token.client.get(f"/v1/quotes/{quote['number']}", headers=headers)
    assert again.status_code == 200 and again.json() == quote


def test_rotation_on_the_token(on_token: World, tmp_path: Path) -> None:
    quote = a_quote(on_token)
    officer = Principal(on_token.demo_account_id("securite.demo"), 0, Role.SECURITY_OFFICER, request_id="test")
    done = on_token.platform.keys.rotate(officer, 1, "yearly rotation, on the HSM", batch=50)
    assert done.version == 2 and done.retired == [1]
    with on_token.platform.engine.connect() as conn:
        wrapped = conn.execute(select(t.data_keys.c.wrapped).where(t.data_keys.c.insurer_id == 1)).scalars().all()
    assert len(wrapped) == 1 and wrapped[0].startswith("p11.")
    # A process started after the rotation unwraps the new version inside the token.
    later = reopened(on_token, on_token.platform.settings.database_url, on_token.platform.settings.var_dir)
    again = later.client.get(f"/v1/quotes/{quote['number']}", headers=later.headers("optique.demo"))
    assert again.status_code == 200 and again.json() == quote
    later.platform.engine.dispose()


def test_moving_a_key_file_platform_into_the_token(new_world: Callable[..., World], softhsm: SoftHsm) -> None:
    world = new_world(beneficiaries=60, kek="file")
    quote = a_quote(world)
    settings = world.platform.settings
    world.platform.engine.dispose()
    env = {**world.env(), **softhsm.env()}
    refused_in_one_line(tiers(env, "migrate"), "TIERS_KEK", "hsm-adopt")  # not before the move
    moved = tiers(env, "keys", "hsm-adopt", "--yes")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "now wrapped inside token" in moved.stdout and "kek.key" in moved.stdout
    for name in SECRETS:  # the plain files go by hand, with the backups they open
        (settings.key_dir / f"{name}.key").unlink()
    (settings.key_dir / "kek.key").unlink()
    refused_in_one_line(tiers({k: v for k, v in env.items() if not k.startswith("TIERS_PKCS11") and k != "TIERS_KEK"},
                              "migrate"), "TIERS_KEK", "PKCS#11 token")
    moved_in = reopened(world, settings.database_url, settings.var_dir, **softhsm.settings())
    again = moved_in.client.get(f"/v1/quotes/{quote['number']}", headers=moved_in.headers("optique.demo"))
    assert again.status_code == 200 and again.json() == quote
    moved_in.platform.engine.dispose()


# -- the adapter alone -------------------------------------------------------------------------
@ALONE
def test_the_key_never_leaves_the_token(softhsm: SoftHsm) -> None:
    facts = Pkcs11Kek(config(softhsm)).facts()
    assert (facts.bits, facts.sensitive, facts.extractable) == (256, True, False)
    assert facts.always_sensitive and facts.never_extractable and facts.local
    lib = pkcs11.lib(SOFTHSM_LIBRARY)
    with lib.get_token(token_label=softhsm.token).open(rw=True) as session:  # logged in by the adapter
        key = session.get_key(ObjectClass.SECRET_KEY, KeyType.AES, label=softhsm.key_label)
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            key[Attribute.VALUE]  # reading it is the test
        with pytest.raises(pkcs11.exceptions.PKCS11Error):
            key[Attribute.EXTRACTABLE] = True
        with pytest.raises(pkcs11.exceptions.PKCS11Error):  # no copy, and no extractable one
            key.copy({Attribute.EXTRACTABLE: True})
        carrier = session.generate_key(KeyType.AES, 256, label=f"carrier-{uuid.uuid4().hex[:6]}")
        with pytest.raises(pkcs11.exceptions.PKCS11Error):  # nor wrapped out under another key
            carrier.wrap_key(key)
        carrier.destroy()


@ALONE
def test_wrapped_keys_are_bound_to_their_slot_and_their_kek(softhsm: SoftHsm) -> None:
    kek = Pkcs11Kek(config(softhsm))
    data_key = new_secret(32)
    wrapped = kek.wrap(data_key, 7, 3)
    assert wrapped.startswith("p11.") and kek.unwrap(wrapped, 7, 3) == data_key
    assert kek.wrap(data_key, 7, 3) != wrapped  # a fresh nonce each time
    for insurer, version in ((8, 3), (7, 4)):  # moved to another insurer's or version's slot
        with pytest.raises(InvalidCiphertext):
            kek.unwrap(wrapped, insurer, version)
    tampered = wrapped[:-2] + ("A" if wrapped[-2] != "A" else "B") + wrapped[-1]
    for bad in (tampered, wrapped[:-4], "p11.", "p11.!!", FileKek.generate().wrap(data_key, 7, 3)):
        with pytest.raises(InvalidCiphertext):
            kek.unwrap(bad, 7, 3)
    with pytest.raises(InvalidCiphertext):  # and a key file never opens a token's
        FileKek.generate().unwrap(wrapped, 7, 3)


@ALONE
def test_threads_share_the_token(softhsm: SoftHsm) -> None:
    kek = Pkcs11Kek(config(softhsm))
    keys = [new_secret(32) for _ in range(8)]
    wrapped = [kek.wrap(k, i, 1) for i, k in enumerate(keys)]
    failures: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(100):
                assert kek.unwrap(wrapped[i], i, 1) == keys[i]
                assert kek.unwrap(kek.wrap(keys[i], i, 2), i, 2) == keys[i]
        except BaseException as exc:  # collected, asserted below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


@ALONE
def test_a_lost_session_is_opened_again(softhsm: SoftHsm) -> None:
    kek = Pkcs11Kek(config(softhsm))
    data_key = new_secret(32)
    wrapped = kek.wrap(data_key, 1, 1)
    session = pkcs11_kek._LOGINS[(SOFTHSM_LIBRARY, softhsm.token)][0]
    session.close()  # the session gone under the adapter's feet (a token that restarted): logged out too
    assert kek.unwrap(wrapped, 1, 1) == data_key
    pkcs11_kek.reset()  # every session closed and the module finalised
    assert kek.unwrap(wrapped, 1, 1) == data_key


def _unwrap_in_child(cfg: Pkcs11Config, wrapped: str, out: Any) -> None:
    out.put(Pkcs11Kek(cfg).unwrap(wrapped, 1, 1).hex())


@ALONE
def test_a_forked_worker_opens_its_own_session(softhsm: SoftHsm) -> None:
    """Granian's workers are forked from the process that built the platform first."""
    kek = Pkcs11Kek(config(softhsm))
    data_key = new_secret(32)
    wrapped = kek.wrap(data_key, 1, 1)
    fork = multiprocessing.get_context("fork")
    out = fork.Queue()
    child = fork.Process(target=_unwrap_in_child, args=(config(softhsm), wrapped, out))
    child.start()
    child.join(30)
    assert child.exitcode == 0 and out.get(timeout=5) == data_key.hex()
    assert kek.unwrap(wrapped, 1, 1) == data_key  # the parent's session still works


@ALONE
def test_what_is_wrong_is_said_in_one_line(softhsm: SoftHsm, tmp_path: Path) -> None:
    with pytest.raises(Pkcs11Problem, match=r"no AES key labelled 'nope'.*tiers keys hsm-init") as missing:
        Pkcs11Kek(config(softhsm, key_label="nope"))
    assert missing.value.setting == "key_label"
    with pytest.raises(Pkcs11Problem, match="no token labelled 'elsewhere'"):
        Pkcs11Kek(config(softhsm, token="elsewhere"))
    with pytest.raises(Pkcs11Problem, match="cannot be loaded"):
        Pkcs11Kek(config(softhsm, library=str(tmp_path / "missing.so")))
    with pytest.raises(Pkcs11Problem, match="already on token"):  # hsm-init never makes a second one
        pkcs11_kek.create_key(config(softhsm))
    # From the command line: one line naming the variable, no traceback, no PIN.
    env = {**softhsm.env(), "TIERS_VAR_DIR": str(tmp_path / "var")}
    wrong = tmp_path / "wrong.pin"
    wrong.write_text("not-the-pin\n")
    wrong.chmod(0o600)
    refused = tiers({**env, "TIERS_PKCS11_PIN_FILE": str(wrong)}, "keys", "hsm-check")
    refused_in_one_line(refused, "TIERS_PKCS11_PIN_FILE", "refused by token")
    assert "not-the-pin" not in refused.stderr
    wrong.chmod(0o644)
    refused_in_one_line(tiers({**env, "TIERS_PKCS11_PIN_FILE": str(wrong)}, "keys", "hsm-check"),
                        "TIERS_PKCS11_PIN_FILE", "chmod 600")
    checked = tiers(env, "keys", "hsm-check")
    assert checked.returncode == 0 and "extractable=False" in checked.stdout, checked.stdout + checked.stderr


@ALONE
def test_the_settings_are_checked_and_the_pin_masked(softhsm: SoftHsm) -> None:
    with pytest.raises(SettingsError) as missing:
        Settings.from_env({"TIERS_KEK": "pkcs11"})
    assert [p.split(":")[0] for p in missing.value.problems] == [
        "TIERS_PKCS11_LIBRARY", "TIERS_PKCS11_TOKEN", "TIERS_PKCS11_PIN_FILE"]
    with pytest.raises(SettingsError, match="not both"):
        Settings.from_env({"TIERS_KEK": "pkcs11", "TIERS_PKCS11_LIBRARY": SOFTHSM_LIBRARY, "TIERS_PKCS11_TOKEN": "t",
                           "TIERS_PKCS11_PIN": "1234", "TIERS_PKCS11_PIN_FILE": str(softhsm.pin_file)})
    settings = Settings(kek="pkcs11", pkcs11_library=SOFTHSM_LIBRARY, pkcs11_token="t", pkcs11_pin="pin-7z9q")
    shown = dict((name, value) for name, value, _ in rows(settings))
    assert shown["TIERS_PKCS11_PIN"] == "***" and "pin-7z9q" not in repr(settings)
    assert shown["TIERS_KEK"] == "pkcs11" and Settings().kek == "file"  # the key file stays the default
