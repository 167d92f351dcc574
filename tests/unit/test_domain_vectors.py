"""Every worked example of docs/DOMAIN.md, run through the engine (tests/vectors/)."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from tests import vectors_loader as v
from tierspayant.domain.calculation import Limit, calculate
from tierspayant.domain.contracts import contract_from_dict
from tierspayant.domain.errors import ConfigurationRejected

EXAMPLES = v.examples()
OPTICAL = [key for key in EXAMPLES if key.startswith("OPT-")]


def totals(calc: Any) -> dict[str, str]:
    return {"amo": str(calc.amo), "amc": str(calc.amc), "patient": str(calc.patient)}


@pytest.mark.parametrize("example_id", OPTICAL)
def test_optical_examples(example_id: str) -> None:
    example = EXAMPLES[example_id]
    inputs = example["inputs"]
    calc = calculate(v.optical_lines(inputs["items"]), v.contract(inputs["contract"]), v.optical_context(inputs))
    expected = example["expected"]
    assert totals(calc) == {k: expected[k] for k in ("amo", "amc", "patient")}
    for line in calc.lines:
        assert line.amo + line.amc + line.patient == line.price
    if "partial_reason" in expected:
        assert any(Limit(expected["partial_reason"]) in line.limits for line in calc.lines)
    if "rejection" in expected:
        code, _, rest = expected["rejection"].partition(" ")
        assert calc.renewal_refused and Limit(code) is Limit.RENEWAL_PERIOD_NOT_ELAPSED
        assert calc.renewal_eligible_from is not None
        assert calc.renewal_eligible_from.isoformat() in rest


def _consultation_case(variant: dict[str, Any] | None) -> dict[str, Any]:
    inputs = copy.deepcopy(EXAMPLES["MED-10-GP-consultation-with-PF"]["inputs"])
    if variant:
        inputs.update({k: val for k, val in variant.items() if not k.startswith("expected") and k != "why"})
    return inputs


@pytest.mark.parametrize("variant_index", [None, 0, 1])
def test_consultation_examples(variant_index: int | None) -> None:
    example = EXAMPLES["MED-10-GP-consultation-with-PF"]
    variant = None if variant_index is None else example["variants"][variant_index]
    lines, ctx = v.consultation(_consultation_case(variant))
    calc = calculate(lines, v.contract({"responsable": True}), ctx)
    if variant is None:
        expected = example["expected"]
    elif "expected" in variant:
        expected = variant["expected"]
    else:
        expected = v.load("domain_notes.json")["MED-10-hors-parcours"]["expected"]
    assert totals(calc) == {k: expected[k] for k in ("amo", "amc", "patient")}


def test_pharmacy_example() -> None:
    example = EXAMPLES["PHA-11-pharmacy-65-30-15-with-franchise"]
    lines, ctx = v.pharmacy(example["inputs"])
    calc = calculate(lines, v.contract(example["inputs"]["contract"]), ctx)
    assert totals(calc) == {k: example["expected"][k] for k in ("amo", "amc", "patient")}
    assert calc.price == Decimal("19.00")


def test_pharmacy_note_without_tm_30() -> None:
    example = EXAMPLES["PHA-11-pharmacy-65-30-15-with-franchise"]
    raw = dict(example["inputs"]["contract"], tm_30="0% (contract option)")
    lines, ctx = v.pharmacy(example["inputs"])
    calc = calculate(lines, v.contract(raw), ctx)
    expected = v.load("domain_notes.json")["PHA-11-no-tm-30"]["expected_line_Y"]
    assert {"amc": str(calc.lines[1].amc), "patient": str(calc.lines[1].patient)} == expected


def test_pharmacy_note_drug_at_100_percent() -> None:
    note = v.load("domain_notes.json")["PHA-11-drug-100"]
    inputs = dict(EXAMPLES["PHA-11-pharmacy-65-30-15-with-franchise"]["inputs"], lines=[note["line"]])
    lines, ctx = v.pharmacy(inputs)
    calc = calculate(lines, v.contract({}), ctx)
    assert totals(calc) == note["expected"]


@pytest.mark.parametrize("index", range(len(EXAMPLES["CFG-05-invalid-contract-configurations"]["inputs_and_expected"])))
def test_contract_configuration_examples(index: int) -> None:
    case = EXAMPLES["CFG-05-invalid-contract-configurations"]["inputs_and_expected"][index]
    config = v.contract_config(case["contract"])
    if case["expected"].startswith("VALID"):
        contract_from_dict(config)
        return
    expected_code = case["expected"].removeprefix("REJECT_CONFIG: ").split()[0]
    with pytest.raises(ConfigurationRejected) as info:
        contract_from_dict(config)
    assert info.value.code == expected_code
    assert info.value.rule  # the rule it breaks is named
