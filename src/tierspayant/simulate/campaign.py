"""Attacks that last several days (issue 13, point 6), driven over HTTP among the normal traffic,
one simulated day after the other on the same platform:

- (f) **slow scraping**: a handful of stolen optician accounts, each checking a few new patients
  a day without proofs -- every pace below any daily limit -- at office hours, never billing;
- (g) **an optical chain**: several accounts of one organisation compromised, each paced under
  every per-account limit, their colleagues working normally beside them;
- (h) **rotating**: one account alternating insurers and following each covered answer with a
  PEC request, to look like an optician who quotes.

The attacker holds its victims' passkey sessions (malware on the practice's computer): it gets a
fresh one each morning, and again when one is ended, until the account is suspended. "Exposed"
counts distinct people whose coverage an attacker saw without a proof (a covered answer)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from tierspayant.simulate.driver import QUOTE_LINES, Simulation
from tierspayant.simulate.traffic import Patient


@dataclass
class Campaign:
    scenario: str
    title: str
    paces: dict[int, int]  # victim (simulated professional) -> new patients a day
    identities: dict[int, list[Patient]]  # victim -> the patients it will try, in order
    category: str = "optical"
    quotes: bool = False
    attempts: int = 0
    exposed: dict[int, set[str]] = field(default_factory=dict)
    #: First simulated day each victim was refused for lack of a proof (capped), or contained
    #: (its sessions ended and a new sign-in refused: suspended).
    capped_on: dict[int, date] = field(default_factory=dict)
    contained_on: dict[int, date] = field(default_factory=dict)
    quotes_made: int = 0

    @property
    def victims(self) -> list[int]:
        return list(self.paces)

    @property
    def max_exposed(self) -> int:
        return max((len(v) for v in self.exposed.values()), default=0)

    @property
    def stopped(self) -> int:
        return len(set(self.capped_on) | set(self.contained_on))

    def merge(self, other: Campaign) -> None:
        """Fold in one day's outcome (it ran in the attackers' own process)."""
        self.attempts += other.attempts
        self.quotes_made += other.quotes_made
        for victim, people in other.exposed.items():
            self.exposed.setdefault(victim, set()).update(people)
        for victim, day in other.capped_on.items():
            self.capped_on.setdefault(victim, day)
        for victim, day in other.contained_on.items():
            self.contained_on.setdefault(victim, day)


async def attack_day(sim: Simulation, campaign: Campaign, day_index: int, day: date, opens: datetime,
                     closes: datetime) -> Campaign:
    """One working day of the campaign: each victim's share of patients spread over the day."""
    today = Campaign(campaign.scenario, campaign.title, campaign.paces, campaign.identities, campaign.category,
                     campaign.quotes)

    async def victim(index: int) -> None:
        if index in campaign.contained_on:
            return
        pace = campaign.paces[index]
        patients = campaign.identities[index][day_index * pace:(day_index + 1) * pace]
        exposed = today.exposed.setdefault(index, set())
        pause = (closes - opens) / max(1, len(patients))
        await sim.sleep_until(opens + pause / 2 + timedelta(minutes=index % 17))
        for patient in patients:
            # A session idles out in 15 minutes: a fresh one before each check, as the stolen
            # authenticator allows; refused when the account is suspended.
            token = await sim.sign_in(index)
            if token is None:
                if sim.last_sign_in == 403:  # "Account suspended": contained
                    today.contained_on.setdefault(index, day)
                    return
                continue  # a sign-in that failed otherwise (the challenge lapsed on a busy machine): the next one
            body = {**patient.body(), "date_of_care": day.isoformat(), "category": campaign.category}
            answer = await sim.request(campaign.scenario, index, "POST", "/v1/rights-checks", token, body)
            today.attempts += 1
            if answer.status_code == 200 and answer.json().get("covered"):
                exposed.add(patient.nir)
                if campaign.quotes and answer.json().get("engagement_number"):
                    await sim.request(campaign.scenario, index, "POST", "/v1/quotes", token, {
                        "engagement_number": answer.json()["engagement_number"], "kind": "pec",
                        "lines": QUOTE_LINES})
                    today.quotes_made += 1
            elif answer.status_code == 403 and "proof" in answer.text.lower():
                today.capped_on.setdefault(index, day)
            await sim.sleep_until(sim.clock.now() + pause)

    await asyncio.gather(*(victim(v) for v in campaign.paces))
    return today
