"""The rights check at national scale (issue 19, acceptance): p50, p99 and req/s of the secured
rights check (passkey session, no proof) against databases of different sizes, same server
settings, rounds alternated, each next to the same server's trivial endpoint.

    .venv/bin/python -m bench.scale_rights --small 100000 [--large tiers_scale] [--rounds 3] [--write]

``--large`` names a PostgreSQL database already seeded by ``bench/scale_seed.py`` (its key files
and demo credentials in var/scale); ``--small N`` seeds a fresh ``tiers_scale_small`` with N
beneficiaries (var/scale-small). Writes the "Rights check" section of bench/SCALE-RESULTS.md."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from bench.databases import ADMIN_URL, fresh_postgres
from bench.http_bench import BIN, LUA, PORT, UNLIMITED, issue_proofs, sign_in, wait_ready, wrk

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "SCALE-RESULTS.md"
BEGIN, END = "<!-- rights:begin -->", "<!-- rights:end -->"
BASE = f"http://127.0.0.1:{PORT}"


def count(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:  # the planner's estimate: an exact count of 20 M rows takes seconds
        rows = int(conn.execute(text("SELECT reltuples::bigint FROM pg_class WHERE relname = 'beneficiaries'"))
                   .scalar_one())
    engine.dispose()
    return rows


def measure(env: dict[str, str], seconds: int, proofs: list[dict[str, str]]) -> dict[str, float]:
    """The trivial endpoint, then the rights check on the demo's five sample patients without a
    proof (admitted once a day, then cached: the lookup by blind index and the writes), then on
    patients spread over the whole population, each with a new presence proof (a cold lookup
    every time: the proof-less quota would refuse a twentieth new patient)."""
    server = subprocess.Popen([BIN / "tiers", "serve", "--port", str(PORT)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_ready()
        work = Path(env["TIERS_VAR_DIR"])
        demo = json.loads((work / "demo-credentials.json").read_text())
        today = datetime.now(UTC).date().isoformat()
        token = sign_in(env, "optique.demo")
        bodies, script = work / "scale-bodies.jsonl", work / "scale-rights.lua"
        bodies.write_text("".join(json.dumps({**p, "date_of_care": today, "category": "optical"}) + "\n"
                                  for p in demo["patients"]))
        script.write_text(LUA % {"bodies": bodies, "token": token})
        wrk(["-t2", "-c32", "-d3s", "-s", str(script), BASE])  # warm-up
        health = wrk(["-t2", "-c32", f"-d{seconds}s", f"{BASE}/v1/health"])
        same = wrk(["-t2", "-c32", f"-d{seconds}s", "-s", str(script), BASE])
        spread_bodies, spread_script = work / "scale-spread.jsonl", work / "scale-spread.lua"
        spread_bodies.write_text("".join(json.dumps(p) + "\n" for p in proofs))
        spread_script.write_text(LUA % {"bodies": spread_bodies, "token": token})
        spread = wrk(["-t2", "-c32", f"-d{seconds}s", "-s", str(spread_script), BASE])
        return {"rps": same["rps"], "p50": same["p50"], "p99": same["p99"], "non2xx": same["non2xx"],
                "health": health["rps"], "spread_rps": spread["rps"], "spread_p50": spread["p50"],
                "spread_p99": spread["p99"], "spread_non2xx": spread["non2xx"]}
    finally:
        server.terminate()
        server.wait(20)


def spread_proofs(env: dict[str, str], count: int) -> list[dict[str, str]]:
    """Single-use presence proofs for patients drawn across the population (``patients_spread``)."""
    demo = json.loads((Path(env["TIERS_VAR_DIR"]) / "demo-credentials.json").read_text())
    today = datetime.now(UTC).date().isoformat()
    return issue_proofs(env, {"patients": demo.get("patients_spread") or demo["patients"]}, today, count)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", default="tiers_scale")
    parser.add_argument("--large-var", default=str(ROOT / "var" / "scale"), help="Its key files and demo credentials")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--proofs", type=int, default=25_000, help="Presence proofs per run (each single use)")
    parser.add_argument("--write", action="store_true", help="Write the section of bench/SCALE-RESULTS.md")
    args = parser.parse_args()
    # Detection counts and scores every check, as in production; its actions are out of reach
    # here: the spread run presents hundreds of distinct patients a minute through one account,
    # which is exactly what it must contain (and then nothing more is measured).
    watched = {**json.loads(UNLIMITED["TIERS_DETECTION"]), "account_distinct": [10**9] * 4,
               "organisation_distinct": [10**9] * 4, "sequential_neighbours": 10**9,
               "account_proofless_week": 10**9, "account_proofless_month": 10**9, "organisation_proofless": [10**9] * 3}
    common = {**os.environ, "TIERS_WORKERS": "2", "TIERS_RELAY": "false", **UNLIMITED,
              "TIERS_DETECTION": json.dumps(watched)}
    small_var = ROOT / "var" / "scale-small"
    small = {**common, "TIERS_VAR_DIR": str(small_var),
             "TIERS_DATABASE_URL": fresh_postgres(ADMIN_URL, "tiers_scale_small")}
    if small_var.exists():
        for path in small_var.rglob("*"):
            if path.is_file():
                path.unlink()
    # The same seed path as the large database's (chunked, parallel), so both spread their patients alike.
    subprocess.run([BIN / "tiers", "seed", "--beneficiaries", str(args.small), "--workers", "2"], env=small, check=True)
    large = {**common, "TIERS_VAR_DIR": args.large_var,
             "TIERS_DATABASE_URL": ADMIN_URL.rsplit("/", 1)[0] + "/" + args.large}
    sides = {"small": small, "large": large}
    sizes = {name: count(env["TIERS_DATABASE_URL"]) for name, env in sides.items()}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, env in sides.items():
            runs[name].append(measure(env, args.seconds, spread_proofs(env, args.proofs)))
            print(name, runs[name][-1], flush=True)
    median = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
    rows = "".join(
        f"| {sizes[name]:,} | {m['health']:,.0f} | {m['rps']:,.0f} | {m['p50']:.1f} | {m['p99']:.1f} | "
        f"{m['rps'] / m['health']:.1%} | {m['spread_rps']:,.0f} | {m['spread_p50']:.1f} | {m['spread_p99']:.1f} | "
        f"{m['non2xx'] + m['spread_non2xx']:.0f} |\n" for name, m in median.items())
    same = median["large"]["p99"] / median["small"]["p99"]
    spread = median["large"]["spread_p99"] / median["small"]["spread_p99"]
    section = (f"{BEGIN}\n## Rights check: {sizes['large']:,} vs {sizes['small']:,} beneficiaries\n\n"
               f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `python -m bench.scale_rights --small {args.small}"
               f" --large {args.large}` on PostgreSQL: the same server settings (granian 2 workers, wrk 2 threads, 32"
               f" connections, {args.seconds} s a run), the two databases alternated for {args.rounds} rounds, medians."
               " A passkey session's rights check (detection's counters, the engagement and its access event written):"
               " *same 5*: the demo's five sample patients without proof (admitted once, then each a lookup by"
               " blind index that stays in the database's cache); *spread*: patients drawn across the whole"
               " population, each with a new single-use presence proof (a cold lookup each time).\n\n"
               "| beneficiaries | trivial req/s | same 5 req/s | p50 ms | p99 ms | ratio | spread req/s | p50 ms"
               " | p99 ms | non-2xx |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n" + rows +
               f"\np99 at {sizes['large']:,} / p99 at {sizes['small']:,}: **{same:.2f}x** on the same five, "
               f"**{spread:.2f}x** spread (aim <= 1.5x).\n{END}\n")
    print(section)
    if args.write:
        text = RESULTS.read_text() if RESULTS.exists() else "# At national scale (issue 19)\n\n"
        if BEGIN in text:
            text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END) + 1:]
        else:
            text += "\n" + section
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
