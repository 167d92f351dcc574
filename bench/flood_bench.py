"""Floods that slow nobody else (docs/THREATS.md, "Floods"): a legitimate practice's client checks
rights at a steady pace while (a) one valid session floods rights checks for one patient at its
maximum rate over 64 connections, then (b) 64 connections send invented session tokens. The
legitimate client's p95 in each phase, against its own baseline in the same run.

    .venv/bin/python -m bench.flood_bench [--seconds 20] [--rate 8]

Starts `tiers serve` (2 workers) on a fresh seeded SQLite database with the default limits, then
the same with the limits lifted (what the platform did before them); the floods are wrk from
127.0.0.1, the legitimate client connects from 127.0.0.2 (another address, as a real practice
would be). Prints markdown tables to copy into bench/README.md."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.http_bench import BASE, BIN, PORT, UNLIMITED, sign_in, wait_ready

FLOOD_SESSION = """
wrk.method = "POST"
wrk.path = "/v1/rights-checks"
wrk.body = '%(body)s'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
"""
FLOOD_INVALID = """
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/v1/sessions", {["Authorization"] = "Bearer invented-" .. math.random(1, 1e9) .. "-" .. n})
end
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


async def legitimate(token: str, patients: list[dict[str, Any]], today: str, seconds: float,
                     rate: float) -> tuple[list[float], dict[int, int]]:
    """Paced rights checks from 127.0.0.2: latencies (ms) and statuses."""
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0), limit=8)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    headers = {"authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(BASE, connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as client:
        start = time.perf_counter()
        n = 0
        tasks = []

        async def one(body: dict[str, Any]) -> None:
            t0 = time.perf_counter()
            async with client.post("/v1/rights-checks", json=body, headers=headers) as answer:
                await answer.read()
                statuses[answer.status] = statuses.get(answer.status, 0) + 1
            latencies.append((time.perf_counter() - t0) * 1000)

        while time.perf_counter() - start < seconds:
            body = {**patients[n % len(patients)], "date_of_care": today, "category": "optical"}
            tasks.append(asyncio.create_task(one(body)))
            n += 1
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
        await asyncio.gather(*tasks)
    return latencies, statuses


def run_phase(label: str, script: str | None, work: Path, token: str, patients: list[dict[str, Any]], today: str,
              seconds: float, rate: float) -> dict[str, Any]:
    flood = None
    if script is not None:
        path = work / f"{label}.lua"
        path.write_text(script)
        flood = subprocess.Popen(["wrk", "-t1", "-c64", f"-d{int(seconds) + 2}s", "-s", str(path), BASE],
                                 stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)  # the flood is on before the legitimate client measures
    latencies, statuses = asyncio.run(legitimate(token, patients, today, seconds, rate))
    summary = ""
    if flood is not None:
        summary = flood.communicate()[0]
    answered = re.search(r"(\d+) requests in", summary)
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", summary)
    return {"label": label, "p50": statistics.median(latencies), "p95": percentile(latencies, 0.95),
            "requests": len(latencies), "statuses": statuses,
            "flood": int(answered.group(1)) if answered else 0, "flood_refused": int(refused.group(1)) if refused else 0}


def probe(token: str) -> int:
    """The flooding session's answer right after its flood."""
    async def one() -> int:
        async with aiohttp.ClientSession(BASE) as client, client.get(
                "/v1/sessions", headers={"authorization": f"Bearer {token}"}) as answer:
            return answer.status
    return asyncio.run(one())


def serve_and_flood(args: argparse.Namespace, limits: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    work = Path(tempfile.mkdtemp(prefix="tiers-flood-"))
    env = {"TIERS_VAR_DIR": str(work), "TIERS_WORKERS": "2", "PATH": str(BIN), **limits}
    subprocess.run([BIN / "tiers", "seed", "--beneficiaries", "20000"], env=env, check=True, capture_output=True)
    server = subprocess.Popen([BIN / "tiers", "serve", "--port", str(PORT)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_ready()
        demo = json.loads((work / "demo-credentials.json").read_text())
        patients = demo["patients"]
        today = datetime.now(UTC).date().isoformat()
        legit, flooder = sign_in(env, "optique.demo"), sign_in(env, "pharmacie.demo")
        body = json.dumps({**patients[0], "date_of_care": today, "category": "pharmacy"})
        phases = [run_phase("baseline", None, work, legit, patients, today, args.seconds, args.rate),
                  run_phase("session", FLOOD_SESSION % {"body": body, "token": flooder}, work, legit, patients,
                            today, args.seconds, args.rate)]
        after = probe(flooder)
        phases += [run_phase("baseline again", None, work, legit, patients, today, args.seconds, args.rate),
                   run_phase("invalid", FLOOD_INVALID, work, legit, patients, today, args.seconds, args.rate)]
        return phases, after
    finally:
        server.terminate()
        server.wait(10)


def table(title: str, phases: list[dict[str, Any]], after: int) -> None:
    base = statistics.mean([phases[0]["p95"], phases[2]["p95"]])
    print(f"\n{title} (the flooding session's next request after its flood: {after})\n")
    print("| phase | flood requests answered (non-2xx) | legit requests | legit statuses | legit p50 ms | "
          "legit p95 ms | p95 / no-flood mean |")
    print("|---|---:|---:|---|---:|---:|---:|")
    names = {"baseline": "no flood", "session": "one valid session flooding one patient",
             "baseline again": "no flood (again)", "invalid": "invented tokens"}
    for p in phases:
        statuses = ", ".join(f"{k} x{v}" for k, v in sorted(p["statuses"].items()))
        flood = f"{p['flood']:,} ({p['flood_refused']:,})" if p["flood"] else "-"
        print(f"| {names[p['label']]} | {flood} | {p['requests']} | {statuses} | {p['p50']:.1f} | {p['p95']:.1f} | "
              f"{p['p95'] / base:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=8.0, help="legitimate checks a second")
    args = parser.parse_args()
    limited = serve_and_flood(args, {})
    lifted = serve_and_flood(args, UNLIMITED | {"TIERS_INVALID_TOKENS_PER_SOURCE": "1000000000"})
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Floods ({when}, `python -m bench.flood_bench --seconds {args.seconds:g} --rate {args.rate:g}`): a "
          f"legitimate client at {args.rate:g} rights checks/s from another address; floods by wrk, 64 connections.")
    table("With the default limits", *limited)
    table("The same with the limits lifted (as before them)", *lifted)


if __name__ == "__main__":
    main()
