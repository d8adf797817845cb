"""Scheduler: retries and purge on jobs, poll timing and errors, schedule runs, audit, leases.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from lpstudio.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("not_before", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("attempt", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("purged", sa.Boolean, nullable=False, server_default="0"))
    with op.batch_alter_table("trigger_state") as batch:
        batch.add_column(sa.Column("next_poll_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("errors", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_error", sa.Text, nullable=True))
    op.create_table(
        "schedule_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("recipe", sa.String(1024), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("job_id", sa.Integer, nullable=True),
        sa.Column("skipped", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("recipe", "due_at", name="uq_schedule_runs_recipe_due"),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False, index=True),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(1024), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ("leases", "audit", "schedule_runs"):
        op.drop_table(table)
    with op.batch_alter_table("trigger_state") as batch:
        for column in ("last_error", "errors", "next_poll_at"):
            batch.drop_column(column)
    with op.batch_alter_table("jobs") as batch:
        for column in ("purged", "attempt", "not_before"):
            batch.drop_column(column)
