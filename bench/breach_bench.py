"""Breach response at scale (issue 14): how long the answer takes when it is needed.

1. **One account's scope over 30 days among 10 M events** (aim <= 1 s): a log of ``--events``
   synthetic rights-check events over 30 days (5,000 accounts), checkpointed as the server keeps
   it; an incident on one account over the whole window; ``compute_scope`` timed (the window's
   leaves found by bisection, the account's events by index, the scope stored).
2. **The whole package for 100,000 people** (aim <= 15 min): ``--people`` synthetic
   beneficiaries seeded; an incident declaring the key-encryption key compromised (every sealed
   row exposed); scope, the processor's notice and the Art. 33 report with its PDF, then every
   person's notices (letter, e-mail, SMS) rendered, linted and queued -- each step timed.

    .venv/bin/python -m bench.breach_bench [--events 10000000] [--people 100000]

Writes bench/BREACH-RESULTS.md."""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, update

from tierspayant.audit.events import AccessEvent, Category, Outcome, Tag
from tierspayant.audit.merkle import leaf_hash
from tierspayant.bootstrap import build
from tierspayant.breach.report import to_html
from tierspayant.config import Settings
from tierspayant.delivery.pdf import html_to_pdf
from tierspayant.security.policy import Principal, Role
from tierspayant.services.incidents import IncidentRequest
from tierspayant.simulate.population import PopulationSpec
from tierspayant.simulate.seed import seed
from tierspayant.store import tables as t

ROOT = Path(__file__).resolve().parent.parent
DAYS = 30


