"""The values given for a job, apart from the saved settings under them.

A job's `parameters` are its saved settings with the values given over them. A rerun gave
all of them again over the latest settings, so a setting fixed since (a skill, a campaign's
name) was overridden by the old one, and the job named a version whose settings it did not
run with. `given` keeps the values given alone; a job from before it has none (NULL), and
its rerun gives its parameters as before.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("given", sa.JSON(), nullable=True))


def downgrade() -> None:
    # In place, as 0014's: a batch would copy the table without the count triggers of 0005.
    op.drop_column("jobs", "given")
