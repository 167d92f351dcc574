"""Seeding at scale (issue 19, point 1): a resumable seed's checkpoint. ``seed_runs`` holds the
one seed a database was given (the fingerprint of its population's specification, its chunking,
when its setup and its last chunk were done, the indexes set aside while it loads);
``seed_chunks`` one row per chunk of beneficiaries, written in the chunk's own transaction, so
that a seed interrupted at 60 % skips what it wrote and a different specification is refused.

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

import tierspayant.store.types

UTC_DATETIME = tierspayant.store.types.UtcDateTime(timezone=True)

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seed_runs",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        # A keyed digest of a fixed text under the blind-index key: a resumed seed with other key
        # files (another TIERS_VAR_DIR) would write lookups the first part cannot share.
        sa.Column("key_probe", sa.String(length=64), nullable=False),
        # The secondary indexes and foreign keys of the chunks' tables set aside during the load
        # (PostgreSQL), as DDL to run again: kept here so that an interrupted seed still remakes them.
        sa.Column("deferred", sa.Text(), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("setup_done_at", UTC_DATETIME, nullable=True),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seed_runs")),
    )
    op.create_table(
        "seed_chunks",
        sa.Column("chunk", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("beneficiaries", sa.Integer(), nullable=False),
        sa.Column("done_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("chunk", name=op.f("pk_seed_chunks")),
    )


def downgrade() -> None:
    op.drop_table("seed_chunks")
    op.drop_table("seed_runs")
