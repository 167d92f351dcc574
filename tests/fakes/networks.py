"""In-memory fake of the care networks' port (services/ports/networks.py), keeping its contract."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal

from tests.fakes.state import FakeState
from tierspayant.services.ports import Conflict
from tierspayant.services.ports.networks import Network, NetworkMember, PriceCap


def in_force(valid_from: date, valid_to: date | None, at: date) -> bool:
    return valid_from <= at and (valid_to is None or at <= valid_to)


def network_caps(state: FakeState, professional_id: int, insurer_id: int, at: date) -> dict[str, Decimal]:
    """``Professionals.network_caps`` over the fake's networks (tests/fakes/care.py)."""
    joined = {m.network_id for m in state.network_members
              if m.professional_id == professional_id and in_force(m.valid_from, m.valid_to, at)}
    caps: dict[str, Decimal] = {}
    for cap in state.price_caps:
        if (cap.network_id in joined and insurer_id in state.networks[cap.network_id].insurer_ids
                and in_force(cap.valid_from, cap.valid_to, at)):
            caps[cap.code] = min(cap.cap, caps.get(cap.code, cap.cap))
    return caps


class FakeNetworks:
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def add_network(self, code: str, name: str, insurer_ids: Sequence[int]) -> Network:
        for field, value in (("code", code), ("name", name)):
            if any(getattr(n, field) == value for n in self.s.networks.values()):
                raise Conflict(field, "already exists")
        new = Network(self.s.new_id(), code, name, tuple(sorted(set(insurer_ids))))
        self.s.networks[new.id] = new
        return new

    def network(self, code: str) -> Network | None:
        return next((n for n in self.s.networks.values() if n.code == code), None)

    def networks(self, insurer_ids: Sequence[int] | None, limit: int) -> list[Network]:
        found = [n for n in self.s.networks.values() if insurer_ids is None or set(n.insurer_ids) & set(insurer_ids)]
        return sorted(found, key=lambda n: n.code)[:limit]

    def members(self, network_id: int, limit: int, professional_id: int | None = None) -> list[NetworkMember]:
        found = [replace(m, rpps=self.s.professionals[m.professional_id].rpps) for m in self.s.network_members
                 if m.network_id == network_id and professional_id in (None, m.professional_id)]
        return sorted(found, key=lambda m: (m.professional_id, m.valid_from))[:limit]

    def add_member(self, member: NetworkMember) -> None:
        if any((m.network_id, m.professional_id, m.valid_from) == (member.network_id, member.professional_id,
                                                                    member.valid_from) for m in self.s.network_members):
            raise Conflict("valid_from", "a period starts that day already")
        self.s.network_members.append(replace(member, rpps=None))

    def end_member(self, network_id: int, professional_id: int, valid_from: date, valid_to: date) -> bool:
        for index, m in enumerate(self.s.network_members):
            if (m.network_id, m.professional_id, m.valid_from) == (network_id, professional_id, valid_from):
                self.s.network_members[index] = replace(m, valid_to=valid_to)
                return True
        return False

    def caps(self, network_id: int, limit: int, code: str | None = None) -> list[PriceCap]:
        found = [c for c in self.s.price_caps if c.network_id == network_id and code in (None, c.code)]
        return sorted(found, key=lambda c: (c.code, c.valid_from))[:limit]

    def add_cap(self, cap: PriceCap) -> None:
        if any((c.network_id, c.code, c.valid_from) == (cap.network_id, cap.code, cap.valid_from)
               for c in self.s.price_caps):
            raise Conflict("valid_from", "a period starts that day already")
        self.s.price_caps.append(cap)

    def end_cap(self, network_id: int, code: str, valid_from: date, valid_to: date) -> bool:
        for index, c in enumerate(self.s.price_caps):
            if (c.network_id, c.code, c.valid_from) == (network_id, code, valid_from):
                self.s.price_caps[index] = replace(c, valid_to=valid_to)
                return True
        return False
