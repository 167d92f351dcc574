"""Issue 17, the rules a real optician and doctor meet: each optical delivery says what it held
(``parts``: equipment, frame or lenses: each element has its own renewal period); doctors have a
sector and a speciality (existing GPs become sector 2, OPTAM as their ``optam`` flag said: an
OPTAM one is paid as before, one outside OPTAM now on the non-OPTAM base); reference codes gain the BR of a sector 2
doctor outside OPTAM and an age range (child codes).

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

import tierspayant.store.types

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("optical_purchases") as batch:
        batch.add_column(sa.Column("parts", sa.String(10), nullable=False, server_default="equipment"))
    with op.batch_alter_table("professionals") as batch:
        batch.add_column(sa.Column("sector", sa.String(1), nullable=True))
        batch.add_column(sa.Column("speciality", sa.String(30), nullable=True))
    op.execute("UPDATE professionals SET sector = '2', speciality = 'general_medicine' "
               "WHERE profession = 'general_practitioner'")
    with op.batch_alter_table("reference_codes") as batch:
        batch.add_column(sa.Column("br_non_optam", tierspayant.store.types.Cents(), nullable=True))
        batch.add_column(sa.Column("age_from", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("age_below", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reference_codes") as batch:
        batch.drop_column("age_below")
        batch.drop_column("age_from")
        batch.drop_column("br_non_optam")
    with op.batch_alter_table("professionals") as batch:
        batch.drop_column("speciality")
        batch.drop_column("sector")
    with op.batch_alter_table("optical_purchases") as batch:
        batch.drop_column("parts")
