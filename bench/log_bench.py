"""Transparency-log benchmark: append rate, checkpoint and `verify` time, and the two scope
queries (one beneficiary's history, one account's exposure in a window) over a large log.

    .venv/bin/python bench/log_bench.py [--events 1000000] [--query-events 10000000]
    .venv/bin/python bench/log_bench.py --append-only [--postgres] [--rounds 3]

Builds the log on a fresh SQLite database through the platform's own append path (access events
buffered in a unit of work, written at commit), then writes bench/LOG-RESULTS.md.
``--append-only`` measures the append alone (one event a transaction, then 100: the rights
check's group commit), on SQLite or a fresh PostgreSQL database (its monthly partitions since
migration 0026), and prints it: run it with PYTHONPATH on two trees to compare them."""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tierspayant.audit.events import AccessEvent, Category, Outcome, Tag
from tierspayant.bootstrap import build
from tierspayant.config import Settings
from tierspayant.security.policy import Principal, Role

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 10, 1, tzinfo=UTC)
OFFICER = Principal(0, 0, Role.SECURITY_OFFICER)


def synthetic(rng: random.Random, n: int, offset: int, start: datetime = START) -> list[AccessEvent]:
    out = []
    for i in range(n):
        account = rng.randrange(1, 5001)
        out.append(AccessEvent(
            at=start + timedelta(seconds=(offset + i) * 0.25), tag=Tag.RIGHTS_CHECK, account_id=account,
            organisation_id=account // 3 + 1, professional_id=account, beneficiary=f"b_{rng.randrange(200_000):06d}",
            insurer_id=rng.randrange(1, 4), categories=(Category.COVERAGE,), purpose="tiers payant: rights check for care",
            outcome=Outcome.OK, request_id=f"{offset + i:032x}", ref=None))
    return out


def append(platform: object, total: int, batch: int, rng: random.Random, already: int,
           start: datetime = START) -> float:
    uow = platform.uow  # type: ignore[attr-defined]
    started = time.perf_counter()
    done = 0
    while done < total:
        n = min(batch, total - done)
        events = synthetic(rng, n, already + done, start)
        with uow() as repos:
            repos.log.append_events(events)
        done += n
    return total / (time.perf_counter() - started)


def append_only(postgres: bool, rounds: int) -> None:
    """The append rate alone, ``rounds`` times, the median printed (PostgreSQL: one fresh
    database, its events dated now, in the current month's partition)."""
    import statistics

    from sqlalchemy import create_engine, text

    from bench.databases import ADMIN_URL, fresh_database

    work, url = fresh_database("log-append", postgres)
    platform = build(Settings(database_url=url, var_dir=work))
    rng = random.Random(7)
    now = datetime.now(UTC).replace(microsecond=0)  # dated now: in the partition created ahead
    single, grouped, done = [], [], 0
    for _ in range(rounds):
        single.append(append(platform, 2_000, 1, rng, done, now))
        done += 2_000
        grouped.append(append(platform, 50_000, 100, rng, done, now))
        done += 50_000
    where = "PostgreSQL" if postgres else "SQLite"
    print(f"{where}: one event a transaction {statistics.median(single):,.0f} events/s "
          f"(rounds {', '.join(f'{x:,.0f}' for x in single)}); 100 a transaction {statistics.median(grouped):,.0f} "
          f"events/s (rounds {', '.join(f'{x:,.0f}' for x in grouped)})")
    platform.engine.dispose()
    if postgres:
        with create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--query-events", type=int, default=10_000_000)
    parser.add_argument("--append-only", action="store_true", help="measure the append alone and print it")
    parser.add_argument("--postgres", action="store_true", help="with --append-only: on a fresh PostgreSQL database")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.append_only:
        append_only(args.postgres, args.rounds)
        return
    work = Path(tempfile.mkdtemp(prefix="tiers-log-bench-"))
    platform = build(Settings(database_url=f"sqlite:///{work / 'log.db'}", var_dir=work))
    rng = random.Random(7)
    lines = []
    single = append(platform, 2_000, 1, rng, 0)
    lines.append(f"| append, one event per transaction | {single:,.0f} events/s |")
    grouped = append(platform, 20_000, 100, rng, 2_000)
    lines.append(f"| append, 100 events per transaction (group commit) | {grouped:,.0f} events/s |")
    bulk = append(platform, args.events - 22_000, 10_000, rng, 22_000)
    lines.append(f"| append, 10,000 events per transaction | {bulk:,.0f} events/s |")
    t0 = time.perf_counter()
    checkpoint = platform.audit.checkpoint()
    lines.append(f"| first checkpoint of {checkpoint.size:,} events (all subtree hashes) | {time.perf_counter() - t0:.1f} s |")
    t0 = time.perf_counter()
    report = platform.audit.verify(batch=50_000)
    assert report.ok, report.problems
    lines.append(f"| `tiers audit verify` over {report.events:,} events | {time.perf_counter() - t0:.1f} s |")
    t0 = time.perf_counter()
    proof = platform.audit.inclusion(123_456 % checkpoint.size)
    lines.append(f"| inclusion proof ({len(proof.hashes)} hashes) | {(time.perf_counter() - t0) * 1000:.1f} ms |")
    if args.query_events > args.events:
        rate = append(platform, args.query_events - args.events, 20_000, rng, args.events)
        lines.append(f"| append up to {args.query_events:,} events, 20,000 per transaction | {rate:,.0f} events/s |")
    size = platform.audit.size()
    with platform.uow(readonly=True) as repos:
        t0 = time.perf_counter()
        history = repos.log.events_of_beneficiary("b_001234")
        history_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        exposure = repos.log.events_of_actor(account_id=42, organisation_id=None, start=START + timedelta(days=2),
                                         end=START + timedelta(days=3))
        exposure_ms = (time.perf_counter() - t0) * 1000
    lines.append(f"| one beneficiary's history over {size:,} events ({len(history)} events) | {history_ms:.1f} ms |")
    lines.append(f"| one account's exposure over one day, {size:,} events ({len(exposure)} events) | {exposure_ms:.1f} ms |")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    report_md = (f"# Transparency log benchmark\n\nMeasured {when} on this 2-core machine, SQLite, synthetic rights-check "
                 f"events (5,000 accounts, 200,000 beneficiaries). Command: `.venv/bin/python bench/log_bench.py "
                 f"--events {args.events} --query-events {args.query_events}`.\n\n| what | figure |\n|---|---:|\n"
                 + "\n".join(lines) + "\n")
    (ROOT / "bench" / "LOG-RESULTS.md").write_text(report_md)
    print(report_md)


if __name__ == "__main__":
    main()
