"""Breach-response incidents in SQL (``services.ports.oversight.Incidents``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from tierspayant.services.records import Incident, IncidentExport, IncidentStep
from tierspayant.store import tables as t
from tierspayant.store.base import SqlPort, dialect_insert

_I = t.incidents.c
_S = t.incident_steps.c
_R = t.incident_reports.c
_N = t.breach_notices.c
_E = t.incident_exports.c
_FIELDS = ("opened_at", "opened_by", "aware_at", "window_start", "window_end", "summary", "compromised", "step",
           "scope", "scope_digest", "scope_checkpoint")


def _incident(row: Any) -> Incident:
    return Incident(int(row.id), *(getattr(row, name) for name in _FIELDS))


class SqlIncidents(SqlPort):
    def add_incident(self, incident: Incident) -> int:
        key = self.conn.execute(insert(t.incidents).values(
            {name: getattr(incident, name) for name in _FIELDS})).inserted_primary_key
        assert key is not None
        return int(key[0])

    def incident(self, incident_id: int) -> Incident | None:
        row = self.conn.execute(select(t.incidents).where(_I.id == incident_id)).first()
        return _incident(row) if row else None

    def incidents(self, limit: int = 200) -> list[Incident]:
        return [_incident(r) for r in self.conn.execute(select(t.incidents).order_by(_I.id.desc()).limit(limit))]

    def set_step(self, incident_id: int, step: str) -> None:
        self.conn.execute(update(t.incidents).where(_I.id == incident_id).values(step=step))

    def add_step(self, step: IncidentStep) -> int:
        key = self.conn.execute(insert(t.incident_steps).values(
            incident_id=step.incident_id, step=step.step, insurer_id=step.insurer_id, by_account=step.by_account,
            at=step.at, note=step.note)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def steps(self, incident_id: int) -> list[IncidentStep]:
        rows = self.conn.execute(select(t.incident_steps).where(_S.incident_id == incident_id).order_by(_S.id))
        return [IncidentStep(int(r.id), int(r.incident_id), r.step, r.insurer_id, int(r.by_account), r.at, r.note)
                for r in rows]

    def save_scope(self, incident_id: int, scope: str, digest: str, checkpoint: int) -> None:
        self.conn.execute(update(t.incidents).where(_I.id == incident_id).values(
            scope=scope, scope_digest=digest, scope_checkpoint=checkpoint))

    def add_report(self, incident_id: int, insurer_id: int, kind: str, body: dict[str, Any], by: int,
                   at: datetime) -> int:
        latest = self.conn.execute(select(func.max(_R.version)).where(
            _R.incident_id == incident_id, _R.insurer_id == insurer_id, _R.kind == kind)).scalar()
        version = int(latest or 0) + 1
        self.conn.execute(insert(t.incident_reports).values(
            incident_id=incident_id, insurer_id=insurer_id, kind=kind, version=version, created_at=at,
            created_by=by, body={**body, "version": version}))
        return version

    def reports(self, incident_id: int, insurer_id: int | None = None) -> list[tuple[int, str, int, dict[str, Any]]]:
        query = select(_R.insurer_id, _R.kind, _R.version, _R.body).where(_R.incident_id == incident_id)
        if insurer_id is not None:
            query = query.where(_R.insurer_id == insurer_id)
        return [(int(i), k, int(v), b) for i, k, v, b in self.conn.execute(query.order_by(_R.id))]

    def add_notices(self, rows: Sequence[tuple[int, int, str, str, str]], at: datetime) -> int:
        if not rows:
            return 0
        new = 0
        for start in range(0, len(rows), 500):  # bounded statements (SQLite's variable limit)
            stmt = dialect_insert(self.conn)(t.breach_notices).values([
                {"incident_id": i, "insurer_id": o, "person": p, "channel": c, "text": x, "created_at": at}
                for i, o, p, c, x in rows[start:start + 500]]).on_conflict_do_nothing().returning(_N.id)
            # RETURNING, not rowcount: psycopg reports -1 after ON CONFLICT DO NOTHING (bench/README.md).
            new += len(self.conn.execute(stmt).all())
        return new

    def notices(self, incident_id: int) -> dict[str, int]:
        rows = self.conn.execute(select(_N.channel, func.count()).where(_N.incident_id == incident_id)
                                 .group_by(_N.channel))
        return {c: int(n) for c, n in rows}

    def add_export(self, incident_id: int, insurer_id: int, requested_by: int, at: datetime) -> int:
        key = self.conn.execute(insert(t.incident_exports).values(
            incident_id=incident_id, insurer_id=insurer_id, requested_by=requested_by, requested_at=at)
        ).inserted_primary_key
        assert key is not None
        return int(key[0])

    def export(self, export_id: int) -> IncidentExport | None:
        row = self.conn.execute(select(_E.id, _E.incident_id, _E.insurer_id, _E.requested_by, _E.requested_at,
                                       _E.approved_by, _E.approved_at, _E.expires_at, _E.downloaded_at)
                                .where(_E.id == export_id)).first()
        return IncidentExport(*row) if row else None

    def approve_export(self, export_id: int, by: int, at: datetime, expires_at: datetime, sealed: str) -> bool:
        return bool(self.conn.execute(update(t.incident_exports).where(
            _E.id == export_id, _E.approved_by.is_(None)).values(
            approved_by=by, approved_at=at, expires_at=expires_at, sealed=sealed)).rowcount)

    def take_export(self, export_id: int, at: datetime) -> str | None:
        taken = self.conn.execute(update(t.incident_exports).where(
            _E.id == export_id, _E.approved_by.is_not(None), _E.downloaded_at.is_(None), _E.expires_at > at)
            .values(downloaded_at=at)).rowcount
        if not taken:
            return None
        sealed = self.conn.execute(select(_E.sealed).where(_E.id == export_id)).scalar()
        # The sealed file is served once and then dropped: nothing to steal afterwards.
        self.conn.execute(update(t.incident_exports).where(_E.id == export_id).values(sealed=None))
        return str(sealed)
