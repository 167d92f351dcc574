"""Proof-less budgets over 1, 7 and 30 days per account and organisation (issue 13): who each
holder already checked, per-day counters, and the engagements awaiting a follow-up. The per-day
quota table they replace is dropped (its counts are one day deep: nothing to carry over).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

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
        sa.PrimaryKeyConstraint("scope", "holder_id", "day", name=op.f("pk_proofless_days")),
    )
    op.create_index("ix_proofless_days_organisation", "proofless_days", ["organisation_id", "day"])
    op.create_table(
        "proofless_engagements",
        sa.Column("engagement_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("engagement_id", name=op.f("pk_proofless_engagements")),
    )
    op.drop_table("proofless_checks")


def downgrade() -> None:
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
