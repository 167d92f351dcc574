"""What keeping the key-encryption key in a hardware security module costs (docs/THREATS.md T5,
"Key custody"): the key file against a PKCS#11 token (Debian's SoftHSM2, in a temporary
directory of its own) at start-up (open the token, unwrap N data keys), at a rotation (one new
data key wrapped; a whole rotation of a small platform), and per unwrap; and what the rights
check pays once the data keys are unwrapped (a dictionary look-up: nothing).

    .venv/bin/python -m bench.hsm_bench [--keys 1,10,100,1000] [--rounds 20]

Light (about a minute on one core). Writes bench/HSM-RESULTS.md."""

from __future__ import annotations

import argparse
import os
import platform as host
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN, PIN, LABEL = "tiers-bench", "bench-user-pin", "tierspayant-kek"


def softhsm(work: Path) -> Path:
    """A token of our own (SOFTHSM2_CONF set before the module is first loaded) and its KEK."""
    (work / "tokens").mkdir(parents=True)
    conf = work / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {work / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--so-pin", "bench-so-pin",
                    "--pin", PIN], check=True, capture_output=True)
    pin = work / "user.pin"
    pin.write_text(PIN + "\n")
    pin.chmod(0o600)
    return pin


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:,.3f}"


def timed(action: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def import_cost() -> float:
    """``import pkcs11`` in a fresh interpreter (paid once per process, only with TIERS_KEK=pkcs11)."""
    def run(code: str) -> float:
        best = []
        for _ in range(5):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            best.append(time.perf_counter() - started)
        return min(best)
    return run("import pkcs11") - run("pass")


def platform_rows(work: Path, pin: Path, beneficiaries: int) -> list[str]:
    """A small seeded SQLite platform per KEK: build() (start-up with the custody check and the
    token's opening), the first rights-check-sized unwraps, and one whole rotation of insurer 1."""
    from tierspayant.bootstrap import build
    from tierspayant.config import Settings
    from tierspayant.security import pkcs11_kek
    from tierspayant.security.policy import Principal, Role
    from tierspayant.simulate.population import PopulationSpec
    from tierspayant.simulate.seed import seed

    out = []
    for kind in ("file", "pkcs11"):
        var = work / f"platform-{kind}"
        extra = {"kek": "pkcs11", "pkcs11_library": LIBRARY, "pkcs11_token": TOKEN, "pkcs11_pin_file": pin,
                 "pkcs11_key_label": LABEL} if kind == "pkcs11" else {}
        settings = Settings(database_url=f"sqlite:///{var / 'tiers.db'}", var_dir=var, **extra)
        platform = build(settings)
        seed(platform.loader, platform.reference, platform.accounts,
             PopulationSpec(beneficiaries=beneficiaries, professionals=10, seed=7), var / "demo.json")
        platform.engine.dispose()
        starts = []
        for _ in range(5):
            pkcs11_kek.reset()  # a cold process: the module loaded, logged in, the key found again
            started = time.perf_counter()
            again = build(settings, migrate=False)
            with again.engine.connect() as conn:  # the platform's key and the insurers', as first requests do
                for owner in range(4):
                    again.protection.ensure_key(conn, owner)
                    again.protection.keys.key(owner, again.protection.keys.current(owner))
            starts.append(time.perf_counter() - started)
            again.engine.dispose()
        with platform.uow(readonly=True) as repos:
            account = repos.accounts.account_by_username("securite.demo")
        assert account is not None
        officer_id = account.id
        officer = Principal(officer_id, 0, Role.SECURITY_OFFICER, request_id="bench")
        rotator = build(settings, migrate=False)
        started = time.perf_counter()
        done = rotator.keys.rotate(officer, 1, "bench rotation", batch=300)
        rotation = time.perf_counter() - started
        rotator.engine.dispose()
        out.append(f"| {kind} | {median_ms(starts)} | {rotation * 1000:,.0f} ({done.resealed:,} rows re-encrypted) |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", default="1,10,100,1000", help="Numbers of data keys unwrapped at start-up")
    parser.add_argument("--rounds", type=int, default=20, help="Repetitions of each measurement (median shown)")
    parser.add_argument("--beneficiaries", type=int, default=600, help="The small platform's population")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "HSM-RESULTS.md")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="tiers-hsm-bench-"))
    pin = softhsm(work)
    from tierspayant.security import pkcs11_kek
    from tierspayant.security.fields import FileKek, KeyRing, WrappedKey
    from tierspayant.security.keys import new_secret
    from tierspayant.security.pkcs11_kek import Pkcs11Config, Pkcs11Kek, create_key

    config = Pkcs11Config(LIBRARY, TOKEN, PIN, LABEL)
    create_key(config)
    pkcs11_kek.reset()
    opening = timed(lambda: (pkcs11_kek.reset(), Pkcs11Kek(config)), args.rounds)
    keks = {"file": FileKek(new_secret(32)), "pkcs11": Pkcs11Kek(config)}
    counts = [int(n) for n in args.keys.split(",")]
    rows_start, rows_op = [], []
    for n in counts:
        cells = []
        for kek in keks.values():
            stored = [WrappedKey(i, 1, kek.wrap(new_secret(32), i, 1)) for i in range(n)]

            def unwrap_all(kek: object = kek, stored: list[WrappedKey] = stored) -> None:
                ring = KeyRing(kek, stored)  # type: ignore[arg-type]
                for key in stored:
                    ring.key(key.insurer_id, key.version)
            cells.append(median_ms(timed(unwrap_all, args.rounds)))
        rows_start.append(f"| {n:,} | {cells[0]} | {cells[1]} |")
    for kind, kek in keks.items():
        data_key = new_secret(32)
        wrapped = kek.wrap(data_key, 1, 1)
        per_wrap = timed(lambda kek=kek, data_key=data_key: kek.wrap(data_key, 1, 2), args.rounds * 50)
        per_unwrap = timed(lambda kek=kek, wrapped=wrapped: kek.unwrap(wrapped, 1, 1), args.rounds * 50)
        ring = KeyRing(kek, [WrappedKey(1, 1, wrapped)])
        ring.key(1, 1)
        cached = timed(lambda ring=ring: ring.key(1, 1), args.rounds * 500)
        rows_op.append(f"| {kind} | {median_ms(per_wrap)} | {median_ms(per_unwrap)} | "
                       f"{statistics.median(cached) * 1e9:,.0f} ns |")
    platform = platform_rows(work, pin, args.beneficiaries)
    imported = import_cost()
    version = subprocess.run(["softhsm2-util", "--version"], capture_output=True, text=True).stdout.strip()
    text = f"""# The key-encryption key in a hardware security module: what it costs

Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on this {os.cpu_count()}-core machine ({host.machine()}, Python
{host.python_version()}), SoftHSM2 {version} from Debian (a software token: a network HSM adds its round trip,
typically 0.2-2 ms, to each token operation below). Command: `.venv/bin/python -m bench.hsm_bench` (medians of
{args.rounds} rounds; per-operation figures of {args.rounds * 50}). The machine was shared (load average
{load:.1f} at the start, other engineers' benchmarks): absolute figures are noisy, the comparison is the point.

## Start-up

Opening the token (module initialised, user-PIN login, the key found and its attributes checked):
**{median_ms(opening)} ms**; `import pkcs11` in a fresh process: **{imported * 1000:,.0f} ms** (paid once per process,
and only with `TIERS_KEK=pkcs11`: the composition root imports it lazily).

Unwrapping N data keys (what a process does as its first requests reach each insurer's data; the
`KeyRing` keeps each one in memory after):

| data keys | key file (ms) | PKCS#11 token (ms) |
|---:|---:|---:|
{chr(10).join(rows_start)}

A whole start of a small SQLite platform ({args.beneficiaries} beneficiaries, 4 key owners): `build()` (engine, custody
check against the stored data keys, the token opened) and the 4 data keys unwrapped; then one whole
rotation of insurer 1 (`KeysService.rotate`: one new data key wrapped, its rows re-encrypted, the old
version retired):

| KEK | start-up (ms) | rotation (ms) |
|---|---:|---:|
{chr(10).join(platform)}

## Per operation

| KEK | wrap (ms) | unwrap (ms) | a cached data key (`KeyRing.key`) |
|---|---:|---:|---:|
{chr(10).join(rows_op)}

## Reading

- The token is asked once per data-key version per process (and once per rotation, to wrap the
  new version): the rights check, the quotes and the invoices use the unwrapped data key kept in
  the process's memory (`KeyRing`), a dictionary look-up of the same cost with either KEK. The
  HSM is off the hot path.
- A rotation's time is the re-encryption of its rows (the same with either KEK); the token adds one
  wrap to it.
- What the token costs at start-up is the binding's import and the token's opening, then one unwrap
  per data key version as requests reach it: for a national operator's few dozen insurers, well
  under 0.1 s per process even at a network HSM's 2 ms an operation.
- Processes re-read the stored keys every 30 s (`store/protection.py`): after a rotation each
  process unwraps the new version once, inside the token.
"""
    args.out.write_text(text)
    print(text)
    pkcs11_kek.reset()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
