"""The attack scenarios of docs/THREATS.md T2-T4, driven over HTTP against the running server:
(a) one stolen session scraping as fast as it can (Viamedis), (b) slow-and-low at twice the
legitimate p99 rate, (c) 50 stolen sessions in parallel, (d) NIR guessing, (e) credential
stuffing. "Exposed" counts distinct people whose coverage an attacker saw (a covered answer);
not-covered answers are the same for everyone and disclose nothing."""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from stdnum.fr import nir as std_nir

from tierspayant.simulate.driver import Simulation, contained
from tierspayant.simulate.traffic import Patient


@dataclass
class AttackResult:
    scenario: str
    title: str
    accounts: list[int]
    started: datetime
    ended: datetime | None = None
    attempts: int = 0
    exposed_by_account: dict[int, set[str]] = field(default_factory=dict)
    contained_at: dict[int, datetime] = field(default_factory=dict)
    capped_at: dict[int, datetime] = field(default_factory=dict)  # first refused for lack of a proof
    confirmed: int = 0  # (d): guesses that found somebody
    takeovers: int = 0  # (e): sign-ins that succeeded

    @property
    def exposed(self) -> int:
        return len(set().union(*self.exposed_by_account.values())) if self.exposed_by_account else 0

    @property
    def max_exposed_per_account(self) -> int:
        return max((len(v) for v in self.exposed_by_account.values()), default=0)

    def seconds_to_containment(self) -> list[float]:
        return [(at - self.started).total_seconds() for at in self.contained_at.values()]

    @property
    def stopped(self) -> set[int]:
        """Accounts contained, or capped: refused for lack of a proof (docs/THREATS.md T2)."""
        return set(self.contained_at) | set(self.capped_at)


async def _stolen_session(sim: Simulation, victim: int) -> str:
    """The attacker's copy of a victim's live session (phished, or lifted from the practice's
    computer): a passkey session, the strongest kind."""
    token = await sim.sign_in(victim)
    if token is None:
        raise RuntimeError(f"could not open the victim's session (professional {victim})")
    return token


async def _scrape(sim: Simulation, result: AttackResult, account: int, token: str, identities: list[Patient],
                  category: str, pause: timedelta | None, stop_at: datetime, max_attempts: int) -> None:
    """Check identities one after the other until the session is dead (contained)."""
    exposed = result.exposed_by_account.setdefault(account, set())
    for patient in identities[:max_attempts]:
        if pause is not None:
            await sim.sleep_until(sim.clock.now() + pause)
        if sim.clock.now() >= stop_at:
            return
        body = {**patient.body(), "date_of_care": sim.clock.now().date().isoformat(), "category": category}
        answer = await sim.request(result.scenario, account, "POST", "/v1/rights-checks", token, body)
        result.attempts += 1
        if contained(answer, signed_in=True):
            result.contained_at.setdefault(account, sim.clock.now())
            return
        if answer.status_code == 200 and answer.json().get("covered"):
            exposed.add(patient.nir)
        elif answer.status_code == 403 and "proof" in answer.text.lower():
            result.capped_at.setdefault(account, sim.clock.now())


async def scraper(sim: Simulation, victim: int, identities: list[Patient], category: str) -> AttackResult:
    """(a) A phished professional's live session, scraping as fast as it can (4 in flight)."""
    result = AttackResult("a", "one stolen session scraping as fast as it can", [victim], sim.clock.now())
    token = await _stolen_session(sim, victim)
    stop = sim.clock.now() + timedelta(hours=2)
    chunks = [identities[i::4] for i in range(4)]
    await asyncio.gather(*(_scrape(sim, result, victim, token, chunk, category, None, stop, 2_000) for chunk in chunks))
    result.ended = sim.clock.now()
    return result


async def slow_and_low(sim: Simulation, victim: int, identities: list[Patient], category: str,
                       per_day: int, until: datetime) -> AttackResult:
    """(b) Spread over the working day at ``per_day`` patients (twice the legitimate p99)."""
    result = AttackResult("b", f"slow and low: {per_day} patients/day (2x the legitimate p99)", [victim],
                          sim.clock.now())
    token = await _stolen_session(sim, victim)
    hours = max(1.0, (until - sim.clock.now()).total_seconds() / 3600)
    pause = timedelta(hours=hours / per_day)
    await _scrape(sim, result, victim, token, identities, category, pause, until, per_day)
    result.ended = sim.clock.now()
    return result


async def many_accounts(sim: Simulation, victims: list[int], identities: list[Patient],
                        categories: list[str]) -> AttackResult:
    """(c) Stolen sessions of many professionals at once, each scraping its own slice."""
    result = AttackResult("c", f"{len(victims)} stolen sessions in parallel", victims, sim.clock.now())
    tokens = [await _stolen_session(sim, v) for v in victims]
    stop = sim.clock.now() + timedelta(hours=2)
    slices = [identities[i::len(victims)] for i in range(len(victims))]
    await asyncio.gather(*(_scrape(sim, result, v, str(tok), chunk, cat, None, stop, 300)
                           for v, tok, chunk, cat in zip(victims, tokens, slices, categories, strict=True)))
    result.ended = sim.clock.now()
    return result


def guessed_identities(rng: random.Random, known: Patient, count: int) -> list[Patient]:
    """Valid NIRs next to a known one (same sex, birth year and month, place; order numbers in
    sequence, correct key), with a plausible birth date and a guessed member number."""
    base = known.nir[:10]
    year, month = int(known.birth_date[:4]), int(known.birth_date[5:7])
    out = []
    for order in itertools.islice(itertools.count(int(known.nir[10:13]) + 1), count):
        digits = base + f"{order % 1000:03d}"
        nir = digits + std_nir.calc_check_digits(digits)
        out.append(Patient(known.amc_number, f"{rng.randint(0, 10**10 - 1):010d}", nir,
                           f"{year:04d}-{month:02d}-{rng.randint(1, 28):02d}"))
    return out


async def nir_guessing(sim: Simulation, victim: int, guesses: list[Patient], category: str) -> AttackResult:
    """(d) Enumerating NIRs in sequence to find who is covered."""
    result = AttackResult("d", "NIR guessing (sequential order numbers, valid keys)", [victim], sim.clock.now())
    token = await _stolen_session(sim, victim)
    stop = sim.clock.now() + timedelta(hours=1)
    await _scrape(sim, result, victim, token, guesses, category, None, stop, len(guesses))
    result.confirmed = len(result.exposed_by_account.get(victim, set()))
    result.ended = sim.clock.now()
    return result


async def credential_stuffing(sim: Simulation, pairs: list[tuple[str, str]], until: datetime,
                              concurrency: int = 16) -> AttackResult:
    """(e) Leaked (user name, password) pairs against password + TOTP sign-in, a guessed code,
    ``concurrency`` at a time, until the list is done or ``until``: the platform holds a
    throttled source's answers (the tarpit), so the list may outlast the day."""
    result = AttackResult("e", f"credential stuffing: {len(pairs):,} leaked pairs", [], sim.clock.now())
    queue = iter(pairs)

    async def worker() -> None:
        for username, password in queue:
            if sim.clock.now() >= until:
                return
            answer = await sim.request("e", -1, "POST", "/v1/sessions", None,
                                       {"username": username, "password": password, "totp": "000000"})
            result.attempts += 1
            if answer.status_code == 200:
                result.takeovers += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.ended = sim.clock.now()
    return result
