"""A stolen database is useless (docs/THREATS.md T5): after seeding and a day's flows, the SQLite
file, a pg_dump of the PostgreSQL database and the logs -- as captured, and as the JSON lines
`tiers serve` writes with TIERS_LOG_FORMAT=json (api/logs.py) -- hold none of the seeded NIRs,
member numbers or names, nor any valid IBAN (professionals' bank details, SEPA files,
bank-detail changes)."""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from stdnum import iban as std_iban

from tests.conftest import World, fresh_patients
from tests.integration.test_care_flow import GLASSES, engagement, invoice_lines
from tierspayant.api.logs import JsonFormatter
from tierspayant.simulate.population import Population, PopulationSpec

IBAN_LIKE = re.compile(r"[A-Z]{2}[0-9]{2}[0-9A-Z]{11,30}")


def valid_ibans(text: str) -> set[str]:
    return {m for m in IBAN_LIKE.findall(text) if std_iban.is_valid(m)}


def seeded_identities(world: World) -> tuple[set[str], set[str], set[str]]:
    """Regenerate the world's synthetic population (deterministic) to know what to look for."""
    spec = PopulationSpec(beneficiaries=300, professionals=12, seed=7, today=world.clock.now().date().replace(
        year=2026, month=3, day=2))
    population = Population(spec)
    _, professionals = population.professionals()
    nirs, members = set(), set()
    names = {"|".join(p["name"].split(" ", 1)) for p in professionals}
    for beneficiaries, _, _ in population.beneficiary_batches():
        for b in beneficiaries:
            nirs.add(b["nir"])
            members.add(b["member_number"])
            names.add(f"{b['first_name']}|{b['last_name']}")
    return nirs, members, names


def test_no_identity_in_the_store_or_the_logs(world: World, caplog: pytest.LogCaptureFixture,
                                              tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    # The JSON lines `tiers serve` writes with TIERS_LOG_FORMAT=json (api/logs.py), scanned below too.
    json_lines = io.StringIO()
    json_handler = logging.StreamHandler(json_lines)
    json_handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(json_handler)
    try:
        _day_of_flows(world, caplog, tmp_path, json_lines)
    finally:
        logging.getLogger().removeHandler(json_handler)


def _day_of_flows(world: World, caplog: pytest.LogCaptureFixture, tmp_path: Path, json_lines: io.StringIO) -> None:
    optician = world.headers("optique.demo")
    for i, patient in enumerate(fresh_patients(world, count=2)):
        eng = engagement(world, optician, patient)
        quote = world.client.post("/v1/quotes", headers=optician, json={"engagement_number": eng, "kind": "pec",
                                                                        "lines": GLASSES}).json()
        sent = world.client.post("/v1/invoices", headers=optician, json={
            "invoice_number": f"F-SCAN-{i}", "pec_number": quote["number"],
            "date_of_care": world.clock.now().date().isoformat(), "lines": invoice_lines(GLASSES, quote)})
        assert sent.status_code == 201, sent.text
    insurer = world.headers("assureur.demo")
    run = world.client.post("/v1/payment-runs", headers=insurer, json={}).json()
    sepa = world.client.get(f"/v1/payment-runs/{run['id']}/sepa", headers=insurer).text
    assert valid_ibans(sepa)  # control: the SEPA file (decrypted for its reader) has IBANs, and the scan sees them
    with world.platform.uow() as repos:  # a pending bank-details change
        repos.bank_details.add_bank_change(1, "FR7630004000031234567890143", "BNPAFRPPXXX", world.clock.now(),
                              world.clock.now(), 1)
    nirs, members, names = seeded_identities(world)
    assert {p["nir"] for p in world.demo["patients"]} <= nirs  # we look for the right people
    url = make_url(str(world.platform.engine.url))
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        blob = b"".join(p.read_bytes() for p in Path(url.database).parent.glob(Path(url.database).name + "*"))
    else:
        if shutil.which("pg_dump") is None:
            pytest.skip("pg_dump not installed")
        dump = subprocess.run(["pg_dump", "-h", url.host or "127.0.0.1", "-U", url.username or "postgres",
                               url.database or ""], capture_output=True, check=True)
        blob = dump.stdout
    text = blob.decode("latin-1")
    # Whole numbers only: a member number "0000000017" also sits inside RPPS "10000000017...".
    numbers = set(re.findall(r"(?<![0-9A-Z])[0-9AB]{10,15}(?![0-9A-Z])", text))
    assert any(len(n) == 11 for n in numbers)  # control: the scan does see numbers in clear (RPPS)
    assert nirs & numbers == set()
    assert members & numbers == set()

    def named(haystack: str) -> list[str]:
        return [n for n in names if n.replace("|", "") in haystack.replace(" ", "")]

    assert named(sepa)  # control: professionals' names are in the SEPA file, and the scan finds them
    assert named(text) == []
    assert valid_ibans(text) == set()
    logging.getLogger("tierspayant.test").warning("scan control", extra={"amount": 12})  # one line at least
    logged = [json.loads(line) for line in json_lines.getvalue().splitlines()]  # one object per line
    assert logged and all({"time", "level", "logger", "message"} <= set(line) for line in logged)
    assert logged[-1]["amount"] == 12 and logged[-1]["time"].endswith("Z")
    for text_logs in (caplog.text, json_lines.getvalue()):
        logs = set(re.findall(r"(?<![0-9A-Z])[0-9AB]{10,15}(?![0-9A-Z])", text_logs))
        assert nirs & logs == set() and members & logs == set()
        assert valid_ibans(text_logs) == set()
        assert named(text_logs) == []
