"""The hand-worked vectors of tests/vectors/rules_*.json (issue 17's rules), run against the
domain functions. This module maps the vectors' inputs onto the engine's types and computes no
expected value."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tests.vectors_loader import load
from tierspayant.domain.calculation import CareContext, Pathway, PricedLine, QuoteLine, calculate
from tierspayant.domain.contracts import contract_from_dict
from tierspayant.domain.errors import DomainError
from tierspayant.domain.optics import LensType
from tierspayant.domain.prescriptions import Criterion, Eye, Prescriber, Prescription, sight_change
from tierspayant.domain.reference import ItemKind, OpticalClass, ReferenceCode
from tierspayant.domain.renewal import EarlyRenewal, LastPurchases, RenewalGrounds, renewal_dates
from tierspayant.domain.tariffs import Doctor, Exemption, Sector, Speciality

SIGHT = load("rules_sight_change.json")["vectors"]
RENEWAL = load("rules_renewal.json")["vectors"]
CALCULATION = load("rules_calculation.json")
CONTRACTS = load("rules_contracts.json")["vectors"]


def _day(raw: str | None) -> date | None:
    return date.fromisoformat(raw) if raw else None


def _eye(raw: dict[str, Any]) -> Eye:
    return Eye(Decimal(raw["sphere"]), Decimal(raw.get("cylinder", "0")), raw.get("axis"),
               Decimal(raw["addition"]) if "addition" in raw else None)


def _prescription(raw: dict[str, Any], issued: date) -> Prescription:
    return Prescription(issued, Prescriber.OPHTHALMOLOGIST, _eye(raw["right"]), _eye(raw["left"]))


def _grounds(raw: dict[str, Any]) -> RenewalGrounds:
    return RenewalGrounds(EarlyRenewal(raw["reason"]) if "reason" in raw else None,
                          tuple(Criterion(c) for c in raw.get("sight_change", ())), raw.get("by_ophthalmologist", False),
                          prescribed_on=_day(raw.get("prescribed_on")))


def _last(raw: dict[str, Any]) -> LastPurchases:
    return LastPurchases(_day(raw.get("frame")), _day(raw.get("lenses")))


@pytest.mark.parametrize("vector", SIGHT, ids=[v["id"] for v in SIGHT])
def test_sight_change(vector: dict[str, Any]) -> None:
    met = sight_change(_prescription(vector["previous"], date(2025, 1, 1)),
                       _prescription(vector["current"], date(2026, 1, 1)))
    assert [c.value for c in met] == vector["expected"]


@pytest.mark.parametrize("vector", RENEWAL, ids=[v["id"] for v in RENEWAL])
def test_renewal_dates(vector: dict[str, Any]) -> None:
    dates = renewal_dates(_last(vector["last"]), date.fromisoformat(vector["birth_date"]),
                          date.fromisoformat(vector["date_of_care"]), _grounds(vector["grounds"]))
    expected = vector["expected"]
    assert (dates.frame, dates.lenses) == (_day(expected["frame"]), _day(expected["lenses"]))
    assert (dates.note.value if dates.note else None) == expected["note"]


def _lines(raw: list[dict[str, Any]]) -> list[PricedLine]:
    lines = []
    for index, item in enumerate(raw):
        kind = ItemKind(item["kind"])
        code = item.get("code", f"V-{kind.value}-{index}")
        ref = ReferenceCode(
            code=code, kind=kind, label=code, br=Decimal(item["br"]), amo_rate=Decimal(item.get("rate", "0.60")),
            valid_from=date(2017, 1, 1), optical_class=OpticalClass(item["class"]) if "class" in item else None,
            plv=Decimal(item["plv"]) if "plv" in item else None,
            amo_rate_out_of_pathway=Decimal(item["rate_out"]) if "rate_out" in item else None,
            br_non_optam=Decimal(item["br_non_optam"]) if "br_non_optam" in item else None,
            age_below=item.get("age_below"),
        )
        line = QuoteLine(code, Decimal(item["price"]), lens_type=LensType(item["type"]) if "type" in item else None,
                         sph=Decimal(item["sph"]) if "sph" in item else None)
        lines.append(PricedLine(line, ref, index))
    return lines


def _context(vector: dict[str, Any]) -> CareContext:
    at = date.fromisoformat(vector["date_of_care"])
    doctor = vector.get("doctor", {})
    return CareContext(
        # The same age on 1 January unless the vector gives a birthday within the year.
        date_of_care=at, birth_date=_day(vector.get("birth_date")) or date(at.year - vector["age"], 1, 1),
        last_purchases=_last(vector.get("last", {})), renewal=_grounds(vector.get("grounds", {})),
        pathway=Pathway(vector.get("pathway", "coordinated")),
        doctor=Doctor(Sector(doctor.get("sector", "1")), doctor.get("optam", False),
                      Speciality(doctor.get("speciality", "general_medicine"))),
        exemption=Exemption(vector.get("exemption", "none")),
        pf_count_this_year=vector.get("pf_count_this_year", 0), pf_today_with_professional=vector.get("pf_today", 0),
    )


@pytest.mark.parametrize("vector", CALCULATION["vectors"], ids=[v["id"] for v in CALCULATION["vectors"]])
def test_calculation(vector: dict[str, Any]) -> None:
    contract = contract_from_dict(CALCULATION["contracts"][vector["contract"]])
    lines, ctx, expected = _lines(vector["lines"]), _context(vector), vector["expected"]
    if "refused" in expected:
        with pytest.raises(DomainError) as refused:
            calculate(lines, contract, ctx)
        assert (refused.value.field, refused.value.code) == (expected["refused"]["field"], expected["refused"]["code"])
        return
    calc = calculate(lines, contract, ctx)
    assert [[str(r.amo), str(r.amc), str(r.patient)] for r in calc.lines] == expected["lines"]
    if "limits" in expected:
        assert [[limit.value for limit in r.limits] for r in calc.lines] == expected["limits"]


@pytest.mark.parametrize("vector", CONTRACTS, ids=[v["id"] for v in CONTRACTS])
def test_contract_checks(vector: dict[str, Any]) -> None:
    expected = vector["expected"]
    if expected is None:
        assert contract_from_dict(vector["config"]).code == "K"
        return
    with pytest.raises(DomainError) as refused:
        contract_from_dict(vector["config"])
    assert (refused.value.field, refused.value.code) == (expected["field"], expected["code"])


def test_every_rule_has_at_least_three_vectors() -> None:
    families = {"sight change": SIGHT, "renewal": RENEWAL, "contracts": CONTRACTS}
    for prefix in ("OPX", "PLV", "C", "D"):
        families[prefix] = [v for v in CALCULATION["vectors"] if v["id"].split("-")[0] == prefix]
    assert {name: len(v) for name, v in families.items() if len(v) < 3} == {}
