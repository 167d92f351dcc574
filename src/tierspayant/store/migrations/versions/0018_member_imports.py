"""Membership files (issue 15, point 2): each import's progress, committed with each batch so
that an interrupted import resumes, and its refused lines by number and field.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

import tierspayant.store.types

UTC_DATETIME = tierspayant.store.types.UtcDateTime(timezone=True)

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("insurer_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("lines_done", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["insurer_id"], ["insurers.id"], name=op.f("fk_member_imports_insurer_id_insurers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_imports")),
    )
    op.create_index("ix_member_imports_file", "member_imports", ["insurer_id", "digest"])
    op.create_table(
        "member_import_refusals",
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column("message", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["import_id"], ["member_imports.id"],
                                name=op.f("fk_member_import_refusals_import_id_member_imports")),
        sa.PrimaryKeyConstraint("import_id", "line", name=op.f("pk_member_import_refusals")),
    )


def downgrade() -> None:
    op.drop_table("member_import_refusals")
    op.drop_index("ix_member_imports_file", table_name="member_imports")
    op.drop_table("member_imports")
