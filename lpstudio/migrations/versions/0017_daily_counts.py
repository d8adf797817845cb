"""The sends of each day under an app's daily limit, across jobs.

LivePerson counts its recipients per day per channel by account; a campaign counted only
its own job's (and its reruns'), so the campaigns of a day together passed the limit and
LivePerson left the rest NOT_SENT while their jobs said them accepted. Each campaign now
reserves its recipients in this table, one row per scope and UTC day, before they go out.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daily_counts",
        sa.Column("scope", sa.String(255), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("used", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("daily_counts")
