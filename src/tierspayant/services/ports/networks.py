"""Care networks (``services/networks.py``): networks and the insurers they serve, their dated
memberships and negotiated price caps (docs/DOMAIN.md, "Care networks"). Periods include both
their days; ``valid_to`` None: in force. The caps a calculation applies are read through
``Professionals.network_caps`` (services/ports/care.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Network:
    id: int
    code: str
    name: str
    insurer_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class NetworkMember:
    """One period of a professional's membership of a network."""

    network_id: int
    professional_id: int
    rpps: str | None
    valid_from: date
    valid_to: date | None


@dataclass(frozen=True, slots=True)
class PriceCap:
    """One period of a network's negotiated price for a code (euros, ``Decimal``)."""

    network_id: int
    code: str
    cap: Decimal
    valid_from: date
    valid_to: date | None


class Networks(Protocol):
    def add_network(self, code: str, name: str, insurer_ids: Sequence[int]) -> Network:
        """A new network serving these insurers. Raises ``Conflict("code")`` or
        ``Conflict("name")`` when a network has that code or name (nothing written)."""
        ...

    def network(self, code: str) -> Network | None:
        """The network with this code, the insurers it serves included, or None."""
        ...

    def networks(self, insurer_ids: Sequence[int] | None, limit: int) -> list[Network]:
        """At most ``limit`` networks serving one of these insurers (every network when None),
        by code."""
        ...

    def members(self, network_id: int, limit: int, professional_id: int | None = None) -> list[NetworkMember]:
        """At most ``limit`` membership periods of the network (of one professional when
        given), by professional then first day."""
        ...

    def add_member(self, member: NetworkMember) -> None:
        """Record a membership period (``rpps`` ignored). Raises ``Conflict("valid_from")`` when
        the professional has a period starting that day in the network (nothing written);
        overlaps are the caller's rule."""
        ...

    def end_member(self, network_id: int, professional_id: int, valid_from: date, valid_to: date) -> bool:
        """Set the last day of the period starting ``valid_from``; False when there is none."""
        ...

    def caps(self, network_id: int, limit: int, code: str | None = None) -> list[PriceCap]:
        """At most ``limit`` price cap periods of the network (of one code when given), by code
        then first day."""
        ...

    def add_cap(self, cap: PriceCap) -> None:
        """Record a price cap period. Raises ``Conflict("valid_from")`` when the code has a
        period starting that day in the network (nothing written); overlaps are the caller's
        rule."""
        ...

    def end_cap(self, network_id: int, code: str, valid_from: date, valid_to: date) -> bool:
        """Set the last day of the code's period starting ``valid_from``; False when there is none."""
        ...
