"""A connection imported without its secrets remembers which ones are still to be given.

A project package never carries secrets: a connection the importing workspace lacks is made
as a placeholder, refused by whatever would use it. An edit of any of its plain fields (or
a Save of its form with nothing changed) made it an ordinary connection without them: an
imported webhook connection whose token was held back then took unsigned deliveries.
`withheld` names the secrets a placeholder still lacks; it stays a placeholder until every
one is given. Empty for every other connection.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("withheld", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("withheld")
