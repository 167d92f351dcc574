"""A synthetic working day of professionals (docs/THREATS.md: the simulator's normal traffic):
opening hours and lunch by profession, a daily volume drawn around each profession's mean, the
patient's presence proof shown most of the time, and the follow-up at the counter: an optician
quotes (and the patient often leaves to compare), a doctor or a pharmacist invoices the
complementary part of what was just done; most quoted patients come back for their glasses and
the optician invoices the PEC a few days later. Deterministic for a seed."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True, slots=True)
class Profile:
    category: str
    #: Opening hours, local time, as (start, end) in hours.
    hours: tuple[tuple[float, float], ...]
    checks_per_day: float
    #: Share of covered checks followed at once: by a quote (optician), an invoice (the others).
    follow_up: float
    #: One invoice line of what this profession bills (ignored for a quote).
    invoice_line: tuple[tuple[str, str], ...] = ()
    #: An optician's quoted patients who come back for their glasses (the PEC then invoiced),
    #: and after how many days (uniform).
    delivered: float = 0.0
    delivery_days: tuple[int, int] = (3, 10)


PROFILES = {
    "optician": Profile("optical", ((9.5, 12.5), (14.0, 19.0)), 8, 0.6, delivered=0.85),
    "general_practitioner": Profile("consultation", ((8.5, 12.0), (14.0, 19.0)), 18, 0.95,
                                    (("code", "G"), ("price", "30.00"), ("amc_claimed", "9.00"))),
    "pharmacist": Profile("pharmacy", ((8.5, 12.5), (13.5, 20.0)), 36, 0.95,
                          (("code", "3400930000011"), ("price", "10.00"), ("amc_claimed", "3.50"))),
}
#: Share of checks made with the patient's presence proof (app or card scanned at the counter).
PROOF_SHARE = 0.9


@dataclass(frozen=True, slots=True)
class Patient:
    amc_number: str
    member_number: str
    nir: str
    birth_date: str

    def body(self) -> dict[str, str]:
        return {"amc_number": self.amc_number, "member_number": self.member_number, "nir": self.nir,
                "birth_date": self.birth_date}


@dataclass(frozen=True, slots=True)
class Visit:
    at: datetime
    professional: int  # index in the simulated professionals
    patient: Patient
    category: str
    with_proof: bool
    follow_up: bool  # a quote or an invoice right after a covered answer
    #: An optician's quoted patient comes back this many days later (the PEC invoiced), or None.
    delivered_after: int | None = None


def day_of_visits(rng: random.Random, professions: list[str], patients: list[Patient], day: date,
                  skip: frozenset[int] = frozenset()) -> list[Visit]:
    """Every visit of the day, in time order (professionals in ``skip`` stay home)."""
    visits = []
    for index, profession in enumerate(professions):
        if index in skip:
            continue
        profile = PROFILES[profession]
        count = max(0, round(rng.gauss(profile.checks_per_day, profile.checks_per_day / 4)))
        open_hours = sum(end - start for start, end in profile.hours)
        for _ in range(count):
            offset = rng.uniform(0, open_hours)
            for start, end in profile.hours:
                if offset < end - start:
                    hour = start + offset
                    break
                offset -= end - start
            local = datetime.combine(day, time(0), PARIS) + timedelta(hours=hour)
            follow = rng.random() < profile.follow_up
            # Drawn for every visit, whatever the profession: one seed gives the same visits.
            back, after = rng.random() < profile.delivered, rng.randint(*profile.delivery_days)
            visits.append(Visit(local, index, rng.choice(patients), profile.category, rng.random() < PROOF_SHARE,
                                follow, after if follow and back else None))
    visits.sort(key=lambda v: v.at)
    return visits
