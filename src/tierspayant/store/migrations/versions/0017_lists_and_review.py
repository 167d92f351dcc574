"""Lists (issue 15, point 4): keyset pages of invoices, quotes and payment runs, each read as
one range of an index in the list's order (store/lists.py). An invoice's life (point 5): its
review (why it waits, the decision, who took it), the invoice a replacement corrects, its last
change; each insurer's review settings.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

import tierspayant.store.types

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_invoices_professional_list", "invoices", ["professional_id", "id"]),
    ("ix_invoices_professional_care", "invoices", ["professional_id", "date_of_care", "id"]),
    ("ix_invoices_insurer_list", "invoices", ["insurer_id", "id"]),
    ("ix_invoices_insurer_status", "invoices", ["insurer_id", "status", "id"]),
    ("ix_invoices_insurer_care", "invoices", ["insurer_id", "date_of_care", "id"]),
    ("ix_quotes_professional_list", "quotes", ["professional_id", "id"]),
    ("ix_quotes_professional_care", "quotes", ["professional_id", "date_of_care", "id"]),
    ("ix_payment_runs_insurer_list", "payment_runs", ["insurer_id", "id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    with op.batch_alter_table("insurers") as batch:
        batch.add_column(sa.Column("review", sa.JSON(), nullable=True))
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("review_reason", sa.String(length=4), nullable=True))
        batch.add_column(sa.Column("review_decision", sa.String(length=4), nullable=True))
        batch.add_column(sa.Column("reviewed_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("replaces_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("changed_at", tierspayant.store.types.UtcDateTime(timezone=True), nullable=True))
        batch.create_foreign_key(op.f("fk_invoices_replaces_id_invoices"), "invoices", ["replaces_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.drop_constraint(op.f("fk_invoices_replaces_id_invoices"), type_="foreignkey")
        for column in ("changed_at", "replaces_id", "reviewed_by", "review_decision", "review_reason"):
            batch.drop_column(column)
    with op.batch_alter_table("insurers") as batch:
        batch.drop_column("review")
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
