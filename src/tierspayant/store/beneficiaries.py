"""Beneficiaries and their rights in SQL (``services.ports.care.Beneficiaries``); identity fields sealed per insurer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from sqlalchemy import bindparam, delete, insert, select

from tierspayant.domain.reference import CareCategory
from tierspayant.domain.renewal import LastPurchases, Parts
from tierspayant.security.fields import InvalidCiphertext
from tierspayant.services.records import Beneficiary, RightsPeriod
from tierspayant.store import tables as t
from tierspayant.store.base import SqlPort
from tierspayant.store.prepared import Prepared

# The rights check's lookups, built once and run prepared on the driver's cursor
# (store/prepared.py; measured in bench/).
_BENEFICIARIES_BY_NIR = select(t.beneficiaries).where(
    t.beneficiaries.c.insurer_id == bindparam("insurer_id"), t.beneficiaries.c.nir_bidx == bindparam("nir"))
_PERIOD = (t.rights_periods.c.start_date, t.rights_periods.c.end_date, t.rights_periods.c.categories,
           t.rights_periods.c.contract_id)
_RIGHTS_PERIODS = select(*_PERIOD).where(t.rights_periods.c.beneficiary_id == bindparam("beneficiary_id")).order_by(
    t.rights_periods.c.start_date)
_BENEFICIARIES_WITH_RIGHTS = (
    select(t.beneficiaries, *_PERIOD)
    .outerjoin(t.rights_periods, t.rights_periods.c.beneficiary_id == t.beneficiaries.c.id)
    .where(t.beneficiaries.c.insurer_id == bindparam("insurer_id"), t.beneficiaries.c.nir_bidx == bindparam("nir"))
)
_BENEFICIARY_COLUMNS = [c.name for c in t.beneficiaries.c]
_BENEFICIARIES_WITH_RIGHTS_FAST = Prepared(_BENEFICIARIES_WITH_RIGHTS)


#: What the stand-in holds (synthetic; never answered, never stored): typical field lengths.
_STAND_IN = {"id": 0, "contract_id": 0, "rank": 0, "member_number": "0000000000", "nir": "299999999999999",
             "birth_date": date(1970, 1, 1), "last_name": "Xxxxxxxxx", "first_name": "Yyyyyyy"}


def period_row(beneficiary_id: int, period: RightsPeriod) -> dict[str, Any]:
    """A rights period as a ``rights_periods`` row (categories comma-separated, sorted)."""
    return {"beneficiary_id": beneficiary_id, "start_date": period.start, "end_date": period.end,
            "categories": ",".join(sorted(c.value for c in period.categories)), "contract_id": period.contract_id}


def period(start: date, end: date | None, categories: str, contract_id: int | None) -> RightsPeriod:
    """A rights period as stored (categories comma-separated)."""
    return RightsPeriod(start, end, frozenset(CareCategory(c) for c in categories.split(",") if c), contract_id)


class SqlBeneficiaries(SqlPort):
    """Beneficiaries found by blind index, opened through ``Protection``."""

    def beneficiaries_by_nir(self, insurer_id: int, nir: str) -> list[Beneficiary]:
        rows = self.conn.execute(_BENEFICIARIES_BY_NIR, {"insurer_id": insurer_id,
                                                         "nir": self.protection.nir_index(insurer_id, nir)})
        return [b for b in (self._open_beneficiary(r) for r in rows) if b is not None]

    def beneficiaries_by_member(self, insurer_id: int, member_number: str) -> list[Beneficiary]:
        rows = self.conn.execute(select(t.beneficiaries).where(
            t.beneficiaries.c.insurer_id == insurer_id,
            t.beneficiaries.c.member_bidx == self.protection.member_index(insurer_id, member_number))
            .order_by(t.beneficiaries.c.rank))
        return [b for b in (self._open_beneficiary(r) for r in rows) if b is not None]

    def _open_beneficiary(self, row: Any) -> Beneficiary | None:
        """The plain record, or None when its insurer's keys were shredded."""
        try:
            return self.protection.open_beneficiary(self.conn, row)
        except InvalidCiphertext:
            return None

    def ids_of_insurer(self, insurer_id: int) -> Iterator[int]:
        after = 0
        while True:  # by pages of ids: no cursor held open across the caller's work
            page = self.conn.execute(select(t.beneficiaries.c.id).where(
                t.beneficiaries.c.insurer_id == insurer_id, t.beneficiaries.c.id > after)
                .order_by(t.beneficiaries.c.id).limit(50_000)).scalars().all()
            yield from (int(i) for i in page)
            if len(page) < 50_000:
                return
            after = page[-1]

    def beneficiary(self, beneficiary_id: int) -> Beneficiary | None:
        row = self.conn.execute(select(t.beneficiaries).where(t.beneficiaries.c.id == beneficiary_id)).first()
        return self._open_beneficiary(row) if row else None

    def add_beneficiary(self, beneficiary: Beneficiary) -> int:
        values = {k: getattr(beneficiary, k) for k in Beneficiary.__slots__ if k != "id"}
        return self._insert_sealed(t.beneficiaries, values, "nir")

    def rights_periods(self, beneficiary_id: int) -> list[RightsPeriod]:
        rows = self.conn.execute(_RIGHTS_PERIODS, {"beneficiary_id": beneficiary_id})
        return [period(r.start_date, r.end_date, r.categories, r.contract_id) for r in rows]

    def beneficiaries_with_rights(self, insurer_id: int, nir: str) -> list[tuple[Beneficiary, list[RightsPeriod]]]:
        found: dict[int, tuple[Beneficiary, list[RightsPeriod]]] = {}
        width = len(_BENEFICIARY_COLUMNS)
        params: dict[str, str | int] = {"insurer_id": insurer_id, "nir": self.protection.nir_index(insurer_id, nir)}
        rows = _BENEFICIARIES_WITH_RIGHTS_FAST.all(self.conn, params)
        stand_in = not rows
        if stand_in:
            # Nobody holds this NIR: a stand-in sealed under the insurer's own key goes through the
            # very same opening, so that "exists nowhere" takes the time of "exists, wrong birth
            # date" (docs/THREATS.md T3, no timing oracle; bench/detection_cost.py measures it).
            # As fetched rows: the same result processing as a found beneficiary's rows.
            rows = _BENEFICIARIES_WITH_RIGHTS_FAST.processed(self.conn, self._stand_in(insurer_id))
            if not rows:
                self.protection.equalize()
        for row in rows:
            beneficiary_id = row[0]
            if beneficiary_id not in found:
                opened = self._open_beneficiary(dict(zip(_BENEFICIARY_COLUMNS, row[:width], strict=True)))
                if opened is None:
                    continue  # shredded: nobody to find
                found[beneficiary_id] = (opened, [])
            start, end, categories, contract_id = row[width:]
            if start is not None and beneficiary_id in found:
                found[beneficiary_id][1].append(period(start, end, categories, contract_id))
        if not found and not stand_in:
            self.protection.equalize()  # found, but its insurer's keys were shredded
        return [] if stand_in else list(found.values())

    def _stand_in(self, insurer_id: int) -> list[tuple[Any, ...]]:
        """Rows shaped like one beneficiary with two rights periods, sealed under the insurer's
        current key (cached per insurer and key version); none for an insurer without keys."""
        cache: dict[int, tuple[int, list[tuple[Any, ...]]]] = self.protection.stand_ins
        owner = insurer_id if insurer_id > 0 else next(iter(cache), -1)
        versions = self.protection.keys.versions(owner) if owner > 0 else []
        if not versions:
            return []
        cached = cache.get(owner)
        if cached is None or cached[0] != max(versions):
            sealed = self.protection.seal(self.conn, "beneficiaries", {**_STAND_IN, "insurer_id": owner})
            row = tuple(sealed.get(column) for column in _BENEFICIARY_COLUMNS)
            cached = (max(versions), [_BENEFICIARIES_WITH_RIGHTS_FAST.as_fetched(self.conn, r) for r in (
                (*row, date(2025, 1, 1), None, "optical,pharmacy", None),
                (*row, date(2024, 1, 1), date(2024, 12, 31), "optical", None))])
            cache[owner] = cached
        return cached[1]

    def add_rights_period(self, beneficiary_id: int, period: RightsPeriod) -> None:
        self.conn.execute(insert(t.rights_periods).values(period_row(beneficiary_id, period)))

    def last_optical_purchases(self, beneficiary_id: int, before: date) -> LastPurchases:
        # Delivery dates are sealed: a beneficiary has a handful of purchases, opened here.
        rows = self.conn.execute(select(t.optical_purchases).where(
            t.optical_purchases.c.beneficiary_id == beneficiary_id))
        opened = [p for p in (self._open(t.optical_purchases, r) for r in rows) if p is not None]
        return LastPurchases.of([(p["delivered_on"], Parts(p["parts"])) for p in opened if p["delivered_on"] <= before])

    def forget_optical_purchase(self, invoice_id: int) -> None:
        self.conn.execute(delete(t.optical_purchases).where(t.optical_purchases.c.invoice_id == invoice_id))

    def add_optical_purchase(self, beneficiary_id: int, delivered_on: date, invoice_id: int | None,
                             parts: Parts = Parts.EQUIPMENT) -> None:
        insurer_id = self.conn.execute(select(t.beneficiaries.c.insurer_id)
                                       .where(t.beneficiaries.c.id == beneficiary_id)).scalar_one()
        self._insert_sealed(t.optical_purchases, {"beneficiary_id": beneficiary_id, "insurer_id": insurer_id,
                                                  "delivered_on": delivered_on, "invoice_id": invoice_id,
                                                  "parts": parts.value}, "id")
