"""The JetStream transport (issue 16, point 4): an outbox message handed to the transport is
``sent`` but not yet acknowledged by its destination -- ``acknowledged_at`` says when it was
(the relay without a transport sets both at once; existing sent messages were acknowledged
when sent); ``generation`` counts replays, so that a replayed message is published under a
new transport id (the transport's duplicate window would drop the same id again).

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

import tierspayant.store.types

UTC_DATETIME = tierspayant.store.types.UtcDateTime(timezone=True)

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("generation", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("acknowledged_at", UTC_DATETIME, nullable=True))
    op.execute("UPDATE outbox_messages SET acknowledged_at = sent_at WHERE state = 'sent'")
    with op.batch_alter_table("outbox_messages") as batch:
        batch.alter_column("generation", existing_type=sa.Integer(), existing_nullable=False, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("acknowledged_at")
        batch.drop_column("generation")
