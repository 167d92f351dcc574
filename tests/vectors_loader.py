"""Turns docs/DOMAIN.md's worked examples (copied verbatim into tests/vectors/domain_examples.json)
into domain inputs. The examples use the insurer-facing vocabulary of docs/DOMAIN.md; this module
maps it onto the engine's types and nothing else: it computes no expected value."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from tierspayant.domain.calculation import CareContext, Pathway, PricedLine, QuoteLine
from tierspayant.domain.contracts import Contract, contract_from_dict
from tierspayant.domain.optics import ANI_FLOORS, LEGAL_FLOORS, EquipmentCategory, LensType
from tierspayant.domain.reference import ItemKind, OpticalClass, ReferenceCode
from tierspayant.domain.renewal import LastPurchases

VECTORS = Path(__file__).parent / "vectors"
DEFAULT_DATE_OF_CARE = date(2026, 2, 10)


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def examples() -> dict[str, dict[str, Any]]:
    return {example["id"]: example for example in load("domain_examples.json")}


def amount(raw: str) -> Decimal:
    """"9.75 (ILLUSTRATIVE)" -> Decimal("9.75")."""
    return Decimal(str(raw).split()[0])


def percent(raw: str) -> Decimal:
    """"100% (mandatory)" -> Decimal("1")."""
    match = re.match(r"\s*(\d+(?:\.\d+)?)\s*%", raw)
    assert match, raw
    return Decimal(match.group(1)) / 100


def contract_config(raw: dict[str, Any]) -> dict[str, Any]:
    """docs/DOMAIN.md's contract vocabulary -> the platform's contract configuration."""
    config: dict[str, Any] = {"code": "VECTOR", "optical": {}}
    kind = raw.get("type", "individual responsable")
    config["type"] = "collective" if "collective" in kind else "individual"
    config["responsable"] = raw.get("responsable", True)
    if "classB_ceiling_incl_amo" in raw:
        # The examples name the category they are about; a contract covering beyond the TM covers
        # every category (R871-2 3°): the others at their floor, which no example's arithmetic reads.
        floors = ANI_FLOORS if config["type"] == "collective" else LEGAL_FLOORS
        config["optical"]["class_b_ceilings"] = {**{c.value: str(floors[c]) for c in EquipmentCategory},
                                                 **raw["classB_ceiling_incl_amo"]}
    if "frame_cap_incl_amo" in raw:
        config["optical"]["frame_cap"] = raw["frame_cap_incl_amo"]
    if "mixed_equipment_rule" in raw:
        config["optical"]["mixed_equipment_rule"] = raw["mixed_equipment_rule"]
    if "classB_coverage" in raw:
        config["optical"]["class_b_coverage"] = raw["classB_coverage"]
    for key in ("depassement_optam", "depassement_non_optam"):
        if key in raw:
            config[key] = raw[key].split()[0]
    pharmacy = {}
    for key, rate in (("tm_65", "0.65"), ("tm_30", "0.30"), ("tm_15", "0.15")):
        if key in raw:
            pharmacy[rate] = str(percent(raw[key]))
    if pharmacy:
        config["pharmacy_tm"] = pharmacy
    return config


def contract(raw: dict[str, Any]) -> Contract:
    return contract_from_dict(contract_config(raw))


def birth_date_for(age: int, date_of_care: date) -> date:
    """A birth date giving ``age`` both at the date of care and on 1 January of its year."""
    return date(date_of_care.year - age, 1, 1)


def optical_lines(items: list[dict[str, Any]]) -> list[PricedLine]:
    lines = []
    for index, item in enumerate(items):
        kind = ItemKind(item["kind"])
        klass = OpticalClass(item["class"])
        code = f"V-{kind.value}-{klass.value}-{index}"
        ref = ReferenceCode(
            code=code,
            kind=kind,
            label=code,
            br=amount(item.get("br", "0.05")),
            amo_rate=Decimal(item.get("amo_rate", "0.60")),
            valid_from=date(2020, 1, 1),
            optical_class=klass,
            plv=amount(item["plv"]) if "plv" in item else None,
        )
        line = QuoteLine(
            code=code,
            price=Decimal(item["price"]),
            lens_type=LensType(item["type"]) if "type" in item else None,
            sph=Decimal(item["sph"]) if "sph" in item else None,
            cyl=Decimal(item.get("cyl", "0")) if "sph" in item else None,
        )
        lines.append(PricedLine(line, ref, index))
    return lines


def optical_context(inputs: dict[str, Any]) -> CareContext:
    at = date.fromisoformat(inputs.get("date_of_care", DEFAULT_DATE_OF_CARE.isoformat()))
    previous = inputs.get("previous_optical_purchase")
    return CareContext(
        date_of_care=at,
        birth_date=birth_date_for(inputs["beneficiary_age"], at),
        last_purchases=LastPurchases.whole(date.fromisoformat(previous) if previous else None),
    )


def consultation(inputs: dict[str, Any]) -> tuple[list[PricedLine], CareContext]:
    at = date.fromisoformat(inputs["date_of_care"])
    out_of_pathway = inputs["pathway"] == "hors parcours"
    ref = ReferenceCode(
        code=inputs["act"], kind=ItemKind.CONSULTATION, label="GP consultation",
        br=Decimal(inputs["br"]), amo_rate=Decimal("0.70"), valid_from=date(2024, 12, 22),
        amo_rate_out_of_pathway=Decimal(inputs["amo_rate"]) if out_of_pathway else Decimal("0.30"),
    )
    ctx = CareContext(
        date_of_care=at,
        birth_date=birth_date_for(inputs["beneficiary_age"], at),
        pathway=Pathway.OUT_OF_PATHWAY if out_of_pathway else Pathway.COORDINATED,
        pf_count_this_year=inputs["pf_count_this_year"],
    )
    return [PricedLine(QuoteLine(code=inputs["act"], price=Decimal(inputs["fee"])), ref, 0)], ctx


def pharmacy(inputs: dict[str, Any]) -> tuple[list[PricedLine], CareContext]:
    at = date.fromisoformat(inputs["date_of_care"])
    lines = []
    for index, raw in enumerate(inputs["lines"]):
        code = f"CIP-{index}"
        ref = ReferenceCode(code=code, kind=ItemKind.DRUG, label=raw.get("drug", code), br=Decimal(raw["br"]),
                            amo_rate=Decimal(raw["rate"]), valid_from=date(2020, 1, 1))
        price = Decimal(raw["br"]) * raw["boxes"]
        lines.append(PricedLine(QuoteLine(code=code, price=price, quantity=raw["boxes"]), ref, index))
    ctx = CareContext(date_of_care=at, birth_date=birth_date_for(inputs["beneficiary_age"], at),
                      franchise_ytd=Decimal(inputs.get("franchise_ytd", "0")))
    return lines, ctx
