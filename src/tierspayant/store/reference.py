"""Reference data and professionals in SQL (``services.ports.care``: ``ReferenceData``, ``Professionals``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update

from tierspayant.domain.contracts import Contract, contract_from_dict, contract_to_dict
from tierspayant.domain.reference import ItemKind, OpticalClass, ReferenceCode
from tierspayant.services.records import Insurer, Organisation, Professional
from tierspayant.store import tables as t
from tierspayant.store.base import SqlPort
from tierspayant.store.protection import Protection

# Read on every rights check: built once (building a select per call costs more than running
# it on SQLite, measured in bench/).
_INSURER_BY_AMC = select(t.insurers).where(t.insurers.c.amc_number == bindparam("amc"))


class InsurerCache:
    """Insurers by AMC number, kept ``ttl`` seconds: read on every rights check, changed a few
    times a year. A new insurer is visible at once (misses are not cached). ``now`` is a
    monotonic clock in seconds (injected: tests move it by hand)."""

    def __init__(self, ttl: float = 60.0, now: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.now = now
        self._entries: dict[str, tuple[float, Insurer]] = {}

    def get(self, amc_number: str) -> Insurer | None:
        entry = self._entries.get(amc_number)
        if entry is None or self.now() - entry[0] > self.ttl:
            return None
        return entry[1]

    def put(self, insurer: Insurer) -> None:
        self._entries[insurer.amc_number] = (self.now(), insurer)

    def forget(self, insurer_id: int) -> None:
        """This worker sees a change at once (the others within ``ttl``)."""
        self._entries = {k: v for k, v in self._entries.items() if v[1].id != insurer_id}


class SqlReferenceData(SqlPort):
    """Insurers (cached briefly: read on every rights check), contracts, reference codes."""

    def __init__(self, conn: Connection, protection: Protection, insurers: InsurerCache) -> None:
        super().__init__(conn, protection)
        self.insurers = insurers

    def insurer_by_amc(self, amc_number: str) -> Insurer | None:
        cached = self.insurers.get(amc_number)
        if cached is not None:
            return cached
        row = self.conn.execute(_INSURER_BY_AMC, {"amc": amc_number}).first()
        if row is None:
            return None
        insurer = Insurer(**row._mapping)
        self.insurers.put(insurer)
        return insurer

    def insurer(self, insurer_id: int) -> Insurer | None:
        row = self.conn.execute(select(t.insurers).where(t.insurers.c.id == insurer_id)).first()
        return Insurer(**row._mapping) if row else None

    def add_insurer(self, amc_number: str, name: str, engagement_validity_days: int, pec_validity_days: int) -> int:
        return self._insert(t.insurers, {
            "amc_number": amc_number, "name": name, "engagement_validity_days": engagement_validity_days,
            "pec_validity_days": pec_validity_days,
        }, "amc_number")

    def contract(self, contract_id: int) -> Contract | None:
        config = self.conn.execute(select(t.contracts.c.config).where(t.contracts.c.id == contract_id)).scalar()
        return contract_from_dict(config) if config is not None else None

    def contract_id_by_code(self, insurer_id: int, code: str) -> int | None:
        return self.conn.execute(
            select(t.contracts.c.id).where(t.contracts.c.insurer_id == insurer_id, t.contracts.c.code == code)
        ).scalar()

    def contracts_of(self, insurer_id: int) -> list[Contract]:
        return [contract_from_dict(config) for config in self.conn.execute(
            select(t.contracts.c.config).where(t.contracts.c.insurer_id == insurer_id).order_by(t.contracts.c.code)
        ).scalars()]

    def add_contract(self, insurer_id: int, contract: Contract) -> int:
        return self._insert(t.contracts, {
            "insurer_id": insurer_id, "code": contract.code, "config": contract_to_dict(contract),
        }, "code")

    def reference_codes(self, codes: Sequence[str], kinds: Sequence[ItemKind] = ()) -> list[ReferenceCode]:
        c = t.reference_codes.c
        rows = self.conn.execute(select(t.reference_codes).where(
            or_(c.code.in_(list(codes)), c.kind.in_([k.value for k in kinds]))))
        return [
            ReferenceCode(
                code=r.code, kind=ItemKind(r.kind), label=r.label, br=r.br, amo_rate=Decimal(r.amo_rate),
                valid_from=r.valid_from, valid_to=r.valid_to,
                optical_class=OpticalClass(r.optical_class) if r.optical_class else None, plv=r.plv,
                amo_rate_out_of_pathway=Decimal(r.amo_rate_out_of_pathway) if r.amo_rate_out_of_pathway else None,
                br_non_optam=r.br_non_optam, age_from=r.age_from, age_below=r.age_below,
            )
            for r in rows
        ]

    def set_review_rules(self, insurer_id: int, config: Mapping[str, Any]) -> None:
        self.conn.execute(update(t.insurers).where(t.insurers.c.id == insurer_id).values(review=dict(config)))
        self.insurers.forget(insurer_id)

    def add_reference_code(self, row: ReferenceCode) -> None:
        self.conn.execute(insert(t.reference_codes).values(
            code=row.code, kind=row.kind.value, label=row.label, br=row.br, amo_rate=row.amo_rate,
            amo_rate_out_of_pathway=row.amo_rate_out_of_pathway,
            optical_class=row.optical_class.value if row.optical_class else None, plv=row.plv,
            br_non_optam=row.br_non_optam, age_from=row.age_from, age_below=row.age_below,
            valid_from=row.valid_from, valid_to=row.valid_to,
        ))


class SqlProfessionals(SqlPort):
    """Professionals (names and IBANs sealed with the platform key), organisations, networks."""

    def professional(self, professional_id: int) -> Professional | None:
        return self._professional(t.professionals.c.id == professional_id)

    def professional_by_rpps(self, rpps: str) -> Professional | None:
        return self._professional(t.professionals.c.rpps == rpps)

    def professional_by_number(self, organisation_id: int, rpps: str | None, adeli: str | None) -> Professional | None:
        c = t.professionals.c
        number = c.rpps == rpps if rpps is not None else c.adeli == adeli
        return self._professional(and_(c.organisation_id == organisation_id, number)) if rpps or adeli else None

    def _professional(self, where: Any) -> Professional | None:
        plain = self._open(t.professionals, self.conn.execute(select(t.professionals).where(where)).first())
        return Professional(**plain) if plain else None

    def organisation_id(self, identifier: str) -> int | None:
        return self.conn.execute(
            select(t.organisations.c.id).where(t.organisations.c.identifier == identifier)
        ).scalar()

    def add_organisation(self, organisation: Organisation) -> int:
        return self._insert(t.organisations, {"kind": organisation.kind, "identifier": organisation.identifier,
                                              "name": organisation.name}, "identifier")

    def add_professional(self, professional: Professional) -> int:
        values = {k: getattr(professional, k) for k in Professional.__slots__ if k != "id"}
        return self._insert_sealed(t.professionals, values, "rpps")

    def network_caps(self, professional_id: int, insurer_id: int, at: date) -> dict[str, Decimal]:
        m, p = t.network_members.c, t.network_price_caps.c
        rows = self.conn.execute(
            select(p.code, func.min(p.cap))
            .join(t.network_members, m.network_id == p.network_id)
            .join(t.network_insurers, t.network_insurers.c.network_id == p.network_id)
            .where(m.professional_id == professional_id, t.network_insurers.c.insurer_id == insurer_id,
                   # In force on the date of care, both bounds included (docs/DOMAIN.md "Care networks").
                   m.valid_from <= at, or_(m.valid_to.is_(None), m.valid_to >= at),
                   p.valid_from <= at, or_(p.valid_to.is_(None), p.valid_to >= at))
            .group_by(p.code)
        )
        return {code: Decimal(cap) / 100 if isinstance(cap, int) else Decimal(cap) for code, cap in rows}
