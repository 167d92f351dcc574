"""Each account's own baseline for detection (issue 13, point 2): its usual distinct patients a
day and in its busiest hour, and the hours it works, learned once a day (detection/baselines.py).
The insurers' hourly proof-less counts live in detection_slots (scope insurer_proofless).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "detection_baselines",
        sa.Column("account_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("day_mean", sa.Float(), nullable=False),
        sa.Column("peak_hour_mean", sa.Float(), nullable=False),
        sa.Column("hours", sa.Integer(), nullable=False),
        sa.Column("learned_through", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_detection_baselines")),
    )


def downgrade() -> None:
    op.drop_table("detection_baselines")
