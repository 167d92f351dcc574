"""Proof-less budgets over 1, 7 and 30 days per account and organisation (issue 13): who each
holder already checked, per-day counters, and the engagements awaiting a follow-up. The per-day
quota table they replace is dropped (its counts are one day deep: nothing to carry over).
Detection's distinct counts kept in slots, and the organisations' memory of what they presented.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

import tierspayant.store.types

UTC_DATETIME = tierspayant.store.types.UtcDateTime(timezone=True)

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proofless_seen",
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("holder_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "holder_id", "subject", name=op.f("pk_proofless_seen")),
    )
    op.create_table(
        "proofless_days",
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("holder_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("admitted", sa.Integer(), nullable=False),
        sa.Column("followed", sa.Integer(), nullable=False),
        sa.Column("quoted", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "holder_id", "day", name=op.f("pk_proofless_days")),
    )
    op.create_index("ix_proofless_days_organisation", "proofless_days", ["organisation_id", "day"])
    op.create_table(
        "proofless_engagements",
        sa.Column("engagement_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("quoted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("engagement_id", name=op.f("pk_proofless_engagements")),
    )
    op.drop_table("proofless_checks")
    op.create_table(
        "detection_org_seen",
        sa.Column("organisation_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("last_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("organisation_id", "subject", name=op.f("pk_detection_org_seen")),
    )
    op.create_index("ix_detection_org_seen_last_at", "detection_org_seen", ["last_at"])
    op.create_table(
        "detection_slots",
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("holder_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("width", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("slot", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "holder_id", "width", "slot", name=op.f("pk_detection_slots")),
    )


def downgrade() -> None:
    op.drop_table("detection_slots")
    op.drop_index("ix_detection_org_seen_last_at", table_name="detection_org_seen")
    op.drop_table("detection_org_seen")
    op.create_table(
        "proofless_checks",
        sa.Column("account_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "day", "subject", name=op.f("pk_proofless_checks")),
    )
    op.drop_table("proofless_engagements")
    op.drop_index("ix_proofless_days_organisation", table_name="proofless_days")
    op.drop_table("proofless_days")
    op.drop_table("proofless_seen")
