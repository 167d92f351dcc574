"""The beneficiary lifecycle (issue 15, point 2): a rights period may carry its own contract, so
that a contract change takes effect at a date (the period covering the date is split there);
NULL: the beneficiary's contract.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rights_periods", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contract_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_rights_periods_contract_id_contracts"), "contracts",
                                    ["contract_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("rights_periods", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_rights_periods_contract_id_contracts"), type_="foreignkey")
        batch_op.drop_column("contract_id")
