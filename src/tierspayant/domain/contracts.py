"""Contracts and their guarantee tables, checked against the contrat responsable rules when they
are configured (R871-2 CSS; D911-1 CSS for employer group contracts). A contract outside the legal
bounds is refused with the rule it breaks (docs/DOMAIN.md, CFG-05)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tierspayant.domain.errors import ConfigurationRejected, InvalidField
from tierspayant.domain.money import parse_amount, parse_rate
from tierspayant.domain.optics import (
    ANI_FLOORS,
    FRAME_LEGAL_CAP,
    LEGAL_CEILINGS,
    LEGAL_FLOORS,
    EquipmentCategory,
)


class ContractType(StrEnum):
    INDIVIDUAL = "individual"
    #: Employer group contract, mandatory membership (ANI; D911-1 CSS: higher optical floors).
    COLLECTIVE = "collective"


class ClassBCoverage(StrEnum):
    #: Covers beyond the ticket modérateur: floors and ceilings apply (R871-2 3° CSS).
    BEYOND_TM = "BEYOND_TM"
    #: Covers the ticket modérateur only: valid, no floor applies (docs/DOMAIN.md CFG-05).
    TM_ONLY = "TM_ONLY"


class MixedEquipmentRule(StrEnum):
    """How a class B element's ceiling is reduced when the equipment mixes classes A and B
    (insurer practice, docs/DOMAIN.md "Allocation")."""

    DEDUCT_CLASS_A_COST = "DEDUCT_CLASS_A_COST"
    NONE = "NONE"


@dataclass(frozen=True, slots=True)
class OpticalGuarantee:
    class_b_coverage: ClassBCoverage = ClassBCoverage.BEYOND_TM
    #: Ceilings per equipment category, AMO share included (R871-2 3°).
    class_b_ceilings: Mapping[EquipmentCategory, Decimal] = field(default_factory=dict)
    #: Frame cover, AMO included; at most €100 (R871-2 3°).
    frame_cap: Decimal = FRAME_LEGAL_CAP
    mixed_equipment_rule: MixedEquipmentRule = MixedEquipmentRule.DEDUCT_CLASS_A_COST


#: Pharmacy AMO rates (docs/DOMAIN.md "Pharmacy AMO rates").
PHARMACY_RATES = ("0.65", "0.30", "0.15", "1.00")


@dataclass(frozen=True, slots=True)
class Contract:
    code: str
    name: str
    contract_type: ContractType = ContractType.INDIVIDUAL
    responsable: bool = True
    optical: OpticalGuarantee = field(default_factory=OpticalGuarantee)
    #: Share of the consultation ticket modérateur the contract pays (1.00 = all of it).
    consultation_tm: Decimal = Decimal("1.00")
    #: Cover of doctors' extra fees as a multiple of the BR (R871-2 2°).
    depassement_optam: Decimal = Decimal("0")
    depassement_non_optam: Decimal = Decimal("0")
    #: Share of the ticket modérateur paid per pharmacy AMO rate.
    pharmacy_tm: Mapping[str, Decimal] = field(
        default_factory=lambda: {"0.65": Decimal("1"), "0.30": Decimal("1"), "0.15": Decimal("0"), "1.00": Decimal("0")}
    )


def validate_contract(contract: Contract) -> Contract:
    """Refuse a configuration that breaks a legal rule; return the contract unchanged otherwise.

    Rules, in the order they are checked (the first broken one is reported):
    - a collective (employer group) contract covers optics beyond the TM, every category at
      least at its D911-1 floor (D911-1 CSS: the minimum cover of L911-7), responsable or not;
    - frame cap above €100 (R871-2 3°): FRAME_CAP_ABOVE_100 -- applies to every responsable contract;
    - class B beyond the TM: every category a-f is covered (R871-2 3° sets a floor for each:
      a contract paying beyond the TM for one category and the TM only for another breaks it),
      each between the legal floor and ceiling of its category (R871-2 3° a-f);
    - the whole TM of consultations and 65 % drugs is covered (R871-2 1°);
    - non-OPTAM extra fees <= min(100 % BR, OPTAM cover - 20 % BR) (R871-2 2°).
    A contract that is neither responsable nor collective is bound by none of these.
    """
    optical = contract.optical
    if contract.contract_type is ContractType.COLLECTIVE:
        _check_ani_floors(optical)
    if not contract.responsable:
        return contract
    if optical.frame_cap > FRAME_LEGAL_CAP:
        raise ConfigurationRejected(
            "optical.frame_cap", "FRAME_CAP_ABOVE_100", "R871-2 3° CSS",
            f"frame cover {optical.frame_cap} exceeds the legal €{FRAME_LEGAL_CAP}",
        )
    if optical.class_b_coverage is ClassBCoverage.BEYOND_TM:
        for category in EquipmentCategory:
            where = f"optical.class_b_ceilings.{category.value}"
            ceiling = optical.class_b_ceilings.get(category)
            if ceiling is None:
                raise ConfigurationRejected(
                    where, "CATEGORY_NOT_COVERED", f"R871-2 3° {category.value} CSS",
                    f"a contract covering class B beyond the TM covers every category: {category.value} is missing",
                )
            if ceiling < LEGAL_FLOORS[category]:
                raise ConfigurationRejected(
                    where, "BELOW_LEGAL_FLOOR", f"R871-2 3° {category.value} CSS",
                    f"category {category.value} cover must be at least {LEGAL_FLOORS[category]}",
                )
            if ceiling > LEGAL_CEILINGS[category]:
                raise ConfigurationRejected(
                    where, "ABOVE_LEGAL_CEILING", f"R871-2 3° {category.value} CSS",
                    f"category {category.value} cover must be at most {LEGAL_CEILINGS[category]}",
                )
    if contract.consultation_tm < 1:
        raise ConfigurationRejected(
            "consultation_tm", "TM_NOT_FULLY_COVERED", "R871-2 1° CSS",
            "a contrat responsable covers the whole ticket modérateur of consultations",
        )
    if contract.pharmacy_tm.get("0.65", Decimal("0")) < 1:
        raise ConfigurationRejected(
            "pharmacy_tm.0.65", "TM_NOT_FULLY_COVERED", "R871-2 1° CSS",
            "a contrat responsable covers the whole ticket modérateur of drugs at 65 %",
        )
    non_optam_max = min(Decimal("1.00"), contract.depassement_optam - Decimal("0.20"))
    if contract.depassement_non_optam > 0 and contract.depassement_non_optam > non_optam_max:
        raise ConfigurationRejected(
            "depassement_non_optam", "NON_OPTAM_DEPASSEMENT_TOO_HIGH", "R871-2 2° CSS",
            f"non-OPTAM extra-fee cover must be at most {max(non_optam_max, Decimal('0'))} x BR",
        )
    return contract


def _check_ani_floors(optical: OpticalGuarantee) -> None:
    """D911-1 CSS: optics covered at least 100 (a), 150 (b, d), 200 (c, e, f), AMO included."""
    if optical.class_b_coverage is ClassBCoverage.TM_ONLY:
        raise ConfigurationRejected(
            "optical.class_b_coverage", "BELOW_ANI_FLOOR", "D911-1 CSS",
            "a collective contract covers optics beyond the TM (D911-1 floors per category)",
        )
    for category in EquipmentCategory:
        ceiling = optical.class_b_ceilings.get(category)
        if ceiling is None or ceiling < ANI_FLOORS[category]:
            raise ConfigurationRejected(
                f"optical.class_b_ceilings.{category.value}", "BELOW_ANI_FLOOR", "D911-1 CSS",
                f"collective contracts cover at least {ANI_FLOORS[category]} for category {category.value}",
            )


def _get(data: Mapping[str, Any], key: str, default: Any) -> Any:
    return data[key] if key in data and data[key] is not None else default


def contract_from_dict(data: Mapping[str, Any], prefix: str = "") -> Contract:
    """Build (and validate) a contract from its JSON configuration; field names in errors are
    prefixed with ``prefix``. Unknown equipment categories and malformed amounts are refused."""
    try:
        contract_type = ContractType(_get(data, "type", "individual"))
    except ValueError:
        raise InvalidField(prefix + "type", "must be 'individual' or 'collective'") from None
    optical_data = _get(data, "optical", {})
    ceilings: dict[EquipmentCategory, Decimal] = {}
    for key, value in dict(_get(optical_data, "class_b_ceilings", {})).items():
        try:
            category = EquipmentCategory(key)
        except ValueError:
            raise InvalidField(f"{prefix}optical.class_b_ceilings.{key}", "unknown equipment category (a-f)") from None
        ceilings[category] = parse_amount(value, f"{prefix}optical.class_b_ceilings.{key}")
    try:
        # No ceiling configured: the contract covers class B at the TM only (docs/DOMAIN.md CFG-05).
        coverage = ClassBCoverage(_get(optical_data, "class_b_coverage", "BEYOND_TM" if ceilings else "TM_ONLY"))
        mixed = MixedEquipmentRule(_get(optical_data, "mixed_equipment_rule", "DEDUCT_CLASS_A_COST"))
    except ValueError as exc:
        raise InvalidField(prefix + "optical", str(exc)) from None
    pharmacy = {"0.65": Decimal("1"), "0.30": Decimal("1"), "0.15": Decimal("0"), "1.00": Decimal("0")}
    for key, value in dict(_get(data, "pharmacy_tm", {})).items():
        if key not in PHARMACY_RATES:
            raise InvalidField(f"{prefix}pharmacy_tm.{key}", f"unknown pharmacy rate; one of {PHARMACY_RATES}")
        pharmacy[key] = parse_rate(value, f"{prefix}pharmacy_tm.{key}")
    code = str(_get(data, "code", "")).strip()
    if not code or len(code) > 40:
        raise InvalidField(prefix + "code", "1 to 40 characters")
    contract = Contract(
        code=code,
        name=str(_get(data, "name", code))[:200],
        contract_type=contract_type,
        responsable=bool(_get(data, "responsable", True)),
        optical=OpticalGuarantee(
            class_b_coverage=coverage,
            class_b_ceilings=ceilings,
            frame_cap=parse_amount(_get(optical_data, "frame_cap", "100.00"), prefix + "optical.frame_cap"),
            mixed_equipment_rule=mixed,
        ),
        consultation_tm=parse_rate(_get(data, "consultation_tm", "1"), prefix + "consultation_tm"),
        depassement_optam=_multiple(_get(data, "depassement_optam", "0"), prefix + "depassement_optam"),
        depassement_non_optam=_multiple(_get(data, "depassement_non_optam", "0"), prefix + "depassement_non_optam"),
        pharmacy_tm=pharmacy,
    )
    return validate_contract(contract)


def _multiple(raw: object, field_name: str) -> Decimal:
    """A multiple of the BR, between 0 and 10 (e.g. "1.00")."""
    try:
        value = Decimal(str(raw))
    except ArithmeticError:
        raise InvalidField(field_name, "not a decimal multiple of the BR") from None
    if not value.is_finite() or value < 0 or value > 10:
        raise InvalidField(field_name, "must be between 0 and 10 (multiple of the BR)")
    return value


def contract_to_dict(contract: Contract) -> dict[str, Any]:
    """The JSON configuration of a contract (inverse of ``contract_from_dict``)."""
    return {
        "code": contract.code,
        "name": contract.name,
        "type": contract.contract_type.value,
        "responsable": contract.responsable,
        "optical": {
            "class_b_coverage": contract.optical.class_b_coverage.value,
            "class_b_ceilings": {k.value: str(v) for k, v in sorted(contract.optical.class_b_ceilings.items())},
            "frame_cap": str(contract.optical.frame_cap),
            "mixed_equipment_rule": contract.optical.mixed_equipment_rule.value,
        },
        "consultation_tm": str(contract.consultation_tm),
        "depassement_optam": str(contract.depassement_optam),
        "depassement_non_optam": str(contract.depassement_non_optam),
        "pharmacy_tm": {k: str(v) for k, v in contract.pharmacy_tm.items()},
    }
