"""A new device or network for a session (issue 13, point 2): the keyed fingerprints of the
passkeys and networks each account has signed in from, and on each session what was new and
the network it was opened from (security/novelty.py).

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

import tierspayant.store.types

UTC_DATETIME = tierspayant.store.types.UtcDateTime(timezone=True)

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_fingerprints",
        sa.Column("account_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("fingerprint", sa.String(length=40), nullable=False),
        sa.Column("first_at", UTC_DATETIME, nullable=False),
        sa.Column("last_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "kind", "fingerprint", name=op.f("pk_account_fingerprints")),
    )
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("novelty", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("network", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("network")
        batch.drop_column("novelty")
    op.drop_table("account_fingerprints")
