"""A job keeps the event a system sent whole, sealed, beside the masked one it shows.

An event a poll, a webhook delivery or a bot's call brought in is shown to operators (the
REST API, `lpstudio show`, failure notices), so a connection's secret in it is masked there.
Its recipe got that masked copy too, and acted on what nobody sent (a consumer id
`whole****-42`), or the call was refused. `sealed_event` holds the event as it came,
encrypted with the workspace key as connections' secrets are, only where masking changed
it (NULL otherwise, and for every job made before): the kernel alone gets it opened. A
nullable column without a default is added, and dropped, in place, on SQLite too (the
count triggers of 0005 on `jobs` stay).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("sealed_event", sa.Text, nullable=True))


def downgrade() -> None:
    # In place (SQLite 3.35 and later drop a column so): a batch would copy the table
    # without the count triggers of 0005.
    op.drop_column("jobs", "sealed_event")
