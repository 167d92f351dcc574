"""Key rotation under load: re-encrypt every beneficiary of the three demo insurers while wrk
sends rights checks for patients of those insurers; report the rotation time and wrk's errors.

    .venv/bin/python bench/rotation_bench.py [--beneficiaries 1000000]

Writes bench/ROTATION-RESULTS.md."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.http_bench import BASE, BIN, LUA, PORT, ROOT, UNLIMITED, sign_in, wait_ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--beneficiaries", type=int, default=1_000_000, help="Population to seed and rotate")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections checking rights meanwhile")
    args = parser.parse_args()
    env = {"TIERS_VAR_DIR": str(Path(tempfile.mkdtemp(prefix="tiers-rotation-"))), "TIERS_WORKERS": "2",
           "PATH": str(BIN), **UNLIMITED}
    work = Path(env["TIERS_VAR_DIR"])
    subprocess.run([BIN / "tiers", "seed", "--beneficiaries", str(args.beneficiaries)], env=env, check=True)
    server = subprocess.Popen([BIN / "tiers", "serve", "--port", str(PORT)], env=env, stdout=subprocess.DEVNULL)
    try:
        wait_ready()
        demo = json.loads((work / "demo-credentials.json").read_text())
        today = datetime.now(UTC).date().isoformat()
        bodies = work / "bodies.jsonl"
        bodies.write_text("".join(json.dumps({**p, "date_of_care": today, "category": "optical"}) + "\n"
                                  for p in demo["patients"]))
        script = work / "rights.lua"
        script.write_text(LUA % {"bodies": bodies, "token": sign_in(env, "optique.demo")})
        started = time.perf_counter()
        rotations = []
        stop = threading.Event()
        runs: list[str] = []

        def load() -> None:  # back-to-back 5-s wrk runs, each printing its own summary
            while not stop.is_set():
                runs.append(subprocess.run(["wrk", "-t1", f"-c{args.connections}", "-d5s", "-s", str(script), BASE],
                                           capture_output=True, text=True).stdout)

        loader = threading.Thread(target=load)
        loader.start()
        for amc in ("990000011", "990000029", "990000037"):
            t0 = time.perf_counter()
            out = subprocess.run([BIN / "tiers", "keys", "rotate", "--insurer", amc], env=env, check=True,
                                 capture_output=True, text=True).stdout.strip().splitlines()[-1]
            rotations.append((amc, time.perf_counter() - t0, out))
        total = time.perf_counter() - started
        stop.set()
        loader.join()
    finally:
        server.terminate()
        server.wait(10)
    output = "".join(runs)
    count = sum(int(m) for m in re.findall(r"(\d+) requests in", output))
    non2xx = sum(int(m) for m in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = re.findall(r"Socket errors: (.*)", output)
    lines = "\n".join(f"| {amc} | {seconds:.1f} s | {out} |" for amc, seconds, out in rotations)
    report = (f"# Key rotation under load\n\nMeasured {datetime.now(UTC):%Y-%m-%d %H:%M UTC} on this 2-core machine, "
              f"SQLite, {args.beneficiaries:,} beneficiaries. Command: `.venv/bin/python -m bench.rotation_bench`.\n\n"
              f"| insurer | time | tiers keys rotate says |\n|---|---:|---|\n{lines}\n\n"
              f"All three insurers rotated in {total:.1f} s while wrk ({args.connections} connections) sent rights "
              f"checks for their patients: {count:,} requests in {len(runs)} back-to-back 5-s runs, "
              f"{non2xx} non-2xx, socket errors: {'; '.join(socket_errors) or 'none'}.\n")
    (ROOT / "bench" / "ROTATION-RESULTS.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
