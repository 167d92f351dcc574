"""Membership files (issue 15, point 2): lines/s of a first import (every line creates its
beneficiary: identity sealed, rights, access event), of the same file again (every line
compared, nothing written), with 0.1 % bad lines of every kind planted and all reported.

    .venv/bin/python -m bench.member_import_bench [--lines 1000000] [--postgres]

In process, on a real SQLite or PostgreSQL database; copy the output into bench/README.md."""

from __future__ import annotations

import argparse
import time

from bench.databases import fresh_database
from tierspayant.bootstrap import build
from tierspayant.config import Settings
from tierspayant.services.accounts import OPERATOR_SHELL
from tierspayant.simulate.member_file import write_member_file
from tierspayant.simulate.population import PopulationSpec
from tierspayant.simulate.seed import seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    var, url = fresh_database("member-bench", args.postgres)
    platform = build(Settings(database_url=url, var_dir=var))
    seed(platform.loader, platform.reference, platform.accounts, PopulationSpec(beneficiaries=1000, professionals=6),
         var / "demo.json")
    path = var / "members.csv"
    started = time.perf_counter()
    planted = write_member_file(path, args.lines)
    print(f"{'PostgreSQL' if args.postgres else 'SQLite'}: {args.lines:,} lines written in "
          f"{time.perf_counter() - started:.1f} s ({path.stat().st_size / 1e6:.0f} MB), {len(planted)} bad ones planted")
    for label in ("first import", "same file again"):
        started = time.perf_counter()
        report = platform.members.import_file(OPERATOR_SHELL, "990000011", path)
        took = time.perf_counter() - started
        found = {r.line: r.field for r in report.refusals}
        s = report.state
        print(f"{label}: {took:.1f} s, {args.lines / took:,.0f} lines/s; created {s.created:,}, updated {s.updated:,}, "
              f"unchanged {s.unchanged:,}, refused {s.refused:,} (planted faults all reported with their field: "
              f"{found == planted})")
        platform.refresh_statistics()
    platform.engine.dispose()


if __name__ == "__main__":
    main()
