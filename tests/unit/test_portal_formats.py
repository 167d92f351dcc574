"""The portal writes amounts and dates the French way (web/render.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from tierspayant.web.render import day, euros


@pytest.mark.parametrize("amount, shown", [("149.94", "149,94\u00a0€"), ("1249.5", "1\u202f249,50\u00a0€"),
                                           ("0", "0,00\u00a0€"), ("-12.30", "-12,30\u00a0€"),
                                           ("1000000", "1\u202f000\u202f000,00\u00a0€")])
def test_amounts_are_written_the_french_way(amount: str, shown: str) -> None:
    assert euros(Decimal(amount)) == shown


def test_dates_are_day_month_year_and_times_french() -> None:
    assert day(date(2026, 3, 2)) == "02/03/2026" and day("2026-12-31") == "31/12/2026" and day(None) == "—"
    assert day(datetime(2026, 7, 1, 22, 30, tzinfo=UTC)) == "02/07/2026 00:30"  # summer: UTC+2
    assert day(datetime(2026, 1, 15, 8, 0, tzinfo=UTC)) == "15/01/2026 09:00"  # winter: UTC+1