def build_log(platform: object, events: int, start: datetime) -> float:
    """``events`` events over DAYS days, written straight into the log's table (canonical
    entries and RFC 9162 leaf hashes as the append path makes them); events/s."""
    engine = platform.engine  # type: ignore[attr-defined]
    rng = random.Random(7)
    step = DAYS * 86400 / events
    began = time.perf_counter()
    batch = 50_000
    for first in range(0, events, batch):
        rows = []
        for seq in range(first, min(events, first + batch)):
            account = rng.randrange(1, 5001)
            event = AccessEvent(
                at=start + timedelta(seconds=seq * step), tag=Tag.RIGHTS_CHECK, account_id=account,
                organisation_id=account // 3 + 1, professional_id=account,
                beneficiary=f"b_{rng.randrange(1_000_000):07d}", insurer_id=rng.randrange(1, 4),
                categories=(Category.COVERAGE,), purpose="tiers payant: rights check for care",
                outcome=Outcome.OK if rng.random() < 0.9 else Outcome.NOT_FOUND, request_id=f"{seq:032x}",
                session_id=account)
            entry = event.canonical()
            rows.append({"seq": seq, "at": event.at, "tag": event.tag.value, "account_id": account,
                         "organisation_id": event.organisation_id, "beneficiary": event.beneficiary,
                         "insurer_id": event.insurer_id, "entry": entry.decode(), "leaf_hash": leaf_hash(entry).hex()})
        with engine.begin() as conn:
            conn.execute(insert(t.audit_events), rows)
            conn.execute(update(t.audit_head).values(size=min(events, first + batch)))
        print(f"\r  log: {min(events, first + batch):,} / {events:,} events", end="", flush=True)
    print()
    return events / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--people", type=int, default=100_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tiers-breach-bench-"))
    platform = build(Settings(database_url=f"sqlite:///{work / 'breach.db'}", var_dir=work))
    lines: list[str] = []
    # -- 2's population first (the log's synthetic events come after its few real ones) -------
    t0 = time.perf_counter()
    spec = PopulationSpec(beneficiaries=args.people, professionals=60, seed=3)
    seed(platform.loader, platform.reference, platform.accounts, spec, work / "demo.json")
    lines.append(f"| seed {args.people:,} synthetic beneficiaries | {time.perf_counter() - t0:.1f} s |")
    with platform.uow(readonly=True) as tx:
        officer_account = tx.accounts.account_by_username("securite.demo")
        phished = tx.accounts.account_by_username("optique.demo")  # the log's synthetic accounts are 1..5000
    assert officer_account is not None and phished is not None
    officer = Principal(officer_account.id, 0, Role.SECURITY_OFFICER, request_id="bench")
    # -- 1. one account over 30 days among the log's events ------------------------------------
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=DAYS + 1)
    rate = build_log(platform, args.events, start)
    lines.append(f"| build a log of {args.events:,} events over {DAYS} days (bulk, leaf hashes) | {rate:,.0f} events/s |")
    t0 = time.perf_counter()
    checkpoint = platform.audit.checkpoint()
    lines.append(f"| sign the checkpoint of {checkpoint.size:,} events (the server keeps it current) | "
                 f"{time.perf_counter() - t0:.1f} s |")
    incident = platform.incidents.open(officer, IncidentRequest(
        "bench: one phished account", now, start, start + timedelta(days=DAYS), accounts=(phished.id,)))
    t0 = time.perf_counter()
    scope = platform.incidents.compute_scope(officer, incident.id)
    one = time.perf_counter() - t0
    events_read = sum(len(e.seqs) for c in scope.controllers.values() for e in c.people.values())
    lines.append(f"| **scope of one account over {DAYS} days among {args.events:,} events** ({scope.people():,} people, "
                 f"{events_read:,} events relied on) | **{one:.2f} s** (aim <= 1 s) |")
    t0 = time.perf_counter()
    check = platform.incidents.verify_scope(officer, incident.id, batch=50_000)
    assert check.ok, check.lines
    lines.append(f"| verify-scope of that incident (every leaf rehashed against the signed checkpoint) | "
                 f"{time.perf_counter() - t0:.1f} s |")
    # -- 2. the whole package for every seeded person --------------------------------------------
    package = time.perf_counter()
    wide = platform.incidents.open(officer, IncidentRequest(
        "bench: the key-encryption key compromised", now, now - timedelta(days=1), now, kek=True))
    t0 = time.perf_counter()
    scope = platform.incidents.compute_scope(officer, wide.id)
    lines.append(f"| scope: KEK compromised, every sealed row ({scope.people():,} people) | {time.perf_counter() - t0:.1f} s |")
    t0 = time.perf_counter()
    for insurer in sorted(scope.controllers):
        platform.incident_reports.report(officer, wide.id, insurer, "processor_notice")
    platform.incidents.advance(officer, wide.id, "controllers_informed")
    reports = [platform.incident_reports.report(officer, wide.id, insurer) for insurer in sorted(scope.controllers)]
    pdf = [html_to_pdf(to_html(r)) for r in reports]
    lines.append(f"| processor notices, Art. 33 reports and their PDF ({len(reports)} controllers, "
                 f"{sum(len(p) for p in pdf) // 1024} KiB) | {time.perf_counter() - t0:.1f} s |")
    for insurer in sorted(scope.controllers):
        platform.incidents.advance(officer, wide.id, "cnil_notified", insurer_id=insurer)
    t0 = time.perf_counter()
    queued = platform.incident_reports.queue_notices(officer, wide.id)
    lines.append(f"| notices rendered, linted and queued: {queued['queued']:,} ({queued['by_channel']}), "
                 f"{queued['failed_lint']} refused by the lint | {time.perf_counter() - t0:.1f} s |")
    total = time.perf_counter() - package
    lines.append(f"| **the whole package for {scope.people():,} people** | **{total / 60:.1f} min** (aim <= 15 min) |")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (f"# Breach response benchmark\n\nMeasured {when} on this 2-core machine, SQLite, in process. Command: "
            f"`.venv/bin/python -m bench.breach_bench --events {args.events} --people {args.people}`.\n\n"
            "| what | figure |\n|---|---:|\n" + "\n".join(lines) + "\n")
    (ROOT / "bench" / "BREACH-RESULTS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
