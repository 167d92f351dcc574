"""The packaged reference tables (``data/reference_codes.json``)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

from tierspayant.domain.reference import ItemKind, OpticalClass, ReferenceCode


def row_from_dict(raw: dict[str, Any]) -> ReferenceCode:
    return ReferenceCode(
        code=raw["code"], kind=ItemKind(raw["kind"]), label=raw["label"], br=Decimal(raw["br"]),
        amo_rate=Decimal(raw["amo_rate"]), valid_from=date.fromisoformat(raw["valid_from"]),
        valid_to=date.fromisoformat(raw["valid_to"]) if raw.get("valid_to") else None,
        optical_class=OpticalClass(raw["optical_class"]) if raw.get("optical_class") else None,
        plv=Decimal(raw["plv"]) if raw.get("plv") else None,
        amo_rate_out_of_pathway=Decimal(raw["amo_rate_out_of_pathway"]) if raw.get("amo_rate_out_of_pathway") else None,
        br_non_optam=Decimal(raw["br_non_optam"]) if raw.get("br_non_optam") else None,
        age_from=raw.get("age_from"), age_below=raw.get("age_below"),
    )


def default_codes() -> list[ReferenceCode]:
    text = resources.files("tierspayant.simulate").joinpath("data/reference_codes.json").read_text(encoding="utf-8")
    return [row_from_dict(raw) for raw in json.loads(text)["codes"]]
