"""``services.ports.operations.Operations`` in SQL: the gauges' readings and the readiness probe."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from tierspayant.audit.events import AccessEvent, Outcome, Tag
from tierspayant.services.ports.operations import KeyVersions, Probe, Readings
from tierspayant.store import tables as t
from tierspayant.store.unit_of_work import SqlUnitOfWork

_LATEST_CHECKPOINT = (select(t.audit_checkpoints.c.size, t.audit_checkpoints.c.created_at)
                      .order_by(t.audit_checkpoints.c.size.desc()).limit(1))
_KEYS = (select(t.data_keys.c.insurer_id, func.count(), func.max(t.data_keys.c.version))
         .group_by(t.data_keys.c.insurer_id).order_by(t.data_keys.c.insurer_id))


class _RolledBack(Exception):
    """Ends the probe's transaction by a rollback."""


class SqlOperations:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self.uow = uow

    def readings(self, at: datetime) -> Readings:
        c = t.containments.c
        active = (select(c.scope, c.action, func.count())
                  .where(c.lifted_at.is_(None), c.until.is_(None) | (c.until > at))  # what detection reads every 2 s
                  .group_by(c.scope, c.action).order_by(c.scope, c.action))
        with self.uow.engine.connect() as conn:
            # A read-only unit of work's options (store/unit_of_work.py): no writers' lock taken.
            conn = conn.execution_options(tiers_readonly=True, postgresql_readonly=True)
            with conn.begin():
                # The log's size from its head row, never count(*) over the events (100 M rows).
                size = int(conn.execute(select(t.audit_head.c.size).where(t.audit_head.c.id == 1)).scalar_one())
                latest = conn.execute(_LATEST_CHECKPOINT).first()
                contained = tuple(((str(r[0]), str(r[1])), int(r[2])) for r in conn.execute(active))
                keys = tuple(KeyVersions(int(r[0]), int(r[1]), int(r[2])) for r in conn.execute(_KEYS))
        return Readings(size, int(latest.size) if latest else None, latest.created_at if latest else None,
                        contained, keys)

    def probe(self, at: datetime) -> Probe:
        failed: str = "database"
        try:
            # A write unit of work: SQLite's BEGIN IMMEDIATE, PostgreSQL's writers' advisory lock.
            with self.uow() as tx:
                failed = "log"
                # The hot path's own append (audit_head's row lock and counter, the events'
                # insert); its content does not matter: the transaction is rolled back, so
                # nothing reaches the log and the next real append takes the same index.
                tx.log.append_events([AccessEvent(at, Tag.RIGHTS_CHECK, None, None, None, None, None, (),
                                                  "readiness probe (rolled back)", Outcome.OK, "readiness")])
                tx.flush_events()
                raise _RolledBack()
        except _RolledBack:
            return Probe(None)
        except Exception as exc:  # reported, never raised: the probe says what failed
            return Probe("log" if failed == "log" else "database", exc)
