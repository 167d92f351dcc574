"""What every simulation run shares: the platform's accounts and passkeys, the identities the
simulated people present, and one simulated working day against a live `tiers serve` (the
normal traffic here, the attackers in a process of their own)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from tierspayant.bootstrap import Platform, build
from tierspayant.config import Settings
from tierspayant.security import passwords, totp
from tierspayant.security.policy import NotFound, Role
from tierspayant.services.accounts import OPERATOR_SHELL
from tierspayant.services.records import Containment
from tierspayant.simulate.authenticator import SoftAuthenticator
from tierspayant.simulate.clock import AcceleratedClock
from tierspayant.simulate.driver import Record, Simulation, wait_until_serving
from tierspayant.simulate.population import Population, PopulationSpec
from tierspayant.simulate.seed import seed
from tierspayant.simulate.traffic import PARIS, Patient

console = Console(soft_wrap=True)
BIN = Path(sys.executable).parent
DAY_START, DAY_END = 7, 21
#: Every simulated professional connects from 127.0.0.1 and their sessions idle out in minutes of
#: accelerated time: the brake on a source's invalid tokens (wall-clock seconds) would read them
#: as one flooding source. It is measured on its own (bench/flood_bench.py, tests/).
ONE_ADDRESS = {"TIERS_INVALID_TOKENS_PER_SOURCE": "1000000000"}


@dataclass(frozen=True)
class Prepared:
    """A seeded simulated platform, its professionals enrolled with passkeys."""

    env: dict[str, str]
    professions: list[str]
    authenticators: list[SoftAuthenticator]
    covered: list[Patient]
    everyone: list[Patient]


def prepare(work: Path, spec: PopulationSpec, title: str) -> Prepared:
    """Seed a platform in ``work``, enrol a passkey per professional, list the identities."""
    work.mkdir(parents=True, exist_ok=True)
    env = platform_env(work)
    console.print(f"[bold]setting up[/bold] {title}{spec.professionals} professionals, {spec.beneficiaries:,} "
                  f"beneficiaries in {work}")
    platform = build(Settings.from_env(env))
    seed(platform.loader, platform.reference, platform.accounts, spec, work / "demo-credentials.json")
    professions, authenticators = enrol_accounts(platform, spec)
    platform.engine.dispose()
    covered, everyone = identities(spec)
    return Prepared(env, professions, authenticators, covered, everyone)


def platform_env(work: Path) -> dict[str, str]:
    """The environment of a simulated platform on an SQLite file in ``work``."""
    env = {**os.environ, "TIERS_VAR_DIR": str(work), "TIERS_DATABASE_URL": f"sqlite:///{work / 'tiers.db'}",
           "TIERS_WORKERS": "2", "TIERS_HOUSEKEEPING_SECONDS": "30", **ONE_ADDRESS}
    env.pop("TIERS_DETECTION", None)
    return env


def enrol_accounts(platform: Platform, spec: PopulationSpec) -> tuple[list[str], list[SoftAuthenticator]]:
    """An account and an enrolled passkey per professional (one shared unusable password:
    they sign in with their passkeys; stuffing tries it, see _stuffing_pairs)."""
    _, pros = Population(spec).professionals()
    shared = passwords.hash_password(SHARED_PASSWORD)
    rows = [{"id": 10_000 + i, "username": f"sim.{i}", "password_hash": shared, "totp_secret": totp.new_secret(),
             "totp_last_step": 0, "role": Role.PROFESSIONAL.value, "organisation_id": p["organisation_id"],
             "professional_id": p["id"], "insurer_id": None, "disabled": False} for i, p in enumerate(pros)]
    platform.loader.insert("accounts", rows)
    platform.loader.reset_sequences()
    authenticators = []
    for row in rows:
        code = platform.accounts.enrolment_code(row["username"], OPERATOR_SHELL)
        authenticator = SoftAuthenticator()
        options = json.loads(platform.accounts.registration_options(code))
        platform.accounts.register_passkey(code, authenticator.create(options, platform.accounts.passkeys.origin))
        authenticators.append(authenticator)
    return [p["profession"] for p in pros], authenticators


#: The simulated professionals' (never used) password, as if leaked and reused elsewhere.
SHARED_PASSWORD = "correct horse battery staple 2026"  # noqa: S105 -- synthetic, for scenario (e)


def identities(spec: PopulationSpec) -> tuple[list[Patient], list[Patient]]:
    population = Population(spec)
    population.professionals()
    amc = {i + 1: row["amc_number"] for i, row in enumerate(population.insurers())}
    covered, everyone = [], []
    for beneficiaries, periods, _ in population.beneficiary_batches():
        open_rights = {p["beneficiary_id"] for p in periods if p["end_date"] is None}
        for b in beneficiaries:
            patient = Patient(amc[b["insurer_id"]], b["member_number"], b["nir"], b["birth_date"].isoformat())
            everyone.append(patient)
            if b["id"] in open_rights:
                covered.append(patient)
    return covered, everyone


def at_hour(day: date, hour: float) -> datetime:
    return datetime.combine(day, datetime.min.time(), PARIS) + timedelta(hours=hour)


def run_day(env: dict[str, str], day: date, port: int, speed: float, authenticators: list[SoftAuthenticator],
         legit: Any, attackers: Any = None, slow: tuple[tuple[datetime, datetime, float], ...] = (),
         nice: int = 15) -> tuple[list[Record], Any]:
    """Start the server with the clock at 07:00 (Paris) of ``day`` a few seconds from now, run
    ``legit(sim)`` here and ``attackers(sim)`` in a forked process of their own (so that the
    attackers' traffic does not queue inside the legitimate clients' event loop and inflate
    the latencies they measure), and stop the server."""
    clock = AcceleratedClock(time.time() + 6.0, at_hour(day, DAY_START).astimezone(UTC), speed, slow)
    day_env = {**env, "TIERS_SIMULATED_CLOCK": clock.spec()}
    server = subprocess.Popen([BIN / "tiers", "serve", "--port", str(port)], env=day_env,  # noqa: S603 -- our own CLI
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    platform = build(Settings.from_env(day_env), clock=clock, migrate=False)  # proofs on the simulated time
    try:
        base = f"http://127.0.0.1:{port}"
        if not wait_until_serving(base):
            raise RuntimeError("the simulated platform did not start")

        def proof(patient: Patient) -> str | None:
            try:
                return platform.presence.issue(patient.amc_number, patient.member_number, patient.nir,
                                               date.fromisoformat(patient.birth_date))
            except NotFound:  # a patient without rights here has no app to show
                return None

        async def run(body: Any, label: str) -> tuple[list[Record], Any]:
            sim = Simulation(base, clock, list(authenticators), platform.settings.webauthn_origin, proof)
            wall = time.perf_counter()
            try:
                result = await body(sim)
            finally:
                await sim.close()
            late = sorted(sim.lateness) or [0.0]
            console.print(f"{day} {label}: {len(sim.records):,} requests in {time.perf_counter() - wall:.0f} s wall; "
                          f"visits sent late by p50 {late[len(late) // 2]:.0f} / p99 {late[int(len(late) * 0.99)]:.0f} "
                          "simulated seconds")
            return sim.records, result

        receiver, sender = multiprocessing.get_context("fork").Pipe(duplex=False)
        child = None
        if attackers is not None:
            def attack_process() -> None:
                # The attackers' own CPU is not the platform's: on this shared machine they get
                # what the server and the legitimate clients leave (their requests still cost
                # the server in full).
                os.nice(nice)
                try:
                    sender.send(asyncio.run(run(attackers, "attackers")))
                except BaseException as exc:  # reported to the parent, which raises it
                    sender.send(RuntimeError(f"the attackers' process failed: {type(exc).__name__}: {exc}"))
                os._exit(0)  # no finalizers: the parent's database connections are not ours

            platform.engine.dispose()  # no open SQLite connection crosses the fork
            child = multiprocessing.get_context("fork").Process(target=attack_process, daemon=True)
            child.start()
        records, _ = asyncio.run(run(legit, "legitimate traffic"))
        results: Any = []
        if child is not None:
            received = receiver.recv()
            child.join()
            if isinstance(received, Exception):
                raise received
            attack_records, results = received
            records = sorted(records + attack_records, key=lambda r: r.at)
        return records, results
    finally:
        server.terminate()
        server.wait(10)
        platform.engine.dispose()


def contained_professionals(platform: Platform, automatic: list[Containment]) -> set[int]:
    """The simulated professionals (indexes) whose session, account or organisation detection
    contained: the server's own record, not a guess from the client's side. An organisation
    stepped up contains none of its accounts: they sign in again and show proofs."""
    accounts = {c.target_id for c in automatic if c.scope == "account"}
    sessions = [c.target_id for c in automatic if c.scope == "session"]
    organisations = [c.target_id for c in automatic if c.scope == "organisation" and c.action != "step_up"]
    with platform.uow(readonly=True) as tx:
        accounts |= {s.account_id for s in map(tx.sessions.session, sessions) if s is not None}
        accounts |= {a.id for organisation in organisations for a in tx.accounts.accounts_of_organisation(organisation)}
    return {a - 10_000 for a in accounts if a >= 10_000}
