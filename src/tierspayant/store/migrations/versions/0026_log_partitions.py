"""The access log at 100 M+ events (issue 19, point 2).

PostgreSQL: ``audit_events`` becomes a table partitioned by RANGE on the event's date, one
partition a month, a DEFAULT one as a safety net (store/log_partitions.py), the current and
next two months created ahead. An existing log of at most ``TIERS_LOG_MIGRATION_COPY_LIMIT``
events (2,000,000 by default) is copied into its months' partitions; a larger one is attached
as it is, as one partition spanning its months (``audit_events_legacy``: no copy and no second
disk's worth of space; its old indexes replaced by the partitioned ones, built before ATTACH).

Both databases: the stored leaf hash goes (it is H(0x00 || entry), RFC 9162 §2.1.1, computed
when read: 66 bytes an event, a tenth of the log), and ``audit_archives`` records the months
moved out to files (``tiers audit archive``). SQLite keeps one table.

Revision ID: 0026
Revises: 0025
"""

# ruff: noqa: S608 -- DDL takes no parameters: the names are the log's own partitions, the values
# integers and dates this module formats (store/bulk.py likewise).

import os

import sqlalchemy as sa
from alembic import op

import tierspayant.store.types
from tierspayant.store import log_partitions as lp

UTC_DATETIME = tierspayant.store.types.UtcDateTime(timezone=True)

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

LEGACY = "audit_events_legacy"
_OLD_INDEXES = ("ix_audit_events_beneficiary", "ix_audit_events_account", "ix_audit_events_organisation",
                "ix_audit_events_keys")
_COLUMNS = ", ".join(lp.COLUMNS)


def upgrade() -> None:
    op.create_table(
        "audit_archives",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq_from", sa.BigInteger(), nullable=False),
        sa.Column("seq_to", sa.BigInteger(), nullable=False),
        sa.Column("before", UTC_DATETIME, nullable=False),
        sa.Column("last_at", UTC_DATETIME, nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("files", sa.Text(), nullable=False),
        sa.Column("archived_at", UTC_DATETIME, nullable=False),
        sa.Column("restored_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_archives")),
    )
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        lp.run(conn, "ALTER TABLE audit_events DROP COLUMN leaf_hash")  # SQLite >= 3.35
        return
    limit = int(os.environ.get("TIERS_LOG_MIGRATION_COPY_LIMIT", "2000000"))
    counted = lp.run(conn, f"SELECT count(*) FROM (SELECT 1 FROM audit_events LIMIT {limit + 1}) AS head")
    small = int(counted.fetchone()[0]) <= limit
    first, last = lp.run(conn, "SELECT min(at), max(at) FROM audit_events").fetchone()
    now = lp.run(conn, "SELECT now()").fetchone()[0]
    lp.run(conn, f"ALTER TABLE audit_events RENAME TO {LEGACY}")
    lp.run(conn, f"ALTER TABLE {LEGACY} RENAME CONSTRAINT pk_audit_events TO {LEGACY}_seq")
    for name in _OLD_INDEXES:
        lp.run(conn, f"DROP INDEX {name}")
    lp.run(conn, f"ALTER TABLE {LEGACY} DROP COLUMN leaf_hash")  # only marked dropped: no rewrite
    lp.create_parent(conn)
    ahead = [lp.month_of(now)]
    for _ in range(2):
        ahead.append(lp.next_month(ahead[-1]))
    months = set(ahead)
    if small:
        if first is not None:
            month = lp.month_of(first)
            while month <= last:
                months.add(month)
                month = lp.next_month(month)
        for month in sorted(months):
            lp.attach_month(conn, month)
        lp.run(conn, f"INSERT INTO audit_events ({_COLUMNS}) SELECT {_COLUMNS} FROM {LEGACY} ORDER BY seq")
        lp.run(conn, f"DROP TABLE {LEGACY}")
        return
    lower, upper = lp.month_of(first), lp.next_month(lp.month_of(last))
    lo, hi = lower.strftime("%Y-%m-%d 00:00:00+00"), upper.strftime("%Y-%m-%d 00:00:00+00")
    for suffix, definition in lp.INDEXES:  # built here, adopted by ATTACH, named as every partition's
        lp.run(conn, f"CREATE INDEX {LEGACY}_{suffix} ON {LEGACY} {definition}")
    # A validated CHECK matching the bounds lets ATTACH skip its own scan of the table.
    lp.run(conn, f"ALTER TABLE {LEGACY} ADD CONSTRAINT {LEGACY}_at CHECK (at >= '{lo}' AND at < '{hi}')")
    lp.run(conn, f"ALTER TABLE audit_events ATTACH PARTITION {LEGACY} FOR VALUES FROM ('{lo}') TO ('{hi}')")
    lp.run(conn, f"ALTER TABLE {LEGACY} DROP CONSTRAINT {LEGACY}_at")
    for month in sorted(m for m in months if m >= upper):
        lp.attach_month(conn, month)


def downgrade() -> None:
    conn = op.get_bind()
    archived = lp.run(conn, "SELECT count(*) FROM audit_archives WHERE restored_at IS NULL").fetchone()[0]
    if archived:
        raise RuntimeError("archived months of the access log: restore them first (tiers audit restore)")
    op.drop_table("audit_archives")
    if conn.dialect.name != "postgresql":
        lp.run(conn, "ALTER TABLE audit_events ADD COLUMN leaf_hash VARCHAR(64) NOT NULL DEFAULT ''")
        _fill_leaf_hashes(conn)
        return
    lp.run(conn, "ALTER TABLE audit_events RENAME TO audit_events_partitioned")
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("tag", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("beneficiary", sa.String(length=40), nullable=True),
        sa.Column("insurer_id", sa.Integer(), nullable=True),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
    )
    # RFC 9162 §2.1.1: the leaf hash is SHA-256(0x00 || entry).
    lp.run(conn, f"INSERT INTO audit_events ({_COLUMNS}, leaf_hash) SELECT {_COLUMNS}, "
               f"encode(sha256('\\x00'::bytea || convert_to(entry, 'UTF8')), 'hex') FROM audit_events_partitioned ORDER BY seq")
    lp.run(conn, "DROP TABLE audit_events_partitioned CASCADE")  # with its partitions
    op.create_index("ix_audit_events_beneficiary", "audit_events", ["beneficiary", "seq"])
    op.create_index("ix_audit_events_account", "audit_events", ["account_id", "at"])
    op.create_index("ix_audit_events_organisation", "audit_events", ["organisation_id", "at"])
    op.create_index("ix_audit_events_keys", "audit_events", ["insurer_id", "seq"],
                    postgresql_where=sa.text("tag LIKE 'keys:%'"))


def _fill_leaf_hashes(conn: sa.Connection) -> None:
    from tierspayant.audit.merkle import leaf_hash

    after = -1
    while True:
        rows = lp.run(conn, f"SELECT seq, entry FROM audit_events WHERE seq > {after} ORDER BY seq LIMIT 10000").fetchall()
        if not rows:
            return
        conn.execute(sa.text("UPDATE audit_events SET leaf_hash = :h WHERE seq = :s"),
                     [{"h": leaf_hash(entry.encode()).hex(), "s": seq} for seq, entry in rows])
        after = rows[-1][0]
