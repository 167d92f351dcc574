"""Encrypted beneficiary identity fields, blind indexes, per-insurer data keys.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

import tierspayant.store.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT COUNT(*) FROM beneficiaries")).scalar():
        # Clear identity fields cannot be encrypted here without the keys: re-seed (demo) or
        # export and re-import through the API (the only data so far is synthetic).
        raise RuntimeError("beneficiaries hold clear identity fields: start from an empty database (rm -rf var)")
    op.create_table(
        "data_keys",
        sa.Column("insurer_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("wrapped", sa.Text(), nullable=False),
        sa.Column("created_at", tierspayant.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("insurer_id", "version", name=op.f("pk_data_keys")),
    )
    with op.batch_alter_table("beneficiaries", schema=None) as batch_op:
        batch_op.drop_index("ix_beneficiaries_lookup")
        batch_op.drop_index("ix_beneficiaries_member")
        for column in ("nir", "member_number", "birth_date", "last_name", "first_name"):
            batch_op.drop_column(column)
        for column in ("nir_bidx", "member_bidx"):
            batch_op.add_column(sa.Column(column, sa.String(length=32), nullable=False))
        for column in ("nir_enc", "member_enc", "birth_date_enc", "last_name_enc", "first_name_enc"):
            batch_op.add_column(sa.Column(column, sa.Text(), nullable=False))
        batch_op.create_index("ix_beneficiaries_nir", ["insurer_id", "nir_bidx"], unique=False)
        batch_op.create_index("ix_beneficiaries_member", ["insurer_id", "member_bidx"], unique=False)


def downgrade() -> None:
    raise RuntimeError("no way back to clear identity fields")
