"""What legitimate professionals need of the proof-less budgets (detection/budgets.py), measured
on the simulator's normal traffic (simulate/traffic.py) over many working days: for each account,
the most new proof-less patients in one day and the most *unfollowed* ones (no quote or invoice
after the check) in any 7 and any 30 days. The defaults of detection/thresholds.py are set from
the p99 and the maximum printed here; the figures are copied into docs/THREATS.md. A check is
followed by an invoice: at once for doctors and pharmacists, days later for an optician's
patient who comes back for the glasses quoted (simulate/traffic.py).

    python -m bench.proofless_needs --days 60 --professionals 3000

No server: the traffic generator alone (every simulated patient is covered, so a check is
unfollowed only when the visit has no follow-up; a real professional's misses add to that, which
the margin between p99 and the bound is for)."""

from __future__ import annotations

import argparse
import random
from collections import defaultdict, deque
from datetime import date, timedelta
from typing import Any

from tierspayant.detection.budgets import MEMORY_DAYS, WEEK_DAYS, Budget, ProoflessDay, tally
from tierspayant.detection.thresholds import Thresholds
from tierspayant.simulate.traffic import PROFILES, day_of_visits

T = Thresholds()
BUDGET = Budget(20, T.account_proofless_week, T.account_proofless_month, T.unfollowed_min, T.unfollowed_followed_share)


def percentile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0


def measure(days: int, professionals: int, patients: int, seed: int, chain: int = 0,
            ) -> tuple[dict[str, dict[str, list[int]]], set[int]]:
    """(worst windows per profession, accounts whose proof-less check a budget would refuse)."""
    rng = random.Random(seed)
    professions = [("optician", "general_practitioner", "pharmacist")[i % 3] for i in range(professionals)]
    people = list(range(patients))
    last_seen: dict[tuple[int, int], date] = {}
    history: dict[int, deque[list[Any]]] = defaultdict(deque)  # [day, admitted, followed, quoted]
    later: dict[date, list[tuple[int, date]]] = defaultdict(list)  # invoice day -> (account, check day)
    worst: dict[str, dict[str, dict[int, int]]] = {p: {"day": {}, "week": {}, "month": {}} for p in PROFILES}
    opticians = [i for i, p in enumerate(professions) if p == "optician"][:chain]
    worst["chain"] = {"day": {}, "week": {}, "month": {}}
    refused: set[int] = set()
    start = date(2026, 1, 5)  # a Monday
    for n in range(days):
        day = start + timedelta(days=n)
        if day.weekday() == 6:  # closed on Sundays
            continue
        admitted: dict[int, int] = defaultdict(int)
        followed: dict[int, int] = defaultdict(int)
        quoted: dict[int, int] = defaultdict(int)
        for due in [d for d in later if d <= day]:  # glasses delivered: the PEC is invoiced
            for account, checked in later.pop(due):
                for entry in history[account]:
                    if entry[0] == checked:
                        entry[2] += 1
                        entry[3] -= 1
        for visit in day_of_visits(rng, professions, people, day):  # type: ignore[arg-type]
            if visit.with_proof:
                continue
            key = (visit.professional, visit.patient)  # type: ignore[arg-type]
            seen = last_seen.get(key)
            last_seen[key] = day
            if seen is not None and (day - seen).days < MEMORY_DAYS:
                continue  # already checked: costs nothing again
            # the budgets, as this new proof-less patient finds them (detection/budgets.py)
            days_so_far = [ProoflessDay(d, a, f, q) for d, a, f, q in history[visit.professional]]
            days_so_far.append(ProoflessDay(day, admitted[visit.professional], followed[visit.professional],
                                            quoted[visit.professional]))
            if tally(days_so_far, day).over(BUDGET) is not None:
                refused.add(visit.professional)
            admitted[visit.professional] += 1
            if PROFILES[professions[visit.professional]].invoice_line:
                followed[visit.professional] += int(visit.follow_up)  # invoiced at the counter
            elif visit.follow_up:  # a PEC at the counter, invoiced if the patient comes back
                quoted[visit.professional] += 1
                if visit.delivered_after is not None:
                    later[day + timedelta(days=visit.delivered_after)].append((visit.professional, day))
        if opticians:  # the chain's own tally: new to the organisation, summed over its accounts
            org_day = sum(admitted[a] for a in opticians)
            org_week = sum(e[1] - e[2] for a in opticians for e in history[a] if (day - e[0]).days < WEEK_DAYS - 1)
            org_month = sum(e[1] - e[2] for a in opticians for e in history[a])
            org_today = org_day - sum(followed[a] for a in opticians)
            w = worst["chain"]
            w["day"][0] = max(w["day"].get(0, 0), org_day)
            w["week"][0] = max(w["week"].get(0, 0), org_week + org_today)
            w["month"][0] = max(w["month"].get(0, 0), org_month + org_today)
        for account, profession in enumerate(professions):
            h = history[account]
            h.append([day, admitted[account], followed[account], quoted[account]])
            while (day - h[0][0]).days >= MEMORY_DAYS:
                h.popleft()
            week = sum(a - f for d, a, f, _ in h if (day - d).days < WEEK_DAYS)
            month = sum(a - f for _, a, f, _ in h)
            w = worst[profession]
            w["day"][account] = max(w["day"].get(account, 0), admitted[account])
            w["week"][account] = max(w["week"].get(account, 0), week)
            w["month"][account] = max(w["month"].get(account, 0), month)
    return {p: {k: list(v.values()) for k, v in w.items()} for p, w in worst.items()}, refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--professionals", type=int, default=3000)
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--chain", type=int, default=40, help="opticians of one organisation (an optical chain)")
    args = parser.parse_args()
    result, refused = measure(args.days, args.professionals, args.patients, args.seed, args.chain)
    print(f"{args.professionals:,} accounts, {args.days} days (Sundays closed), seed {args.seed}: the worst window of "
          "each account, then p50 / p99 / max over the accounts of each profession")
    print("| profession | new proof-less, one day | unfollowed, any 7 days | unfollowed, any 30 days |")
    print("|---|---|---|---|")
    for profession, windows in result.items():
        if profession == "chain":
            continue
        cells = [f"{percentile(v, 0.5)} / {percentile(v, 0.99)} / {max(v)}" for v in windows.values()]
        print(f"| {profession} | " + " | ".join(cells) + " |")
    if args.chain:
        cells = [str(max(v)) for v in result["chain"].values()]
        print(f"| an optical chain of {args.chain} accounts (the organisation's worst) | " + " | ".join(cells) + " |")
    account_days = args.professionals * sum(1 for n in range(args.days) if n % 7 != 6)
    print(f"\nlegitimate accounts refused a proof-less check by a default budget at least once: {len(refused)} of "
          f"{args.professionals:,} ({1000 * len(refused) / account_days:.3f} per 1,000 account-days)")


if __name__ == "__main__":
    main()
