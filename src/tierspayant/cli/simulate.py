"""``tiers simulate``: seed a platform, start it, and drive it over HTTP through an attack-free
working day and a day with the attacks of docs/THREATS.md T2-T4 among the same normal traffic, then
write the report (simulate/report.py). ``make demo`` runs it."""

from __future__ import annotations

import asyncio
import random
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from tierspayant.bootstrap import build
from tierspayant.cli import simulation_days
from tierspayant.cli.simulation_platform import (
    DAY_END,
    SHARED_PASSWORD,
    at_hour,
    console,
    contained_professionals,
    prepare,
    run_day,
)
from tierspayant.config import Settings
from tierspayant.security.tokens import new_reference
from tierspayant.services.detection import DETECTION
from tierspayant.services.records import Containment
from tierspayant.simulate import attacks
from tierspayant.simulate.driver import Simulation
from tierspayant.simulate.population import PopulationSpec
from tierspayant.simulate.report import CampaignReport, Report, build_report, campaign_markdown, html_page, markdown
from tierspayant.simulate.traffic import PROFILES, day_of_visits

#: When each attack starts on day 2 (hours, Paris), one at a time bar (b), which lasts until it
#: is contained: each attack's window of legitimate latency then holds that attack alone.
STARTS = {"a": 9.0, "b": 9.5, "c": 14.5, "d": 16.0, "e": 17.0}
#: The fast attacks run in a slower stretch of the clock this long (simulate/clock.py).
SLOW_STRETCH = timedelta(minutes=30)
SCENARIOS = ("classic", "slow", "chain", "rotating")


@dataclass
class Simulated:
    classic: Report | None
    campaigns: CampaignReport | None


def simulate(
    professionals: Annotated[int, typer.Option(help="Simulated professionals (a third of each profession)")] = 600,
    beneficiaries: Annotated[int, typer.Option(help="Synthetic beneficiaries")] = 20_000,
    speed: Annotated[float, typer.Option(help="Simulated seconds per wall-clock second")] = 120.0,
    attack_speed: Annotated[float, typer.Option(help="The same, in the windows of the fast attacks (a), (c), (d)")] = 20.0,
    seed_value: Annotated[int, typer.Option("--seed", help="Random seed (population, traffic, attacks)")] = 42,
    parallel_accounts: Annotated[int, typer.Option(help="Scenario (c): compromised accounts")] = 50,
    stuffing_pairs: Annotated[int, typer.Option(help="Scenario (e): leaked (user, password) pairs")] = 100_000,
    scenario: Annotated[list[str] | None, typer.Option(
        help="classic (two days, attacks (a)-(e)), slow, chain, rotating (several days); repeatable; default all")] = None,
    days: Annotated[int, typer.Option(min=1, help="Simulated working days of the slow, chain and rotating scenarios")] = 5,
    campaign_speed: Annotated[float, typer.Option(help="Simulated seconds per wall-clock second, those days")] = 240.0,
    campaign_professionals: Annotated[int, typer.Option(
        help="Simulated professionals of those days (this machine's server knee: ~60 requests/s)")] = 200,
    chain: Annotated[int, typer.Option(help="Opticians of one optical chain (scenario chain)")] = 40,
    out: Annotated[Path, typer.Option(help="Markdown report")] = Path("bench/SIMULATION.md"),
    html_out: Annotated[Path, typer.Option("--html", help="HTML report with plots")] = Path("bench/simulation.html"),
    work: Annotated[Path | None, typer.Option(help="Working directory (default: a new temporary one)")] = None,
    port: Annotated[int, typer.Option(help="Port of the simulated platform")] = 8790,
    with_attacks: Annotated[bool, typer.Option("--attacks/--no-attacks", help="Day 2 with the attacks")] = True,
    breach: Annotated[bool, typer.Option("--breach", help="The breach drill instead (cli/breach_drill.py): a day "
                                                          "with phished sessions, the incident's scope against "
                                                          "the attackers' ground truth; report in --out")] = False,
) -> Simulated:
    """Normal days and attacks against a live server, over HTTP; writes the report."""
    if breach:
        from tierspayant.cli.breach_drill import drill
        from tierspayant.cli.breach_drill import markdown as drill_markdown

        if out == Path("bench/SIMULATION.md"):
            out = Path("bench/BREACH-DRILL.md")
        done = drill(work or Path(tempfile.mkdtemp(prefix="tiers-drill-")), min(professionals, 120),
                     min(beneficiaries, 20_000), seed_value=seed_value, port=port,
                     command="tiers simulate " + " ".join(shlex.quote(a) for a in sys.argv[2:]))
        text = drill_markdown(done)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        console.print(text)
        if not (done.exact and done.verify_ok and not done.verify_after_removal_ok
                and not done.verify_after_insertion_ok):
            raise typer.Exit(1)
        return Simulated(None, None)
    chosen = set(scenario or SCENARIOS)
    unknown = chosen - set(SCENARIOS)
    if unknown:
        raise typer.BadParameter(f"unknown scenario(s): {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}",
                                 param_hint="--scenario")
    command = "tiers simulate " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    work = work or Path(tempfile.mkdtemp(prefix="tiers-simulate-"))
    result = Simulated(None, None)
    texts = []
    if "classic" in chosen:
        result.classic = _classic(professionals, beneficiaries, speed, attack_speed, seed_value, parallel_accounts,
                                  stuffing_pairs, command, work / "classic", port, with_attacks)
        texts.append(markdown(result.classic))
    campaigns = [s for s in SCENARIOS[1:] if s in chosen]
    if campaigns:
        result.campaigns = simulation_days.campaigns(campaign_professionals, beneficiaries, seed_value, campaigns,
                                                     days, campaign_speed, chain, command, work / "days", port)
        texts.append(campaign_markdown(result.campaigns))
    text = "\n".join(texts)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    if result.classic is not None:
        html_out.write_text(html_page(result.classic), encoding="utf-8")
    console.print(text)
    console.print(f"report: {out}" + (f", {html_out}" if result.classic is not None else ""))
    return result


