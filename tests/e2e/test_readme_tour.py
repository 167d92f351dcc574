"""The README's tour, run for real: `tiers serve --seed-demo` in a subprocess, then
scripts/tour.sh with curl and jq over loopback (rights check -> PEC -> invoice -> payment run)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tierspayant.simulate.driver import wait_until_serving

ROOT = Path(__file__).resolve().parents[2]
TIERS = Path(sys.executable).parent / "tiers"


def tiers(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([str(TIERS), *args], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(shutil.which("jq") is None or shutil.which("curl") is None, reason="needs curl and jq")
def test_readme_tour_runs_against_a_live_server(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TIERS_VAR_DIR": str(tmp_path / "var"), "TIERS_WORKERS": "1"}
    env.pop("TIERS_DATABASE_URL", None)
    witness_dir = tmp_path / "witness"
    witness_key = tiers(env, "witness", "--state-dir", str(witness_dir)).strip()
    env["TIERS_WITNESS_KEYS"] = witness_key
    server = subprocess.Popen([str(TIERS), "serve", "--seed-demo", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        if not wait_until_serving(base, seconds=60):
            pytest.fail("server did not start")
        work = tmp_path / "tour"
        work.mkdir()
        result = subprocess.run(["bash", str(ROOT / "scripts" / "tour.sh")], cwd=work, capture_output=True, text=True,
                                env={**env, "BASE": base, "TIERS": str(TIERS)}, timeout=120)
        assert result.returncode == 0, result.stderr
        assert json.loads((work / "var" / "tour" / "rights.json").read_text())["covered"] is True
        pec = json.loads((work / "var" / "tour" / "pec.json").read_text())
        invoice = json.loads((work / "var" / "tour" / "invoice.json").read_text())
        run = json.loads((work / "var" / "tour" / "run.json").read_text())
        assert pec["binding"] is True and invoice["status"] == "approved"
        assert invoice["approved_amc"] == pec["amc"] == run["total"]
        assert "pain.001.001.03" in result.stdout
        # The transparency log recorded the tour; an independent witness checks and cosigns it.
        note = tiers(env, "audit", "checkpoint")
        # The seed's enrolment codes (one per demo account, at the operator's shell), then the
        # tour: rights check, PEC, invoice, payment run, SEPA file read.
        demo = json.loads((tmp_path / "var" / "demo-credentials.json").read_text())
        assert note.split("\n")[1] == str(len(demo["accounts"]) + 5)
        assert "log verified" in tiers(env, "audit", "verify")
        patient = {"amc_number": "990000011", "member_number": "0000000013"}  # the tour's (scripts/tour.sh)
        found = subprocess.run([str(TIERS), "audit", "history", "--insurer", patient["amc_number"], "--member",
                                patient["member_number"]], env=env, capture_output=True, text=True, timeout=60)
        assert found.returncode == 0 and '"tag": "rights:beneficiary:read"' in found.stdout, found.stderr
        nobody = subprocess.run([str(TIERS), "audit", "history", "--insurer", patient["amc_number"], "--member",
                                 "9999999999"], env=env, capture_output=True, text=True, timeout=60)
        assert (nobody.returncode, nobody.stdout, nobody.stderr.strip()) == (0, "", "0 events")
        assert json.loads(tiers(env, "audit", "prove", "2"))["verified"] is True
        log_key = tiers(env, "audit", "key").strip()
        watched = tiers(env, "witness", "--state-dir", str(witness_dir), "--log-key", log_key, "--log-url", base,
                        "--once")
        assert "cosigned" in watched
        assert witness_key.split("+")[0] in httpx.get(f"{base}/v1/log/checkpoint").text
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0]
    # make run prints how to sign in and a first curl; no NIR but the sample patient's.
    assert "tiers demo token optique.demo" in output and "/v1/rights-checks" in output


def test_readme_shows_the_tour_script_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    script = (ROOT / "scripts" / "tour.sh").read_text()
    commands = [line for line in script.splitlines() if line.strip() and not line.startswith(("#", "set ", "BASE=",
                                                                                            "TIERS=", "#!"))]
    missing = [line for line in commands if line not in readme]
    assert missing == []


def test_a_busy_port_gives_one_clear_line(tmp_path: Path) -> None:
    """`tiers serve` (and so `make run`) on a port already taken says so and how to choose
    another, instead of a traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "TIERS_VAR_DIR": str(tmp_path / "var")}
        env.pop("TIERS_DATABASE_URL", None)
        result = subprocess.run([str(TIERS), "serve", "--port", str(port)], env=env, capture_output=True, text=True,
                                timeout=60)
    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in output and "make run PORT=N" in output
    assert "Traceback" not in output
