"""Membership files in SQL (``services.ports.members``): members found by blind index in one
statement per batch, identities resealed, rights replaced, each import's progress."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select, text, update

from tierspayant.services.ports.members import MemberImport, Refusal
from tierspayant.services.records import Beneficiary, RightsPeriod
from tierspayant.store import tables as t
from tierspayant.store.base import SqlPort
from tierspayant.store.beneficiaries import period, period_row

_PROGRESS = ("lines_done", "created", "updated", "unchanged", "refused")


class SqlMemberships(SqlPort):
    def members(self, insurer_id: int, member_numbers: Sequence[str],
                ) -> dict[str, list[tuple[Beneficiary, list[RightsPeriod]]]]:
        if not member_numbers:
            return {}
        indexes = {self.protection.member_index(insurer_id, m) for m in member_numbers}
        rp = t.rights_periods.c
        rows = self.conn.execute(
            select(t.beneficiaries, rp.start_date, rp.end_date, rp.categories, rp.contract_id)
            .outerjoin(t.rights_periods, rp.beneficiary_id == t.beneficiaries.c.id)
            .where(t.beneficiaries.c.insurer_id == insurer_id, t.beneficiaries.c.member_bidx.in_(indexes))
            .order_by(t.beneficiaries.c.id, rp.start_date))
        found: dict[int, tuple[Beneficiary, list[RightsPeriod]]] = {}
        names = [c.name for c in t.beneficiaries.c]
        for row in rows:
            if row.id not in found:
                found[row.id] = (self.protection.open_beneficiary(self.conn, dict(zip(
                    names, row[:len(names)], strict=True))), [])
            if row.start_date is not None:
                found[row.id][1].append(period(row.start_date, row.end_date, row.categories, row.contract_id))
        out: dict[str, list[tuple[Beneficiary, list[RightsPeriod]]]] = {}
        for beneficiary, periods in found.values():
            out.setdefault(beneficiary.member_number, []).append((beneficiary, periods))
        return out

    def add_members(self, new: Sequence[tuple[Beneficiary, Sequence[RightsPeriod]]]) -> list[int]:
        if not new:
            return []
        # Ids reserved first (each envelope is bound to its row id), then one executemany per
        # table: a savepoint and a statement per row cost ten times more (bench/README.md).
        if self.conn.dialect.name == "postgresql":
            ids = [int(i) for i in self.conn.execute(text(
                "SELECT nextval(pg_get_serial_sequence('beneficiaries', 'id')) FROM generate_series(1, :n)"),
                {"n": len(new)}).scalars()]
        else:  # SQLite: writers are serialised (BEGIN IMMEDIATE), the next ids are ours
            start = int(self.conn.execute(select(func.coalesce(func.max(t.beneficiaries.c.id), 0))).scalar_one())
            ids = list(range(start + 1, start + 1 + len(new)))
        rows = [self.protection.seal(self.conn, "beneficiaries", {
            **{k: getattr(b, k) for k in Beneficiary.__slots__}, "id": ids[n]}) for n, (b, _) in enumerate(new)]
        self.conn.execute(insert(t.beneficiaries), rows)
        periods = [period_row(ids[n], p) for n, (_, ps) in enumerate(new) for p in ps]
        if periods:
            self.conn.execute(insert(t.rights_periods), periods)
        return ids

    def update_beneficiary(self, beneficiary: Beneficiary) -> None:
        values = {k: getattr(beneficiary, k) for k in Beneficiary.__slots__}
        self._reseal(t.beneficiaries, values)

    def replace_rights(self, beneficiary_id: int, periods: Sequence[RightsPeriod]) -> None:
        self.conn.execute(delete(t.rights_periods).where(t.rights_periods.c.beneficiary_id == beneficiary_id))
        if periods:
            self.conn.execute(insert(t.rights_periods), [period_row(beneficiary_id, p) for p in periods])

    def current_import(self, insurer_id: int, digest: str) -> MemberImport | None:
        c = t.member_imports.c
        row = self.conn.execute(select(t.member_imports).where(c.insurer_id == insurer_id, c.digest == digest)
                                .order_by(c.id.desc()).limit(1)).first()
        return MemberImport(**row._mapping) if row else None

    def import_by_id(self, import_id: int) -> MemberImport | None:
        row = self.conn.execute(select(t.member_imports).where(t.member_imports.c.id == import_id)).first()
        return MemberImport(**row._mapping) if row else None

    def start_import(self, insurer_id: int, digest: str, at: datetime) -> MemberImport:
        key = self.conn.execute(insert(t.member_imports).values(
            insurer_id=insurer_id, digest=digest, started_at=at, finished_at=None,
            **dict.fromkeys(_PROGRESS, 0))).inserted_primary_key
        assert key is not None
        return MemberImport(int(key[0]), insurer_id, digest, 0, 0, 0, 0, 0, at, None)

    def advance_import(self, progress: MemberImport, refusals: Sequence[Refusal], done_before: int) -> bool:
        c = t.member_imports.c
        moved = self.conn.execute(update(t.member_imports).where(
            c.id == progress.id, c.lines_done == done_before, c.finished_at.is_(None)).values(
            finished_at=progress.finished_at, **{k: getattr(progress, k) for k in _PROGRESS})).rowcount
        if moved != 1:
            return False
        if refusals:
            self.conn.execute(insert(t.member_import_refusals), [
                {"import_id": progress.id, "line": r.line, "field": r.field, "message": r.message[:200]}
                for r in refusals])
        return True

    def refusals(self, import_id: int) -> list[Refusal]:
        c = t.member_import_refusals.c
        return [Refusal(r.line, r.field, r.message) for r in self.conn.execute(
            select(c.line, c.field, c.message).where(c.import_id == import_id).order_by(c.line))]
