"""An API client may have a quota: the calls it may make in any 24 hours.

A client was held only to its calls per minute, so it could call without end at that rate.
Like a Workato API policy's quota, `quota_per_day` bounds its calls over a day; it is
optional, and clients made before have none (NULL), so they call as before. A column
without a default is added in place on PostgreSQL and SQLite; SQLite copies the table to
drop it again.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_clients") as batch:
        batch.add_column(sa.Column("quota_per_day", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_clients") as batch:
        batch.drop_column("quota_per_day")
