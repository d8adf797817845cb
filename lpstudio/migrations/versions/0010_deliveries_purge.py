"""The delivery ledger is purged with the jobs' data, through an index.

The ledger (`deliveries`) records every recipient a job sent, one row each, and was never
purged: a daily campaign to 100,000 recipients added three million rows a month. The daily
purge now deletes the rows settled before the retention period (30 days by default), and
`ix_deliveries_updated_at` lets it find them without reading the ledger whole.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deliveries_updated_at", "deliveries", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_updated_at", table_name="deliveries")