def _classic(professionals: int, beneficiaries: int, speed: float, attack_speed: float, seed_value: int,
             parallel_accounts: int, stuffing_pairs: int, command: str, work: Path, port: int, with_attacks: bool,
) -> Report:
    """The two-day run: an attack-free day, then day 2 with attacks (a)-(e) and without."""
    started = time.perf_counter()
    spec = PopulationSpec(beneficiaries=beneficiaries, professionals=professionals, seed=seed_value)
    day1, day2 = spec.today + timedelta(days=1), spec.today + timedelta(days=2)
    ready = prepare(work, spec, "")
    env, professions, authenticators, covered, everyone = (ready.env, ready.professions, ready.authenticators,
                                                           ready.covered, ready.everyone)
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
    records1, _ = run_day(env, day1, port, speed, authenticators, lambda sim: sim.day(visits1))
    console.print(f"day 1 (attack-free): {len(records1):,} requests")
    # The attack-free run of day 2: the same visits on a copy of the platform as it stands at
    # the end of day 1, the baseline each attack's window is compared with.
    replay = work / "attack-free"
    shutil.copytree(work, replay, ignore=shutil.ignore_patterns("attack-free", "records.csv"))
    replay_env = {**env, "TIERS_VAR_DIR": str(replay), "TIERS_DATABASE_URL": f"sqlite:///{replay / 'tiers.db'}"}
    slow = tuple((at_hour(day2, STARTS[s]), at_hour(day2, STARTS[s]) + SLOW_STRETCH, attack_speed)
                 for s in "acd") if attack_speed < speed else ()
    free2, _ = run_day(replay_env, day2, port, speed, authenticators, lambda sim: sim.day(visits2), slow=slow)
    console.print(f"day 2 without attacks: {len(free2):,} requests")
    attackers = rng.sample(everyone, len(everyone))
    pairs = _stuffing_pairs(rng, professions, stuffing_pairs)

    async def day_two(sim: Simulation) -> list[attacks.AttackResult]:
        async def later(scenario: str, make: Any) -> attacks.AttackResult:
            await sim.sleep_until(at_hour(day2, STARTS[scenario]))
            result: attacks.AttackResult = await make()
            console.print(f"  ({result.scenario}) done: {result.attempts:,} attempts, {result.exposed} exposed")
            return result

        def category(i: int) -> str:
            return PROFILES[professions[i]].category

        results = await asyncio.gather(
            later("a", lambda: attacks.scraper(sim, victims["a"], attackers[0::3], category(victims["a"]))),
            later("b", lambda: attacks.slow_and_low(sim, victims["b"], attackers[1::3], category(victims["b"]),
                                                    2 * p99, at_hour(day2, 19.5))),
            later("c", lambda: attacks.many_accounts(sim, victims["c"], attackers[2::3],
                                                      [category(v) for v in victims["c"]])),
            later("d", lambda: attacks.nir_guessing(sim, victims["d"], attacks.guessed_identities(
                rng, covered[0], 500), category(victims["d"]))),
            later("e", lambda: attacks.credential_stuffing(sim, pairs, at_hour(day2, DAY_END))),
        )
        return list(results)

    records2, results = run_day(env, day2, port, speed, authenticators, lambda sim: sim.day(visits2),
                                day_two if with_attacks else None, slow=slow)
    console.print(f"day 2 (attacks): {len(records2):,} requests")
    automatic: list[Containment] = []
    contained: set[int] = set()
    for run_env in (env, replay_env):
        platform = build(Settings.from_env(run_env))
        found = [c for c in platform.detection.containments(DETECTION, limit=100_000) if c.created_by is None]
        automatic += found
        contained |= contained_professionals(platform, found)
        platform.engine.dispose()
    account_days = len({v.professional for v in visits1}) + 2 * len({v.professional for v in visits2})
    report = build_report(command, seed_value, professionals, beneficiaries, speed, attack_speed if slow else None,
                          records1, free2, records2,
                          sorted(results, key=lambda r: r.scenario), account_days,
                          contained - everybody_victim, len(automatic), time.perf_counter() - started)
    with (work / "records.csv").open("w", encoding="utf-8") as f:  # every answer: no identities, for analysis
        f.write("actor,account,at,status,ms,contained\n")
        for r in records1 + records2:
            f.write(f"{r.actor},{r.account},{r.at.isoformat()},{r.status},{r.ms:.2f},{int(r.contained)}\n")
    return report


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


