"""No enumeration oracle by time (docs/THREATS.md T3): unknown patient, wrong birth date, wrong
member number, unknown insurer and not covered take the same time. Interleaved samples,
medians compared (not a speed goal: a relative check between answers of one run)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from datetime import date

from sqlalchemy import select

from tests.conftest import World, fresh_patients
from tierspayant.domain.reference import CareCategory
from tierspayant.security.policy import Principal, Role
from tierspayant.services.rights import RightsRequest
from tierspayant.store import tables as t

SAMPLES = 150
TOLERANCE = 1.35  # slowest median / fastest median


def test_negative_answers_take_the_same_time(new_world: Callable[..., World]) -> None:
    world = new_world(beneficiaries=200)
    patient = fresh_patients(world)[0]
    with world.platform.engine.connect() as conn:
        ended_id = conn.execute(
            select(t.beneficiaries.c.id).join(t.rights_periods, t.rights_periods.c.beneficiary_id == t.beneficiaries.c.id)
            .where(t.rights_periods.c.end_date.is_not(None), t.rights_periods.c.end_date < date(2026, 3, 2))).scalar()
    assert ended_id is not None
    with world.platform.uow(readonly=True) as repos:
        ended = repos.beneficiaries.beneficiary(ended_id)
        insurer = repos.reference.insurer(ended.insurer_id) if ended else None
    assert ended is not None and insurer is not None

    def request(amc: str, member: str, nir: str, birth: str) -> RightsRequest:
        return RightsRequest(amc, member, nir, date.fromisoformat(birth), date(2026, 3, 2), CareCategory.OPTICAL)

    cases = {
        "wrong birth date": request(patient["amc_number"], patient["member_number"], patient["nir"], "1950-01-01"),
        "wrong member number": request(patient["amc_number"], "9999999999", patient["nir"], patient["birth_date"]),
        "unknown patient": request(patient["amc_number"], patient["member_number"], "295109912611193",
                                   patient["birth_date"]),
        "unknown insurer": request("123456789", patient["member_number"], patient["nir"], patient["birth_date"]),
        "not covered": request(insurer.amc_number, ended.member_number, ended.nir, ended.birth_date.isoformat()),
    }
    principal = Principal(1, 1, Role.PROFESSIONAL, 1, 1)
    rights = world.platform.rights

    async def measure() -> dict[str, list[float]]:
        out: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(SAMPLES):
            for name, req in cases.items():
                started = time.perf_counter()
                answer = await rights.check(principal, req)
                out[name].append(time.perf_counter() - started)
                assert answer.covered is False and answer.engagement_number is None
        return out

    samples = asyncio.run(measure())
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print({k: round(v * 1e6) for k, v in medians.items()})
    assert max(medians.values()) / min(medians.values()) <= TOLERANCE, medians
    world.platform.engine.dispose()
