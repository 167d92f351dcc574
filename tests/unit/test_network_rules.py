"""Care networks' pure checks (domain/networks.py): codes, names, dated periods (both bounds
included), negotiated prices (positive, canonical cents), which codes a network may cap (class
B frames and lenses: docs/DOMAIN.md "Allocation" 5), where a new cap goes among a code's periods."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tierspayant.domain.errors import InvalidField
from tierspayant.domain.networks import (
    Period,
    cap_code,
    check_end,
    check_period,
    ending,
    parse_cap,
    parse_network_code,
    parse_network_name,
    place,
)
from tierspayant.domain.reference import ItemKind, OpticalClass, ReferenceCode

D = date


def field_of(call: object, *args: object) -> str:
    with pytest.raises(InvalidField) as raised:
        call(*args)  # type: ignore[operator]
    return raised.value.field


def test_codes_and_names() -> None:
    assert parse_network_code(" optique-ouest ") == "optique-ouest"
    for bad in ("", "Optique", "-a", "a-", "a b", "a" * 41, "réseau"):
        assert field_of(parse_network_code, bad) == "code"
    assert parse_network_name("  Réseau   Optique ") == "Réseau Optique"
    assert field_of(parse_network_name, "   ") == "name" and field_of(parse_network_name, "x" * 201) == "name"


def test_periods_include_both_days_and_refuse_what_ends_before_it_starts() -> None:
    period = check_period(D(2026, 1, 1), D(2026, 3, 31))
    assert period.covers(D(2026, 1, 1)) and period.covers(D(2026, 3, 31))
    assert not period.covers(D(2025, 12, 31)) and not period.covers(D(2026, 4, 1))
    assert Period(D(2026, 1, 1)).covers(D(2099, 1, 1))
    assert check_period(D(2026, 1, 1), D(2026, 1, 1)).covers(D(2026, 1, 1))  # one day
    assert field_of(check_period, D(2026, 2, 1), D(2026, 1, 31)) == "valid_to"
    assert field_of(check_period, D(1, 1, 1), None) == "valid_from"  # the day before stays a date
    assert field_of(check_period, D(2026, 1, 1), D(9999, 12, 31)) == "valid_to"
    assert field_of(check_end, D(1999, 12, 31)) == "valid_to" and check_end(D(2026, 6, 30)) == D(2026, 6, 30)
    assert Period(D(2026, 1, 1), D(2026, 1, 31)).overlaps(Period(D(2026, 1, 31)))
    assert not Period(D(2026, 1, 1), D(2026, 1, 31)).overlaps(Period(D(2026, 2, 1)))
    assert Period(D(2026, 3, 1)).overlaps(Period(D(2026, 1, 1)))


def test_a_cap_is_a_positive_amount_in_cents() -> None:
    assert parse_cap("150") == Decimal("150.00") and str(parse_cap(Decimal("99.9"))) == "99.90"
    for bad in ("0", "0.00", "-1.00", "1.001", "abc", "NaN", 1.5, "2000000"):
        assert field_of(parse_cap, bad) == "cap"


def test_only_class_b_frames_and_lenses_can_be_capped() -> None:
    def row(code: str, kind: ItemKind, optical_class: OpticalClass | None) -> ReferenceCode:
        return ReferenceCode(code, kind, code, Decimal("0.05"), Decimal("0.60"), D(2020, 1, 1), None, optical_class)

    rows = [row("B1", ItemKind.FRAME, OpticalClass.B), row("B2", ItemKind.LENS, OpticalClass.B),
            row("A1", ItemKind.FRAME, OpticalClass.A), row("C1", ItemKind.CONSULTATION, None)]
    assert cap_code(rows, "B1", D(2026, 1, 1)).code == "B1" and cap_code(rows, "B2", D(2026, 1, 1)).code == "B2"
    for code in ("A1", "C1", "ZZ"):
        assert field_of(cap_code, rows, code, D(2026, 1, 1)) == "code"
    assert field_of(cap_code, rows, "B1", D(2019, 12, 31)) == "code"  # not in the table yet on that day


def test_a_new_cap_supersedes_the_open_one_and_refuses_other_overlaps() -> None:
    open_since = Period(D(2026, 1, 1))
    assert place([open_since], Period(D(2026, 7, 1))) == (open_since, None)
    assert place([open_since], Period(D(2026, 1, 1))) == (None, open_since)  # same first day
    assert place([open_since], Period(D(2025, 1, 1), D(2025, 12, 31))) == (None, None)  # before it
    assert place([open_since], Period(D(2025, 6, 1))) == (None, open_since)  # would cover it
    closed = Period(D(2025, 1, 1), D(2025, 6, 30))
    assert place([closed, open_since], Period(D(2025, 6, 1))) == (None, closed)
    assert ending([closed, open_since], D(2025, 3, 1)) == closed
    assert ending([closed, open_since], D(2025, 9, 1)) is None
    assert ending([closed, open_since], D(2030, 1, 1)) == open_since
