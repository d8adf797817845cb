"""REST API: API clients (hashed tokens, endpoints, rate) and idempotent calls.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from lpstudio.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("endpoints", sa.JSON, nullable=False),
        sa.Column("rate_per_minute", sa.Integer, nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("token_sha256", name="uq_api_clients_token"),
    )
    op.create_table(
        "idempotent_calls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("endpoint", sa.String(1024), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("job_id", sa.Integer, nullable=True),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("answer", sa.JSON, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
        sa.UniqueConstraint("client", "key", name="uq_idempotent_calls_client_key"),
    )


def downgrade() -> None:
    op.drop_table("idempotent_calls")
    op.drop_table("api_clients")
