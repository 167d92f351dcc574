"""``tiers simulate --scenario slow|chain|rotating``: several working days one after the other on
one platform, the multi-day attacks of simulate/campaign.py among the normal traffic (with the
opticians' deliveries coming back on later days), then the report (simulate/report.py)."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from tierspayant.bootstrap import build
from tierspayant.cli.simulation_platform import (
    at_hour,
    console,
    contained_professionals,
    prepare,
    run_day,
)
from tierspayant.config import Settings
from tierspayant.services.detection import DETECTION
from tierspayant.simulate import campaign
from tierspayant.simulate.driver import Record, Simulation
from tierspayant.simulate.population import PopulationSpec
from tierspayant.simulate.report import CampaignReport
from tierspayant.simulate.traffic import Patient, day_of_visits

#: The multi-day scenarios' paces: new patients a day of each compromised account.
SLOW_PACES = (2, 4, 7, 12, 19)
CHAIN_PACES = (3, 5, 6, 8, 10)
ROTATING_PACE = 15
#: The attackers work at the opticians' hours (Paris).
ATTACK_HOURS = (9.5, 19.0)


def campaigns(professionals: int, beneficiaries: int, seed_value: int, chosen: list[str], days: int, speed: float,
               chain: int, command: str, work: Path, port: int) -> CampaignReport:
    """Several working days on one platform, the chosen attacks among the normal traffic."""
    started = time.perf_counter()
    spec = PopulationSpec(beneficiaries=beneficiaries, professionals=professionals, seed=seed_value,
                          chain=chain if "chain" in chosen else 0)
    ready = prepare(work, spec, f"{days} days: ")
    env, professions, authenticators, covered, everyone = (ready.env, ready.professions, ready.authenticators,
                                                           ready.covered, ready.everyone)
    rng = random.Random(seed_value)
    campaigns = plans(rng, professions, everyone, chosen, days, spec.chain)
    victims = frozenset(v for c in campaigns for v in c.victims)
    pending: list[Any] = []  # the opticians' PECs awaiting delivery, across days
    asked: list[int] = []  # legitimate checks asked for the patient's proof, per day
    shown_again: list[int] = []  # proofs lapsed on their way (time runs fast), shown afresh
    records: list[Record] = []
    account_days = 0
    proofless_per_day: list[int] = []
    for n in range(days):
        day = spec.today + timedelta(days=1 + n)
        visits = day_of_visits(rng, professions, covered, day, skip=victims)
        account_days += len({v.professional for v in visits})
        counts: dict[int, set[str]] = {}
        for v in visits:
            if not v.with_proof:
                counts.setdefault(v.professional, set()).add(v.patient.nir)
        proofless_per_day += [len(x) for x in counts.values()]

        async def legit(sim: Simulation, visits: list[Any] = visits, day: date = day) -> None:
            sim.pending = pending  # shared across the days: deliveries come back later
            await sim.deliver(day)
            await sim.day(visits)
            asked.append(sim.asked_for_proof)
            shown_again.append(sim.proofs_shown_again)

        async def attack(sim: Simulation, n: int = n, day: date = day) -> list[campaign.Campaign]:
            for c in campaigns:
                for v in c.victims:  # the stolen authenticator's counter only moves forward
                    sim.authenticators[v].sign_count = max(sim.authenticators[v].sign_count, (n + 1) * 100_000)
            return list(await asyncio.gather(*(campaign.attack_day(sim, c, n, day, at_hour(day, ATTACK_HOURS[0]),
                                                                    at_hour(day, ATTACK_HOURS[1])) for c in campaigns)))

        # the attackers at the server's priority: these days measure exposure, not latency
        day_records, outcomes = run_day(env, day, port, speed, authenticators, legit, attack, nice=0)
        records += day_records
        for c, outcome in zip(campaigns, outcomes, strict=True):
            c.merge(outcome)
        console.print(f"{day}: {len(day_records):,} requests; " + "; ".join(
            f"({c.scenario}) exposed {sum(len(x) for x in c.exposed.values())}, stopped {c.stopped}/{len(c.victims)}"
            for c in campaigns))
    platform = build(Settings.from_env(env))
    automatic = [c for c in platform.detection.containments(DETECTION, limit=100_000) if c.created_by is None]
    contained = contained_professionals(platform, automatic)
    platform.engine.dispose()
    sizes = sorted(proofless_per_day) or [0]
    return CampaignReport(command, seed_value, professionals, beneficiaries, speed, days, spec.chain, campaigns,
                          [r for r in records if r.actor == "legit"], account_days, contained - victims,
                          len(automatic), sizes[min(len(sizes) - 1, int(len(sizes) * 0.99))], sum(asked),
                          sum(shown_again), time.perf_counter() - started)


def plans(rng: random.Random, professions: list[str], everyone: list[Patient], chosen: list[str], days: int,
                    chain: int) -> list[campaign.Campaign]:
    """Who is compromised, at what pace, and the (disjoint) patients each will try."""
    opticians = [i for i, p in enumerate(professions) if p == "optician"]
    in_chain, others = opticians[:chain], opticians[chain:]
    pool = iter(rng.sample(everyone, len(everyone)))
    plans = []

    def take(pace: int) -> list[Patient]:
        return list(itertools.islice(pool, pace * days))

    if "slow" in chosen:
        slow = rng.sample(others, min(len(SLOW_PACES), len(others)))
        plans.append(campaign.Campaign("f", "slow scraping: stolen opticians' accounts, a few new patients a day each, "
                                       "never billed", dict(zip(slow, SLOW_PACES, strict=False)),
                                       {v: take(p) for v, p in zip(slow, SLOW_PACES, strict=False)}))
    if "chain" in chosen and in_chain:
        mine = rng.sample(in_chain, min(len(CHAIN_PACES), len(in_chain) // 2))
        plans.append(campaign.Campaign("g", f"an optical chain of {len(in_chain)} accounts, {len(mine)} compromised, "
                                       "each paced under every per-account limit", dict(zip(mine, CHAIN_PACES, strict=False)),
                                       {v: take(p) for v, p in zip(mine, CHAIN_PACES, strict=False)}))
    if "rotating" in chosen:
        free = [o for o in others if all(o not in c.paces for c in plans)]
        victim = rng.choice(free)
        mixed = take(ROTATING_PACE)
        by_insurer: dict[str, list[Patient]] = {}
        for patient in mixed:
            by_insurer.setdefault(patient.amc_number, []).append(patient)
        rotation = [p for group in itertools.zip_longest(*by_insurer.values()) for p in group if p is not None]
        plans.append(campaign.Campaign("h", "rotating insurers, a PEC requested after every covered answer",
                                       {victim: ROTATING_PACE}, {victim: rotation}, quotes=True))
    return plans


