"""A partial index of the purged jobs whose output notebook is still to erase.

A purge writes a batch of jobs purged before it erases their notebooks, then forgets where
they were: one stopped between the two (a kill, a store locked past its wait) leaves jobs
purged with an `output_path`, which the next purge finds and erases. Looked for in every
purge, they are found through this index, which holds those rows only (none, mostly),
rather than by reading every purged job.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_jobs_purged_left",
        "jobs",
        ["id"],
        postgresql_where=sa.text("purged AND output_path IS NOT NULL"),
        sqlite_where=sa.text("purged = 1 AND output_path IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_purged_left", table_name="jobs")
