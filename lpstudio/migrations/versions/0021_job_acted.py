"""Whether a running job has started a cell that may act outside its kernel.

A scheduler's job whose worker vanished, or whose scheduler stopped, goes back to the queue
when nothing it did can have reached the outside: run again, it repeats nothing. That was
told by its progress, which counts the cells done, a markdown title's too: every template
opens with one, so a job killed before its first code cell was failed as "worker lost" and
its event's recipients were never sent. `acted` is set, before such a cell starts, once its
job starts the first cell that may act (`runner.acts`); a job from before it has none set.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # In place, as 0018's: a batch would copy the table without the count triggers of 0005.
    op.add_column("jobs", sa.Column("acted", sa.Boolean, nullable=False, server_default="0"))
    # A job running when the store was upgraded (its worker killed, or still at it) was run
    # by a version that told no `acted`: it may have acted, so it is never requeued whole (a
    # reaper would have run again a job that had sent).
    op.execute(
        sa.text("UPDATE jobs SET acted = :true WHERE status = 'running'").bindparams(true=True)
    )


def downgrade() -> None:
    op.drop_column("jobs", "acted")
