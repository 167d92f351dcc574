"""The transparency log's uncovered tail under load (issue 14, point 2): events not yet covered
by a signed checkpoint could be deleted unseen, so the server signs one once
TIERS_CHECKPOINT_SECONDS passed or TIERS_CHECKPOINT_EVENTS were appended, whichever first.

A server (granian, 2 workers, the default settings) takes rights checks from wrk at full speed
for ``--seconds``; every 100 ms this samples the log's size and its latest signed checkpoint:
the tail (events beyond the checkpoint) and its age (how long the oldest uncovered event has
waited). Prints the largest of each and their 99th percentiles.

    .venv/bin/python -m bench.log_tail [--seconds 30] [--postgres]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, func, select

from bench.databases import fresh_postgres
from bench.http_bench import BASE, BIN, LUA, PORT, UNLIMITED, sign_in, wait_ready, wrk
from tierspayant.store import tables as t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--postgres", metavar="ADMIN_URL", nargs="?", const="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tiers-tail-"))
    env = {**__import__("os").environ, "TIERS_VAR_DIR": str(work), "TIERS_WORKERS": "2", **UNLIMITED}
    env["TIERS_DATABASE_URL"] = fresh_postgres(args.postgres, "tiers_tail") if args.postgres else f"sqlite:///{work / 'tail.db'}"
    subprocess.run([BIN / "tiers", "seed", "--beneficiaries", "5000"], env=env, check=True, capture_output=True)
    server = subprocess.Popen([BIN / "tiers", "serve", "--port", str(PORT)], env=env, stdout=subprocess.DEVNULL)
    samples: list[tuple[int, float]] = []
    done = threading.Event()
    engine = create_engine(env["TIERS_DATABASE_URL"])

    def sample() -> None:
        e = t.audit_events.c
        while not done.is_set():
            with engine.connect() as conn:
                size = conn.execute(select(t.audit_head.c.size)).scalar() or 0
                covered = conn.execute(select(func.max(t.audit_checkpoints.c.size))).scalar() or 0
                oldest = conn.execute(select(e.at).where(e.seq == covered)).scalar() if size > covered else None
            age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0
            samples.append((size - covered, age))
            time.sleep(0.1)

    try:
        wait_ready()
        demo = json.loads((work / "demo-credentials.json").read_text())
        today = datetime.now(UTC).date().isoformat()
        bodies = work / "bodies.jsonl"
        bodies.write_text("".join(json.dumps({**p, "date_of_care": today, "category": "optical"}) + "\n"
                                  for p in demo["patients"]))
        script = work / "rights.lua"
        script.write_text(LUA % {"bodies": bodies, "token": sign_in(env, "optique.demo")})
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        load = wrk(["-t2", f"-c{args.connections}", f"-d{args.seconds}s", "-s", str(script), BASE])
        done.set()
        sampler.join()
    finally:
        server.terminate()
        server.wait(10)
    tails = sorted(s[0] for s in samples)
    ages = sorted(s[1] for s in samples)
    store = "PostgreSQL" if args.postgres else "SQLite"
    print(f"## The log's uncovered tail under load ({store})\n")
    print(f"{load['rps']:,.0f} rights checks/s for {args.seconds} s ({args.connections} connections), "
          f"{len(samples)} samples every 100 ms; checkpoints every 5 s or 1,000 events (defaults).\n")
    print("| | largest | p99 | median |\n|---|---:|---:|---:|")
    print(f"| events beyond the latest signed checkpoint | {tails[-1]:,} | {tails[int(len(tails) * 0.99) - 1]:,} | "
          f"{statistics.median(tails):,.0f} |")
    print(f"| age of the oldest uncovered event (s) | {ages[-1]:.2f} | {ages[int(len(ages) * 0.99) - 1]:.2f} | "
          f"{statistics.median(ages):.2f} |")
    print(f"\nCommand: `.venv/bin/python -m bench.log_tail --seconds {args.seconds}"
          f"{' --postgres' if args.postgres else ''}`. Base URL {BASE}.")


if __name__ == "__main__":
    main()
