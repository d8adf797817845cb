"""A revision for each recipe's settings, so a save never overwrites a change it did not see.

Two saves of a recipe's settings (a notebook form, the lab's, the CLI, a colleague's) each
read the settings and then wrote their own over them: the later one lost the other's
change. Every write now counts `revision` up, and a form sends the revision it showed: a
save of settings changed since is refused instead of carried out.

Settings saved before this start at revision 1, as a first save does; a recipe never saved
is at 0. On PostgreSQL (11 and later) a column with a constant default is added without
rewriting the table; SQLite adds it in place, and copies the table to drop it again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recipe_settings") as batch:
        batch.add_column(sa.Column("revision", sa.Integer, nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("recipe_settings") as batch:
        batch.drop_column("revision")
