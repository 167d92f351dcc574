"""One line of a membership file (domain/membership.py): every column checked, the field at
fault named, never the value."""

from __future__ import annotations

from datetime import date

import pytest

from tierspayant.domain.errors import InvalidField
from tierspayant.domain.membership import parse_line
from tierspayant.domain.reference import CareCategory

TODAY = date(2026, 12, 1)
GOOD = {"member_number": "0007000001", "rank": "0", "nir": "159037548238525", "birth_date": "1959-03-19",
        "last_name": "Simon", "first_name": "Lou", "contract_code": "RESP-ESSENTIEL", "rights_start": "2026-01-01",
        "rights_end": "", "categories": ""}


def test_a_good_line() -> None:
    line = parse_line(GOOD, TODAY)
    assert (line.rank, line.rights_end, line.categories) == (0, None, frozenset(CareCategory))
    ended = parse_line({**GOOD, "rights_end": "2026-06-30", "categories": "optical|pharmacy"}, TODAY)
    assert ended.rights_end == date(2026, 6, 30) and ended.categories == {CareCategory.OPTICAL, CareCategory.PHARMACY}


@pytest.mark.parametrize(("change", "field"), [
    ({"nir": "159037548238526"}, "nir"), ({"rank": "x"}, "rank"), ({"rank": "21"}, "rank"),
    ({"birth_date": "2030-01-01"}, "birth_date"), ({"birth_date": "19/03/1959"}, "birth_date"),
    ({"last_name": ""}, "last_name"), ({"first_name": "L\x00u"}, "first_name"), ({"contract_code": "A B"}, "contract_code"),
    ({"rights_end": "2025-01-01"}, "rights_end"), ({"categories": "dental"}, "categories"),
    ({"member_number": ""}, "member_number"), ({None: "extra"}, "line"),  # type: ignore[dict-item]
])
def test_each_fault_names_its_field_not_its_value(change: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidField) as refused:
        parse_line({**GOOD, **change}, TODAY)
    assert refused.value.field == field
    for value in change.values():
        if value and len(value) > 3:
            assert value not in refused.value.message
