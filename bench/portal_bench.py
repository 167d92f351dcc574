"""The portal against the API: the rights check posted by the portal's form (a cookie session,
the CSRF token, an HTML page back) and by the API (a bearer token, JSON), and the server's
trivial endpoint, on the same server in the same run, alternated over rounds; each request
carries a new single-use presence proof.

    .venv/bin/python -m bench.portal_bench [--seconds 6] [--rounds 3]

Starts `tiers serve` on a fresh SQLite database seeded with a synthetic population, drives it
with wrk over loopback, and writes bench/PORTAL-RESULTS.md."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx

from bench.http_bench import BASE, BIN, PORT, POST_LUA, ROOT, UNLIMITED, issue_proofs, sign_in, wait_ready, wrk
from tierspayant.simulate.authenticator import SoftAuthenticator

ORIGIN = "http://localhost:8000"  # the demo's WebAuthn origin (TIERS_WEBAUTHN_ORIGIN)



def portal_session(demo: dict[str, object], username: str) -> tuple[str, str]:
    """(cookie header, CSRF token) of a passkey session opened through the portal's pages."""
    account = demo["accounts"][username]  # type: ignore[index]
    authenticator = SoftAuthenticator.from_dict(account["passkey"])
    with httpx.Client(base_url=BASE, headers={"origin": ORIGIN}) as client:
        page = client.get("/portail/connexion")
        token = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        cookies = {name: value for name, value in page.cookies.items()}
        options = client.post("/portail/cle/options", headers={"x-csrf-token": token}, cookies=cookies).json()
        assertion = authenticator.get(options, ORIGIN)
        signed = client.post("/portail/cle/connexion", headers={"x-csrf-token": token}, cookies=cookies,
                             json={"credential": assertion})
        signed.raise_for_status()
        cookies.update(dict(signed.cookies.items()))
    csrf = cookies["__Host-tp_csrf"]
    return "; ".join(f"{k}={v}" for k, v in cookies.items()), csrf


def script(work: Path, name: str, bodies: list[str], path: str, headers: dict[str, str]) -> Path:
    lines = work / f"{name}.bodies"
    lines.write_text("".join(body + "\n" for body in bodies))
    lua = work / f"{name}.lua"
    table = "{" + ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items()) + "}"
    lua.write_text(POST_LUA % {"bodies": lines, "path": path, "headers": table})
    return lua


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--beneficiaries", type=int, default=5_000)
    parser.add_argument("--proofs", type=int, default=12_000, help="Single-use proofs per side and round")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tiers-portal-bench-"))
    env = {**os.environ, "TIERS_VAR_DIR": str(work), "TIERS_WORKERS": "2", **UNLIMITED,
           "TIERS_DATABASE_URL": f"sqlite:///{work / 'bench.db'}", "TIERS_RELAY": "false"}
    subprocess.run([BIN / "tiers", "seed", "--beneficiaries", str(args.beneficiaries)], env=env, check=True)
    server = subprocess.Popen([BIN / "tiers", "serve", "--port", str(PORT)], env=env, stdout=subprocess.DEVNULL)
    runs: dict[str, list[dict[str, float]]] = {"health": [], "api": [], "portal": []}
    try:
        wait_ready()
        demo = json.loads((work / "demo-credentials.json").read_text())
        today = datetime.now(UTC).date().isoformat()
        token = sign_in(env, "optique.demo")
        # Read again: the API's sign-in moved the simulated authenticator's counter on.
        cookie, csrf = portal_session(json.loads((work / "demo-credentials.json").read_text()), "optique.demo")
        common = ["-t2", f"-c{args.connections}", f"-d{args.seconds}s"]
        wrk([*common[:2], "-d2s", f"{BASE}/v1/health"])  # warm-up
        for n in range(args.rounds):
            proofs = issue_proofs(env, demo, today, 2 * args.proofs)
            api = script(work, f"api-{n}", [json.dumps(p) for p in proofs[:args.proofs]], "/v1/rights-checks",
                         {"content-type": "application/json", "authorization": f"Bearer {token}"})
            portal = script(work, f"portal-{n}", [urlencode({**p, "csrf": csrf}) for p in proofs[args.proofs:]],
                            "/portail/comptoir", {"content-type": "application/x-www-form-urlencoded",
                                                  "cookie": cookie, "origin": ORIGIN})
            runs["health"].append(wrk([*common, f"{BASE}/v1/health"]))
            runs["api"].append(wrk([*common, "-s", str(api), BASE]))
            runs["portal"].append(wrk([*common, "-s", str(portal), BASE]))
            print({k: round(v[-1]["rps"]) for k, v in runs.items()}, flush=True)
    finally:
        server.terminate()
        server.wait(10)
    report = render(args, runs)
    (ROOT / "bench" / "PORTAL-RESULTS.md").write_text(report)
    print(report)


def render(args: argparse.Namespace, runs: dict[str, list[dict[str, float]]]) -> str:
    def median(side: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[side])

    rows = "".join(
        f"| {label} | {median(side, 'rps'):,.0f} | {median(side, 'p50'):.2f} | {median(side, 'p99'):.2f} | "
        f"{sum(r['non2xx'] for r in runs[side]):.0f} |\n"
        for side, label in (("health", "trivial endpoint (GET /v1/health)"),
                            ("api", "rights check, API (bearer token, JSON)"),
                            ("portal", "rights check, portal (cookie, CSRF token, HTML page)")))
    ratio_api = statistics.median(a["rps"] / h["rps"] for a, h in zip(runs["api"], runs["health"], strict=True))
    ratio_portal = statistics.median(p["rps"] / h["rps"] for p, h in zip(runs["portal"], runs["health"], strict=True))
    return (f"# The portal against the API (bench/portal_bench.py)\n\n"
            f"Measured {datetime.now(UTC):%Y-%m-%d} on this machine (2 cores), SQLite, `tiers serve` with 2 workers, "
            f"wrk -t2 -c{args.connections}, {args.seconds} s per run, {args.rounds} rounds alternated (trivial endpoint, "
            f"API, portal); every rights check carries a new single-use presence proof. Medians:\n\n"
            f"| run | req/s | p50 ms | p99 ms | non-2xx |\n|---|---:|---:|---:|---:|\n{rows}\n"
            f"Rights check / trivial endpoint, median of the rounds: API {ratio_api:.1%}, portal {ratio_portal:.1%} "
            f"(the portal at {ratio_portal / ratio_api:.0%} of the API's rate).\n")


if __name__ == "__main__":
    main()
