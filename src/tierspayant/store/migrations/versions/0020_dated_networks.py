"""Care networks by API (issue 15, point 3): a network gets a code (its name in URLs; existing
networks get ``network-<id>``); memberships and negotiated price caps get dates (``valid_from``
inclusive, ``valid_to`` inclusive or NULL: in force), part of their primary keys so that a
professional may leave and rejoin and a cap may change at a date. Existing rows take
2000-01-01 as their first day (they applied to every date of care before); the server default
is then dropped: every new row states its dates (services/networks.py).

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

BACKFILL = "2000-01-01"
DATED = (("network_members", ["network_id", "professional_id"]), ("network_price_caps", ["network_id", "code"]))


def upgrade() -> None:
    with op.batch_alter_table("networks") as batch:
        batch.add_column(sa.Column("code", sa.String(length=40), nullable=True))
    op.execute("UPDATE networks SET code = 'network-' || CAST(id AS VARCHAR(12))")
    with op.batch_alter_table("networks") as batch:
        batch.alter_column("code", existing_type=sa.String(length=40), nullable=False)
        batch.create_unique_constraint(batch.f("uq_networks_code"), ["code"])
    for table, key in DATED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("valid_from", sa.Date(), nullable=False, server_default=BACKFILL))
            batch.add_column(sa.Column("valid_to", sa.Date(), nullable=True))
        with op.batch_alter_table(table) as batch:
            batch.alter_column("valid_from", existing_type=sa.Date(), existing_nullable=False, server_default=None)
            batch.drop_constraint(batch.f(f"pk_{table}"), type_="primary")
            batch.create_primary_key(batch.f(f"pk_{table}"), [*key, "valid_from"])
    op.create_index("ix_network_members_professional", "network_members", ["professional_id"])


def downgrade() -> None:
    op.drop_index("ix_network_members_professional", table_name="network_members")
    for table, key in DATED:
        # Only each row's latest period can stay under the old keys.
        op.execute(f"DELETE FROM {table} WHERE EXISTS (SELECT 1 FROM {table} AS later WHERE "  # noqa: S608
                   + " AND ".join(f"later.{c} = {table}.{c}" for c in key)
                   + f" AND later.valid_from > {table}.valid_from)")
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(batch.f(f"pk_{table}"), type_="primary")
            batch.create_primary_key(batch.f(f"pk_{table}"), key)
            batch.drop_column("valid_to")
            batch.drop_column("valid_from")
    with op.batch_alter_table("networks") as batch:
        batch.drop_constraint(batch.f("uq_networks_code"), type_="unique")
        batch.drop_column("code")
