"""Detection counts (per account and presented identity), containments, alerts; per-insurer detection thresholds.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

import tierspayant.store.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UTC_DATETIME = tierspayant.store.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("insurers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detection", sa.JSON(), nullable=True))
    op.create_table(
        "detection_seen",
        sa.Column("account_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("neighbourhood", sa.String(length=40), nullable=False),
        sa.Column("first_at", UTC_DATETIME, nullable=False),
        sa.Column("last_at", UTC_DATETIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("refusals", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "subject", name=op.f("pk_detection_seen")),
    )
    op.create_index("ix_detection_seen_account", "detection_seen", ["account_id", "last_at"])
    op.create_index("ix_detection_seen_organisation", "detection_seen", ["organisation_id", "last_at"])
    op.create_table(
        "containments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("until", UTC_DATETIME, nullable=True),
        sa.Column("lifted_at", UTC_DATETIME, nullable=True),
        sa.Column("lifted_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_containments")),
    )
    op.create_index("ix_containments_active", "containments", ["lifted_at", "scope", "target_id"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("containment_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("acknowledged", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_index("ix_containments_active", table_name="containments")
    op.drop_table("containments")
    op.drop_index("ix_detection_seen_organisation", table_name="detection_seen")
    op.drop_index("ix_detection_seen_account", table_name="detection_seen")
    op.drop_table("detection_seen")
    with op.batch_alter_table("insurers", schema=None) as batch_op:
        batch_op.drop_column("detection")
