"""Money: ``Decimal`` euros, rounded half-up to the cent per line (docs/DOMAIN.md, computation
conventions). Never ``float``."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from tierspayant.domain.errors import InvalidField

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
#: Largest amount accepted on one line (a sanity bound, not a rule): 1 million euros.
MAX_AMOUNT = Decimal("1000000.00")


def cents(value: Decimal) -> Decimal:
    """Round to the cent, half-up (docs/DOMAIN.md: "each amount rounded ROUND_HALF_UP to 0.01")."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_amount(raw: object, field: str) -> Decimal:
    """Parse an input amount: non-negative, at most two decimals, below ``MAX_AMOUNT``.

    Raises InvalidField naming ``field``; never rounds silently (a 3-decimal amount is refused).
    """
    if isinstance(raw, float):
        raise InvalidField(field, "amounts are decimal strings, not floats")
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        raise InvalidField(field, "not a decimal amount") from None
    if not value.is_finite():
        raise InvalidField(field, "not a finite amount")
    if value < 0:
        raise InvalidField(field, "must not be negative")
    if value != value.quantize(CENT):
        raise InvalidField(field, "at most two decimals (cents)")
    if value > MAX_AMOUNT:
        raise InvalidField(field, f"must not exceed {MAX_AMOUNT}")
    return value.quantize(CENT)


def parse_rate(raw: object, field: str) -> Decimal:
    """Parse a rate between 0 and 1 inclusive (e.g. an AMO rate "0.60")."""
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        raise InvalidField(field, "not a decimal rate") from None
    if not value.is_finite() or value < 0 or value > 1:
        raise InvalidField(field, "must be between 0 and 1")
    return value
