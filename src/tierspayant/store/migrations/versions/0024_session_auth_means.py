"""Pro Santé Connect as it is (issue 18, point 4): PSC answers ``acr`` eidas1 for a CPS card
and an e-CPS alike and says which in ``authMode``; each session opened through it keeps that
means of authentication (CARD, MOBILE). Other sessions, and those opened before, have none.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("auth_means", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("auth_means")
