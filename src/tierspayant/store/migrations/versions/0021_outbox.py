"""Delivery (issue 16): the destinations messages go to, and the transactional outbox each fact
writes its messages to in its own transaction (payloads sealed: the insurer's key for what
concerns its members, the platform's otherwise).

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

import tierspayant.store.types

UTC_DATETIME = tierspayant.store.types.UtcDateTime(timezone=True)

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_destinations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("kinds", sa.String(length=400), nullable=False),
        sa.Column("insurer_id", sa.Integer(), nullable=True),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("secrets_enc", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_destinations")),
        sa.UniqueConstraint("name", name=op.f("uq_delivery_destinations_name")),
    )
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("destination_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("ordering_key", sa.String(length=80), nullable=False),
        sa.Column("key_owner", sa.Integer(), nullable=False),
        sa.Column("payload_enc", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC_DATETIME, nullable=True),
        sa.Column("leased_by", sa.String(length=60), nullable=True),
        sa.Column("leased_until", UTC_DATETIME, nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("sent_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["destination_id"], ["delivery_destinations.id"],
                                name=op.f("fk_outbox_messages_destination_id_delivery_destinations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_messages_message_id")),
    )
    op.create_index("ix_outbox_due", "outbox_messages", ["destination_id", "state", "next_attempt_at"])
    op.create_index("ix_outbox_order", "outbox_messages", ["destination_id", "ordering_key", "state", "id"])
    op.create_index("ix_outbox_ordering_key", "outbox_messages", ["ordering_key"])


def downgrade() -> None:
    op.drop_index("ix_outbox_ordering_key", table_name="outbox_messages")
    op.drop_index("ix_outbox_order", table_name="outbox_messages")
    op.drop_index("ix_outbox_due", table_name="outbox_messages")
    op.drop_table("outbox_messages")
    op.drop_table("delivery_destinations")
