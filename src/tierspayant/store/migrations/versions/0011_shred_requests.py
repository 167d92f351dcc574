"""Crypto-shred requests awaiting a second security officer (dual control); key operations'
index on the access log (partial: the rights check's events do not pay for it).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

import tierspayant.store.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UTC_DATETIME = tierspayant.store.types.UtcDateTime(timezone=True)
KEY_EVENTS = "tag LIKE 'keys:%'"


def upgrade() -> None:
    op.create_table(
        "shred_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_at", UTC_DATETIME, nullable=False),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        sa.Column("approved_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shred_requests")),
    )
    op.create_index("ix_audit_events_keys", "audit_events", ["insurer_id", "seq"],
                    sqlite_where=sa.text(KEY_EVENTS), postgresql_where=sa.text(KEY_EVENTS))


def downgrade() -> None:
    op.drop_index("ix_audit_events_keys", table_name="audit_events")
    op.drop_table("shred_requests")
