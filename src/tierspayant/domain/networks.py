"""Care networks (docs/DOMAIN.md, "Care networks"): an insurer's network of professionals who
agreed negotiated prices. A membership and a price cap are dated: each applies to the care
whose date falls in its period, bounds included (like a reference code's ``valid_at``), and
``valid_to`` None means still in force. A cap is what a member may charge at most for a class B
optical element (R871-2 3° CSS leaves class B prices free; the network's agreement caps them:
``Limit.NETWORK_PRICE_CAP``, adjudication's R007).

Pure checks of what an operator sends, each naming the field at fault (domain/errors.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tierspayant.domain.errors import InvalidField
from tierspayant.domain.money import parse_amount
from tierspayant.domain.reference import ItemKind, OpticalClass, ReferenceCode, code_at

#: A network's code: its name in URLs and on the log (lower-case letters, digits, dashes).
CODE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
#: Dates an agreement may carry: a sanity bound (a typo of the year, not a rule), which also
#: keeps the day before ``valid_from`` a date.
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)


def parse_network_code(raw: str, field: str = "code") -> str:
    value = raw.strip()
    if not CODE.fullmatch(value):
        raise InvalidField(field, "1 to 40 lower-case letters, digits or dashes (not at either end)")
    return value


def parse_network_name(raw: str, field: str = "name") -> str:
    value = " ".join(raw.split())
    if not value or len(value) > 200:
        raise InvalidField(field, "1 to 200 characters")
    return value


@dataclass(frozen=True, slots=True)
class Period:
    """From ``valid_from`` to ``valid_to`` inclusive; ``valid_to`` None: open-ended."""

    valid_from: date
    valid_to: date | None = None

    def covers(self, at: date) -> bool:
        return self.valid_from <= at and (self.valid_to is None or at <= self.valid_to)

    def overlaps(self, other: Period) -> bool:
        return ((other.valid_to is None or self.valid_from <= other.valid_to)
                and (self.valid_to is None or other.valid_from <= self.valid_to))


def check_period(valid_from: date, valid_to: date | None) -> Period:
    """A period within the sanity bounds, not ending before it starts."""
    for field, value in (("valid_from", valid_from), ("valid_to", valid_to)):
        if value is not None and not EARLIEST <= value <= LATEST:
            raise InvalidField(field, f"between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    if valid_to is not None and valid_to < valid_from:
        raise InvalidField("valid_to", "before valid_from")
    return Period(valid_from, valid_to)


def check_end(valid_to: date, field: str = "valid_to") -> date:
    """The last day of a period being ended (within the sanity bounds)."""
    if not EARLIEST <= valid_to <= LATEST:
        raise InvalidField(field, f"between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return valid_to


def parse_cap(raw: object, field: str = "cap") -> Decimal:
    """A negotiated price: euros, at most two decimals (parse_amount: never rounded), above 0
    (a cap of nothing would make the element free of charge, not capped)."""
    value = parse_amount(raw, field)
    if value <= 0:
        raise InvalidField(field, "must be above 0")
    return value


def cap_code(rows: list[ReferenceCode], code: str, at: date, field: str = "code") -> ReferenceCode:
    """The reference row of ``code`` at ``at`` if a network may cap it: a class B frame or lens
    (docs/DOMAIN.md "Allocation" 5: the network's price applies to class B elements only; class
    A is sold at or below its PLV, 100% Santé)."""
    row = code_at(rows, code, at, field)
    if row.kind not in (ItemKind.FRAME, ItemKind.LENS) or row.optical_class is not OpticalClass.B:
        raise InvalidField(field, "not a class B optical element (a frame or a lens)")
    return row


def place(existing: Iterable[Period], new: Period) -> tuple[Period | None, Period | None]:
    """Where a new price cap goes among a code's periods: (the open period started before it,
    which the new one supersedes from its first day, or None; the first other period it would
    overlap, or None). A caller refuses the second."""
    superseded = clash = None
    for period in sorted(existing, key=lambda p: p.valid_from):
        if period.valid_to is None and period.valid_from < new.valid_from and superseded is None:
            superseded = period
        elif period.overlaps(new) and clash is None:
            clash = period
    return superseded, clash


def ending(existing: Iterable[Period], valid_to: date) -> Period | None:
    """The period a new last day ``valid_to`` ends: the one covering that day, or None."""
    return next((p for p in sorted(existing, key=lambda p: p.valid_from) if p.covers(valid_to)), None)
