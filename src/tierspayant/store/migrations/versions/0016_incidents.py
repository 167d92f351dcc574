"""Breach response (issue 14): incidents and their steps, versioned reports, dual-control
exports, the Art. 34 notices' outbox, and on insurers the card's telephone number, the DPO's
contact and the exports' public key.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

import tierspayant.store.types

UTC_DATETIME = tierspayant.store.types.UtcDateTime(timezone=True)

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("insurers") as batch:
        batch.add_column(sa.Column("phone", sa.String(length=30), nullable=True))
        batch.add_column(sa.Column("dpo_contact", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("export_public_key", sa.String(length=64), nullable=True))
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("opened_at", UTC_DATETIME, nullable=False),
        sa.Column("opened_by", sa.Integer(), nullable=False),
        sa.Column("aware_at", UTC_DATETIME, nullable=False),
        sa.Column("window_start", UTC_DATETIME, nullable=False),
        sa.Column("window_end", UTC_DATETIME, nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("compromised", sa.JSON(), nullable=False),
        sa.Column("step", sa.String(length=30), nullable=False),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.Column("scope_digest", sa.String(length=64), nullable=True),
        sa.Column("scope_checkpoint", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_table(
        "incident_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=30), nullable=False),
        sa.Column("insurer_id", sa.Integer(), nullable=True),
        sa.Column("by_account", sa.Integer(), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_incident_steps_incident_id_incidents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_steps")),
    )
    op.create_index(op.f("ix_incident_steps_incident_id"), "incident_steps", ["incident_id"])
    op.create_table(
        "incident_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("insurer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_incident_reports_incident_id_incidents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_reports")),
        sa.UniqueConstraint("incident_id", "insurer_id", "kind", "version",
                            name=op.f("uq_incident_reports_incident_id")),
    )
    op.create_table(
        "incident_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("insurer_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("requested_at", UTC_DATETIME, nullable=False),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        sa.Column("approved_at", UTC_DATETIME, nullable=True),
        sa.Column("expires_at", UTC_DATETIME, nullable=True),
        sa.Column("downloaded_at", UTC_DATETIME, nullable=True),
        sa.Column("sealed", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_incident_exports_incident_id_incidents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_exports")),
    )
    op.create_table(
        "breach_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("insurer_id", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("sent_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_breach_notices_incident_id_incidents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breach_notices")),
        sa.UniqueConstraint("incident_id", "person", "channel", name=op.f("uq_breach_notices_incident_id")),
    )


def downgrade() -> None:
    op.drop_table("breach_notices")
    op.drop_table("incident_exports")
    op.drop_table("incident_reports")
    op.drop_index(op.f("ix_incident_steps_incident_id"), table_name="incident_steps")
    op.drop_table("incident_steps")
    op.drop_table("incidents")
    with op.batch_alter_table("insurers") as batch:
        batch.drop_column("export_public_key")
        batch.drop_column("dpo_contact")
        batch.drop_column("phone")
