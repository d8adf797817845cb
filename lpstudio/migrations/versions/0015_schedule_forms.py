"""A started schedule's cron and time zone, and since when the schedulers have seen them.

A schedule's due times were counted from its last run (or its start) with the cron it has
now: edited to a time that had passed ("0 9 * * *" moved to "30 9 * * *" at 10:00), a cron or
time zone fired that time at once, and a daily reminder sent at 09:00 was sent again. Each
form is kept with the moment a scheduler first saw it, and due times count from no earlier.
Stores upgraded have no row: a schedule seen for the first time takes its form as of its
start, so one never edited fires as before. A new table, dropped again on the way down.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from lpstudio.models import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_forms",
        # A recipe's path, as 0007 left the other tables' (TEXT by code point on PostgreSQL).
        sa.Column(
            "recipe",
            sa.String(1024).with_variant(sa.Text(collation="C"), "postgresql"),
            primary_key=True,
        ),
        sa.Column("cron", sa.Text, nullable=False),
        sa.Column("timezone", sa.String(255), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("schedule_forms")
