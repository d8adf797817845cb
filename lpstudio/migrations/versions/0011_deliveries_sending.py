"""The sends a job left unanswered are found when it ends, through a partial index.

A job that ends (failed, cancelled, timed out, its worker lost) while a request of its was
out leaves that request's ledger rows "sending". Its final state now turns them uncertain
and says so in the job's error, so that a person hears of it from that job, and a later
job of the recipe can tell another job's send still under way (reported `in_progress`)
from one that will never be answered. `ix_deliveries_sending` holds only the rows in
flight, so finding a job's costs nothing on the ledger's millions of settled rows.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SENDING = sa.text("status = 'sending'")


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_sending",
        "deliveries",
        ["job_id"],
        sqlite_where=SENDING,
        postgresql_where=SENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_sending", table_name="deliveries")
