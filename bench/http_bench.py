"""HTTP benchmark: the rights check and the claim flow (quote -> PEC -> invoice) against the
same server's trivial endpoint (GET /v1/health), measured in one run.

    make bench            # or: .venv/bin/python bench/http_bench.py [--seconds 10]

Starts `tiers serve` on a fresh SQLite database (or TIERS_DATABASE_URL) seeded with a synthetic
population, drives it with wrk (Debian package) over loopback, and writes bench/RESULTS.md."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.databases import fresh_postgres
from tierspayant.simulate.driver import wait_until_serving

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PORT = 8765
UNLIMITED = {"TIERS_SESSION_RATE": "1e9", "TIERS_SESSION_BURST": "1e9", "TIERS_SESSION_IN_FLIGHT": "100000",
             "TIERS_ACCOUNT_RATE": "1e9", "TIERS_ACCOUNT_BURST": "1e9",
             # one account runs every claim flow of the bench within seconds: no reads limit either
             "TIERS_DETECTION": json.dumps({"account_reads_hour": 10**9, "engagement_reads_hour": 10**9})}
BASE = f"http://127.0.0.1:{PORT}"

POST_LUA = """
-- Each wrk thread runs its own copy of this script: the threads take disjoint halves of the
-- bodies, so that a single-use presence proof is never sent twice.
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
local bodies = {}
local i = 0
local f = io.open("%(bodies)s")
for line in f:lines() do bodies[#bodies + 1] = line end
f:close()
function init(args)
  i = (id or 0) * math.floor(#bodies / 2)
end
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", "%(path)s", %(headers)s, bodies[i])
end
"""
#: The rights check through the API, with a bearer token (``LUA % {"bodies": ..., "token": ...}``).
LUA = POST_LUA.replace('"%(path)s", %(headers)s', '"/v1/rights-checks", {["content-type"] = "application/json", '
                                                  '["authorization"] = "Bearer %(token)s"}')


def wrk(args: list[str]) -> dict[str, float]:
    out = subprocess.run(["wrk", "--latency", *args], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {"rps": rate, "p50": ms("50%"), "p99": ms("99%"), "non2xx": float(errors.group(1)) if errors else 0.0}


def wait_ready() -> None:
    if not wait_until_serving(BASE):
        sys.exit("server did not start")


def issue_proofs(env: dict[str, str], demo: dict[str, object], today: str, count: int) -> list[dict[str, str]]:
    """Pre-issue presence proofs as the patients' insurer app would (same key as the server)."""
    from datetime import date

    from tierspayant.bootstrap import build
    from tierspayant.config import Settings

    platform = build(Settings.from_env(env), migrate=False)
    patients = demo["patients"]  # type: ignore[index]
    out = []
    for n in range(count):
        p = patients[n % len(patients)]
        proof = platform.presence.issue(p["amc_number"], p["member_number"], p["nir"], date.fromisoformat(p["birth_date"]))
        out.append({**p, "date_of_care": today, "category": "optical", "presence_proof": proof})
    platform.engine.dispose()
    return out


def sign_in(env: dict[str, str], username: str) -> str:
    """A passkey session (the demo's simulated authenticator), as practice software would hold."""
    out = subprocess.run([BIN / "tiers", "demo", "token", username, "--base-url", BASE], env=env, check=True,
                         capture_output=True, text=True).stdout
    return out.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--beneficiaries", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--flows", type=int, default=300)
    parser.add_argument("--proofs", type=int, default=60_000,
                        help="Presence proofs to pre-issue for the presence-proof run (each is single use)")
    parser.add_argument("--compare-no-log", action="store_true",
                        help="Also measure a second server with the access log switched off (same run)")
    parser.add_argument("--compare-encryption", action="store_true",
                        help="Also measure a server whose database stores protected fields in clear (same run)")
    parser.add_argument("--compare-detection", action="store_true",
                        help="Also measure a server with detection switched off (same run)")
    parser.add_argument("--compare-checkpoints", action="store_true",
                        help="Also measure a server signing checkpoints only every 60 s (the cadence before issue 14: "
                             "the cost of 5 s / 1,000 events, same run)")
    parser.add_argument("--compare-tree", metavar="PATH",
                        help="Also measure another checkout's code (e.g. `git worktree add /tmp/before HEAD~1`), "
                             "seeded alike, alternated with this one in the same run: rights check and trivial "
                             "endpoint per round, so that the ratio is compared within each round")
    parser.add_argument("--rounds", type=int, default=3, help="Alternated rounds of the --compare-* runs")
    parser.add_argument("--postgres", metavar="ADMIN_URL", nargs="?", const="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                        help="Run on a fresh PostgreSQL database created next to ADMIN_URL's")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk (make bench does it)")
    work = Path(tempfile.mkdtemp(prefix="tiers-bench-"))
    # One token drives wrk's 32 connections as fast as the server answers: the per-session and
    # per-account rate limits (docs/THREATS.md, "Floods") are lifted, their bookkeeping kept.
    env = {**os.environ, "TIERS_VAR_DIR": str(work), "TIERS_WORKERS": "2", **UNLIMITED}
    env.setdefault("TIERS_DATABASE_URL", f"sqlite:///{work / 'bench.db'}")
    if args.postgres:
        env["TIERS_DATABASE_URL"] = fresh_postgres(args.postgres)
    subprocess.run([BIN / "tiers", "seed", "--beneficiaries", str(args.beneficiaries)], env=env, check=True)
    server = subprocess.Popen([BIN / "tiers", "serve", "--port", str(PORT)], env=env, stdout=subprocess.DEVNULL)
    try:
        wait_ready()
        demo = json.loads((work / "demo-credentials.json").read_text())
        token = sign_in(env, "optique.demo")
        today = datetime.now(UTC).date().isoformat()
        bodies = work / "bodies.jsonl"
        bodies.write_text("".join(json.dumps({**p, "date_of_care": today, "category": "optical"}) + "\n"
                                  for p in demo["patients"]))
        script = work / "rights.lua"
        script.write_text(LUA % {"bodies": bodies, "token": token})
        common = ["-t2", f"-c{args.connections}", f"-d{args.seconds}s"]
        wrk([*common[:2], "-d3s", f"{BASE}/v1/health"])  # warm-up
        health = wrk([*common, f"{BASE}/v1/health"])
        rights = wrk([*common, "-s", str(script), BASE])
        print(f"health {health['rps']:,.0f} req/s, rights check {rights['rps']:,.0f} req/s", flush=True)
        # The same with the patient's presence proof: each request a new, single-use proof.
        proof_bodies = work / "proof-bodies.jsonl"
        proof_bodies.write_text("".join(json.dumps(body) + "\n" for body in issue_proofs(env, demo, today, args.proofs)))
        proof_script = work / "rights-proofs.lua"
        proof_script.write_text(LUA % {"bodies": proof_bodies, "token": sign_in(env, "medecin.demo")})
        with_proofs = wrk([*common, "-s", str(proof_script), BASE])
        print(f"rights check with presence proofs {with_proofs['rps']:,.0f} req/s", flush=True)
        flow = claim_flow(token, demo["patients"], today, args.flows)
    finally:
        server.terminate()
        server.wait(10)
    logged_runs: list[float] = []
    unlogged_runs: list[float] = []
    if args.compare_no_log:
        logged_runs, unlogged_runs = alternate(args, [env, {**env, "TIERS_UNSAFE_NO_ACCESS_LOG": "1"}], today)
        print(f"log on {logged_runs}, log off {unlogged_runs}", flush=True)
    watched_runs: list[float] = []
    unwatched_runs: list[float] = []
    if args.compare_detection:
        watched_runs, unwatched_runs = alternate(args, [env, {**env, "TIERS_UNSAFE_NO_DETECTION": "1"}], today,
                                                 rounds=args.rounds)
        print(f"detection on {watched_runs}, off {unwatched_runs}", flush=True)
    frequent_runs: list[float] = []
    sparse_runs: list[float] = []
    if args.compare_checkpoints:
        sparse = {**env, "TIERS_CHECKPOINT_SECONDS": "60", "TIERS_CHECKPOINT_EVENTS": str(10**9)}
        frequent_runs, sparse_runs = alternate(args, [env, sparse], today, rounds=args.rounds)
        print(f"checkpoints every 5 s / 1,000 events {frequent_runs}, every 60 s {sparse_runs}", flush=True)
    sealed_runs: list[float] = []
    clear_runs: list[float] = []
    if args.compare_encryption:
        # A second database, seeded with the protected fields in clear (same population).
        clear_env = {**env, "TIERS_VAR_DIR": str(work / "clear"), "TIERS_UNSAFE_PLAINTEXT_FIELDS": "1",
                     "TIERS_DATABASE_URL": f"sqlite:///{work / 'clear' / 'bench.db'}"}
        if args.postgres:
            clear_env["TIERS_DATABASE_URL"] = fresh_postgres(args.postgres, "tiers_bench_clear")
        subprocess.run([BIN / "tiers", "seed", "--beneficiaries", str(args.beneficiaries)], env=clear_env, check=True)
        sealed_runs, clear_runs = alternate(args, [env, clear_env], today)
        print(f"encrypted {sealed_runs}, clear {clear_runs}", flush=True)
    tree_rounds: list[list[tuple[float, float]]] = []
    if args.compare_tree:
        # Both sides on databases seeded alike and untouched since (this checkout's first one
        # holds the writes of the runs above: an unequal start on PostgreSQL).
        here_env = {**env, "TIERS_VAR_DIR": str(work / "here"), "TIERS_DATABASE_URL": f"sqlite:///{work / 'here' / 'bench.db'}"}
        # Every tree since issue 3 knows the rate settings: without them the other side is throttled.
        tree_env = {**env, "PYTHONPATH": str(Path(args.compare_tree).resolve() / "src"),
                    "TIERS_VAR_DIR": str(work / "tree"), "TIERS_DATABASE_URL": f"sqlite:///{work / 'tree' / 'bench.db'}"}
        if args.postgres:
            here_env["TIERS_DATABASE_URL"] = fresh_postgres(args.postgres, "tiers_bench_here")
            tree_env["TIERS_DATABASE_URL"] = fresh_postgres(args.postgres, "tiers_bench_tree")
        for side in (here_env, tree_env):
            subprocess.run([BIN / "tiers", "seed", "--beneficiaries", str(args.beneficiaries)], env=side, check=True)
        tree_rounds = alternate_with_health(args, [here_env, tree_env], today, rounds=args.rounds)
        print(f"this tree {tree_rounds[0]}, {args.compare_tree} {tree_rounds[1]}", flush=True)
    ratio = rights["rps"] / health["rps"]
    store = "PostgreSQL" if args.postgres else "SQLite"
    report = render(args, store, health, rights, flow, ratio)
    report += (f"\nWith the patient's presence proof (a new single-use Ed25519-signed proof on every request, "
               f"verified and consumed): {with_proofs['rps']:,.0f} req/s, p50 {with_proofs['p50']:.2f} ms, "
               f"p99 {with_proofs['p99']:.2f} ms, non-2xx {with_proofs['non2xx']:.0f} -- "
               f"{with_proofs['rps'] / health['rps']:.0%} of the trivial endpoint.\n")
    for label, off_means, on_runs, off_runs, aim in (
            ("Detection", "TIERS_UNSAFE_NO_DETECTION=1", watched_runs, unwatched_runs, ""),
            ("Checkpoints every 5 s or 1,000 events", "checkpoints every 60 s", frequent_runs, sparse_runs, ""),
            ("Field encryption", "a database seeded with TIERS_UNSAFE_PLAINTEXT_FIELDS=1: the same envelopes "
             "base64-encoded in clear, same code path", sealed_runs, clear_runs, " (aim <= 10 %)"),
            ("The access log", "TIERS_UNSAFE_NO_ACCESS_LOG=1", logged_runs, unlogged_runs, " (aim <= 15 %)")):
        if on_runs:
            report += layer_cost(label, off_means, on_runs, off_runs, aim)
    if tree_rounds:
        report += tree_comparison(args.compare_tree, *tree_rounds)
    out = ROOT / "bench" / ("RESULTS-postgres.md" if args.postgres else "RESULTS.md")
    out.write_text(report)
    print(report)


def layer_cost(label: str, off_means: str, on_runs: list[float], off_runs: list[float], aim: str) -> str:
    """One layer's cost on the rights check: servers with it on and off, alternated, medians."""
    on, off = statistics.median(on_runs), statistics.median(off_runs)
    return (f"\n{label} on vs off (servers alternated, off = {off_means}; {len(on_runs)} rounds of 8 s each, same run): median "
            f"{on:,.0f} vs {off:,.0f} req/s -- it costs {1 - on / off:.0%}{aim}. Rounds: on "
            f"{', '.join(f'{r:,.0f}' for r in on_runs)}; off {', '.join(f'{r:,.0f}' for r in off_runs)}.\n")


def tree_comparison(tree: str, here: list[tuple[float, float]], there: list[tuple[float, float]]) -> str:
    """This checkout against another one, round by round: (rights, health) req/s each."""
    def ratios(runs: list[tuple[float, float]]) -> list[float]:
        return [r / h for r, h in runs]

    mine, theirs = statistics.median(ratios(here)), statistics.median(ratios(there))
    rows = "".join(f"| {n + 1} | {a[0]:,.0f} / {a[1]:,.0f} = {a[0] / a[1]:.1%} | {b[0]:,.0f} / {b[1]:,.0f} = "
                   f"{b[0] / b[1]:.1%} |\n" for n, (a, b) in enumerate(zip(here, there, strict=True)))
    return (f"\nThis checkout against `{tree}` (servers alternated, each seeded alike; rights check / trivial "
            f"endpoint of the same server in each round):\n\n| round | this checkout | {tree} |\n|---|---:|---:|\n"
            f"{rows}\nMedian ratio: this checkout {mine:.1%}, {tree} {theirs:.1%}.\n")


def alternate_with_health(args: argparse.Namespace, envs: list[dict[str, str]], today: str,
                          rounds: int = 3) -> list[list[tuple[float, float]]]:
    """Like ``alternate``, measuring each server's trivial endpoint right after its rights check."""
    results: list[list[tuple[float, float]]] = [[] for _ in envs]
    for _ in range(rounds):
        for env, runs in zip(envs, results, strict=True):
            rights = alternate(args, [env], today, rounds=1, keep_serving=True)[0][0]
            health = wrk(["-t2", f"-c{args.connections}", "-d8s", f"{BASE}/v1/health"])["rps"]
            _stop(env)
            runs.append((rights, health))
    return results


_SERVING: dict[str, subprocess.Popen[bytes]] = {}


def _stop(env: dict[str, str]) -> None:
    server = _SERVING.pop(env["TIERS_VAR_DIR"], None)
    if server is not None:
        server.terminate()
        server.wait(10)


def alternate(args: argparse.Namespace, envs: list[dict[str, str]], today: str,
              rounds: int = 3, keep_serving: bool = False) -> list[list[float]]:
    """Rights-check throughput of servers started in turn with each environment, ``rounds``
    times: one pair of runs on this shared 2-core machine moves by +-10 %, medians do not."""
    results: list[list[float]] = [[] for _ in envs]
    for _ in range(rounds):
        for env, runs in zip(envs, results, strict=True):
            server = subprocess.Popen([BIN / "tiers", "serve", "--port", str(PORT)], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_ready()
                work = Path(env["TIERS_VAR_DIR"])
                demo = json.loads((work / "demo-credentials.json").read_text())
                bodies = work / "alternate-bodies.jsonl"
                bodies.write_text("".join(json.dumps({**p, "date_of_care": today, "category": "optical"}) + "\n"
                                          for p in demo["patients"]))
                script = work / "alternate.lua"
                script.write_text(LUA % {"bodies": bodies, "token": sign_in(env, "optique.demo")})
                runs.append(wrk(["-t2", f"-c{args.connections}", "-d8s", "-s", str(script), BASE])["rps"])
            finally:
                if keep_serving:
                    _SERVING[env["TIERS_VAR_DIR"]] = server
                else:
                    server.terminate()
                    server.wait(10)
    return results


def claim_flow(token: str, patients: list[dict[str, str]], today: str, flows: int) -> dict[str, float]:
    """Sequential flows (one client): rights check -> PEC -> invoice, latency of the whole flow."""
    headers = {"authorization": f"Bearer {token}"}
    lines = [{"code": "9100102", "price": "120.00"},
             {"code": "9100301", "price": "90.00", "lens_type": "unifocal", "sph": "-2.00"},
             {"code": "9100301", "price": "90.00", "lens_type": "unifocal", "sph": "-1.75"}]
    times = []
    with httpx.Client(base_url=BASE, headers=headers) as client:
        started = time.perf_counter()
        for n in range(flows):
            t0 = time.perf_counter()
            patient = patients[n % len(patients)]
            eng = client.post("/v1/rights-checks", json={**patient, "date_of_care": today, "category": "optical"}).json()
            pec = client.post("/v1/quotes", json={"engagement_number": eng["engagement_number"], "kind": "simulation",
                                                  "lines": lines}).json()
            inv = client.post("/v1/invoices", json={
                "invoice_number": f"B{int(started)}-{n}", "engagement_number": eng["engagement_number"],
                "date_of_care": today, "lines": [dict(x, amc_claimed=c["amc"]) for x, c in zip(lines, pec["lines"], strict=True)]})
            assert inv.status_code == 201, inv.text
            times.append((time.perf_counter() - t0) * 1000)
        elapsed = time.perf_counter() - started
    times.sort()
    return {"flows_per_s": flows / elapsed, "p50": statistics.median(times), "p99": times[int(len(times) * 0.99) - 1]}


def render(args: argparse.Namespace, store: str, health: dict[str, float], rights: dict[str, float],
           flow: dict[str, float], ratio: float) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""# Benchmarks ({store})

Measured {when} on this 2-core machine, loopback, `tiers serve` (granian, 2 workers) on {store},
{args.beneficiaries:,} synthetic beneficiaries, wrk with 2 threads and {args.connections} connections for
{args.seconds} s per endpoint, all in one run. Command: `make bench` (`bench/http_bench.py{" --postgres" if store == "PostgreSQL" else ""}`).

| endpoint | requests/s | p50 ms | p99 ms | non-2xx |
|---|---:|---:|---:|---:|
| GET /v1/health (trivial, same server) | {health['rps']:,.0f} | {health['p50']:.2f} | {health['p99']:.2f} | {health['non2xx']:.0f} |
| POST /v1/rights-checks (passkey session, no proof: same patients within the daily quota; engagement + access event written) | {rights['rps']:,.0f} | {rights['p50']:.2f} | {rights['p99']:.2f} | {rights['non2xx']:.0f} |

**Rights check / trivial endpoint, same run: {ratio:.0%}** (aim for the core issue: >= 30 %).

Claim flow, one sequential client, rights check -> quote -> invoice (3 requests, {args.flows} flows):
{flow['flows_per_s']:.1f} flows/s, p50 {flow['p50']:.1f} ms, p99 {flow['p99']:.1f} ms per flow.
"""


if __name__ == "__main__":
    main()
