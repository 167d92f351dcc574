"""Detection's cost over one account's day, and the miss path's timing (issue 13, point 1).

1. Flat cost: one account checks 10,000 distinct patients in one simulated day (detection's
   limits raised so that it is never contained, every check counted), cycling the outcomes
   covered / wrong birth date / NIR that exists nowhere; the median time of each thousand checks,
   per outcome. The 10,000th check should cost what the first did.
2. No timing oracle: 800+ checks of each negative class, interleaved at random, by a fresh
   account: a NIR that exists nowhere vs an existing NIR with a wrong birth date; each sample
   minus the running median of its neighbours (drift removed), then a two-sample
   Kolmogorov-Smirnov test. p > 0.01: no detectable difference.

In process (the use case on a real SQLite or PostgreSQL database, no HTTP), on an advancing
clock:

    .venv/bin/python -m bench.detection_cost [--checks 10000] [--samples 900] [--postgres]

Prints the tables; copy them into bench/README.md."""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.databases import fresh_database
from tierspayant.bootstrap import Platform, build
from tierspayant.config import Settings
from tierspayant.domain.reference import CareCategory
from tierspayant.security.policy import Principal, Role
from tierspayant.services.rights import RightsRequest
from tierspayant.simulate.population import Population, PopulationSpec
from tierspayant.simulate.seed import seed

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # 07:00 in Paris
NEVER = 10**9
#: Detection counts every check but never contains: the cost is what is measured.
LENIENT = {"account_distinct": [NEVER] * 4, "organisation_distinct": [NEVER] * 4, "same_identity_failures": NEVER,
           "quota_refusals": NEVER, "sequential_neighbours": NEVER, "failure_min_attempts": NEVER,
           "account_proofless_week": NEVER, "account_proofless_month": NEVER,
           "organisation_proofless": [NEVER] * 3, "unfollowed_min": NEVER}


class StepClock:
    """A clock that moves ``step`` on every reading: 10,000 checks spread over a working day."""

    def __init__(self, step: timedelta) -> None:
        self.at = START
        self.step = step

    def now(self) -> datetime:
        self.at += self.step
        return self.at


