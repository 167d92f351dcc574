"""One page of a list over 100,000 invoices (issue 15, point 4): the p50/p99 of a page of 50
and of 200 rows, through the use case (access events written and committed with each page), for
an insurer's whole list, one professional's, a status filter and the date sort, first pages and
deep ones (a keyset page costs the same wherever it starts).

    .venv/bin/python -m bench.list_bench [--invoices 100000] [--pages 400] [--postgres]

In process, on a real SQLite or PostgreSQL database; copy the table into bench/README.md."""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select

from bench.databases import fresh_database
from tierspayant.bootstrap import Platform, build
from tierspayant.config import Settings
from tierspayant.domain.adjudication import InvoiceStatus
from tierspayant.security.policy import Principal, Role
from tierspayant.services.list_records import Sort
from tierspayant.simulate.population import PopulationSpec
from tierspayant.simulate.seed import seed
from tierspayant.store import tables as t


def platform_for(postgres: bool) -> Platform:
    var, url = fresh_database("list-bench", postgres)
    platform = build(Settings(database_url=url, var_dir=var))
    seed(platform.loader, platform.reference, platform.accounts, PopulationSpec(beneficiaries=2000, professionals=60),
         var / "demo.json")
    return platform


def fill(platform: Platform, count: int) -> None:
    """``count`` invoices of insurer 1 spread over its professionals and 60 days, in batches."""
    with platform.engine.begin() as conn:
        professionals = [r[0] for r in conn.execute(select(t.professionals.c.id))]
        beneficiary = conn.execute(select(t.beneficiaries.c.id).where(t.beneficiaries.c.insurer_id == 1)).first()
        assert beneficiary is not None
        engagement = conn.execute(insert(t.engagements).values(
            number="E-BENCH", insurer_id=1, beneficiary_id=beneficiary[0], professional_id=professionals[0],
            category="optical", date_of_care=date(2026, 3, 1), valid_until=date(2026, 4, 1),
            created_at=datetime.now(UTC))).inserted_primary_key
        assert engagement is not None
        statuses = [s.value for s in (InvoiceStatus.APPROVED, InvoiceStatus.PARTIALLY_APPROVED, InvoiceStatus.REJECTED,
                                      InvoiceStatus.IN_REVIEW, InvoiceStatus.PAID)]
        rng = random.Random(3)
        for start in range(0, count, 10_000):
            conn.execute(insert(t.invoices), [{
                "insurer_id": 1, "professional_id": rng.choice(professionals), "invoice_number": f"B-{n}",
                "beneficiary_id": beneficiary[0], "engagement_id": engagement[0], "quote_id": None,
                "date_of_care": date(2026, 1, 1) + timedelta(days=rng.randrange(60)), "category": "optical",
                "fingerprint": f"{n:064d}", "care_key": f"{n:064d}", "lines_enc": "-", "claimed_amc": Decimal("10.00"),
                "approved_amc": Decimal("10.00"), "status": rng.choice(statuses), "findings_enc": "-",
                "payment_order_id": None, "created_at": datetime.now(UTC)} for n in range(start, min(count, start + 10_000))])
    platform.refresh_statistics()


def timed(platform: Platform, who: Principal, pages: int, limit: int, **query: Any) -> tuple[float, float, int]:
    """p50 and p99 (ms) of ``pages`` pages read one after the other from the list's start (then
    again from the start when it ends), and how many rows they gave."""
    times, rows, cursor = [], 0, None
    for _ in range(pages):
        started = time.perf_counter()
        page = platform.listings.invoices(who, cursor=cursor, limit=limit, **query)
        times.append((time.perf_counter() - started) * 1000)
        rows += len(page.rows)
        cursor = page.next
    return statistics.median(times), statistics.quantiles(times, n=100)[98], rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    platform = platform_for(args.postgres)
    started = time.perf_counter()
    fill(platform, args.invoices)
    print(f"{args.invoices:,} invoices loaded in {time.perf_counter() - started:.1f} s "
          f"({'PostgreSQL' if args.postgres else 'SQLite'})\n")
    insurer = Principal(0, 0, Role.INSURER_OPERATOR, insurer_id=1, request_id="bench", aal="passkey")
    with platform.engine.connect() as conn:
        professional = conn.execute(select(t.invoices.c.professional_id).limit(1)).scalar_one()
    optician = Principal(0, 0, Role.PROFESSIONAL, professional_id=professional, request_id="bench", aal="passkey")
    print("| list | rows a page | pages | p50 ms | p99 ms | rows read |")
    print("|---|---:|---:|---:|---:|---:|")
    cases: list[tuple[str, Principal, dict[str, Any]]] = [
        ("insurer, newest first", insurer, {}),
        ("insurer, in review, oldest first (the queue)", insurer, {"status": InvoiceStatus.IN_REVIEW, "sort": Sort.RECEIVED}),
        ("insurer, by date of care, 10 days", insurer, {"sort": Sort.DATE_OF_CARE_DESC, "care_from": date(2026, 1, 10),
                                                        "care_to": date(2026, 1, 19)}),
        ("one professional, newest first", optician, {}),
    ]
    for label, who, query in cases:
        for limit in (50, 200):
            p50, p99, rows = timed(platform, who, args.pages, limit, **query)
            print(f"| {label} | {limit} | {args.pages} | {p50:.2f} | {p99:.2f} | {rows:,} |")
    platform.engine.dispose()


if __name__ == "__main__":
    main()
