"""Detection's per-identity memories keep the time of the presentation before the last one, so
that one upsert returns it (RETURNING): the slot move of a check is exact under concurrent
checks without a read inside the write (issue 13, detection's cost).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

import tierspayant.store.types

UTC_DATETIME = tierspayant.store.types.UtcDateTime(timezone=True)

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("detection_seen") as batch:
        batch.add_column(sa.Column("previous_at", UTC_DATETIME, nullable=True))
    with op.batch_alter_table("detection_org_seen") as batch:
        batch.add_column(sa.Column("previous_at", UTC_DATETIME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("detection_org_seen") as batch:
        batch.drop_column("previous_at")
    with op.batch_alter_table("detection_seen") as batch:
        batch.drop_column("previous_at")
