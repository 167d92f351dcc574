"""The simulation report (issue: detection and containment): per scenario, people exposed
before containment, time to containment, and how legitimate traffic fared during the attack
against the same window of an attack-free run of the same day; false containments per 1,000
account-days.
Markdown for the terminal and bench/SIMULATION.md, HTML with inline SVG plots."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tierspayant.detection.thresholds import Thresholds
from tierspayant.simulate.attacks import AttackResult
from tierspayant.simulate.campaign import Campaign
from tierspayant.simulate.driver import Record

LIMIT = 20
#: What an account that never follows its checks may read without a proof in 30 days
#: (detection/thresholds.py ``unfollowed_min``).
CAP = Thresholds().unfollowed_min


@dataclass(frozen=True)
class Window:
    requests: int
    success: float
    p95_ms: float
    failures: str = ""  # "status x count" of the failed ones


def window(records: Sequence[Record], start: datetime, end: datetime) -> Window:
    inside = [r for r in records if start <= r.at <= end]
    if not inside:
        return Window(0, 1.0, 0.0)
    ok = sum(1 for r in inside if 0 < r.status < 400)
    latencies = sorted(r.ms for r in inside)
    failed = Counter(r.status for r in inside if not 0 < r.status < 400)
    return Window(len(inside), ok / len(inside), latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))],
                  ", ".join(f"{status or 'dropped'} x{count}" for status, count in sorted(failed.items())))


@dataclass(frozen=True)
class Row:
    attack: AttackResult
    during: Window
    baseline: Window


@dataclass(frozen=True)
class Report:
    command: str
    seed: int
    professionals: int
    beneficiaries: int
    factor: float
    attack_factor: float | None  # the fast attacks' windows ran at this factor (both runs of day 2)
    day1: list[Record]
    free2: list[Record]  # day 2 without the attacks: the baseline
    day2: list[Record]
    rows: list[Row]
    account_days: int
    falsely_contained: set[int]
    automatic_containments: int
    wall_seconds: float

    @property
    def false_per_1000(self) -> float:
        return 1000 * len(self.falsely_contained) / max(1, self.account_days)


def build_report(command: str, seed: int, professionals: int, beneficiaries: int, factor: float,
                 attack_factor: float | None, day1: list[Record], free2: list[Record], day2: list[Record], attacks: list[AttackResult],
                 account_days: int, falsely_contained: set[int], automatic_containments: int,
                 wall_seconds: float) -> Report:
    free = [r for r in free2 if r.actor == "legit"]
    legit2 = [r for r in day2 if r.actor == "legit"]
    rows = []
    for attack in attacks:
        end = attack.ended or attack.started
        if end - attack.started < timedelta(minutes=30):
            end = attack.started + timedelta(minutes=30)  # enough legitimate requests for a p95
        rows.append(Row(attack, window(legit2, attack.started, end), window(free, attack.started, end)))
    return Report(command, seed, professionals, beneficiaries, factor, attack_factor, day1, free2, day2, rows, account_days,
                  falsely_contained,
                  automatic_containments, wall_seconds)


def _verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def markdown(report: Report) -> str:
    legit1 = [r for r in report.day1 if r.actor == "legit"]
    legit2 = [r for r in report.day2 if r.actor == "legit"]
    base = window(legit1, legit1[0].at, legit1[-1].at) if legit1 else Window(0, 1, 0)
    slow = (f"; the first 30 minutes of the fast attacks (a), (c) and (d) run at {report.attack_factor:g}x in both "
            "runs of day 2, so that an attacker going as fast as it can keeps close to its real speed in simulated "
            "time" if report.attack_factor else "")
    lines = [
        "# Detection and containment: simulation report",
        "",
        f"Command: `{report.command}` (seed {report.seed}). {report.professionals:,} professionals (a third each "
        f"opticians, GPs, pharmacists, opening hours and lunch by profession), {report.beneficiaries:,} synthetic "
        f"beneficiaries; two working days (07:00-21:00 Paris) driven over HTTP against `tiers serve` (SQLite, "
        f"2 workers) with time running {report.factor:g}x faster than the wall clock (server and simulator share "
        f"the accelerated clock{slow}); the documented default thresholds (detection/thresholds.py). Day 1 is "
        f"attack-free; day 2 runs twice from the state at the end of day 1, with the same visits: without "
        f"attacks (the baseline) and with the attacks among that traffic. Wall time {report.wall_seconds:.0f} s.",
        "",
        f"Normal traffic: {len(legit1):,} requests on day 1 and {len(legit2):,} on day 2; day 1 success "
        f"{base.success:.3%}, p95 {base.p95_ms:.1f} ms. Legitimate latency is compared, attack by attack, "
        f"with the same window of the attack-free run of day 2 (at least 30 simulated minutes).",
        "",
        "| scenario | accounts | attempts | exposed (max per account) | time to containment (simulated) | "
        "confirmed / taken over | legit success during | legit p95 during vs attack-free | verdict |",
        "|---|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for row in report.rows:
        a = row.attack
        times = sorted(a.seconds_to_containment())
        contained = (f"{len(times)}/{len(a.accounts)} contained, median {times[len(times) // 2]:.0f} s, max "
                     f"{times[-1]:.0f} s" if times else ("n/a" if not a.accounts else "not contained"))
        capped = set(a.capped_at) - set(a.contained_at)
        if capped:
            contained += f"; {len(capped)} capped (proofs required)"
        ratio = row.during.p95_ms / row.baseline.p95_ms if row.baseline.p95_ms else 0.0
        if a.scenario == "d":
            outcome, ok = f"{a.confirmed} confirmed", a.confirmed == 0
        elif a.scenario == "e":
            outcome, ok = f"{a.takeovers} taken over", a.takeovers == 0
        else:
            outcome, ok = "", a.max_exposed_per_account <= LIMIT
        legit_ok = row.during.success >= 0.999 and ratio <= 1.10
        lines.append(
            f"| ({a.scenario}) {a.title} | {len(a.accounts)} | {a.attempts:,} | {a.exposed} "
            f"({a.max_exposed_per_account}) | {contained} | {outcome} | {row.during.success:.2%} "
            f"({row.during.requests:,} req) | {row.during.p95_ms:.1f} vs {row.baseline.p95_ms:.1f} ms "
            f"({ratio:.2f}x) | attack: {_verdict(ok)}; legit: {_verdict(legit_ok)} |")
    lines += [
        "",
        f"False containments: {len(report.falsely_contained)} legitimate account(s) contained over "
        f"{report.account_days:,} account-days = **{report.false_per_1000:.2f} per 1,000 account-days** "
        f"(aim <= 1). Automatic containments in all: {report.automatic_containments}.",
        "",
        "Legitimate requests that failed during each attack (status x count): "
        + "; ".join(f"({r.attack.scenario}) {r.during.failures or 'none'}" for r in report.rows) + ".",
        "",
        "Acceptance: (a) <= 20 exposed; (b), (c) <= 20 per compromised account, each contained or capped; (d) 0 "
        "confirmed; (e) 0 taken over; "
        "legitimate success >= 99.9 % and p95 within 10 % of the attack-free run during every attack. "
        "\"Exposed\" counts distinct people whose coverage an attacker saw (a covered answer); the compromised "
        "accounts' own professionals stay home on day 2 and are not counted as legitimate traffic.",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class CampaignReport:
    """The multi-day scenarios (simulate/campaign.py): what each attacker read, when it was
    stopped, and what the normal traffic met on the same days."""

    command: str
    seed: int
    professionals: int
    beneficiaries: int
    speed: float
    days: int
    chain: int
    campaigns: list[Campaign]
    legit: list[Record]
    account_days: int
    falsely_contained: set[int]
    automatic_containments: int
    legit_proofless_p99: int  # new proof-less patients of one account in one day, p99
    legit_asked_for_proof: int  # legitimate checks refused for lack of a proof, then made with it
    legit_proofs_shown_again: int  # a proof lapsed on its way (time compression), shown afresh
    wall_seconds: float

    @property
    def false_per_1000(self) -> float:
        return 1000 * len(self.falsely_contained) / max(1, self.account_days)

    @property
    def legit_refused(self) -> int:
        """Legitimate requests refused: a proof required, a limit, a containment."""
        return sum(1 for r in self.legit if r.status in (401, 403, 429))


def campaign_markdown(report: CampaignReport) -> str:
    legit = window(report.legit, report.legit[0].at, report.legit[-1].at) if report.legit else Window(0, 1, 0)
    chain = f"; the first {report.chain} opticians work for one optical chain" if report.chain else ""
    lines = [
        "# Attacks over several days: simulation report",
        "",
        f"Command: `{report.command}` (seed {report.seed}). {report.professionals:,} professionals{chain}, "
        f"{report.beneficiaries:,} synthetic beneficiaries; {report.days} working days (07:00-21:00 Paris) one after "
        f"the other on one platform (SQLite, 2 workers), time {report.speed:g}x the wall clock; the documented default "
        f"thresholds and budgets (detection/). The attackers hold their victims' passkey sessions and work at the "
        f"opticians' hours, a fresh session each morning and whenever one is ended, until the account is suspended. "
        f"Wall time {report.wall_seconds:.0f} s.",
        "",
        "| scenario | accounts (new patients a day) | attempts | exposed without a proof (most by one account) | "
        "stopped | PECs requested | verdict |",
        "|---|---|---:|---:|---|---:|---|",
    ]
    for c in report.campaigns:
        paces = ", ".join(str(p) for p in c.paces.values())
        stops = []
        for victim in c.victims:
            if victim in c.contained_on:
                stops.append(f"contained {c.contained_on[victim]:%d/%m}")
            elif victim in c.capped_on:
                stops.append(f"capped {c.capped_on[victim]:%d/%m}")
            else:
                stops.append(f"not refused yet ({len(c.exposed.get(victim, ()))} read)")
        total = len(set().union(*c.exposed.values())) if c.exposed else 0
        # Stopped, or still under the never-followed cap: it has not asked for more than that yet.
        ok = c.max_exposed <= LIMIT and all(
            v in c.contained_on or v in c.capped_on or len(c.exposed.get(v, ())) <= CAP for v in c.victims)
        lines.append(f"| ({c.scenario}) {c.title} | {len(c.victims)} ({paces}) | {c.attempts:,} | {total} "
                     f"({c.max_exposed}) | {'; '.join(stops)} | {c.quotes_made} | {_verdict(ok)} |")
    lines += [
        "",
        f"Normal traffic over the {report.days} days: {len(report.legit):,} requests, success {legit.success:.3%}, "
        f"{report.legit_refused} refused (a proof required, a limit or a containment); failures: "
        f"{legit.failures or 'none'}; {report.legit_asked_for_proof} checks asked for the patient's proof, then "
        f"answered with it (an organisation stepped up); {report.legit_proofs_shown_again} proofs shown again "
        f"(a proof's 20 minutes are {1200 / report.speed:.1f} s of wall time here: one slow answer lapses it). "
        f"Legitimate proof-less need: p99 {report.legit_proofless_p99} new patients "
        f"without a proof per account and day (the bounds: docs/THREATS.md, \"Budgets over time\").",
        "",
        f"False containments: {len(report.falsely_contained)} legitimate account(s) contained over "
        f"{report.account_days:,} account-days = **{report.false_per_1000:.2f} per 1,000 account-days**. Automatic "
        f"containments in all: {report.automatic_containments}.",
        "",
        "Acceptance: at most 20 people exposed without a proof by any compromised account over the days, every one "
        f"contained, capped (its proof-less checks refused) or still under the cap of {CAP} people an account that "
        "never bills may read in 30 days; 0 legitimate accounts contained and 0 legitimate "
        "checks refused. \"Exposed\" counts distinct people whose coverage an attacker saw (a covered answer); "
        "capped means refused for lack of the patient's proof, contained that its sessions ended and a new sign-in "
        "was refused.",
    ]
    return "\n".join(lines) + "\n"


def _bars(title: str, labels: list[str], values: list[float], limit: float | None, unit: str) -> str:
    width, height, left, bottom = 560, 220, 50, 30
    top = max([*values, limit or 0, 1]) * 1.15
    bar = (width - left - 20) / max(1, len(values))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 30}" role="img">',
             f'<text x="{left}" y="16" font-size="14" font-weight="bold">{html.escape(title)}</text>']
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = (height - bottom - 30) * value / top
        x = left + i * bar + 8
        y = height - bottom - h
        parts.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{bar - 16:.0f}" height="{h:.0f}" fill="#3b6ea5"/>')
        parts.append(f'<text x="{x + (bar - 16) / 2:.0f}" y="{y - 4:.0f}" font-size="11" text-anchor="middle">'
                     f'{value:g}{unit}</text>')
        parts.append(f'<text x="{x + (bar - 16) / 2:.0f}" y="{height - bottom + 14:.0f}" font-size="11" '
                     f'text-anchor="middle">{html.escape(label)}</text>')
    if limit is not None:
        y = height - bottom - (height - bottom - 30) * limit / top
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.0f}" y2="{y:.0f}" stroke="#c0392b" '
                     f'stroke-dasharray="4"/><text x="{width - 12}" y="{y - 4:.0f}" font-size="11" '
                     f'text-anchor="end" fill="#c0392b">limit {limit:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def html_page(report: Report) -> str:
    labels = [f"({r.attack.scenario})" for r in report.rows]
    exposed = [float(r.attack.max_exposed_per_account) for r in report.rows]
    p95 = [round(r.during.p95_ms / r.baseline.p95_ms, 2) if r.baseline.p95_ms else 0.0 for r in report.rows]
    table = markdown(report)
    return (
        "<!doctype html><meta charset='utf-8'><title>tierspayant simulation</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}pre{white-space:pre-wrap}</style>"
        "<h1>Detection and containment: simulation report</h1>"
        + _bars("Most people exposed by one compromised account, per scenario", labels, exposed, LIMIT, "")
        + _bars("Legitimate p95 during each attack / attack-free p95", labels, p95, 1.10, "x")
        + f"<pre>{html.escape(table)}</pre>"
    )
