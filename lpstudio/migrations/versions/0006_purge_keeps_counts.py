"""Purge keeps the job counts (the dashboard shows purged days as they were) and finds the
jobs it purges through an index.

Purge erases a job's data after the retention period (30 days by default) and keeps its
id, status and times, while the dashboard shows up to 366 days. The counts of migration
0005 followed the erased result down to nothing, so each purged day lost its Proactive
recipients. The update trigger now skips the update that purges a job: purge changes none
of what the counts are made of but the result it erases, and only of finished jobs.

The scheduler purges every day: `ix_jobs_purged_finished` lets it read the jobs past the
retention period that are not purged yet, not every job of the history.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from alembic import op
from sqlalchemy import text

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPDATE_OF = "AFTER UPDATE OF status, result, recipe, created_at ON jobs"
NOT_A_PURGE = "NOT (NEW.purged AND NOT OLD.purged)"


def _sqlite_recreate(old: str, new: str) -> None:
    """SQLite cannot alter a trigger: it is made again from its own SQL, edited."""
    bind = op.get_bind()
    sql = bind.execute(
        text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'jobs_count_update'")
    ).scalar_one()
    assert old in sql, sql
    op.execute("DROP TRIGGER jobs_count_update")
    op.execute(sql.replace(old, new, 1))


def _postgres_recreate(when: str) -> None:
    op.execute("DROP TRIGGER jobs_count_update ON jobs")
    op.execute(
        f"CREATE TRIGGER jobs_count_update {UPDATE_OF} FOR EACH ROW {when}"
        "EXECUTE FUNCTION lpstudio_count_job()"
    )


def upgrade() -> None:
    op.create_index("ix_jobs_purged_finished", "jobs", ["purged", "finished_at"])
    if op.get_bind().dialect.name == "postgresql":
        _postgres_recreate(f"WHEN ({NOT_A_PURGE}) ")
    else:
        _sqlite_recreate(f"{UPDATE_OF} BEGIN", f"{UPDATE_OF} WHEN {NOT_A_PURGE} BEGIN")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgres_recreate("")
    else:
        _sqlite_recreate(f"{UPDATE_OF} WHEN {NOT_A_PURGE} BEGIN", f"{UPDATE_OF} BEGIN")
    op.drop_index("ix_jobs_purged_finished", table_name="jobs")