def ks_p_value(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov: (D, asymptotic p) -- Numerical Recipes' ``probks``."""
    xs, ys = sorted(a), sorted(b)
    i = j = 0
    d = 0.0
    while i < len(xs) and j < len(ys):
        if xs[i] <= ys[j]:
            i += 1
        else:
            j += 1
        d = max(d, abs(i / len(xs) - j / len(ys)))
    ne = len(xs) * len(ys) / (len(xs) + len(ys))
    lam = (math.sqrt(ne) + 0.12 + 0.11 / math.sqrt(ne)) * d
    p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return d, min(1.0, max(0.0, p))


def detrended(samples: list[tuple[str, float]], window: int = 51) -> dict[str, list[float]]:
    """Each sample minus the median of the ``window`` samples around it, whatever their class."""
    values = [v for _, v in samples]
    out: dict[str, list[float]] = {}
    half = window // 2
    for n, (name, value) in enumerate(samples):
        around = values[max(0, n - half):n + half + 1]
        out.setdefault(name, []).append(value - statistics.median(around))
    return out


def platform_for(postgres: bool, beneficiaries: int, clock: StepClock,
                 no_detection: bool = False) -> tuple[Platform, list[dict[str, Any]]]:
    var, url = fresh_database("detection-cost", postgres)
    platform = build(Settings(database_url=url, var_dir=var, detection=LENIENT, unsafe_no_detection=no_detection),
                     clock=clock)
    spec = PopulationSpec(beneficiaries=beneficiaries, professionals=6, seed=11, today=START.date(),
                          proofless_quota=NEVER, detection=LENIENT)
    seed(platform.loader, platform.reference, platform.accounts, spec, var / "demo.json")
    population = Population(spec)  # the same rows again, in memory: the bench's patients
    population.professionals()
    amc = {i + 1: row["amc_number"] for i, row in enumerate(population.insurers())}
    patients = []
    for beneficiaries, periods, _ in population.beneficiary_batches():
        covered = {p["beneficiary_id"] for p in periods if p["end_date"] is None}
        patients += [{"amc_number": amc[b["insurer_id"]], "member_number": b["member_number"], "nir": b["nir"],
                      "birth_date": b["birth_date"].isoformat()} for b in beneficiaries if b["id"] in covered]
    return platform, patients


def principal(platform: Platform, username: str) -> Principal:
    with platform.uow(readonly=True) as tx:
        account = tx.accounts.account_by_username(username)
    assert account is not None
    with platform.uow() as tx:
        session = tx.sessions.add_session(account.id, f"bench-{username}-{time.time_ns()}", START,
                                          START + timedelta(days=2), "passkey")
    return Principal(account.id, session, Role.PROFESSIONAL, account.organisation_id, account.professional_id,
                     aal="passkey", request_id="bench")


def request(patient: dict[str, Any], outcome: str, n: int) -> RightsRequest:
    birth = date.fromisoformat(patient["birth_date"])
    nir = patient["nir"]
    if outcome == "wrong birth date":
        birth = birth + timedelta(days=1)
    elif outcome == "NIR nowhere":  # a valid key on a NIR no beneficiary holds: the first digit 7 exists nowhere
        from stdnum.fr import nir as std_nir

        digits = f"2{n % 100:02d}{1 + n % 12:02d}99{n % 1000:03d}{n // 1000 % 1000:03d}"
        nir = digits + std_nir.calc_check_digits(digits)
    return RightsRequest(patient["amc_number"], patient["member_number"], nir, birth, START.date(),
                         CareCategory.OPTICAL)


OUTCOMES = ("covered", "wrong birth date", "NIR nowhere")


#: The server's housekeeping beat (forget_old's purges, and refresh_statistics: ANALYZE on
#: PostgreSQL) runs every TIERS_CHECKPOINT_SECONDS; here, every this many checks.
BEAT_CHECKS = 1000


async def flat_cost(platform: Platform, patients: list[dict[str, Any]], checks: int) -> dict[str, list[float]]:
    who = principal(platform, "optique.demo")
    times: dict[str, list[float]] = {o: [] for o in OUTCOMES}
    for n in range(checks):
        if n and n % BEAT_CHECKS == 0:
            platform.detection.forget_old()
            platform.refresh_statistics()
        outcome = OUTCOMES[n % 3]
        req = request(patients[n % len(patients)], outcome, n)
        started = time.perf_counter()
        await platform.rights.check(who, req)
        times[outcome].append((time.perf_counter() - started) * 1000)
    return times


async def timing(platform: Platform, patients: list[dict[str, Any]], samples: int) -> list[tuple[str, float]]:
    who = principal(platform, "pharmacie.demo")
    order = ["NIR nowhere", "wrong birth date"] * samples
    random.Random(5).shuffle(order)
    out = []
    for n, outcome in enumerate(order):
        req = request(patients[(n * 7 + 3) % len(patients)], outcome, 500_000 + n)
        started = time.perf_counter()
        await platform.rights.check(who, req)
        out.append((outcome, (time.perf_counter() - started) * 1000))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=900, help="checks per negative class")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--no-detection", action="store_true",
                        help="the same with detection off (TIERS_UNSAFE_NO_DETECTION): what the rest costs as the day fills")
    args = parser.parse_args()
    clock = StepClock(timedelta(hours=13) / (args.checks + 2 * args.samples) / 4)
    platform, patients = platform_for(args.postgres, max(args.checks, 2 * args.samples) + 100, clock,
                                      args.no_detection)
    backend = ("PostgreSQL" if args.postgres else "SQLite") + (", detection off" if args.no_detection else "")
    times = asyncio.run(flat_cost(platform, patients, args.checks))
    print(f"## One account's day ({backend}): median ms per thousand checks, by outcome\n")
    print("| checks | " + " | ".join(OUTCOMES) + " |")
    print("|---|" + "---:|" * len(OUTCOMES))
    per = max(1, args.checks // 30)  # a thousand checks of 10,000: a third of each outcome
    for k in range(0, args.checks // 3, per):
        cells = [f"{statistics.median(times[o][k:k + per]):.2f}" for o in OUTCOMES]
        print(f"| {3 * k + 1:,}-{min(args.checks, 3 * (k + per)):,} | " + " | ".join(cells) + " |")
    samples = asyncio.run(timing(platform, patients, args.samples))
    classes = detrended(samples)
    d, p = ks_p_value(classes["NIR nowhere"], classes["wrong birth date"])
    raw = {name: statistics.median(v for n, v in samples if n == name) for name in classes}
    print(f"\n## Miss path ({backend}): {args.samples} checks a class, interleaved at random\n")
    print(f"median NIR nowhere {raw['NIR nowhere']:.3f} ms, wrong birth date {raw['wrong birth date']:.3f} ms; "
          f"drift removed: Kolmogorov-Smirnov D = {d:.3f}, p = {p:.3g} ({'no' if p > 0.01 else 'a'} detectable "
          "difference at 0.01)")
    platform.engine.dispose()


if __name__ == "__main__":
    main()
