"""Encrypted professionals' names and IBANs, bank-detail changes, quotes, invoices, payment runs
and statements, optical purchases (docs/THREATS.md T5).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: table -> (clear columns dropped, encrypted columns added (name, nullable), other columns added)
CHANGES = {
    "professionals": (("name", "iban"), (("name_enc", False), ("iban_enc", False)), ()),
    "bank_detail_changes": (("iban",), (("iban_enc", False),), ()),
    "quotes": (("result",), (("result_enc", False),), ()),
    "invoices": (("lines", "findings"), (("lines_enc", False), ("findings_enc", False)), ()),
    "payment_runs": (("sepa_xml",), (("sepa_xml_enc", True),), ()),
    "payment_orders": (("statement",), (("statement_enc", False),), ("insurer_id",)),
    "optical_purchases": (("delivered_on",), (("delivered_enc", False),), ("insurer_id",)),
}


def upgrade() -> None:
    bind = op.get_bind()
    for table in CHANGES:
        if bind.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar():
            # Clear fields cannot be encrypted here without the keys: re-seed (demo) or export
            # and re-import through the API (the only data so far is synthetic).
            raise RuntimeError(f"{table} holds clear personal fields: start from an empty database (rm -rf var)")
    for table, (dropped, encrypted, added) in CHANGES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in dropped:
                batch_op.drop_column(column)
            for column, nullable in encrypted:
                batch_op.add_column(sa.Column(column, sa.Text(), nullable=nullable))
            for column in added:
                batch_op.add_column(sa.Column(column, sa.Integer(), nullable=False))


def downgrade() -> None:
    raise RuntimeError("no way back to clear personal fields")
