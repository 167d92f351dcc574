"""Care networks in SQL (``services.ports.networks``): networks and the insurers they serve,
dated memberships and price caps (store/tables.py). Small tables: every read is bounded by
its caller's limit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from tierspayant.services.ports import Conflict
from tierspayant.services.ports.networks import Network, NetworkMember, PriceCap
from tierspayant.store import tables as t
from tierspayant.store.base import SqlPort


class SqlNetworks(SqlPort):
    def add_network(self, code: str, name: str, insurer_ids: Sequence[int]) -> Network:
        n = t.networks.c
        for field, column, value in (("code", n.code, code), ("name", n.name, name)):
            if self.conn.execute(select(n.id).where(column == value)).first() is not None:
                raise Conflict(field, "already exists")
        network_id = self._insert(t.networks, {"code": code, "name": name}, "name")
        self.conn.execute(insert(t.network_insurers), [
            {"network_id": network_id, "insurer_id": i} for i in sorted(set(insurer_ids))])
        return Network(network_id, code, name, tuple(sorted(set(insurer_ids))))

    def network(self, code: str) -> Network | None:
        found = self._networks(t.networks.c.code == code, 1)
        return found[0] if found else None

    def networks(self, insurer_ids: Sequence[int] | None, limit: int) -> list[Network]:
        if insurer_ids is None:
            return self._networks(None, limit)
        served = select(t.network_insurers.c.network_id).where(t.network_insurers.c.insurer_id.in_(list(insurer_ids)))
        return self._networks(t.networks.c.id.in_(served), limit)

    def _networks(self, where: Any, limit: int) -> list[Network]:
        query = select(t.networks).order_by(t.networks.c.code).limit(limit)
        rows = self.conn.execute(query.where(where) if where is not None else query).all()
        if not rows:
            return []
        ni = t.network_insurers.c
        served: dict[int, list[int]] = {}
        for network_id, insurer_id in self.conn.execute(
                select(ni.network_id, ni.insurer_id).where(ni.network_id.in_([r.id for r in rows]))
                .order_by(ni.network_id, ni.insurer_id)):
            served.setdefault(network_id, []).append(insurer_id)
        return [Network(r.id, r.code, r.name, tuple(served.get(r.id, ()))) for r in rows]

    def members(self, network_id: int, limit: int, professional_id: int | None = None) -> list[NetworkMember]:
        m = t.network_members.c
        query = (select(m.network_id, m.professional_id, t.professionals.c.rpps, m.valid_from, m.valid_to)
                 .join(t.professionals, t.professionals.c.id == m.professional_id)
                 .where(m.network_id == network_id).order_by(m.professional_id, m.valid_from).limit(limit))
        if professional_id is not None:
            query = query.where(m.professional_id == professional_id)
        return [NetworkMember(*row) for row in self.conn.execute(query)]

    def add_member(self, member: NetworkMember) -> None:
        self._add(t.network_members, {"network_id": member.network_id, "professional_id": member.professional_id,
                                      "valid_from": member.valid_from, "valid_to": member.valid_to})

    def end_member(self, network_id: int, professional_id: int, valid_from: date, valid_to: date) -> bool:
        m = t.network_members.c
        return self._end(t.network_members, valid_to, m.network_id == network_id,
                         m.professional_id == professional_id, m.valid_from == valid_from)

    def caps(self, network_id: int, limit: int, code: str | None = None) -> list[PriceCap]:
        p = t.network_price_caps.c
        query = (select(p.network_id, p.code, p.cap, p.valid_from, p.valid_to).where(p.network_id == network_id)
                 .order_by(p.code, p.valid_from).limit(limit))
        if code is not None:
            query = query.where(p.code == code)
        return [PriceCap(*row) for row in self.conn.execute(query)]

    def add_cap(self, cap: PriceCap) -> None:
        self._add(t.network_price_caps, {"network_id": cap.network_id, "code": cap.code, "cap": cap.cap,
                                         "valid_from": cap.valid_from, "valid_to": cap.valid_to})

    def end_cap(self, network_id: int, code: str, valid_from: date, valid_to: date) -> bool:
        p = t.network_price_caps.c
        return self._end(t.network_price_caps, valid_to, p.network_id == network_id, p.code == code,
                         p.valid_from == valid_from)

    def _add(self, table: Any, values: dict[str, Any]) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(table).values(**values))
        except IntegrityError:
            raise Conflict("valid_from", "a period starts that day already") from None

    def _end(self, table: Any, valid_to: date, *where: Any) -> bool:
        return bool(self.conn.execute(update(table).where(*where).values(valid_to=valid_to)).rowcount)
