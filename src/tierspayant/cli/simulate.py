"""``tiers simulate``: seed a platform, start it, and drive it over HTTP through an attack-free
working day and a day with the attacks of docs/THREATS.md T2-T4 among the same normal traffic, then
write the report (simulate/report.py). ``make demo`` runs it."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tierspayant.bootstrap import Platform, build
from tierspayant.config import Settings
from tierspayant.security import passwords, totp
from tierspayant.security.policy import Role
from tierspayant.security.tokens import new_reference
from tierspayant.services.detection import DETECTION
from tierspayant.services.records import Containment
from tierspayant.simulate import attacks
from tierspayant.simulate.authenticator import SoftAuthenticator
from tierspayant.simulate.clock import AcceleratedClock
from tierspayant.simulate.driver import Record, Simulation, wait_until_serving
from tierspayant.simulate.population import Population, PopulationSpec
from tierspayant.simulate.report import Report, build_report, html_page, markdown
from tierspayant.simulate.seed import seed
from tierspayant.simulate.traffic import PARIS, PROFILES, Patient, day_of_visits

console = Console(soft_wrap=True)
BIN = Path(sys.executable).parent
DAY_START, DAY_END = 7, 21
#: When each attack starts on day 2 (hours, Paris), one at a time bar (b), which lasts until it
#: is contained: each attack's window of legitimate latency then holds that attack alone.
STARTS = {"a": 9.0, "b": 9.5, "c": 14.5, "d": 16.0, "e": 17.0}
#: The fast attacks run in a slower stretch of the clock this long (simulate/clock.py).
SLOW_STRETCH = timedelta(minutes=30)


def simulate(
    professionals: Annotated[int, typer.Option(help="Simulated professionals (a third of each profession)")] = 600,
    beneficiaries: Annotated[int, typer.Option(help="Synthetic beneficiaries")] = 20_000,
    speed: Annotated[float, typer.Option(help="Simulated seconds per wall-clock second")] = 120.0,
    attack_speed: Annotated[float, typer.Option(help="The same, in the windows of the fast attacks (a), (c), (d)")] = 20.0,
    seed_value: Annotated[int, typer.Option("--seed", help="Random seed (population, traffic, attacks)")] = 42,
    parallel_accounts: Annotated[int, typer.Option(help="Scenario (c): compromised accounts")] = 50,
    stuffing_pairs: Annotated[int, typer.Option(help="Scenario (e): leaked (user, password) pairs")] = 100_000,
    out: Annotated[Path, typer.Option(help="Markdown report")] = Path("bench/SIMULATION.md"),
    html_out: Annotated[Path, typer.Option("--html", help="HTML report with plots")] = Path("bench/simulation.html"),
    work: Annotated[Path | None, typer.Option(help="Working directory (default: a new temporary one)")] = None,
    port: Annotated[int, typer.Option(help="Port of the simulated platform")] = 8790,
    with_attacks: Annotated[bool, typer.Option("--attacks/--no-attacks", help="Day 2 with the attacks")] = True,
) -> Report:
    """Normal days and attacks against a live server, over HTTP; writes the report."""
    command = "tiers simulate " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    started = time.perf_counter()
    work = work or Path(tempfile.mkdtemp(prefix="tiers-simulate-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TIERS_VAR_DIR": str(work), "TIERS_DATABASE_URL": f"sqlite:///{work / 'tiers.db'}",
           "TIERS_WORKERS": "2", "TIERS_CHECKPOINT_SECONDS": "30"}
    env.pop("TIERS_DETECTION", None)
    spec = PopulationSpec(beneficiaries=beneficiaries, professionals=professionals, seed=seed_value)
    day1, day2 = spec.today + timedelta(days=1), spec.today + timedelta(days=2)
    console.print(f"[bold]setting up[/bold] {professionals} professionals, {beneficiaries:,} beneficiaries in {work}")
    platform = build(Settings.from_env(env))
    seed(platform.loader, platform.reference, platform.accounts, spec, work / "demo-credentials.json")
    professions, authenticators = _accounts(platform, spec)
    platform.engine.dispose()
    covered, everyone = _identities(spec)
    rng = random.Random(seed_value)
    visits1 = day_of_visits(rng, professions, covered, day1)
    victims = _victims(rng, professions, parallel_accounts)
    everybody_victim = {victims["a"], victims["b"], victims["d"], *victims["c"]}
    visits2 = day_of_visits(rng, professions, covered, day2, skip=frozenset(everybody_victim))
    per_account: dict[int, set[str]] = {}
    for v in visits1:
        per_account.setdefault(v.professional, set()).add(v.patient.nir)
    sizes = sorted(len(s) for s in per_account.values())
    p99 = sizes[min(len(sizes) - 1, int(len(sizes) * 0.99))] if sizes else 10
    records1, _ = _day(env, day1, port, speed, authenticators, lambda sim: sim.day(visits1))
    console.print(f"day 1 (attack-free): {len(records1):,} requests")
    # The attack-free run of day 2: the same visits on a copy of the platform as it stands at
    # the end of day 1, the baseline each attack's window is compared with.
    replay = work / "attack-free"
    shutil.copytree(work, replay, ignore=shutil.ignore_patterns("attack-free", "records.csv"))
    replay_env = {**env, "TIERS_VAR_DIR": str(replay), "TIERS_DATABASE_URL": f"sqlite:///{replay / 'tiers.db'}"}
    slow = tuple((_at(day2, STARTS[s]), _at(day2, STARTS[s]) + SLOW_STRETCH, attack_speed)
                 for s in "acd") if attack_speed < speed else ()
    free2, _ = _day(replay_env, day2, port, speed, authenticators, lambda sim: sim.day(visits2), slow=slow)
    console.print(f"day 2 without attacks: {len(free2):,} requests")
    attackers = rng.sample(everyone, len(everyone))
    pairs = _stuffing_pairs(rng, professions, stuffing_pairs)

    async def day_two(sim: Simulation) -> list[attacks.AttackResult]:
        async def later(scenario: str, make: Any) -> attacks.AttackResult:
            await sim.sleep_until(_at(day2, STARTS[scenario]))
            result: attacks.AttackResult = await make()
            console.print(f"  ({result.scenario}) done: {result.attempts:,} attempts, {result.exposed} exposed")
            return result

        def category(i: int) -> str:
            return PROFILES[professions[i]].category

        results = await asyncio.gather(
            later("a", lambda: attacks.scraper(sim, victims["a"], attackers[0::3], category(victims["a"]))),
            later("b", lambda: attacks.slow_and_low(sim, victims["b"], attackers[1::3], category(victims["b"]),
                                                    2 * p99, _at(day2, 19.5))),
            later("c", lambda: attacks.many_accounts(sim, victims["c"], attackers[2::3],
                                                      [category(v) for v in victims["c"]])),
            later("d", lambda: attacks.nir_guessing(sim, victims["d"], attacks.guessed_identities(
                rng, covered[0], 500), category(victims["d"]))),
            later("e", lambda: attacks.credential_stuffing(sim, pairs, _at(day2, DAY_END))),
        )
        return list(results)

    records2, results = _day(env, day2, port, speed, authenticators, lambda sim: sim.day(visits2),
                             day_two if with_attacks else None, slow=slow)
    console.print(f"day 2 (attacks): {len(records2):,} requests")
    automatic: list[Containment] = []
    contained_professionals: set[int] = set()
    for run_env in (env, replay_env):
        platform = build(Settings.from_env(run_env))
        found = [c for c in platform.detection.containments(DETECTION, limit=100_000) if c.created_by is None]
        automatic += found
        contained_professionals |= _contained_professionals(platform, found)
        platform.engine.dispose()
    account_days = len({v.professional for v in visits1}) + 2 * len({v.professional for v in visits2})
    report = build_report(command, seed_value, professionals, beneficiaries, speed, attack_speed if slow else None,
                          records1, free2, records2,
                          sorted(results, key=lambda r: r.scenario), account_days,
                          contained_professionals - everybody_victim, len(automatic), time.perf_counter() - started)
    with (work / "records.csv").open("w", encoding="utf-8") as f:  # every answer: no identities, for analysis
        f.write("actor,account,at,status,ms,contained\n")
        for r in records1 + records2:
            f.write(f"{r.actor},{r.account},{r.at.isoformat()},{r.status},{r.ms:.2f},{int(r.contained)}\n")
    text = markdown(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    html_out.write_text(html_page(report), encoding="utf-8")
    console.print(text)
    console.print(f"report: {out}, {html_out}")
    return report


def _accounts(platform: Platform, spec: PopulationSpec) -> tuple[list[str], list[SoftAuthenticator]]:
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
        code = platform.accounts.enrolment_code(row["username"])
        authenticator = SoftAuthenticator()
        options = json.loads(platform.accounts.registration_options(code))
        platform.accounts.register_passkey(code, authenticator.create(options, platform.accounts.passkeys.origin))
        authenticators.append(authenticator)
    return [p["profession"] for p in pros], authenticators


#: The simulated professionals' (never used) password, as if leaked and reused elsewhere.
SHARED_PASSWORD = "correct horse battery staple 2026"  # noqa: S105 -- synthetic, for scenario (e)


def _identities(spec: PopulationSpec) -> tuple[list[Patient], list[Patient]]:
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


def _victims(rng: random.Random, professions: list[str], parallel: int) -> dict[str, Any]:
    by = {p: [i for i, x in enumerate(professions) if x == p] for p in PROFILES}
    a, d = rng.sample(by["optician"], 2)
    b = rng.choice(by["pharmacist"])
    rest = [i for i in range(len(professions)) if i not in (a, b, d)]
    return {"a": a, "b": b, "d": d, "c": rng.sample(rest, min(parallel, len(rest) // 4))}


def _stuffing_pairs(rng: random.Random, professions: list[str], count: int) -> list[tuple[str, str]]:
    """Mostly unknown names; 5 % real names, half of them with the real (reused) password."""
    pairs = []
    for n in range(count):
        if rng.random() < 0.05:
            name = f"sim.{rng.randrange(len(professions))}"
            pairs.append((name, SHARED_PASSWORD if n % 2 else new_reference("pw")))
        else:
            pairs.append((f"user{rng.randrange(10**8)}@mail.example", new_reference("pw")))
    return pairs


def _at(day: date, hour: float) -> datetime:
    return datetime.combine(day, datetime.min.time(), PARIS) + timedelta(hours=hour)


def _day(env: dict[str, str], day: date, port: int, speed: float, authenticators: list[SoftAuthenticator],
         legit: Any, attackers: Any = None, slow: tuple[tuple[datetime, datetime, float], ...] = (),
         ) -> tuple[list[Record], list[attacks.AttackResult]]:
    """Start the server with the clock at 07:00 (Paris) of ``day`` a few seconds from now, run
    ``legit(sim)`` here and ``attackers(sim)`` in a forked process of their own (so that the
    attackers' traffic does not queue inside the legitimate clients' event loop and inflate
    the latencies they measure), and stop the server."""
    clock = AcceleratedClock(time.time() + 6.0, _at(day, DAY_START).astimezone(UTC), speed, slow)
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
            except Exception:
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
                os.nice(15)
                try:
                    sender.send(asyncio.run(run(attackers, "attackers")))
                except BaseException as exc:  # reported to the parent, which raises it
                    sender.send(RuntimeError(f"the attackers' process failed: {type(exc).__name__}: {exc}"))
                os._exit(0)  # no finalizers: the parent's database connections are not ours

            platform.engine.dispose()  # no open SQLite connection crosses the fork
            child = multiprocessing.get_context("fork").Process(target=attack_process, daemon=True)
            child.start()
        records, _ = asyncio.run(run(legit, "legitimate traffic"))
        results: list[attacks.AttackResult] = []
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


def _contained_professionals(platform: Platform, automatic: list[Containment]) -> set[int]:
    """The simulated professionals (indexes) whose session, account or organisation detection
    contained: the server's own record, not a guess from the client's side."""
    accounts = {c.target_id for c in automatic if c.scope == "account"}
    sessions = [c.target_id for c in automatic if c.scope == "session"]
    organisations = [c.target_id for c in automatic if c.scope == "organisation"]
    with platform.uow(readonly=True) as tx:
        accounts |= {s.account_id for s in map(tx.sessions.session, sessions) if s is not None}
        accounts |= {a.id for organisation in organisations for a in tx.accounts.accounts_of_organisation(organisation)}
    return {a - 10_000 for a in accounts if a >= 10_000}
