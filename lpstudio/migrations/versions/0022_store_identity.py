"""Each store's own random id, which tells it from any other store.

Job ids start at 1 in every store, so a Dask worker whose lpstudio.toml named another
store than its server's (the SQLite file left behind by `store-copy`, another brand's
database) found a job of the id it was sent there, and ran that store's job. The server
now sends its store's id with each job, and the worker refuses a store of another.

One row, made with the store: by `lpstudio init`, by this upgrade for a store made before
it, and by a `store-copy` target's own migrations (a copy is a new store: the old one may
still be used by a worker that was not moved to the copy).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table("store_identity", sa.Column("id", sa.String(32), primary_key=True))
    op.bulk_insert(table, [{"id": uuid.uuid4().hex}])


def downgrade() -> None:
    op.drop_table("store_identity")
