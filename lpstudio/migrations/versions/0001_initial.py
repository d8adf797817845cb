"""Initial schema: activation, users, notebooks, recipe versions, jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from lpstudio.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activation",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("accepted_by", sa.String(255), nullable=False),
        sa.Column("accepted_at", UTCDateTime(), nullable=False),
        sa.Column("terms_version", sa.String(32), nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "notebooks",
        sa.Column("sha", sa.String(64), primary_key=True),
        sa.Column("content", sa.Text, nullable=False),
    )
    op.create_table(
        "recipe_versions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("recipe", sa.String(1024), nullable=False, index=True),
        sa.Column("notebook_sha", sa.String(64), sa.ForeignKey("notebooks.sha"), nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("recipe", sa.String(1024), nullable=False),
        sa.Column("version_id", sa.String(64), sa.ForeignKey("recipe_versions.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("event", sa.JSON, nullable=True),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("rerun_of", sa.Integer, sa.ForeignKey("jobs.id"), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("timeout", sa.Float, nullable=True),
        sa.Column("cells_done", sa.Integer, nullable=False),
        sa.Column("cells_total", sa.Integer, nullable=False),
        sa.Column("error", sa.JSON, nullable=True),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("output_path", sa.String(2048), nullable=True),
        sa.Column("worker", sa.String(255), nullable=True),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
    )
    op.create_index("ix_jobs_recipe_created", "jobs", ["recipe", "created_at"])
    op.create_index("ix_jobs_status_created", "jobs", ["status", "created_at"])


def downgrade() -> None:
    for table in ("jobs", "recipe_versions", "notebooks", "users", "activation"):
        op.drop_table(table)
