"""Presence proofs and the proof-less quota (docs/THREATS.md T2): a stolen account reads at most a
few patients a day without the patients themselves."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import BACKENDS, LENIENT_DETECTION, World, database_url, fresh_patients, make_world
from tierspayant.domain.reference import CareCategory
from tierspayant.security.policy import Principal, Role
from tierspayant.services.rights import PresenceRequired, RightsRequest

QUOTA = 4


@pytest.fixture(scope="module", params=BACKENDS)
def quota_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    var = tmp_path_factory.mktemp("presence")
    world = make_world(database_url(request, request.param, var), var, request.param, beneficiaries=300,
                       proofless_quota=QUOTA)
    yield world
    world.platform.engine.dispose()


def check(world: World, headers: dict[str, str], patient: dict[str, str], proof: str | None = None) -> tuple[int, dict]:
    body = {**patient, "date_of_care": world.clock.now().date().isoformat(), "category": "optical"}
    if proof is not None:
        body["presence_proof"] = proof
    response = world.client.post("/v1/rights-checks", headers=headers, json=body)
    return response.status_code, response.json()


def proof_for(world: World, patient: dict[str, str]) -> str:
    return world.platform.presence.issue(patient["amc_number"], patient["member_number"], patient["nir"],
                                         date.fromisoformat(patient["birth_date"]))


def test_quota_then_refusal_for_known_and_unknown_patients_alike(quota_world: World) -> None:
    w = quota_world
    gp = w.headers("medecin.demo")
    patients = fresh_patients(w, count=QUOTA + 2)
    for patient in patients[:QUOTA - 1]:
        assert check(w, gp, patient)[0] == 200
    unknown = {**patients[0], "nir": "295109912611193"}  # a valid NIR nobody holds: a miss
    assert check(w, gp, unknown) == (200, {"covered": False, "engagement_number": None, "valid_until": None})
    assert check(w, gp, patients[0])[0] == 200  # the same patient again does not count twice
    refused_hit = check(w, gp, patients[QUOTA])
    refused_miss = check(w, gp, {**patients[0], "nir": "253072B07300470"})
    assert refused_hit[0] == refused_miss[0] == 403
    assert refused_hit == refused_miss  # over the quota, hit or miss: the same refusal
    assert refused_hit[1]["errors"][0]["field"] == "presence_proof"
    # the patient at the counter shows their proof: allowed beyond the quota
    status, body = check(w, gp, patients[QUOTA], proof_for(w, patients[QUOTA]))
    assert status == 200 and body["covered"] is True
    # another account of the platform keeps its own quota
    assert check(w, w.headers("pharmacie.demo"), patients[QUOTA + 1])[0] == 200


KINDS = ["replayed", "expired", "other_beneficiary", "other_professional", "tampered", "other_insurer_claim"]


@pytest.fixture(scope="module")
def pool(quota_world: World) -> list[dict[str, str]]:
    return fresh_patients(quota_world, count=12)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(KINDS), bit=st.integers(0, 400), picks=st.lists(st.integers(0, 11), min_size=2,
                                                                            max_size=2, unique=True))
def test_misused_proofs_are_always_refused(quota_world: World, pool: list[dict[str, str]], kind: str, bit: int,
                                           picks: list[int]) -> None:
    """A proof shown with it: the quota does not apply, only the proof decides (100 % refused)."""
    w = quota_world
    rights = w.platform.rights
    optician = Principal(900, 900, Role.PROFESSIONAL, 1, 1)
    other = Principal(901, 901, Role.PROFESSIONAL, 2, 2)
    patient, stranger = pool[picks[0]], pool[picks[1]]
    token = proof_for(w, patient)
    if kind == "replayed":
        assert asyncio.run(rights.check(optician, request(patient, token))).covered
        attempt = (optician, request(patient, token))
    elif kind == "expired":
        w.clock.advance(minutes=21)
        attempt = (optician, request(patient, token))
    elif kind == "other_beneficiary":
        attempt = (optician, request(stranger, token))
    elif kind == "other_professional":
        asyncio.run(rights.check(optician, request(patient, token)))
        attempt = (other, request(patient, token))
    elif kind == "tampered":
        raw = bytearray(token.encode())
        raw[bit % len(raw)] ^= 1 << (bit % 7)
        attempt = (optician, request(patient, raw.decode(errors="replace")))
    else:
        attempt = (optician, request({**patient, "amc_number": "990000029"}, token))
    with pytest.raises(PresenceRequired):
        asyncio.run(rights.check(*attempt))


def request(patient: dict[str, str], proof: str | None = None) -> RightsRequest:
    return RightsRequest(patient["amc_number"], patient["member_number"], patient["nir"],
                         date.fromisoformat(patient["birth_date"]), date(2026, 3, 2), CareCategory.OPTICAL, proof)


def test_proofs_fit_a_qr_code(quota_world: World) -> None:
    token = proof_for(quota_world, fresh_patients(quota_world)[0])
    assert token.startswith("TPP1.") and len(token) < 400  # fits a QR code


BUDGETS = ("account_proofless_week", "account_proofless_month", "organisation_proofless", "unfollowed_min")


def test_the_budgets_hold_over_days_and_only_an_invoice_frees_them(new_world: Callable[..., World]) -> None:
    """Over several days, an account that never bills reads at most 10 people without a proof;
    a colleague who invoices what it checks goes on (docs/THREATS.md, "Budgets over time")."""
    w = new_world(detection={k: v for k, v in LENIENT_DETECTION.items() if k not in BUDGETS}, proofless_quota=20,
                  beneficiaries=600)
    patients = fresh_patients(w, count=40)
    answered = 0
    for day in range(4):
        scraper = w.headers("optique.demo")
        for patient in patients[day * 4:(day + 1) * 4]:  # 4 new patients a day, never billed
            status, _ = check(w, scraper, patient)
            answered += status == 200
        w.clock.advance(days=1)
    assert answered == 10  # then proofs: 10 people in four days, not 16
    biller = w.headers("medecin.demo")
    for n, patient in enumerate(patients[20:36]):  # 16 in a day, each invoiced at the counter
        status, body = check(w, biller, patient)
        assert status == 200, body
        invoice = w.client.post("/v1/invoices", headers=biller, json={
            "invoice_number": f"F-BUDGET-{n}", "engagement_number": body["engagement_number"],
            "date_of_care": w.clock.now().date().isoformat(), "lines": [{"code": "9100102", "price": "120.00",
                                                                          "amc_claimed": "0.01"}]})
        assert invoice.status_code == 201, invoice.text
